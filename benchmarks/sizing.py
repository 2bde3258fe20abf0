"""How many meters one chain carries, from the measured gas figures.

Run from the repository root:

    PYTHONPATH=. .venv/bin/python benchmarks/sizing.py [--gas benchmarks/results/gas-summary.json]
        [--out benchmarks/results/sizing.json | --no-write]

Input: the committed gas summary `benchmarks/gas.py` writes; the figure that decides is
`all_in_per_meter_slot`, the whole simulated community day's gas divided by meters and slots
(orders, clearing, readings, settlement and the keeper's work, everything a meter causes).

A chain that executes G gas per second carries, with slots of S seconds,

    meters = G * S / all_in_per_meter_slot

meters, if every slot's work is done within the slot (it must be: readings of slot k, its
settlement and the orders of later slots all arrive while slot k+1 runs). The reference is a Besu
QBFT network of 4 validators, whose published Caliper runs give 520 to 645 ERC-20 transfers per
second, roughly 20 to 30 Mgas/s; the table shows 20, 25 and 30 Mgas/s and the issue's target
figure per meter-slot beside the measured one. A block must also hold the largest single
transaction: clearing a slot is one transaction, so `orders per slot` is bounded by the block gas
limit over the clearing gas per order (settlement and readings are chunked).

CI runs it (tests/integration/test_benchmarks.py) so it cannot rot; it reads the committed
summary and prints, it measures nothing itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
DEFAULT_GAS = HERE / "results" / "gas-summary.json"
DEFAULT_OUT = HERE / "results" / "sizing.json"
MGAS_PER_SECOND = (20, 25, 30)
SLOT_MINUTES = (5, 15, 30)
TARGET_PER_METER_SLOT = 20_000  # issue #13's target for all_in_per_meter_slot
BLOCK_GAS_LIMIT = 30_000_000  # a common Besu/Ethereum block gas limit


def meters(mgas_per_second: int, slot_minutes: int, gas_per_meter_slot: int) -> int:
    """Meters whose slot work fits in one slot of a chain running `mgas_per_second`."""
    return mgas_per_second * 1_000_000 * slot_minutes * 60 // gas_per_meter_slot


def sizing(summary: dict[str, int]) -> dict[str, Any]:
    """The sizing table for the measured figure and for the target, and the clearing bound."""
    measured = summary["all_in_per_meter_slot"]
    rows = []
    for label, per_meter_slot in (("measured", measured), ("target", TARGET_PER_METER_SLOT)):
        for mgas in MGAS_PER_SECOND:
            rows.append(
                {
                    "figure": label,
                    "gas_per_meter_slot": per_meter_slot,
                    "mgas_per_second": mgas,
                    **{f"meters_{m}min": meters(mgas, m, per_meter_slot) for m in SLOT_MINUTES},
                }
            )
    clear_per_order = summary["clear_per_order_n100"]
    return {
        "rows": rows,
        "block_gas_limit": BLOCK_GAS_LIMIT,
        "clear_per_order": clear_per_order,
        "max_orders_per_slot_by_block": BLOCK_GAS_LIMIT // clear_per_order,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--gas", type=Path, default=DEFAULT_GAS, help="gas summary JSON")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    try:
        summary = json.loads(args.gas.read_text())
        result = sizing(summary)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"sizing: cannot read the gas summary {args.gas}: {exc!r}", file=sys.stderr)
        return 2

    heads = "".join(f"{f'{m}-min slots':>15}" for m in SLOT_MINUTES)
    print(f"{'figure':<10}{'gas/meter-slot':>16}{'Mgas/s':>8}{heads}")
    for row in result["rows"]:
        cells = "".join(f"{row[f'meters_{m}min']:>15,}" for m in SLOT_MINUTES)
        print(
            f"{row['figure']:<10}{row['gas_per_meter_slot']:>16,}{row['mgas_per_second']:>8}{cells}"
        )
    print(
        f"clearing one slot in one block of {BLOCK_GAS_LIMIT:,} gas at "
        f"{result['clear_per_order']:,} gas per order: at most "
        f"{result['max_orders_per_slot_by_block']:,} orders per slot"
    )
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
