"""How hard the property tests search: a short profile on every run, a long one on request.

Every run (and CI) uses the counts written at each test. `P2PENERGY_TESTS=long` multiplies them
by ten, for a search before a release or after a change to the market maths:

    P2PENERGY_TESTS=long .venv/bin/python -m pytest tests/unit tests/contracts

`P2PENERGY_TESTS=ci` (set by `.ci/run`) keeps the short counts but derandomises hypothesis: CI
draws the same examples on every run, so a landing never hangs on a lucky draw; local runs keep
drawing new ones, which is where new counterexamples come from (keep each as an `@example`).
"""

from __future__ import annotations

import os

from hypothesis import settings

PROFILE = os.environ.get("P2PENERGY_TESTS", "")
LONG = PROFILE == "long"
LONG_FACTOR = 10


def examples(count: int) -> int:
    """`count` hypothesis examples in the short profile, ten times that in the long one."""
    return count * LONG_FACTOR if LONG else count


settings.register_profile("ci", derandomize=True, database=None)
if PROFILE == "ci":
    settings.load_profile("ci")
