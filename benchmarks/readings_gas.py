"""Gas of MeterReadings.submit on the embedded chain: batches of 1, 10 and 100 readings.

Run from the repository root:

    PYTHONPATH=. .venv/bin/python benchmarks/readings_gas.py [--json] [--check]

`--json` output is committed as `benchmarks/readings_gas.json` (keys are fixed, so the figures
are reproducible): regenerate it when MeterReadings changes and review the difference.

Every reading comes from a distinct meter with its own owner and exports energy, all in one
slot. "steady" rows are meters that have reported before (their state word exists); the
"first reading" row is meters reporting for the first time. The "no export" row leaves out the
certificate mint, which isolates what MeterReadings itself costs. `--check` exits 1 when a
steady 100-reading batch costs more than the issue's ceiling per reading.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.contract import Contract

from p2penergy.chain.connect import Chain, embedded
from p2penergy.chain.deploy import MarketConfig, System, deploy_system
from p2penergy.chain.tx import events, transact
from p2penergy.oracle import Reading, sign_reading

CEILING_PER_READING = 45_000
SLOT_LENGTH = 900
WINDOW = 4 * SLOT_LENGTH
METERS = 100
CAPACITY_W = 5_000
PROSUMER = 2


@dataclass(frozen=True)
class Row:
    """One measured transaction."""

    scenario: str
    readings: int
    gas: int

    @property
    def per_reading(self) -> int:
        return self.gas // self.readings


class Bench:
    """A system, a MeterReadings deployment and `METERS` meters, each with its own owner."""

    def __init__(self) -> None:
        self.chain: Chain = embedded()
        self.admin: LocalAccount = self.chain.faucet[0]
        self.epoch = (self.chain.now() // SLOT_LENGTH - 1) * SLOT_LENGTH
        config = MarketConfig(epoch=self.epoch, slot_length=SLOT_LENGTH, reading_window=WINDOW)
        self.system: System = deploy_system(self.chain, self.admin, config=config)
        self.readings: Contract = self.system.readings
        registry = self.system.registry.functions
        self.meters: list[tuple[int, LocalAccount]] = []
        for i in range(METERS):
            # Fixed keys: signatures, hence calldata and gas, are the same on every run.
            owner = Account.from_key(keccak(text=f"benchmark owner {i}"))
            device = Account.from_key(keccak(text=f"benchmark device {i}"))
            transact(
                self.chain, self.admin, registry.registerParticipant(owner.address, PROSUMER, False)
            )
            receipt = transact(
                self.chain,
                self.admin,
                registry.registerMeter(device.address, owner.address, CAPACITY_W),
            )
            meter_id = events(self.system.registry, "MeterRegistered", receipt)[0]["args"]
            self.meters.append((int(meter_id["meterId"]), device))
        self.slot = 0

    def next_slot(self) -> int:
        """Moves chain time into the reading window of a fresh slot."""
        self.slot += 1
        self.chain.set_time(self.epoch + (self.slot + 1) * SLOT_LENGTH + 1)
        return self.slot

    def batch(self, slot: int, count: int, export_wh: int) -> list[object]:
        register = 10_000 * (slot + 1)
        return [
            sign_reading(
                device.key,
                Reading(meter_id, slot, 150, export_wh, register, register),
                self.chain.chain_id,
                self.readings.address,
            ).as_tuple()
            for meter_id, device in self.meters[:count]
        ]

    def submit(self, scenario: str, batch: list[object], expect_recorded: int) -> Row:
        receipt = transact(self.chain, self.admin, self.readings.functions.submit(batch))
        recorded = len(events(self.readings, "ReadingRecorded", receipt))
        if recorded != expect_recorded:
            raise SystemExit(
                f"{scenario}: {recorded} readings recorded, {expect_recorded} expected"
            )
        return Row(scenario, len(batch), int(receipt["gasUsed"]))


def measure() -> list[Row]:
    """Runs every scenario on a fresh embedded chain."""
    bench = Bench()
    rows = []
    slot = bench.next_slot()
    rows.append(bench.submit("first reading", bench.batch(slot, METERS, 1_000), METERS))
    for count in (1, 10, 100):
        slot = bench.next_slot()
        rows.append(bench.submit("steady", bench.batch(slot, count, 1_000), count))
    slot = bench.next_slot()
    no_export = bench.batch(slot, METERS, 0)
    rows.append(bench.submit("steady, no export", no_export, METERS))
    rows.append(bench.submit("identical resubmission", no_export, 0))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit 1 if a steady 100-reading batch exceeds {CEILING_PER_READING} gas per reading",
    )
    args = parser.parse_args(argv)
    rows = measure()
    if args.json:
        print(json.dumps([{**asdict(r), "perReading": r.per_reading} for r in rows], indent=2))
    else:
        print(f"{'scenario':<24} {'readings':>8} {'total gas':>12} {'gas/reading':>12}")
        for r in rows:
            print(f"{r.scenario:<24} {r.readings:>8} {r.gas:>12,} {r.per_reading:>12,}")
        print(f"ceiling: {CEILING_PER_READING:,} gas per reading (steady, 100 readings)")
    steady_100 = next(r for r in rows if r.scenario == "steady" and r.readings == METERS)
    if args.check and steady_100.per_reading > CEILING_PER_READING:
        print(
            f"over the ceiling: {steady_100.per_reading:,} > {CEILING_PER_READING:,}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
