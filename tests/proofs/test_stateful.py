"""The deployed contracts driven at random through the Python services, against a ghost model.

A hypothesis `RuleBasedStateMachine` works one embedded-chain community the way its people and
services do: households place and cancel bids and offers through `Wallet` (preflight checks,
EIP-2612 permit, error translation), redeem credits through `Wallet.redeem`; the operator
registers, suspends, reinstates and tops up through `Operator`; meters' readings are signed by
`Oracle` into an outbox and relayed by `Relayer` (a second oracle relays the same readings again,
and intake sees each reading twice); the `Keeper` clears, settles and expires; time moves on.

The ghost model predicts every outcome (refused by preflight, refused by the contract, or done,
with the escrow, refund and balance it moves) and every settlement line from
`p2penergy.market.clear` and `p2penergy.market.settle` on its own copy of the book and of the
recorded readings. The invariants (checked after every step) compare it with the chain:

- `escrow_held_is_locked_plus_unpaid`: the market's credit balance == Σ escrow of open bids +
  charged-but-unpaid of slots in settlement + Σ the market's internal balances (refunds,
  receipts, fees and dust are credited there), and every internal balance is the ghost's;
- `credit_supply_is_minted_minus_burned`: totalSupply == minted - burned == Σ balances, and every
  balance is what the ghost says;
- `no_reading_recorded_twice`: each (meter, slot) has at most one ReadingsRecorded record, equal
  to what the oracle signed; every reading the outboxes hold as submitted is recorded;
- `settled_slot_never_changes`: a settled slot's clearing and order words stay as they were;
- `settlements_agree_with_python`: every OrderSettled / SlotSettled event equals the line of
  `p2penergy.market.settle` (checked as the keeper settles) and each settled slot pays out its
  escrow exactly.

The world (deployment, traders, meters) is built once per module; each example starts from a
chain snapshot. Short profile: 10 examples of at most 20 steps; `P2PENERGY_TESTS=long` runs
ten times the examples of at most 50 steps (tests/budget.py).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from p2penergy.chain.connect import Chain, embedded
from p2penergy.contracts.credit import payment_ref
from p2penergy.domain.orders import OrderInput
from p2penergy.exceptions import ContractRevert
from p2penergy.keeper.keeper import Keeper
from p2penergy.market import Side, escrow_for, settle
from p2penergy.market.clearing import clear
from p2penergy.market.models import Order
from p2penergy.oracle.outbox import SUBMITTED, Outbox
from p2penergy.oracle.recorded import recorded_from
from p2penergy.oracle.relayer import Relayer
from p2penergy.oracle.service import Oracle
from p2penergy.oracle.sources import SimulatedMeters
from p2penergy.wallet.errors import PreflightError
from p2penergy.wallet.operator import Operator
from p2penergy.wallet.trading import Wallet

from ..budget import LONG, examples
from ..conftest import Deployed, deploy_with_actors, govern
from ..integration.oracle_helpers import CONSUMER, PROSUMER, Trader, advance_to, new_trader

EXAMPLES = examples(10)
STEPS = 50 if LONG else 20
SLOT = 900
WINDOW = 4 * 3600
GATE = 300
NETWORK_FEE = 30_000
# set through governance when the world is built: every offer snapshots it and pays it
SELLER_FEE = 12_345
MINT_LIMIT = 10_000 * 10**6
KINDS = {CONSUMER: "consumer", PROSUMER: "prosumer"}
_REFS = itertools.count(1)


COVERED: Counter[str] = Counter()  # what the runs did, for the test's own check


def _note(name: str) -> None:
    COVERED[name] += 1


@dataclass
class World:
    """Built once per module: the deployment, four traders with meters, two spare keys."""

    d: Deployed
    traders: list[Trader]  # prosumer, prosumer, consumer, consumer
    kinds: list[int]
    spares: list[LocalAccount]  # funded, not registered
    wallets: dict[str, Wallet]
    snapshot: Any
    first_slot: int  # the earliest slot whose gate closed after the meters were registered
    balances: dict[str, int]  # every credit holder at the snapshot
    supply: int
    tmp: Path

    @property
    def chain(self) -> Chain:
        return self.d.chain


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    chain = embedded()
    # Calls carry a sender, so web3 does not ask eth-tester for its accounts before every call
    # (a third of the machine's time otherwise).
    chain.w3.eth.default_account = chain.faucet[0].address
    d = deploy_with_actors(chain)
    govern(d, d.system.market.functions.setSellerFee(SELLER_FEE))
    kinds = [PROSUMER, PROSUMER, CONSUMER, CONSUMER]
    traders = [new_trader(chain, d.system, d.actors.operator, kind) for kind in kinds]
    spares = [Account.create() for _ in range(2)]
    for spare in spares:
        chain.fund(spare.address, 10**20)
    # Meters registered before the gate of every slot the machine trades.
    advance_to(chain, chain.now() + 3 * SLOT)
    addresses = [t.account.address for t in traders] + [s.address for s in spares]
    addresses += [d.fee_account, d.rounding_account, d.system.market.address]
    wallets = {a: Wallet(d.system, a) for a in addresses}
    credit = d.system.credit.functions
    balances = {a: int(credit.balanceOf(a).call()) for a in addresses}
    supply = int(credit.totalSupply().call())
    epoch = int(d.system.readings.functions.timing().call()[0])
    first_slot = (chain.now() - epoch) // SLOT - 1
    yield World(
        d, traders, kinds, spares, wallets, chain.snapshot(), first_slot, balances, supply,
        tmp_path_factory.mktemp("stateful"),
    )  # fmt: skip


@dataclass
class GhostOrder:
    order_id: int
    owner: str
    slot: int
    side: Side
    energy_wh: int
    limit: int
    fee: int
    escrow: int
    status: str = "open"  # open | cancelled | settled

    def as_order(self) -> Order:
        return Order(self.order_id, self.owner, self.side, self.energy_wh, self.limit, self.fee)


@dataclass
class Ghost:
    """What the chain must show, from the machine's own actions and the Python engine."""

    balances: dict[str, int]  # credit tokens held (the market contract's are escrow + ledger)
    market: dict[str, int] = field(default_factory=dict)  # the market's internal balances
    minted: int = 0
    burned: int = 0
    orders: dict[int, GhostOrder] = field(default_factory=dict)
    placements: dict[tuple[str, int], int] = field(default_factory=dict)
    registered: dict[str, int] = field(default_factory=dict)  # address -> kind
    active: dict[str, bool] = field(default_factory=dict)
    readings: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    last_slot: dict[int, int] = field(default_factory=dict)  # meter -> latest reported slot
    status: dict[int, str] = field(default_factory=dict)  # slot -> cleared | settled
    expected: dict[int, dict[int, tuple[int, ...]]] = field(default_factory=dict)
    expected_totals: dict[int, tuple[int, int, bool]] = field(default_factory=dict)
    unpaid: dict[int, int] = field(default_factory=dict)  # slot -> charged - paid so far
    fingerprints: dict[int, tuple[Any, ...]] = field(default_factory=dict)

    def slot_orders(self, slot: int) -> list[GhostOrder]:
        return [o for o in self.orders.values() if o.slot == slot and o.status != "cancelled"]

    def usage(self, slot: int, meters: dict[int, str]) -> dict[str, tuple[int, int]]:
        used: dict[str, tuple[int, int]] = {}
        for (meter, s), (imp, exp) in self.readings.items():
            if s == slot:
                owner = meters[meter]
                before = used.get(owner, (0, 0))
                used[owner] = (before[0] + imp, before[1] + exp)
        return used


class Community(RuleBasedStateMachine):
    world: World  # set by the test before the machine runs

    def __init__(self) -> None:
        super().__init__()
        w = self.world
        w.chain.revert(w.snapshot)
        self.system = w.d.system
        self.ghost = Ghost(balances=dict(w.balances))
        for trader, kind in zip(w.traders, w.kinds, strict=True):
            self.ghost.registered[trader.account.address] = kind
            self.ghost.active[trader.account.address] = True
        self.meters = {t.meter_id: t.account.address for t in w.traders}
        self.operator = Operator(self.system, w.d.actors.operator)
        self.keeper = Keeper(self.system, w.d.actors.keeper, chunk=2)
        run = next(_REFS)
        self.sources = SimulatedMeters()
        self.oracles = []
        for name in ("a", "b"):
            outbox = Outbox(
                w.tmp / f"outbox-{run}-{name}.sqlite",
                w.chain.chain_id,
                self.system.readings.address,
            )
            relayer = Relayer(self.system, w.d.actors.keeper, outbox)
            devices = Oracle.meters_for(self.system, [t.device for t in w.traders])
            self.oracles.append(Oracle(self.system, devices, outbox, relayer))
        self.cursor = int(w.chain.w3.eth.block_number) + 1
        self.recorded: set[tuple[int, int]] = set()

    def teardown(self) -> None:
        try:
            self.drain()
        finally:
            for oracle in self.oracles:
                oracle.outbox.close()

    def drain(self) -> None:
        """Every escrowed credit has a path back to its owner: after the last traded slot was
        delivered the meters report and the keeper settles; after every deadline it expires the
        rest. Then the market holds only its participants' free balances (no escrow) and every
        order is cancelled or settled."""
        slots = {o.slot for o in self.ghost.orders.values()}
        if not slots:
            return
        advance_to(self.world.chain, self.slot_start(max(slots)) + SLOT)
        self.advance(0, [0, 700, 0, 900, 800, 0, 250, 0], False)  # (import, export) each
        advance_to(self.world.chain, self.slot_start(max(slots)) + SLOT + WINDOW)
        self.keeper_tick()
        self.check_all()
        assert all(o.status != "open" for o in self.ghost.orders.values())
        # no escrow is left: the market holds exactly its participants' free balances
        assert self.ghost.balances[self.system.market.address] == sum(self.ghost.market.values())

    def check_all(self) -> None:
        self.escrow_held_is_locked_plus_unpaid()
        self.credit_supply_is_minted_minus_burned()
        self.no_reading_recorded_twice()
        self.settled_slot_never_changes()

    # ── helpers ──

    def accounts(self) -> list[LocalAccount]:
        return [t.account for t in self.world.traders] + self.world.spares

    def now(self) -> int:
        return self.world.chain.now()

    def current_slot(self) -> int:
        epoch = self.world.wallets[self.accounts()[0].address].clock.epoch
        return (self.now() + 1 - epoch) // SLOT

    def slot_start(self, slot: int) -> int:
        return self.world.wallets[self.accounts()[0].address].clock.epoch + slot * SLOT

    def move(self, frm: str, to: str, amount: int) -> None:
        self.ghost.balances[frm] -= amount
        self.ghost.balances[to] = self.ghost.balances.get(to, 0) + amount

    def credit_market(self, owner: str, amount: int) -> None:
        """Credits `owner`'s balance inside the market (refunds, receipts, fees, dust): no
        token moves, the credits stay in the market contract."""
        self.ghost.market[owner] = self.ghost.market.get(owner, 0) + amount

    def lock_escrow(self, owner: str, escrow: int) -> None:
        """A bid locks its escrow from the owner's market balance; the shortfall is pulled
        from the wallet in the same transaction."""
        free = self.ghost.market.get(owner, 0)
        shortfall = max(0, escrow - free)
        self.move(owner, self.system.market.address, shortfall)
        self.ghost.market[owner] = free + shortfall - escrow

    def new_logs(self) -> dict[str, list[Any]]:
        """Events mined since the last call, by name."""
        head = int(self.world.chain.w3.eth.block_number)
        logs: dict[str, list[Any]] = {}
        if head < self.cursor:
            return logs
        market, readings = self.system.market.events, self.system.readings.events
        for name, kind in (
            ("SlotCleared", market.SlotCleared),
            ("OrderSettled", market.OrderSettled),
            ("SlotSettled", market.SlotSettled),
            ("ReadingsRecorded", readings.ReadingsRecorded),
        ):
            logs[name] = list(kind().get_logs(from_block=self.cursor, to_block=head))
        self.cursor = head + 1
        return logs

    def absorb(self) -> None:
        """Checks the events of the last step against the ghost and applies them."""
        logs = self.new_logs()
        for one in recorded_from(logs.get("ReadingsRecorded", [])):
            key = (one.meter_id, one.slot)
            assert key not in self.recorded, f"reading {key} recorded twice"
            self.recorded.add(key)
            assert self.ghost.readings.get(key) == (one.import_wh, one.export_wh)
            assert one.owner == self.meters[key[0]]
        for log in logs.get("SlotCleared", []):
            a = log["args"]
            slot = int(a["slot"])
            assert self.ghost.status.get(slot) is None
            expected = clear([o.as_order() for o in self.ghost.slot_orders(slot)])
            assert (int(a["price"]), int(a["volumeWh"])) == (expected.price, expected.volume_wh)
            self.ghost.status[slot] = "cleared"
        for log in logs.get("OrderSettled", []):
            a = log["args"]
            order = self.ghost.orders[int(a["orderId"])]
            lines = self.expect_settlement(order.slot)
            got = tuple(
                int(a[k])
                for k in ("filledWh", "meteredWh", "certificateWh", "amount", "fee", "refund")
            )
            assert got == lines[order.order_id], (order, got, lines[order.order_id])
            assert order.status == "open" and a["owner"] == order.owner
            order.status = "settled"
            _filled, _metered, _cert, amount, fee, refund = got
            unpaid = self.ghost.unpaid
            if order.side == Side.OFFER:
                # the receipt leaves the pool: net to the seller, the seller fee to the fee account
                assert 0 <= fee <= amount
                self.credit_market(order.owner, amount - fee)
                self.credit_market(self.world.d.fee_account, fee)
                unpaid[order.slot] = unpaid.get(order.slot, 0) - amount
            else:
                self.credit_market(order.owner, refund)
                self.credit_market(self.world.d.fee_account, fee)
                unpaid[order.slot] = unpaid.get(order.slot, 0) + amount
        for log in logs.get("SlotSettled", []):
            a = log["args"]
            slot = int(a["slot"])
            fees, dust, expired = self.ghost.expected_totals[slot]
            assert (int(a["fees"]), int(a["dust"]), bool(a["expired"])) == (fees, dust, expired)
            self.credit_market(self.world.d.rounding_account, dust)
            self.ghost.unpaid[slot] = self.ghost.unpaid.get(slot, 0) - dust
            # per settled slot: paid to sellers + fees + refunds + dust == escrowed
            assert self.ghost.unpaid[slot] == 0
            assert all(o.status == "settled" for o in self.ghost.slot_orders(slot))
            self.ghost.status[slot] = "settled"
            _note("expired" if expired else "settled with trade" if fees else "settled")
            self.ghost.fingerprints[slot] = self.fingerprint(slot)

    def expect_settlement(self, slot: int) -> dict[int, tuple[int, ...]]:
        """Per order (filled, metered, certificate, amount, fee, refund), from the Python engine
        on the ghost's book and readings, fixed when the slot's settlement starts."""
        if slot in self.ghost.expected:
            return self.ghost.expected[slot]
        orders = self.ghost.slot_orders(slot)
        lines: dict[int, tuple[int, ...]] = {}
        if self.ghost.status.get(slot) != "cleared":  # never cleared: expired, all refunded
            for o in orders:
                lines[o.order_id] = (0, 0, 0, 0, 0, o.escrow if o.side == Side.BID else 0)
            self.ghost.expected_totals[slot] = (0, 0, True)
        else:
            result = settle(
                [o.as_order() for o in orders],
                clear([o.as_order() for o in orders]),
                self.ghost.usage(slot, self.meters),
            )
            for line in result.lines:
                lines[line.order_id] = (
                    line.filled_wh, line.delivered_wh, line.energy_wh,
                    line.amount, line.fee, line.refund,
                )  # fmt: skip
            self.ghost.expected_totals[slot] = (result.fees_total, result.dust, False)
        self.ghost.expected[slot] = lines
        return lines

    def fingerprint(self, slot: int) -> tuple[Any, ...]:
        fns = self.system.market.functions
        count = int(fns.orderCount(slot).call())
        return (tuple(fns.clearing(slot).call()), tuple(fns.orderWords(slot, 0, count).call()))

    def expect_refusal(self, kind: type[Exception] | None, act: Any) -> Any:
        """Runs `act`; the ghost said it is refused with `kind` (None: it succeeds)."""
        if kind is None:
            return act()
        with pytest.raises(kind):
            act()
        return None

    # ── households ──

    @rule(
        who=st.integers(0, 5),
        side=st.sampled_from([Side.BID, Side.OFFER]),
        ahead=st.integers(0, 6),
        energy=st.integers(1, 3_000),
        price=st.one_of(st.integers(80_000, 300_000), st.sampled_from([79_999, 300_001])),
    )
    def place(self, who: int, side: Side, ahead: int, energy: int, price: int) -> None:
        account = self.accounts()[who]
        owner = account.address
        wallet = self.world.wallets[owner]
        slot = self.current_slot() + ahead
        fee = NETWORK_FEE if side == Side.BID else SELLER_FEE
        escrow = escrow_for(energy, price, fee) if side == Side.BID else 0
        g = self.ghost
        open_for_slot = any(
            o.owner == owner and o.slot == slot and o.status == "open" for o in g.orders.values()
        )
        refused: type[Exception] | None = None
        if (
            owner not in g.registered
            or not g.active[owner]
            or (side == Side.OFFER and g.registered[owner] != PROSUMER)
            or self.now() + 1 >= self.slot_start(slot) - GATE
            or open_for_slot
            or not 80_000 <= price <= 300_000
            or escrow > g.balances[owner] + g.market.get(owner, 0)
        ):
            refused = PreflightError
        elif g.placements.get((owner, slot), 0) >= 4:
            refused = ContractRevert  # MarketPlacementLimit: not foreseen by the wallet

        # The caller keeps track of its open orders (as the simulation does), so planning does
        # not scan the chain's history each time; the contract refuses duplicates anyway.
        mine = {
            o.slot: o.order_id for o in g.orders.values() if o.owner == owner and o.status == "open"
        }

        def act() -> list[int]:
            plan = wallet.plan([OrderInput(slot, side, energy, price)], None, mine)
            assert plan.escrow == escrow
            return wallet.place(account, plan)

        ids = self.expect_refusal(refused, act)
        _note(f"place {refused.__name__ if refused else 'ok'}")
        if ids is None:
            return
        [order_id] = ids
        assert order_id >> 16 == slot and order_id not in g.orders
        g.orders[order_id] = GhostOrder(order_id, owner, slot, side, energy, price, fee, escrow)
        g.placements[(owner, slot)] = g.placements.get((owner, slot), 0) + 1
        self.lock_escrow(owner, escrow)

    @rule(who=st.integers(0, 5), pick=st.integers(0, 2**16), foreign=st.booleans())
    def cancel(self, who: int, pick: int, foreign: bool) -> None:
        account = self.accounts()[who]
        owner = account.address
        g = self.ghost
        candidates = [o for o in g.orders.values() if (o.owner != owner) == foreign]
        if not candidates:
            return
        order = candidates[pick % len(candidates)]
        wallet = self.world.wallets[owner]
        refused: type[Exception] | None = None
        if (
            foreign
            or order.status != "open"
            or self.now() + 1 >= self.slot_start(order.slot) - GATE
        ):
            refused = PreflightError

        def act() -> int:
            wallet.cancel_refund(order.order_id, None)
            return wallet.cancel(account, order.order_id)

        refund = self.expect_refusal(refused, act)
        _note(f"cancel {refused.__name__ if refused else 'ok'}")
        if refund is None:
            return
        assert refund == order.escrow
        order.status = "cancelled"
        self.credit_market(owner, refund)

    @rule(who=st.integers(0, 5), amount=st.integers(1, 60_000_000))
    def redeem(self, who: int, amount: int) -> None:
        account = self.accounts()[who]
        owner = account.address
        ref = payment_ref(f"stateful-redeem-{next(_REFS)}")
        refused = PreflightError if amount > self.ghost.balances[owner] else None
        left = self.expect_refusal(
            refused, lambda: self.world.wallets[owner].redeem(account, amount, ref)
        )
        if refused is None:
            self.ghost.balances[owner] -= amount
            self.ghost.burned += amount
            assert left == self.ghost.balances[owner]

    # ── the operator ──

    @rule(who=st.integers(0, 5), kind=st.sampled_from([CONSUMER, PROSUMER]))
    def register(self, who: int, kind: int) -> None:
        owner = self.accounts()[who].address
        refused = PreflightError if owner in self.ghost.registered else None
        self.expect_refusal(refused, lambda: self.operator.register(owner, KINDS[kind], False, 0))
        if refused is None:
            self.ghost.registered[owner] = kind
            self.ghost.active[owner] = True

    @rule(who=st.integers(0, 5), reinstate=st.booleans())
    def suspend(self, who: int, reinstate: bool) -> None:
        owner = self.accounts()[who].address
        g = self.ghost
        refused = None
        if owner not in g.registered or g.active[owner] == reinstate:
            refused = PreflightError
        self.expect_refusal(refused, lambda: self.operator.suspend(owner, reinstate))
        if refused is None:
            g.active[owner] = reinstate

    @rule(
        who=st.integers(0, 5),
        amount=st.one_of(st.integers(1, 100_000_000), st.just(MINT_LIMIT), st.just(MINT_LIMIT + 1)),
    )
    def mint(self, who: int, amount: int) -> None:
        owner = self.accounts()[who].address
        g = self.ghost
        ref = payment_ref(f"stateful-topup-{next(_REFS)}")  # the world minted topup-N
        refused: type[Exception] | None = None
        if owner not in g.registered or amount > MINT_LIMIT:
            refused = PreflightError
        elif not g.active[owner]:
            refused = ContractRevert  # CreditAccountNotAllowed: top-ups go to active accounts
        self.expect_refusal(refused, lambda: self.operator.mint(owner, amount, ref))
        if refused is None:
            g.balances[owner] += amount
            g.minted += amount

    # ── meters, oracle and relayer ──

    def reportable(self, meter: int) -> list[int]:
        """Ended slots meter `meter` may still report: inside their reading window, after the
        meter's latest reading (registers only go forward)."""
        next_block = self.now() + 1
        return [
            s
            for s in range(self.world.first_slot, self.current_slot())
            if s > self.ghost.last_slot.get(meter, -1)
            and self.slot_start(s) + SLOT + WINDOW > next_block + 60
        ]

    def report(self, who: int, slot: int, imp: int, exp: int, twice: bool) -> None:
        """Meter `who` measured (imp, exp) Wh in the ended `slot`: oracle A signs and relays it;
        with `twice` A's intake sees it again and oracle B signs and relays it a second time."""
        meter = self.world.traders[who].meter_id
        reading = self.sources.record(meter, slot, imp, exp)
        [batch] = self.sources.poll()
        a, b = self.oracles
        assert a.ingest(batch).added == 1
        self.ghost.readings[(meter, slot)] = (imp, exp)
        self.ghost.last_slot[meter] = slot
        if twice:
            assert a.ingest(batch).already == 1
            assert b.ingest(batch).added == 1
        result = a.relayer.relay()
        assert (result.submitted, result.rejected) == (1, 0), result
        if twice:
            again = b.relayer.relay()  # ReadingsAlreadyRecorded: done, not rejected
            assert (again.submitted, again.rejected) == (1, 0), again
        entry = a.outbox.get(meter, slot)
        assert entry is not None and entry.signed.reading == reading and entry.state == SUBMITTED
        _note("reading twice" if twice else "reading")

    @rule(
        who=st.integers(0, 3),
        pick=st.integers(0, 2**16),
        imp=st.integers(0, 2_000),
        exp=st.integers(0, 2_000),
        twice=st.booleans(),
    )
    def meter_reading(self, who: int, pick: int, imp: int, exp: int, twice: bool) -> None:
        """One meter reports any ended slot it still may."""
        slots = self.reportable(self.world.traders[who].meter_id)
        if slots:
            self.report(who, slots[pick % len(slots)], imp, exp, twice)

    # ── the keeper and time ──

    @rule()
    def keeper_tick(self) -> None:
        before = {s: self.ghost.status.get(s) for s in self.ghost.status}
        self.keeper.run_once()
        self.absorb()
        for slot, status in before.items():
            if status == "settled":
                assert self.ghost.status[slot] == "settled"

    @rule(
        seconds=st.sampled_from([30, GATE, SLOT, 3 * SLOT, WINDOW + SLOT]),
        usage=st.lists(st.integers(0, 2_000), min_size=8, max_size=8),
        twice=st.booleans(),
    )
    def advance(self, seconds: int, usage: list[int], twice: bool) -> None:
        """Time passes and the services run: every trader's meter reports the ended slots it
        traded in (amounts from `usage`), the oracle relays, the keeper makes a pass."""
        advance_to(self.world.chain, self.now() + seconds)
        for who, trader in enumerate(self.world.traders):
            traded = {
                o.slot for o in self.ghost.orders.values() if o.owner == trader.account.address
            }
            for slot in self.reportable(trader.meter_id):
                if slot in traded:
                    self.report(who, slot, usage[2 * who], usage[2 * who + 1], twice)
        self.keeper_tick()

    @initialize(
        ahead=st.integers(2, 4),
        offer=st.tuples(st.integers(1, 3_000), st.integers(80_000, 300_000)),
        bid=st.tuples(st.integers(1, 3_000), st.integers(80_000, 300_000)),
    )
    def book(self, ahead: int, offer: tuple[int, int], bid: tuple[int, int]) -> None:
        """Every run starts with a prosumer's offer and a consumer's bid for one slot."""
        self.place(0, Side.OFFER, ahead, *offer)
        self.place(2, Side.BID, ahead, *bid)

    # ── invariants ──

    @invariant()
    def settlements_agree_with_python(self) -> None:
        """Every event since the last step is what the ghost predicted (readings recorded once,
        clearings and settlement lines as the Python engine computes them)."""
        self.absorb()

    @invariant()
    def escrow_held_is_locked_plus_unpaid(self) -> None:
        self.absorb()
        g = self.ghost
        locked = sum(
            o.escrow for o in g.orders.values() if o.side == Side.BID and o.status == "open"
        )
        unpaid = sum(v for s, v in g.unpaid.items() if g.status.get(s) != "settled")
        held = int(self.system.credit.functions.balanceOf(self.system.market.address).call())
        assert held == locked + unpaid + sum(g.market.values())
        assert held == g.balances[self.system.market.address]
        market = self.system.market.functions
        assert {a: int(market.balanceOf(a).call()) for a in g.market} == g.market

    @invariant()
    def credit_supply_is_minted_minus_burned(self) -> None:
        self.absorb()
        g = self.ghost
        credit = self.system.credit.functions
        supply = int(credit.totalSupply().call())
        assert supply == self.world.supply + g.minted - g.burned == sum(g.balances.values())
        on_chain = {a: int(credit.balanceOf(a).call()) for a in g.balances}
        assert on_chain == g.balances

    @invariant()
    def no_reading_recorded_twice(self) -> None:
        self.absorb()
        assert self.recorded == set(self.ghost.readings)
        readings = self.system.readings.functions
        for oracle in self.oracles:
            for entry in oracle.outbox.entries(SUBMITTED):
                assert entry.key in self.recorded
                assert readings.isRecorded(*entry.key).call()

    @invariant()
    def settled_slot_never_changes(self) -> None:
        self.absorb()
        for slot, fingerprint in self.ghost.fingerprints.items():
            assert self.fingerprint(slot) == fingerprint


def test_community_under_random_operation(world: World) -> None:
    Community.world = world
    run = Community.TestCase
    run.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    COVERED.clear()
    run().runTest()
    # the runs reached what they are for: relayed readings and settlements
    print(dict(COVERED))
    assert COVERED["reading"] and COVERED["settled"] + COVERED["settled with trade"], COVERED
