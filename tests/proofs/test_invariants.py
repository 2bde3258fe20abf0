"""The Foundry invariant campaigns (tests/foundry/) run from pytest, offline.

forge is the binary npm installed (`@foundry-rs/forge-<os>-<arch>`, shipped in the package) and
compiles with our pinned solc through the solcjs facade (`--use`), so nothing is downloaded.
The CI profile (foundry.toml `default`): 11 invariants x 910 runs = 10,010 runs of depth 50;
`long`: 100,100 runs with every invariant asserted after every call:

    FOUNDRY_PROFILE=long .venv/bin/python -m pytest -q -s tests/proofs/test_invariants.py
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from p2penergy.chain.toolchain import solc_binary

ROOT = Path(__file__).resolve().parents[2]
INVARIANTS = (
    "invariant_handlerExpectationsHold",
    "invariant_escrowHeldEqualsLockedPlusUnpaid",
    "invariant_creditSupplyIsMintedMinusBurnedIsSumOfBalances",
    "invariant_noFillBeyondLimits",
    "invariant_settledSlotPaysOutItsEscrowExactly",
    "invariant_certificatesAreVerifiedExportMinusRetired",
    "invariant_settledSlotNeverChanges",
    "invariant_suspendedAccountOnlyWithdrawsItsOwn",
    "invariant_everyEscrowedCreditHasAPathBack",
    "invariant_orderIdsUniqueAndIncreasing",
    "invariant_noReadingRecordedTwice",
)
RUNS = {"default": 910, "long": 9100}
DEPTH = 50


def forge_binary() -> Path:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, "")
    name = "forge.exe" if system == "win32" else "forge"
    binary = ROOT / "node_modules" / "@foundry-rs" / f"forge-{system}-{arch}" / "bin" / name
    assert binary.is_file(), f"{binary} missing: run `bash bootstrap.sh` (npm ci)"
    return binary


def forge_test(*args: str) -> tuple[int, dict[str, Any], float]:
    """Runs `forge test --offline --use <our solc> --json ARGS`; returns the exit code, the
    results per test (name -> result) and the seconds it took."""
    started = time.monotonic()
    done = subprocess.run(
        [str(forge_binary()), "test", "--offline", "--use", str(solc_binary()), "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    elapsed = time.monotonic() - started
    results: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            for suite in json.loads(line).values():
                results.update(suite["test_results"])
    assert results, f"forge printed no results (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return done.returncode, results, elapsed


def _reason(result: dict[str, Any]) -> str:
    return f"{result['status']}: {result.get('reason')} {result.get('counterexample')}"


def test_every_invariant_holds_over_the_profile_campaign() -> None:
    """Each named invariant holds over its whole campaign (runs x depth of the profile); the fixed
    scenarios (including every kept counterexample) and the attacks (tests/foundry/
    Adversarial.t.sol) have their expected outcome."""
    profile = os.environ.get("FOUNDRY_PROFILE", "default")
    code, results, elapsed = forge_test(
        "--match-contract", "^(MarketInvariants|MarketScenarios|Adversarial)$"
    )
    invariants = {name.split("(")[0]: r for name, r in results.items() if name.startswith("inv")}
    assert sorted(invariants) == sorted(INVARIANTS)
    for name, result in results.items():
        assert result["status"] == "Success", f"{name}: {_reason(result)}"
    total_runs = 0
    for result in invariants.values():
        stats = result["kind"]["Invariant"]
        assert stats["runs"] == RUNS[profile]
        assert stats["calls"] == RUNS[profile] * DEPTH
        total_runs += stats["runs"]
    assert code == 0
    assert total_runs == len(INVARIANTS) * RUNS[profile]
    assert total_runs >= (100_000 if profile == "long" else 10_000)  # issue 14's floor
    print(f"\n{len(invariants)} invariants, {total_runs} runs at depth {DEPTH}: {elapsed:.0f} s")


@pytest.mark.parametrize("name", INVARIANTS)
def test_invariant_is_documented(name: str) -> None:
    """docs/proofs.md names every invariant the campaign checks."""
    assert name in (ROOT / "docs" / "proofs.md").read_text()
