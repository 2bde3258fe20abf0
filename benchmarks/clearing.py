"""CPU time of the Python clearing engine (`p2penergy.market.clear`) from 10^3 to 10^6 orders.

Run from the repository root:

    PYTHONPATH=. .venv/bin/python benchmarks/clearing.py [--sizes 1000,10000,100000,1000000]
        [--repeat 3] [--out benchmarks/results/clearing.json | --no-write]

Each size is one slot with half bids and half offers drawn from a fixed seed (limits between a
feed-in and a retail tariff, energies 0.1 to 5 kWh, so the curves cross and most orders trade), in
id order as the keeper reads them from the chain. The figure is the CPU time of `clear` alone
(median of `--repeat` runs, more for small books; building the orders is not timed), and the
growth exponent is the least-squares slope of log(time) over log(orders). Targets (issue #13):
10^6 orders in <= 2 s of CPU, exponent <= 1.15. The result also checks itself: every clearing
is one `verify` accepts (the contract's rule), so a faster engine cannot be a wrong one.

CI runs it at reduced sizes (tests/integration/test_benchmarks.py) so it cannot rot; timings are
printed and written, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

from p2penergy.market import Order, Side, clear, verify

FEED_IN, RETAIL = 60_000, 300_000  # base units per kWh (0.06 and 0.30 with 6 decimals)
SEED = 20261130
DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)
DEFAULT_OUT = Path(__file__).parent / "results" / "clearing.json"


def orders_for(count: int, seed: int = SEED) -> list[Order]:
    """`count` orders of one slot, alternately drawn as bids and offers, in id order."""
    rng = random.Random(seed + count)
    orders = []
    for order_id in range(count):
        side = Side.BID if rng.random() < 0.5 else Side.OFFER
        orders.append(
            Order(
                order_id=order_id,
                owner=f"h{order_id}",
                side=side,
                energy_wh=rng.randint(100, 5_000),
                limit_price=rng.randint(FEED_IN, RETAIL),
            )
        )
    return orders


def cpu_seconds(orders: list[Order], repeat: int) -> tuple[float, int, int]:
    """Median CPU seconds of `clear`, with the clearing's volume and price."""
    times = []
    # Small books run in a millisecond: more runs there, so one busy moment does not decide.
    for _ in range(max(repeat, min(50, 200_000 // len(orders)))):
        start = time.process_time()
        result = clear(orders)
        times.append(time.process_time() - start)
    accepted = verify(orders, *result.description)
    if (accepted.volume_wh, accepted.price) != (result.volume_wh, result.price):
        raise SystemExit("clearing: verify disagrees with clear; the engine is wrong")
    return statistics.median(times), result.volume_wh, result.price


def growth_exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) over log(size)."""
    xs = [math.log(n) for n in sizes]
    ys = [math.log(max(s, 1e-9)) for s in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in DEFAULT_SIZES),
        help="comma-separated order counts (at least two)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (median)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(n) for n in args.sizes.split(",")})
    except ValueError:
        print(f"clearing: --sizes must be integers, got {args.sizes!r}", file=sys.stderr)
        return 2
    if len(sizes) < 2 or sizes[0] < 2 or args.repeat < 1:
        print("clearing: give at least two sizes >= 2 and --repeat >= 1", file=sys.stderr)
        return 2

    rows = []
    print(f"{'orders':>10} {'CPU s':>9} {'us/order':>9} {'volume Wh':>13} {'price':>8}")
    for size in sizes:
        orders = orders_for(size)
        seconds, volume, price = cpu_seconds(orders, args.repeat)
        rows.append(
            {"orders": size, "cpu_seconds": round(seconds, 4), "volume_wh": volume, "price": price}
        )
        print(f"{size:>10,} {seconds:>9.3f} {seconds / size * 1e6:>9.2f} {volume:>13,} {price:>8}")
    exponent = growth_exponent(sizes, [r["cpu_seconds"] for r in rows])
    print(f"growth exponent {exponent:.3f} (target <= 1.15); load {os.getloadavg()[0]:.1f}")
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result = {"sizes": rows, "growth_exponent": round(exponent, 3), "repeat": args.repeat}
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
