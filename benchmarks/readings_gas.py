"""Gas of MeterReadings.submitPacked (the relayer's encoding) on the embedded chain: batches of
100 readings.

Run from the repository root:

    PYTHONPATH=. .venv/bin/python benchmarks/readings_gas.py [--json] [--check]

`--json` output is committed as `benchmarks/readings_gas.json` (keys are fixed, so the figures
are reproducible): regenerate it when MeterReadings or EnergyCertificate changes and review the
difference.

Every batch holds one reading from each of 100 meters, each meter with its own owner, all for
one slot, as a relayer submits a slot's readings. An owner's energy is packed to a storage
word (eight slots while a slot's sums fit 14 bits, as here), so the cost depends on the
slot's place in its word:

- "first readings of new meters": meters and owners reporting for the first time (the meters
  prepared at registration, as the operator's `RegistryClient.register_meter` does);
- "steady, slot 8k" .. "slot 8k+7": the same meters in eight consecutive slots; 8k opens a new
  word for every owner (the worst case), the other seven update it;
- "steady, 8 consecutive slots": the average over those eight, the headline figure that the
  issue's ceiling applies to (any eight consecutive slots hold exactly one 8k: the long-run
  average per reading);
- "steady, 4 consecutive slots from 8k": the average of 8k..8k+3 (the issue's original measure,
  from when a word held four slots: four consecutive slots at their dearest alignment);
- "steady, no export, 8 consecutive slots": the same without export, so without the certificate
  mint (an event only: certificates are minted lazily);
- "identical resubmission": the last batch again, every reading skipped as already recorded.

`--check` exits 1 when the headline figure is above the issue's ceiling per reading.
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
from p2penergy.oracle import Reading, SignedReading, sign_reading
from p2penergy.oracle.reading import pack_batch
from p2penergy.oracle.recorded import recorded_in

CEILING_PER_READING = 45_000
HEADLINE = "steady, 8 consecutive slots"
SLOTS_PER_WORD = 8  # MeterReadings packs an owner's energy eight slots to a storage word
STEADY_SLOTS = (
    "steady, slot 8k (opens a packed word)",
    *(f"steady, slot 8k+{lane}" for lane in range(1, SLOTS_PER_WORD)),
)
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
        # Registration prepares the meters' words (the operator's flow: RegistryClient), so the
        # first readings update them instead of creating them.
        ids = [meter_id for meter_id, _ in self.meters]
        transact(self.chain, self.admin, self.readings.functions.prepareMeters(ids))
        self.slot = 0

    def advance_to(self, slot: int) -> int:
        """Moves chain time into the reading window of `slot` (later than the current one)."""
        if slot <= self.slot:
            raise ValueError(f"slot {slot} is not after slot {self.slot}")
        self.slot = slot
        self.chain.set_time(self.epoch + (slot + 1) * SLOT_LENGTH + 1)
        return slot

    def batch(self, slot: int, count: int, export_wh: int) -> list[SignedReading]:
        register = 10_000 * (slot + 1)
        return [
            sign_reading(
                device.key,
                Reading(meter_id, slot, 150, export_wh, register, register),
                self.chain.chain_id,
                self.readings.address,
            )
            for meter_id, device in self.meters[:count]
        ]

    def submit(self, scenario: str, batch: list[SignedReading], expect_recorded: int) -> Row:
        fn = self.readings.functions.submitPacked(pack_batch(batch))
        receipt = transact(self.chain, self.admin, fn)
        recorded = len(recorded_in(self.readings, receipt))
        if recorded != expect_recorded:
            raise SystemExit(
                f"{scenario}: {recorded} readings recorded, {expect_recorded} expected"
            )
        return Row(scenario, len(batch), int(receipt["gasUsed"]))


def measure() -> list[Row]:
    """Runs every scenario on a fresh embedded chain."""
    bench = Bench()
    # a slot that opens a packed word, at least 1 ahead
    first = SLOTS_PER_WORD * ((bench.slot + SLOTS_PER_WORD) // SLOTS_PER_WORD)
    rows = [
        bench.submit(
            "first readings of new meters",
            bench.batch(bench.advance_to(first - 1), METERS, 1_000),
            METERS,
        )
    ]
    steady = [
        bench.submit(name, bench.batch(bench.advance_to(first + lane), METERS, 1_000), METERS)
        for lane, name in enumerate(STEADY_SLOTS)
    ]
    rows += [*steady, _average(HEADLINE, steady)]
    # the original measure: four consecutive slots, the first of which opens a word
    rows.append(_average("steady, 4 consecutive slots from 8k", steady[:4]))
    no_export = []
    for lane in range(SLOTS_PER_WORD):
        batch = bench.batch(bench.advance_to(first + SLOTS_PER_WORD + lane), METERS, 0)
        no_export.append(bench.submit("steady, no export", batch, METERS))
    rows.append(_average("steady, no export, 8 consecutive slots", no_export))
    rows.append(bench.submit("identical resubmission", batch, 0))
    return rows


def _average(scenario: str, rows: list[Row]) -> Row:
    return Row(scenario, sum(r.readings for r in rows), sum(r.gas for r in rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit 1 if '{HEADLINE}' exceeds {CEILING_PER_READING:,} gas per reading",
    )
    args = parser.parse_args(argv)
    rows = measure()
    if args.json:
        print(json.dumps([{**asdict(r), "perReading": r.per_reading} for r in rows], indent=2))
    else:
        width = max(len(r.scenario) for r in rows)
        print(f"{'scenario':<{width}} {'readings':>8} {'total gas':>12} {'gas/reading':>12}")
        for r in rows:
            print(f"{r.scenario:<{width}} {r.readings:>8} {r.gas:>12,} {r.per_reading:>12,}")
        print(f"ceiling: {CEILING_PER_READING:,} gas per reading ({HEADLINE})")
    headline = next(r for r in rows if r.scenario == HEADLINE)
    if args.check and headline.per_reading > CEILING_PER_READING:
        print(
            f"over the ceiling: {headline.per_reading:,} > {CEILING_PER_READING:,}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
