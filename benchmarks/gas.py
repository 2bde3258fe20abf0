"""Gas per operation on the embedded chain: a printed table and a committed JSON snapshot.

    .venv/bin/python benchmarks/gas.py            # measure, print, write gas-snapshot.json
    .venv/bin/python benchmarks/gas.py --check    # measure, print, fail if a figure rose > 2 %
                                                  # over the snapshot or broke its ceiling

Gas is deterministic (same fork on eth-tester and Hardhat), so figures are compared exactly,
never timed. Ceilings come from the market issue (GSY DEX, the closest open peer, spends
~161k gas to place an order and ~190k per settled trade).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from rich.console import Console
from rich.table import Table

from p2penergy.chain.connect import Chain, embedded
from p2penergy.chain.deploy import System, deploy_system
from p2penergy.chain.tx import transact
from p2penergy.contracts.market import MarketClient, OrderInput
from p2penergy.market import Side
from p2penergy.oracle.reading import Reading, sign_reading

SNAPSHOT = Path(__file__).with_name("gas-snapshot.json")
TOLERANCE = 0.02
CONSUMER, PROSUMER = 1, 2
ALIGN = 256

# operation -> ceiling (gas per unit); None: reported only
CEILINGS: dict[str, int | None] = {
    "place one bid incl. escrow (warm accounts)": 100_000,
    "place day-ahead batch of 96 orders, per order": 45_000,
    "clear a slot of 10 orders, per order": 12_000,
    "clear a slot of 100 orders, per order": 12_000,
    "clear a slot of 1000 orders, per order": 12_000,
    "submit 100 readings (all exporting), per reading, 4 consecutive slots": 45_000,
    "submit 100 readings of new meters (all exporting), per reading": None,
    # the ceiling is stated for 100 filled orders; at 10 the transaction's fixed cost dominates
    "settle a slot of 10 filled orders, per filled order": None,
    "settle a slot of 100 filled orders, per filled order": 70_000,
    # reported, like N = 10: the settlement ceiling is stated for 100 filled orders
    "settle a slot of 1000 filled orders (chunks of 50), per filled order": None,
}


class Bench:
    """A deployed system plus funded, registered traders with meters."""

    def __init__(self) -> None:
        self.chain: Chain = embedded()
        self.admin = self.chain.faucet[0]
        self.system: System = deploy_system(self.chain, self.admin, keepers=(self.admin.address,))
        self.market = MarketClient(self.system)
        self.registers: dict[int, list[int]] = {}
        self.keys = 0

    def key(self) -> LocalAccount:
        """The next of a fixed sequence of keys: the same signatures, so the same calldata
        (a zero byte costs 4 gas, another 16) and the same gas on every run."""
        self.keys += 1
        account: LocalAccount = Account.from_key(keccak(text=f"p2penergy-gas/{self.keys}"))
        return account

    def trader(self, kind: int) -> tuple[LocalAccount, LocalAccount, int]:
        account, device = self.key(), self.key()
        registry = self.system.registry.functions
        self.chain.fund(account.address, 10**20)
        transact(self.chain, self.admin, registry.registerParticipant(account.address, kind, False))
        transact(
            self.chain, self.admin, registry.registerMeter(device.address, account.address, 50_000)
        )
        meter_id = int(registry.meterCount().call())
        if kind == CONSUMER:
            transact(
                self.chain,
                self.admin,
                # the per-mint limit (10,000 credits); each top-up has its own reference
                self.system.credit.functions.mint(
                    account.address, 10**10, f"benchmark-{self.keys}".encode().ljust(32, b"\0")
                ),
            )
            self.market.approve_escrow(account)
        self.registers[meter_id] = [0, 0]
        return account, device, meter_id

    def slot(self, ahead: int) -> int:
        """`ahead` slots after the next multiple of 256 from now: storage packs order counts 16
        slots a word, readings 4 and order flags 256, so the same words are fresh or warm
        whatever the time of day the benchmark runs."""
        epoch, length, _ = self.system.readings.functions.timing().call()
        current = (self.chain.now() - epoch) // length
        return -(-current // ALIGN) * ALIGN + ahead

    def gas(self, account: LocalAccount, fn: Callable[[], object]) -> int:
        before = self.chain.w3.eth.block_number
        fn()
        total = 0
        for number in range(before + 1, self.chain.w3.eth.block_number + 1):
            block = self.chain.w3.eth.get_block(number, full_transactions=True)
            total += sum(
                int(self.chain.w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"])
                for tx in block["transactions"]
                if tx["from"] == account.address
            )
        return total

    def crossing_book(
        self, slot: int, n: int
    ) -> list[tuple[LocalAccount, LocalAccount, int, Side]]:
        """n traders (half sellers, half buyers) whose orders all fill: every order is filled."""
        traders = []
        for i in range(n):
            side = Side.OFFER if i % 2 == 0 else Side.BID
            account, device, meter_id = self.trader(PROSUMER if side == Side.OFFER else CONSUMER)
            limit = 100_000 + (i % 7) if side == Side.OFFER else 250_000 - (i % 5)
            self.market.place(account, [OrderInput(slot, side, 1_000, limit)])
            traders.append((account, device, meter_id, side))
        return traders

    def report(self, slot: int, traders: list[tuple[LocalAccount, LocalAccount, int, Side]]) -> int:
        batch = []
        for _account, device, meter_id, side in traders:
            imp, exp = (0, 1_000) if side == Side.OFFER else (1_000, 0)
            registers = self.registers[meter_id]
            registers[0] += imp
            registers[1] += exp
            reading = Reading(meter_id, slot, imp, exp, registers[0], registers[1])
            batch.append(
                sign_reading(
                    device.key, reading, self.chain.chain_id, self.system.readings.address
                ).as_tuple()
            )
        gas = 0
        for start in range(0, len(batch), 100):
            gas += self.gas(
                self.admin,
                lambda chunk=batch[start : start + 100]: transact(
                    self.chain, self.admin, self.system.readings.functions.submit(chunk)
                ),
            )
        return gas

    def to_gate(self, slot: int) -> None:
        self.chain.set_time(self.market.slot_times(slot)[1])

    def to_slot_end(self, slot: int) -> None:
        start = self.market.slot_times(slot)[0]
        self.chain.set_time(start + self.system.readings.functions.timing().call()[1])


def measure() -> dict[str, int]:
    figures: dict[str, int] = {}
    bench = Bench()
    figures.update(
        {f"deploy {name}": gas for name, gas in bench.system.deployment.gas_used.items()}
    )

    # place: one warm bid (the buyer already has escrow locked in an earlier slot)
    buyer, _, _ = bench.trader(CONSUMER)
    bench.market.place(buyer, [OrderInput(bench.slot(4), Side.BID, 1_000, 200_000)])
    figures["place one bid incl. escrow (warm accounts)"] = bench.gas(
        buyer,
        lambda: bench.market.place(buyer, [OrderInput(bench.slot(5), Side.BID, 1_000, 200_000)]),
    )
    first = bench.slot(8)
    day = [OrderInput(first + k, Side.BID, 500 + k, 150_000) for k in range(96)]
    figures["place day-ahead batch of 96 orders, per order"] = (
        bench.gas(buyer, lambda: bench.market.place(buyer, day)) // 96
    )

    # readings, clearing and settlement at three sizes; each size gets its own slot
    for n, ahead in ((10, 120), (100, 125), (1000, 130)):
        slot = bench.slot(ahead)
        traders = bench.crossing_book(slot, n)
        bench.to_gate(slot)
        figures[f"clear a slot of {n} orders, per order"] = (
            bench.gas(bench.admin, lambda slot=slot: bench.market.clear_slot(bench.admin, slot))
            // n
        )
        bench.to_slot_end(slot)
        reading_gas = bench.report(slot, traders)
        if n == 100:
            figures["submit readings, mixed batch of 100, per reading"] = reading_gas // n
        # after the reading window (a slot settled early must fit one transaction)
        bench.chain.set_time(bench.system.readings.functions.readingWindow(slot).call()[1])
        chunk = 50 if n == 1000 else 0
        label = (
            f"settle a slot of {n} filled orders (chunks of 50), per filled order"
            if n == 1000
            else f"settle a slot of {n} filled orders, per filled order"
        )
        figures[label] = (
            bench.gas(
                bench.admin,
                lambda slot=slot, chunk=chunk: bench.market.settle_slot(bench.admin, slot, chunk),
            )
            // n
        )

    # 100 exporting readings from 100 distinct meters per batch: the first batch of new meters,
    # then steady operation over four consecutive slots (energy is packed four slots a word)
    sellers = []
    for _ in range(100):
        account, device, meter_id = bench.trader(PROSUMER)
        sellers.append((account, device, meter_id, Side.OFFER))
    first = bench.slot(140)
    bench.to_slot_end(first)
    figures["submit 100 readings of new meters (all exporting), per reading"] = (
        bench.report(first, sellers) // 100
    )
    start = first + 4 - first % 4  # the next slot that opens a packed word
    steady = 0
    for slot in range(start, start + 4):
        bench.to_slot_end(slot)
        steady += bench.report(slot, sellers)
    figures["submit 100 readings (all exporting), per reading, 4 consecutive slots"] = steady // 400
    return figures


def render(figures: dict[str, int], snapshot: dict[str, int]) -> tuple[Table, list[str]]:
    table = Table(title="p2penergy gas (embedded chain, cancun)")
    for column in ("operation", "gas", "snapshot", "change", "ceiling", "status"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    problems = []
    for name, gas in figures.items():
        old = snapshot.get(name)
        ceiling = CEILINGS.get(name)
        change = "" if old is None else f"{(gas - old) / old:+.2%}" if old else ""
        status = "ok"
        if old is not None and gas > old * (1 + TOLERANCE):
            status = "ROSE"
            problems.append(f"{name}: {gas:,} vs snapshot {old:,} (> {TOLERANCE:.0%})")
        if ceiling is not None and gas > ceiling:
            status = "OVER"
            problems.append(f"{name}: {gas:,} over the ceiling {ceiling:,}")
        table.add_row(
            name,
            f"{gas:,}",
            "" if old is None else f"{old:,}",
            change,
            "" if ceiling is None else f"{ceiling:,}",
            status,
        )
    # Clearing must scale linearly: the per-order cost at N = 1000 may not exceed N = 10's by
    # more than 15 % (it is lower, as the transaction's fixed cost is spread wider).
    small = figures.get("clear a slot of 10 orders, per order")
    large = figures.get("clear a slot of 1000 orders, per order")
    if small and large and large > small * 1.15:
        problems.append(
            f"clearing does not scale: {large:,} per order at N=1000 vs {small:,} at N=10"
        )
    return table, problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the snapshot; do not write it"
    )
    args = parser.parse_args()
    snapshot = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}
    figures = measure()
    table, problems = render(figures, snapshot)
    Console(width=130).print(table)
    if args.check:
        missing = sorted(set(snapshot) ^ set(figures))
        if missing:
            problems.append(f"snapshot and measurement differ in operations: {missing}")
        for problem in problems:
            print(f"gas check failed: {problem}", file=sys.stderr)
        return 1 if problems else 0
    SNAPSHOT.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {SNAPSHOT}")
    over = [p for p in problems if "ceiling" in p]
    for problem in over:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
