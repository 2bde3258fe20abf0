"""Times `p2penergy simulate` on the default scenario and shows where the time goes.

    PYTHONPATH=. .venv/bin/python benchmarks/simulate.py [--scenario NAME] [--households N]
        [--slots K] [--top 30]

Runs the simulation (model + chain) under cProfile, prints the wall time split into phases and
the top functions by cumulative and by own time. Target: the default scenario (30 households,
one day of 15-minute slots) in under 90 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

from p2penergy.sim import scenario as scenarios
from p2penergy.sim.runner import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=scenarios.DEFAULT_SCENARIO)
    parser.add_argument("--households", type=int, default=None)
    parser.add_argument("--first-slot", type=int, default=None)
    parser.add_argument("--slots", type=int, default=None, help="simulate only this many slots")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    scenario = scenarios.load(args.scenario).with_overrides(
        households=args.households, first_slot=args.first_slot, slot_count=args.slots
    )
    marks: list[float] = []
    started = time.perf_counter()
    cpu_started = time.process_time()
    # CPU time of this process: on a shared, loaded machine wall time says little. The meters'
    # signing runs in a worker process and overlaps with the chain.
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    result = simulate(scenario, progress=lambda _: marks.append(time.perf_counter()))
    profile.disable()
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    load = os.getloadavg()[0]
    setup = (marks[0] - started) if marks else total
    print(
        f"scenario {scenario.name}: {scenario.households.count} households, "
        f"{len(result.outcomes)} slots of {scenario.slot_seconds} s"
    )
    print(
        f"wall time {total:.1f} s  (model + deploy + registration + first orders "
        f"{setup:.1f} s, slots {total - setup:.1f} s, "
        f"{(total - setup) / max(1, len(marks)):.2f} s/slot)"
    )
    print(
        f"CPU time of the main process {cpu:.1f} s "
        f"(load average {load:.1f} on {os.cpu_count()} cores)"
    )
    print("transactions:", {op: len(g) for op, g in sorted(result.gas.items())})
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
