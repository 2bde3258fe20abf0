"""Gas per operation on the embedded chain: a printed table and a committed JSON snapshot.

    .venv/bin/python benchmarks/gas.py            # measure, print, write gas-snapshot.json
                                                  # and results/gas-summary.json
    .venv/bin/python benchmarks/gas.py --check    # measure, print, fail if a figure rose > 2 %
                                                  # over the snapshot or broke its ceiling
    .venv/bin/python benchmarks/gas.py --check --quick   # CI: leaves out the N = 1,000 slot,
                                                  # the batch of 500 readings and the
                                                  # simulated day, checks the rest

`results/gas-summary.json` holds the issue's headline figures (integers, gas):
settle_per_filled_order_n100 / _n1000, reading_steady, reading_worst (the dearest of a mixed
batch and a batch of new meters), place_one_order (warm accounts), batch_per_order (96 orders),
clear_per_order_n100, all_in_per_traded_pair_n50 (the N = 100 slot: 50 bids and 50 offers each
placed by its own first-time trader, the clearing, the 100 readings and the settlement, divided
by 50) and all_in_per_meter_slot (the default scenario's simulated day: the gas of placing,
clearing, readings and settlement over meters times slots; deployment, registration and funding are
one-off and left out).

Settlement at N = 100 is also measured for returning traders: the same 100 traders in a second
slot, when every seller already holds a market balance (reported beside the headline figure,
which keeps first-time traders).

Readings are also measured per transaction size: 1, 10, 100 and 500 steady readings in one
`submit` (500 only in the full run: it registers 400 more meters).

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
from p2penergy.energy import scenario as scenarios
from p2penergy.market import Side
from p2penergy.oracle.reading import Reading, pack_batch, sign_reading
from p2penergy.sim.runner import simulate

SNAPSHOT = Path(__file__).with_name("gas-snapshot.json")
SUMMARY = Path(__file__).with_name("results") / "gas-summary.json"
# summary key -> snapshot operations it is derived from (the dearest when several)
SUMMARY_KEYS: dict[str, tuple[str, ...]] = {
    "settle_per_filled_order_n100": ("settle a slot of 100 filled orders, per filled order",),
    "settle_per_filled_order_n1000": (
        "settle a slot of 1000 filled orders (chunks of 50), per filled order",
    ),
    "reading_steady": ("submit 100 readings (all exporting), per reading, 8 consecutive slots",),
    "reading_worst": (
        "submit readings, mixed batch of 100, per reading",
        "submit 100 readings of new meters (all exporting), per reading",
    ),
    "place_one_order": ("place one bid incl. escrow (warm accounts)",),
    "batch_per_order": ("place day-ahead batch of 96 orders, per order",),
    "clear_per_order_n100": ("clear a slot of 100 orders, per order",),
    "all_in_per_traded_pair_n50": ("all-in per traded pair, 50 pairs in one slot",),
    "all_in_per_meter_slot": ("all-in per meter and slot, simulated day (default scenario)",),
}
# the targets (reported beside each headline figure, not enforced)
TARGETS = {
    "settle_per_filled_order_n100": 20_000,
    "settle_per_filled_order_n1000": 22_000,
    "reading_steady": 15_000,
    "reading_worst": 25_000,
    "place_one_order": 50_000,
    "batch_per_order": 20_000,
    "clear_per_order_n100": 4_000,
    "all_in_per_traded_pair_n50": 90_000,
    "all_in_per_meter_slot": 20_000,
}
# operations of the simulated day that count towards all_in_per_meter_slot
MARKET_OPS = ("placeOrders", "placeOrdersWithPermit", "clear", "submitReadings", "settle")
TOLERANCE = 0.02
CONSUMER, PROSUMER = 1, 2
ALIGN = 256
# MeterReadings packs an owner's energy eight slots to a word: steady readings are averaged over
# the eight slots of one word (the long-run average per reading)
READING_SLOTS = 8

# operation -> ceiling (gas per unit); None: reported only
CEILINGS: dict[str, int | None] = {
    "place one bid incl. escrow (warm accounts)": 100_000,
    "place day-ahead batch of 96 orders, per order": 45_000,
    "clear a slot of 10 orders, per order": 12_000,
    "clear a slot of 100 orders, per order": 12_000,
    "clear a slot of 1000 orders, per order": 12_000,
    "submit 100 readings (all exporting), per reading, 8 consecutive slots": 45_000,
    "submit 100 readings of new meters (all exporting), per reading": None,
    # the ceiling is stated for 100 filled orders; at 10 the transaction's fixed cost dominates
    "settle a slot of 10 filled orders, per filled order": None,
    "settle a slot of 100 filled orders, per filled order": 70_000,
    "settle a slot of 100 filled orders, returning traders, per filled order": None,
    # reported, like N = 10: the settlement ceiling is stated for 100 filled orders
    "settle a slot of 1000 filled orders (chunks of 50), per filled order": None,
}


def crossing_limit(i: int, side: Side) -> int:
    """The i-th trader's limit in a crossing book: every offer below every bid, so all fill."""
    return 100_000 + (i % 7) if side == Side.OFFER else 250_000 - (i % 5)


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
        # registration prepares the meter's readings word, as RegistryClient.register_meter does
        transact(self.chain, self.admin, self.system.readings.functions.prepareMeters([meter_id]))
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
            # the flow the wallet documents: deposit once, then every bid locks escrow out of
            # the market balance without a token transfer
            self.market.deposit(account, 10**10)
        self.registers[meter_id] = [0, 0]
        return account, device, meter_id

    def slot(self, ahead: int) -> int:
        """`ahead` slots after the next multiple of 256 from now: storage packs order counts 16
        slots a word, readings 8 and order flags 256, so the same words are fresh or warm
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
    ) -> tuple[list[tuple[LocalAccount, LocalAccount, int, Side]], int]:
        """n traders (half sellers, half buyers) whose orders all fill: every order is filled.
        Returns the traders and the gas of placing their n orders."""
        traders = []
        gas = 0
        for i in range(n):
            side = Side.OFFER if i % 2 == 0 else Side.BID
            account, device, meter_id = self.trader(PROSUMER if side == Side.OFFER else CONSUMER)
            limit = crossing_limit(i, side)
            gas += self.gas(
                account,
                lambda account=account, side=side, limit=limit: self.market.place(
                    account, [OrderInput(slot, side, 1_000, limit)]
                ),
            )
            traders.append((account, device, meter_id, side))
        return traders, gas

    def report(
        self,
        slot: int,
        traders: list[tuple[LocalAccount, LocalAccount, int, Side]],
        per_tx: int = 100,
    ) -> int:
        batch = []
        for _account, device, meter_id, side in traders:
            imp, exp = (0, 1_000) if side == Side.OFFER else (1_000, 0)
            registers = self.registers[meter_id]
            registers[0] += imp
            registers[1] += exp
            reading = Reading(meter_id, slot, imp, exp, registers[0], registers[1])
            batch.append(
                sign_reading(device.key, reading, self.chain.chain_id, self.system.readings.address)
            )
        gas = 0
        for start in range(0, len(batch), per_tx):
            gas += self.gas(
                self.admin,
                # the relayer's encoding (submitPacked: six uint64 fields and a compact signature)
                lambda chunk=batch[start : start + per_tx]: transact(
                    self.chain,
                    self.admin,
                    self.system.readings.functions.submitPacked(pack_batch(chunk)),
                ),
            )
        return gas

    def to_gate(self, slot: int) -> None:
        self.chain.set_time(self.market.slot_times(slot)[1])

    def to_slot_end(self, slot: int) -> None:
        start = self.market.slot_times(slot)[0]
        self.chain.set_time(start + self.system.readings.functions.timing().call()[1])


def measure(quick: bool = False) -> dict[str, int]:
    figures: dict[str, int] = {}
    bench = Bench()
    figures.update(
        {f"deploy {name}": gas for name, gas in bench.system.deployment.gas_used.items()}
    )

    # place: one warm bid (the buyer has deposited and already has escrow locked in an earlier
    # slot)
    buyer, _, _ = bench.trader(CONSUMER)
    bench.market.place(buyer, [OrderInput(bench.slot(4), Side.BID, 1_000, 200_000)])
    placed: list[int] = []
    figures["place one bid incl. escrow (warm accounts)"] = bench.gas(
        buyer,
        lambda: placed.extend(
            bench.market.place(buyer, [OrderInput(bench.slot(5), Side.BID, 1_000, 200_000)])
        ),
    )
    first = bench.slot(8)
    day = [OrderInput(first + k, Side.BID, 500 + k, 150_000) for k in range(96)]
    figures["place day-ahead batch of 96 orders, per order"] = (
        bench.gas(buyer, lambda: bench.market.place(buyer, day)) // 96
    )
    # the other things a household does with the market: cancel a bid (its escrow back to the
    # market balance), take credits out to the wallet (which holds none: the buyer deposited all
    # of them) and put them all back (no figure after this depends on them: the balance word
    # stays non-zero, the cancel count is read only near the cap)
    figures["cancel one bid (escrow back to the market balance)"] = bench.gas(
        buyer, lambda: bench.market.cancel(buyer, placed[0])
    )
    figures["withdraw to a wallet that holds no credits"] = bench.gas(
        buyer, lambda: bench.market.withdraw(buyer, 10**6)
    )
    figures["deposit a wallet's whole credits (allowance set)"] = bench.gas(
        buyer, lambda: bench.market.deposit(buyer, 10**6)
    )

    # readings, clearing and settlement at three sizes; each size gets its own slot
    sizes = ((10, 120), (100, 125)) if quick else ((10, 120), (100, 125), (1000, 130))
    returning: list[tuple[LocalAccount, LocalAccount, int, Side]] = []
    for n, ahead in sizes:
        slot = bench.slot(ahead)
        traders, place_gas = bench.crossing_book(slot, n)
        bench.to_gate(slot)
        clear_gas = bench.gas(
            bench.admin, lambda slot=slot: bench.market.clear_slot(bench.admin, slot)
        )
        figures[f"clear a slot of {n} orders, per order"] = clear_gas // n
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
        settle_gas = bench.gas(
            bench.admin,
            lambda slot=slot, chunk=chunk: bench.market.settle_slot(bench.admin, slot, chunk),
        )
        figures[label] = settle_gas // n
        if n == 100:
            figures["all-in per traded pair, 50 pairs in one slot"] = (
                place_gas + clear_gas + reading_gas + settle_gas
            ) // (n // 2)
            returning = traders

    # 100 exporting readings from 100 distinct meters per batch: the first batch of new meters,
    # then steady operation over eight consecutive slots from a word boundary (an owner's energy
    # is packed eight slots a word while a slot's sums fit 14 bits, as here): the long-run
    # average, as any eight consecutive slots open exactly one word
    sellers = []
    for _ in range(100):
        account, device, meter_id = bench.trader(PROSUMER)
        sellers.append((account, device, meter_id, Side.OFFER))
    first = bench.slot(140)
    bench.to_slot_end(first)
    figures["submit 100 readings of new meters (all exporting), per reading"] = (
        bench.report(first, sellers) // 100
    )
    start = first + READING_SLOTS - first % READING_SLOTS  # the next slot that opens a word
    steady = 0
    for slot in range(start, start + READING_SLOTS):
        bench.to_slot_end(slot)
        steady += bench.report(slot, sellers)
    figures["submit 100 readings (all exporting), per reading, 8 consecutive slots"] = steady // (
        100 * READING_SLOTS
    )
    figures.update(reading_batches(bench, sellers, quick))
    figures["settle a slot of 100 filled orders, returning traders, per filled order"] = (
        settle_again(bench, returning) // len(returning)
    )
    if not quick:
        figures["all-in per meter and slot, simulated day (default scenario)"] = simulated_day()
    return figures


def settle_again(bench: Bench, traders: list[tuple[LocalAccount, LocalAccount, int, Side]]) -> int:
    """Settlement gas of a second slot of the same 100 traders, in the same crossing book: every
    seller already holds a market balance from the first (the steady state of a community whose
    prosumers sell day after day), everything else is as fresh as in the first slot."""
    slot = bench.slot(200)
    for i, (account, _device, _meter, side) in enumerate(traders):
        bench.market.place(account, [OrderInput(slot, side, 1_000, crossing_limit(i, side))])
    bench.to_gate(slot)
    bench.market.clear_slot(bench.admin, slot)
    bench.to_slot_end(slot)
    bench.report(slot, traders)
    bench.chain.set_time(bench.system.readings.functions.readingWindow(slot).call()[1])
    return bench.gas(bench.admin, lambda: bench.market.settle_slot(bench.admin, slot, 0))


def reading_batches(
    bench: Bench, sellers: list[tuple[LocalAccount, LocalAccount, int, Side]], quick: bool
) -> dict[str, int]:
    """Steady readings (every meter has read before) in one transaction of 1, 10 and 500
    readings (100 is the headline figure), per reading over eight consecutive slots: one slot in
    eight opens the owners' packed words. --quick leaves out 500 (400 more meters to register)."""
    meters = list(sellers)
    if not quick:
        for _ in range(400):
            account, device, meter_id = bench.trader(PROSUMER)
            meters.append((account, device, meter_id, Side.OFFER))
    # A slot whose gate closes after the new meters' registration; every meter reads once there.
    prime = bench.slot(8)
    bench.to_slot_end(prime)
    bench.report(prime, meters)
    figures: dict[str, int] = {}
    # prime is a multiple of 8: each size gets the eight slots of one word
    slot = prime + READING_SLOTS
    for size in (1, 10) if quick else (1, 10, 500):
        gas = 0
        for lane in range(READING_SLOTS):
            bench.to_slot_end(slot + lane)
            gas += bench.report(slot + lane, meters[:size], per_tx=size)
            # the figure is of recorded readings, not of skipped ones (which cost far less)
            recorded = bench.system.readings.functions.isRecorded
            if not all(recorded(m[2], slot + lane).call() for m in meters[:size]):
                raise SystemExit(f"gas: a steady reading of slot {slot + lane} was not recorded")
        slot += READING_SLOTS
        label = f"steady readings in batches of {size}, per reading, 8 consecutive slots"
        figures[label] = gas // (READING_SLOTS * size)
    return figures


def simulated_day() -> int:
    """The default scenario's day: market gas (orders, clearing, readings, settlement) per
    meter and slot. Keys and calldata derive from the seed, so the figure is exact."""
    run = simulate(scenarios.load(), with_audit=False)
    total = sum(sum(run.gas[op]) for op in MARKET_OPS)
    return total // (len(run.community.homes) * len(run.community.slots))


def summary_table(headline: dict[str, int], committed: dict[str, int]) -> Table:
    table = Table(title=f"headline figures ({SUMMARY.name}) against the issue's targets")
    for column in ("figure", "gas", "committed", "target"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for key, gas in headline.items():
        old = committed.get(key)
        table.add_row(key, f"{gas:,}", "" if old is None else f"{old:,}", f"{TARGETS[key]:,}")
    return table


def summary(figures: dict[str, int]) -> dict[str, int]:
    """The issue's headline figures, for those operations that were measured."""
    return {
        key: max(figures[op] for op in ops)
        for key, ops in SUMMARY_KEYS.items()
        if all(op in figures for op in ops)
    }


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
    parser.add_argument(
        "--quick",
        action="store_true",
        help="leave out the N = 1,000 slot, the batch of 500 readings and the simulated day "
        "(CI); with --check, compare the figures measured, without it refuse to write",
    )
    args = parser.parse_args()
    if args.quick and not args.check:
        print("gas: --quick measures part of the snapshot; use it with --check", file=sys.stderr)
        return 2
    snapshot = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}
    committed = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    figures = measure(quick=args.quick)
    headline = summary(figures)
    table, problems = render(figures, snapshot)
    Console(width=130).print(table)
    Console(width=130).print(summary_table(headline, committed))
    if args.check:
        # --quick measures a subset: each of its figures must still be in the snapshot
        missing = sorted(
            set(figures) - set(snapshot) if args.quick else set(snapshot) ^ set(figures)
        )
        if missing:
            problems.append(f"snapshot and measurement differ in operations: {missing}")
        # --quick generates fewer keys and meters, so the readings' calldata (signatures, meter
        # ids) differs by a few gas from the full run's: the quick check allows the tolerance.
        allowance = 1 + TOLERANCE if args.quick else 1
        for key, gas in headline.items():
            if key not in committed or gas > committed[key] * allowance:
                problems.append(f"summary {key}: {gas:,} vs committed {committed.get(key)}")
            elif gas < committed[key]:
                print(f"note: {key} fell to {gas:,} from {committed[key]:,}: rewrite the summary")
        if not args.quick and set(committed) != set(SUMMARY_KEYS):
            problems.append(f"{SUMMARY.name} keys differ from {sorted(SUMMARY_KEYS)}")
        for problem in problems:
            print(f"gas check failed: {problem}", file=sys.stderr)
        return 1 if problems else 0
    SNAPSHOT.write_text(json.dumps(figures, indent=2) + "\n")
    SUMMARY.parent.mkdir(exist_ok=True)
    SUMMARY.write_text(json.dumps(headline, indent=2) + "\n")
    print(f"wrote {SNAPSHOT} and {SUMMARY}")
    over = [p for p in problems if "ceiling" in p]
    for problem in over:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
