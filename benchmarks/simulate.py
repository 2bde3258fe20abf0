"""Times `p2penergy simulate` on the default scenario and shows where the time goes.

    PYTHONPATH=. .venv/bin/python benchmarks/simulate.py [--scenario NAME] [--households N]
        [--first-slot S] [--slots K] [--repeat 3] [--top 30] [--no-profile | --profile-only]
        [--profile-slots K] [--out benchmarks/results/simulate.json | --no-write]

First a timing run (no profiler): wall time and the CPU time of the main process and of the
meters' signing worker, so that a figure taken on a busy shared machine still means something.
Then, unless `--no-profile`, a second run under cProfile with the top functions by cumulative
and by own time. With `--repeat N` the timing run is repeated and the medians are written (JSON,
`--out`) with the CPU of each phase (set-up, a further slot, the final audit). Each timing run
has a fresh process, as `p2penergy simulate` does: runs repeated inside one process grew slower
run after run (12.0 / 11.2 / 13.2 / 16.0 s CPU for four 24-slot days, against 11.2-12.6 s in
four fresh processes), which made the median of three a figure no user sees. The profile's
summary (top functions by cumulative and by own time, each with its share of the profiled run)
goes into the same JSON under "profile"; `--profile-slots K` profiles a shorter run than the
timed one, `--profile-after-slots K` leaves the set-up and the first K slots out of it (what a
further slot and the audit cost), and `--profile-only` skips the timing, so that a large
community can be timed and profiled by two processes at once (each keeps the other's part of
the file when the scenario and the community size match). Targets (issue #13): the default
scenario (30 households, one day of 15-minute slots) in <= 45 s on a 2-core machine; 1,000
households for one day (`--households 1000`) in <= 10 minutes, or the profile says where the
time goes.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import cProfile
import json
import multiprocessing
import os
import pstats
import resource
import statistics
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from p2penergy.chain.connect import Chain, rpc
from p2penergy.chain.node import AnvilNode, start_anvil
from p2penergy.energy import scenario as scenarios
from p2penergy.sim.runner import RunResult, simulate

DEFAULT_OUT = Path(__file__).parent / "results" / "simulate.json"


def timed(
    scenario: scenarios.Scenario, chain: str = "embedded"
) -> tuple[RunResult, dict[str, Any]]:
    marks: list[tuple[float, float]] = []  # (CPU, wall) at the end of every slot
    node_cpu: float | None = None
    with ExitStack() as stack:
        on: Chain | None = None
        node: AnvilNode | None = None
        if chain == "anvil":
            node = stack.enter_context(start_anvil())
            on = rpc(node.url)
        wall, start = time.perf_counter(), time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = simulate(
            scenario,
            chain=on,
            progress=lambda _: marks.append((time.process_time(), time.perf_counter())),
        )
        end, wall_end = time.process_time(), time.perf_counter()
        wall, cpu = wall_end - wall, end - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if node is not None:
            node_cpu = process_cpu_seconds(node.process.pid)
    worker = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    setup = marks[0][0] - start if marks else cpu
    audit = end - marks[-1][0] if marks else 0.0
    audit_wall = wall_end - marks[-1][1] if marks else 0.0
    slots = len(result.outcomes)
    print(
        f"scenario {scenario.name}: {scenario.households.count} households, {slots} slots of "
        f"{scenario.slot_seconds} s"
    )
    print(
        f"wall time {wall:.1f} s (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(
        f"CPU time: main process {cpu:.1f} s (model, deploy, registration, day-ahead orders and "
        f"first slot {setup:.1f} s; {(cpu - setup - audit) / max(1, slots - 1):.2f} s per further "
        f"slot; final audit {audit:.1f} s), signing worker {worker:.1f} s (overlaps with the chain)"
    )
    if node_cpu is not None:
        print(f"anvil's CPU time {node_cpu:.1f} s; final audit {audit_wall:.1f} s wall")
    if result.audit is not None:
        verdict = "PASS" if result.audit.passed else "FAIL"
        print(f"audit: {verdict}, {len(result.audit.findings)} checks")
    transactions = {op: len(g) for op, g in sorted(result.gas.items())}
    print("transactions:", transactions)
    figures: dict[str, Any] = {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "worker_cpu_seconds": round(worker, 2),
        "slots": slots,
        "transactions": sum(transactions.values()),
        "gas": sum(sum(g) for g in result.gas.values()),
        "audit_passed": None if result.audit is None else result.audit.passed,
        "setup_cpu_seconds": round(setup, 2),
        "per_slot_cpu_seconds": round((cpu - setup - audit) / max(1, slots - 1), 2),
        "audit_cpu_seconds": round(audit, 2),
    }
    if node_cpu is not None:
        figures["chain"] = chain
        figures["node_cpu_seconds"] = round(node_cpu, 2)
        figures["audit_wall_seconds"] = round(audit_wall, 2)
    return result, figures


def timed_in_fresh_process(overrides: dict[str, Any], chain: str) -> dict[str, Any]:
    """One timing run in a new interpreter (spawned, so nothing of an earlier run is in it);
    returns its figures. `overrides` name the scenario as `main` does."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_timed_figures, overrides, chain).result()


def _timed_figures(overrides: dict[str, Any], chain: str) -> dict[str, Any]:
    # a spawned process spawns its own children too; the meters' signing worker is forked
    # under `p2penergy simulate` (Linux's default), so it is here
    multiprocessing.set_start_method("fork", force=True)
    return timed(_scenario(**overrides), chain)[1]


def _scenario(
    name: str, households: int | None, first_slot: int | None, slots: int | None
) -> scenarios.Scenario:
    return scenarios.load(name).with_overrides(
        households=households, first_slot=first_slot, slot_count=slots
    )


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a running process (Linux /proc), None where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile_summary(stats: pstats.Stats, top: int) -> dict[str, Any]:
    """The profiled run's total and its top functions by cumulative and by own time, each with
    its share of the total (profiler overhead included: shares, not seconds, are the figure)."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    # the run's own times added up; the outermost call's cumulative time can be a little more
    total = max(
        sum(own for _, _, own, _, _ in raw.values()), max(cum for *_, cum, _ in raw.values())
    )

    def name(key: tuple[str, int, str]) -> str:
        path, line, function = key
        if "site-packages/" in path:
            path = path.split("site-packages/", 1)[1]
        elif "p2penergy/" in path:  # the package's own files, wherever the checkout is
            path = "p2penergy/" + path.rsplit("p2penergy/", 1)[1]
        return f"{path}:{line}({function})"

    def rows(index: int) -> list[dict[str, Any]]:
        ranked = sorted(raw.items(), key=lambda item: item[1][index], reverse=True)[:top]
        return [
            {
                "function": name(key),
                "calls": value[1],
                "seconds": round(value[index], 2),
                "share": round(value[index] / total, 3),
            }
            for key, value in ranked
        ]

    return {"total_seconds": round(total, 2), "by_cumulative": rows(3), "by_own_time": rows(2)}


def write(out: Path, summary: dict[str, Any]) -> None:
    """Writes `summary`, keeping the other process's part (timing or profile) of an existing
    file for the same scenario and community size."""
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        before = json.loads(out.read_text())
    except (OSError, ValueError):
        before = {}
    same = all(before.get(k) == summary.get(k) for k in ("scenario", "households", "chain"))
    merged = {**before, **summary} if same else summary
    out.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenario", default=scenarios.DEFAULT_SCENARIO)
    parser.add_argument("--households", type=int, default=None)
    parser.add_argument("--first-slot", type=int, default=None)
    parser.add_argument("--slots", type=int, default=None, help="simulate only this many slots")
    parser.add_argument("--repeat", type=int, default=1, help="timing runs (medians)")
    parser.add_argument(
        "--chain",
        choices=("embedded", "anvil"),
        default="embedded",
        help="where the timing runs go: the embedded chain (py-evm) or a throwaway anvil",
    )
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument(
        "--profile-after-slots",
        type=int,
        default=0,
        help="profile from the end of this many slots on (leaves set-up out)",
    )
    parser.add_argument("--profile-only", action="store_true", help="no timing run")
    parser.add_argument(
        "--profile-slots", type=int, default=None, help="profile only this many slots"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    # what names the scenario, also for the timing runs' fresh processes
    overrides = {
        "name": args.scenario,
        "households": args.households,
        "first_slot": args.first_slot,
        "slots": args.slots,
    }
    scenario = _scenario(**overrides)
    identity: dict[str, Any] = {"scenario": scenario.name, "households": scenario.households.count}
    if args.chain != "embedded":
        identity["chain"] = args.chain
    if not args.profile_only:
        runs = [timed_in_fresh_process(overrides, args.chain) for _ in range(max(1, args.repeat))]
        summary = {
            **identity,
            "repeat": len(runs),
            "load_average": round(os.getloadavg()[0], 1),
            "cores": os.cpu_count(),
            **{
                f"{key}_median": statistics.median(run[key] for run in runs)
                for key in (
                    "wall_seconds",
                    "cpu_seconds",
                    "worker_cpu_seconds",
                    "setup_cpu_seconds",
                    "per_slot_cpu_seconds",
                    "audit_cpu_seconds",
                )
            },
            **{key: runs[0][key] for key in ("slots", "transactions", "gas", "audit_passed")},
        }
        for key in ("node_cpu_seconds", "audit_wall_seconds"):
            if all(run.get(key) is not None for run in runs):
                summary[f"{key}_median"] = statistics.median(run[key] for run in runs)
        if len(runs) > 1:
            print(
                f"median of {len(runs)}: wall {summary['wall_seconds_median']:.1f} s, "
                f"CPU {summary['cpu_seconds_median']:.1f} s"
            )
        if not args.no_write:
            write(args.out, summary)
    if args.no_profile:
        return
    profiled = scenario
    if args.profile_slots is not None:
        profiled = scenario.with_overrides(slot_count=args.profile_slots)
    profile = cProfile.Profile()
    slots_done = 0

    def start_after(_: object) -> None:
        nonlocal slots_done
        slots_done += 1
        if slots_done == args.profile_after_slots:
            profile.enable()

    with ExitStack() as stack:
        on = None if args.chain == "embedded" else rpc(stack.enter_context(start_anvil()).url)
        if not args.profile_after_slots:
            profile.enable()
        result = simulate(profiled, chain=on, progress=start_after)
        profile.disable()
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    if not args.no_write:
        summary = profile_summary(stats, args.top)
        summary["slots"] = len(result.outcomes)
        summary["profiled_after_slots"] = args.profile_after_slots
        write(args.out, {**identity, "profile": summary})


if __name__ == "__main__":
    main()
