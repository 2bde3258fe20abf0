"""Every hypothesis test carries the `property` marker (tests/conftest.py sets it at collection),
so `-m property` selects them and `-m "not property"` leaves them out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parent
ROOT = UNIT.parents[1]
HYPOTHESIS_TEST = "test_settle_conserves_credits_and_certificates"  # @given(slots())
PLAIN_TEST = "test_settle_pays_seller_only_for_verified_export"  # hand-worked


def _collected(marker: str) -> set[str]:
    """The names of the unit tests `-m marker` selects (collection only, no brownie plugin)."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-n",
        "0",
        "-p",
        "no:pytest-brownie",
        "-m",
        marker,
        str(UNIT),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return {
        line.rsplit("::", 1)[1].split("[")[0] for line in done.stdout.splitlines() if "::" in line
    }


def test_hypothesis_tests_are_marked_property_and_plain_tests_are_not():
    selected = _collected("property")
    assert HYPOTHESIS_TEST in selected
    assert PLAIN_TEST not in selected
    assert "test_hypothesis_tests_are_marked_property_and_plain_tests_are_not" not in selected
