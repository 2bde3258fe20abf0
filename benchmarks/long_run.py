"""Long simulations: does a run of many days finish, and does memory stay bounded?

    PYTHONPATH=. .venv/bin/python benchmarks/long_run.py [--days 30] [--households 3]
        [--slot 3600] [--scenario suburban-summer] [--no-audit]

Prints, once per simulated day, the main process's resident memory (current, from
/proc/self/statm) and its peak (ru_maxrss), then the wall and CPU time of the run and whether
the report has an entry for every day. What still grows with the days is eth-tester's in-memory
chain (py-evm keeps every block, receipt and trie node; not ours to change), a few integers per
transaction for the gas table, and the per-slot outcomes the report is made of.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from p2penergy.energy import scenario as scenarios
from p2penergy.sim.report import build_report
from p2penergy.sim.runner import SlotOutcome, simulate


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="suburban-summer")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--households", type=int, default=3)
    parser.add_argument("--slot", type=int, default=3600, choices=(300, 900, 1800, 3600))
    parser.add_argument("--no-audit", action="store_true")
    args = parser.parse_args()
    scenario = scenarios.load(args.scenario).with_overrides(
        households=args.households, days=args.days, slot_seconds=args.slot, seed=None
    )
    spd = scenario.slots_per_day
    first = scenario.slots[0]
    wall, cpu = time.perf_counter(), time.process_time()

    def on_slot(outcome: SlotOutcome) -> None:
        done = outcome.slot - first + 1
        if done % spd == 0:
            print(
                f"day {done // spd:3d}: rss {_rss_mb():7.1f} MB, peak {_peak_mb():7.1f} MB, "
                f"{time.perf_counter() - wall:7.1f} s",
                flush=True,
            )

    result = simulate(scenario, progress=on_slot, with_audit=not args.no_audit)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    report = build_report(result)
    days = [d["day"] for d in report["days"]]
    print(
        f"{args.days} days x {spd} slots, {args.households} households: wall {wall:.1f} s, "
        f"CPU {cpu:.1f} s (load average {os.getloadavg()[0]:.1f}), peak RSS {_peak_mb():.1f} MB; "
        f"report days {days[0]}..{days[-1]} ({len(days)} entries), "
        f"audit {'skipped' if result.audit is None else result.audit.passed}"
    )


if __name__ == "__main__":
    main()
