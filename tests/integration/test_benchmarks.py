"""Every benchmark runs, at a reduced size, through its documented command (so none can rot).

Timings are printed by the benchmarks and never asserted here; what is asserted is that each
command finishes, and that what it computes (not how fast) is right.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from p2penergy.market import clear

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


def invoke(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `benchmarks/<script>` as the README documents it."""
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run(script: str, *args: str) -> str:
    """Run a benchmark that must succeed; its stdout."""
    done = invoke(script, *args)
    assert done.returncode == 0, f"{script} exit {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def refused(script: str, *args: str) -> str:
    """Run a benchmark with a bad option: exit 2 and one line on stderr, which it returns."""
    done = invoke(script, *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def test_clearing_benchmark_writes_each_size_and_the_growth_exponent(tmp_path: Path) -> None:
    out = tmp_path / "clearing.json"
    run("clearing.py", "--sizes", "300,3000", "--repeat", "1", "--out", str(out))

    result = json.loads(out.read_text())
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from clearing import orders_for  # the benchmark's own generator: same books
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert [row["orders"] for row in result["sizes"]] == [300, 3000]
    for row in result["sizes"]:
        expected = clear(orders_for(row["orders"]))
        assert (row["volume_wh"], row["price"]) == (expected.volume_wh, expected.price)
        assert expected.volume_wh > 0  # the drawn books cross: the walk is exercised
    assert isinstance(result["growth_exponent"], float)


def test_clearing_benchmark_refuses_bad_sizes_with_one_line(tmp_path: Path) -> None:
    assert "--sizes" in refused("clearing.py", "--sizes", "ten,20", "--no-write")


def test_sizing_divides_the_chain_s_gas_by_the_committed_gas_per_meter_slot(
    tmp_path: Path,
) -> None:
    out = tmp_path / "sizing.json"
    stdout = run("sizing.py", "--out", str(out))

    summary = json.loads((BENCHMARKS / "results" / "gas-summary.json").read_text())
    result = json.loads(out.read_text())
    measured = [row for row in result["rows"] if row["figure"] == "measured"]
    assert [row["mgas_per_second"] for row in measured] == [20, 25, 30]
    for row in measured:
        per_meter_slot = summary["all_in_per_meter_slot"]
        assert row["gas_per_meter_slot"] == per_meter_slot
        assert row["meters_15min"] == row["mgas_per_second"] * 10**6 * 900 // per_meter_slot
        assert row["meters_5min"] * 3 <= row["meters_15min"] <= row["meters_30min"] // 2
    assert result["max_orders_per_slot_by_block"] == 30_000_000 // summary["clear_per_order_n100"]
    assert f"{measured[0]['meters_15min']:,}" in stdout


def test_simulate_benchmark_times_a_small_run_that_audits_green(tmp_path: Path) -> None:
    out = tmp_path / "simulate.json"
    stdout = run("simulate.py", "--households", "2", "--slots", "2", "--no-profile",
                 "--repeat", "2", "--out", str(out))  # fmt: skip

    assert "2 households, 2 slots" in stdout
    assert "audit: PASS" in stdout
    result = json.loads(out.read_text())
    assert (result["households"], result["slots"], result["repeat"]) == (2, 2, 2)
    assert result["audit_passed"] is True
    assert result["transactions"] > 0 and result["gas"] > 0
    phases = [result[f"{p}_cpu_seconds_median"] for p in ("setup", "per_slot", "audit")]
    assert all(p >= 0 for p in phases) and phases[0] > 0
    # a profile of one slot of the same community goes into the same file, next to the timing
    stdout = run("simulate.py", "--households", "2", "--slots", "1", "--profile-only",
                 "--top", "5", "--out", str(out))  # fmt: skip
    merged = json.loads(out.read_text())
    assert {k: merged[k] for k in result} == result
    profile = merged["profile"]
    assert profile["slots"] == 1 and profile["total_seconds"] > 0
    for ranking in ("by_cumulative", "by_own_time"):
        rows = profile[ranking]
        assert len(rows) == 5 and all(0 <= row["share"] <= 1 for row in rows)
        assert [r["seconds"] for r in rows] == sorted((r["seconds"] for r in rows), reverse=True)
    assert any("p2penergy/sim/runner.py" in r["function"] for r in profile["by_cumulative"])


def test_long_run_benchmark_reports_every_simulated_day() -> None:
    stdout = run("long_run.py", "--days", "1", "--households", "2", "--no-audit")

    assert "report days 0..0 (1 entries)" in stdout


def test_node_durability_benchmark_counts_its_transactions() -> None:
    stdout = run("node_durability.py", "--transactions", "3", "--empty-seconds", "1", "--json")
    result = json.loads(stdout)

    assert result["transactions"] == 6  # 3 through the gateway, 3 straight to anvil
    assert result["state_bytes"] > 0


def test_throughput_benchmark_confirms_every_reading_and_order_on_both_chains(
    tmp_path: Path,
) -> None:
    out = tmp_path / "throughput.json"
    stdout = run("throughput.py", "--meters", "3", "--slots", "2", "--batch", "4",
                 "--orders", "4", "--households", "2", "--out", str(out))  # fmt: skip

    result = json.loads(out.read_text())
    assert set(result["chains"]) == {"embedded", "node", "node-interval"}
    for figures in result["chains"].values():
        assert figures["readings"] == figures["submitted"] == figures["recorded_events"] == 6
        # 3 readings a slot: the first slot waits for a full transaction of 4, the rest follows
        assert figures["submit_transactions"] == 2
        assert figures["orders"] == figures["order_events"] == figures["batched_order_events"] == 4
        assert figures["readings_per_s"] > 0 and figures["orders_per_s"] > 0
        assert figures["batched_orders_per_s"] > 0
    # an order one a transaction: 11 requests, 12 for a household's first (it reads the
    # credit's EIP-712 domain once); it was 26 to 27 with web3 asking for the chain id. With
    # interval mining the receipt is polled for until the block comes: more, and varying.
    for kind in ("embedded", "node"):
        assert 10 <= result["chains"][kind]["requests_per_order"] <= 12
    assert result["chains"]["node-interval"]["requests_per_order"] >= 10
    ratio = result["ratio_node_to_embedded"]
    assert set(ratio) == {"readings_per_s", "sign_outbox_per_s", "submit_confirm_per_s",
                          "orders_per_s", "batched_orders_per_s"}  # fmt: skip
    assert result["submit_gas_limit"] == 100_000 + 4 * 95_000
    assert "target >= 1,000 signed readings/s" in stdout


def test_throughput_benchmark_refuses_bad_options_with_one_line() -> None:
    assert "--chains" in refused("throughput.py", "--chains", "mainnet", "--no-write")
    assert "--block-time" in refused(
        "throughput.py", "--chains", "node-interval", "--block-time", "0.5", "--no-write"
    )
