"""What a household does on the market: plan orders, check them, sign, and read its history.

Every check that can be made before signing is made here (registration, gate closure, tariffs,
credits), so people get a sentence that says what to do instead of a revert after paying gas.
Reverts that still happen (a race with the chain clock, another process) are translated too.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from p2penergy.chain.deploy import System
from p2penergy.chain.tx import call, events, transact
from p2penergy.contracts.certificate import CertificateClient
from p2penergy.contracts.credit import CreditClient, describe_ref
from p2penergy.contracts.market import FRESH_WORD_RACE_GAS, MarketClient, placement_race_gas
from p2penergy.contracts.registry import Participant, RegistryClient
from p2penergy.domain.orders import OrderInput, slot_of
from p2penergy.domain.participants import HOUSEHOLD_KINDS
from p2penergy.domain.slots import SlotGrid
from p2penergy.exceptions import ContractRevert
from p2penergy.market import Side, escrow_for
from p2penergy.units import format_credits, format_wh, parse_credits, parse_kwh
from p2penergy.wallet.errors import PreflightError, RefusedByContract, WalletError
from p2penergy.wallet.timeslots import parse_local_time, slot_starting_at

UINT32_MAX = 2**32 - 1
PERMIT_LIFETIME = 3600  # seconds a permit signature stays valid
# An order for a slot starting further ahead than this needs a confirmation of its own (a
# mistyped year or slot number locks escrow for a long time): `bid`/`offer` ask, or take --yes.
CONFIRM_HORIZON_DAYS = 7


# ───────────────────────────── reading what people type ─────────────────────────────


def _not_final(slot: str) -> str:
    return (
        f"your certificates for {slot} are not final yet: you have an order in that slot and it "
        "has not been settled; retire them once it is settled"
    )


def energy_wh(text: str) -> int:
    """kWh as typed -> Wh, exactly; refuses zero, negatives and fractions of a Wh."""
    try:
        wh = parse_kwh(text)
    except ValueError as exc:
        raise WalletError(f"{exc}: write energy in kWh, e.g. 1.5") from None
    if wh <= 0 or wh > UINT32_MAX:
        raise WalletError(f"energy {text} kWh is out of range: it must be above 0")
    return wh


def price_per_kwh(text: str) -> int:
    """Credits per kWh as typed -> base units per kWh, exactly."""
    try:
        value = parse_credits(text)
    except ValueError as exc:
        raise WalletError(f"{exc}: write prices in credits per kWh, e.g. 0.25") from None
    if value < 0 or value > UINT32_MAX:
        raise WalletError(f"price {text} per kWh is out of range")
    return value


@dataclass(frozen=True)
class ScheduleRow:
    """One line of a day-ahead schedule: the slot start as typed, energy and limit price."""

    start: str
    kwh: str
    price: str


def read_schedule(path: Path) -> list[ScheduleRow]:
    """A CSV with the header `start,kwh,price` (local times, kWh, credits per kWh)."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"start", "kwh", "price"} <= set(reader.fieldnames):
                raise WalletError(f"{path} needs the header row: start,kwh,price")
            rows = [
                ScheduleRow(r["start"], r["kwh"], r["price"])
                for r in reader
                if r.get("start") and r.get("kwh") and r["kwh"].strip() not in ("0", "0.0")
            ]
    except OSError as exc:
        raise WalletError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise WalletError(f"{path} is not UTF-8 text ({exc.reason}): a CSV schedule?") from None
    except csv.Error as exc:
        raise WalletError(f"{path} is not a readable CSV: {exc}") from None
    if not rows:
        raise WalletError(f"{path} has no orders (rows with kWh above 0)")
    return rows


# ───────────────────────────── the wallet ─────────────────────────────


@dataclass(frozen=True)
class OrderPlan:
    """What will be signed: the orders, the escrow they lock and the credits available
    (`balance`: wallet and market balance together; `market_balance`: the part already in the
    market, which the escrow uses first)."""

    account: str
    orders: tuple[OrderInput, ...]
    escrow: int
    balance: int
    fee_per_kwh: int
    tariffs: tuple[int, int, int]
    market_balance: int = 0
    seller_fee_per_kwh: int = 0  # taken out of an offer's receipt at settlement

    @property
    def top_up(self) -> int:
        """Credits the placement deposits from the wallet: the escrow the market balance lacks."""
        return max(0, self.escrow - self.market_balance)

    def as_json(self, clock: SlotGrid) -> dict[str, Any]:
        return {
            "account": self.account,
            "escrow": self.escrow,
            "balance": self.balance,
            "market_balance": self.market_balance,
            "top_up": self.top_up,
            "network_fee_per_kwh": self.fee_per_kwh,
            "seller_fee_per_kwh": self.seller_fee_per_kwh,
            "orders": [
                {
                    "slot": o.slot,
                    "starts_at": clock.start(o.slot),
                    "side": o.side.name.lower(),
                    "energy_wh": o.energy_wh,
                    "limit_price_per_kwh": o.limit_price,
                }
                for o in self.orders
            ],
        }


@dataclass(frozen=True)
class OrderView:
    """One of the household's orders and where it stands."""

    order_id: int
    slot: int
    side: str
    energy_wh: int
    limit_price: int
    escrow: int
    status: str  # open | cancelled | cleared | settling | settled


@dataclass(frozen=True)
class TradeView:
    """A settled order: what cleared, what was metered, what was paid or received."""

    order_id: int
    slot: int
    side: str
    price: int
    filled_wh: int
    metered_wh: int
    certificate_wh: int
    amount: int  # received (offer) or charged (bid)
    fee: int
    refund: int
    expired: bool = False


@dataclass(frozen=True)
class BalanceView:
    account: str
    participant: Participant
    credits: int  # in the wallet (the token balance)
    locked: int
    certificates_wh: int
    gas_wei: int
    market: int = 0  # free in the market's internal ledger (deposits, refunds, receipts)


@dataclass
class Wallet:
    """One household's view of and actions on the deployed market."""

    system: System
    address: str
    market: MarketClient = field(init=False)
    credit: CreditClient = field(init=False)
    registry: RegistryClient = field(init=False)
    certificates: CertificateClient = field(init=False)
    clock: SlotGrid = field(init=False)

    def __post_init__(self) -> None:
        self.market = MarketClient(self.system)
        self.credit = CreditClient(self.system)
        self.registry = RegistryClient(self.system)
        self.certificates = CertificateClient(self.system)
        epoch, slot_length, _ = call(self.system.readings.functions.timing())
        gate_closure, _ = call(self.system.market.functions.rules())
        self.clock = SlotGrid(int(epoch), int(slot_length), int(gate_closure))

    @property
    def _from_block(self) -> int:
        return self.system.deployment.blocks.get("EnergyMarket", 0)

    # ── planning and checks ──

    def slot_at(self, text: str, tz: tzinfo) -> int:
        return slot_starting_at(self.clock, parse_local_time(text, tz), text)

    def check_trader(self, sides: set[Side]) -> Participant:
        """Refuses accounts the market would refuse, with what to do about it."""
        p = self.registry.participant(self.address)
        if not p.registered:
            raise PreflightError(
                f"account {self.address} is not registered in this market: ask the operator "
                "to register it (p2penergy admin register)"
            )
        if not p.active:
            raise PreflightError(
                f"account {self.address} is suspended: ask the operator to reinstate it"
            )
        if p.kind not in HOUSEHOLD_KINDS:
            raise PreflightError(f"account {self.address} is a {p.kind} account and cannot trade")
        if Side.OFFER in sides and p.kind != "prosumer":
            raise PreflightError(
                f"account {self.address} is registered as a consumer: only prosumers can offer; "
                "ask the operator to register it as a prosumer"
            )
        return p

    def check_gate(self, slot: int, tz: tzinfo | None, now: int | None = None) -> None:
        """Refuses a slot whose gate is closed at chain time `now`, naming the next open one."""
        # The next block is at least one second later than the latest one.
        now = self.system.chain.now() + 1 if now is None else now
        if not self.clock.is_open(slot, now):
            nxt = self.clock.next_open_slot(now)
            raise PreflightError(
                f"gate closed for slot {self.clock.describe(slot, tz)}: "
                f"next open slot is {self.clock.describe(nxt, tz)}"
            )

    def far_ahead(self, orders: Sequence[OrderInput], now: int | None = None) -> int | None:
        """The farthest slot of `orders` that starts more than `CONFIRM_HORIZON_DAYS` after
        chain time `now` (the latest block's by default), or None."""
        now = self.system.chain.now() if now is None else now
        horizon = now + CONFIRM_HORIZON_DAYS * 86_400
        far = [o.slot for o in orders if self.clock.start(o.slot) > horizon]
        return max(far) if far else None

    def plan(
        self,
        orders: Sequence[OrderInput],
        tz: tzinfo | None,
        open_orders: dict[int, int] | None = None,
    ) -> OrderPlan:
        """Checks `orders` as the contract will and works out the escrow they lock.

        `open_orders` (slot -> order id) is the account's open orders when the caller keeps
        track of them; otherwise they are read from the account's history (`orders`), which
        on the embedded chain costs a scan of every block per call.
        """
        if not orders:
            raise WalletError("no orders to place")
        self.check_trader({o.side for o in orders})
        seen: set[int] = set()
        feed_in, retail, fee = self.market.tariffs()
        seller_fee = self.market.seller_fee() if any(o.side == Side.OFFER for o in orders) else 0
        if open_orders is None:
            open_orders = {v.slot: v.order_id for v in self.orders() if v.status == "open"}
        now = self.system.chain.now() + 1
        for o in orders:
            self.check_gate(o.slot, tz, now)
            if o.slot in open_orders:
                raise PreflightError(
                    f"you already have order {open_orders[o.slot]} for slot "
                    f"{self.clock.describe(o.slot, tz)}: one order per slot; cancel it first "
                    f"(p2penergy cancel {open_orders[o.slot]})"
                )
            if o.slot in seen:
                raise PreflightError(
                    f"two orders for slot {self.clock.describe(o.slot, tz)}: one order per slot"
                )
            seen.add(o.slot)
            if not feed_in <= o.limit_price <= retail:
                raise PreflightError(
                    f"limit price {format_credits(o.limit_price)} per kWh is outside the "
                    f"tariffs: choose between {format_credits(feed_in)} (feed-in) and "
                    f"{format_credits(retail)} (retail)"
                )
            if o.side == Side.OFFER and o.limit_price < seller_fee:
                raise PreflightError(
                    f"limit price {format_credits(o.limit_price)} per kWh is below the seller "
                    f"fee of {format_credits(seller_fee)} per kWh: an offer must cover its fee"
                )
        escrow = sum(
            escrow_for(o.energy_wh, o.limit_price, fee) for o in orders if o.side == Side.BID
        )
        in_market = self.market.balance(self.address)
        balance = self.credit.balance(self.address) + in_market
        if escrow > balance:
            raise PreflightError(
                f"not enough credits: need {format_credits(escrow)}, have "
                f"{format_credits(balance)}; top up with the operator or bid for less"
            )
        return OrderPlan(
            self.address,
            tuple(orders),
            escrow,
            balance,
            fee,
            (feed_in, retail, fee),
            in_market,
            seller_fee,
        )

    def place(self, account: LocalAccount, plan: OrderPlan) -> list[int]:
        """Signs and sends the plan in one transaction (escrow from the market balance, the
        shortfall deposited through an EIP-2612 permit); returns the new order ids."""
        receipt = self.send(account, plan)
        return [
            int(e["args"]["orderId"]) for e in events(self.system.market, "OrderPlaced", receipt)
        ]

    def send(
        self,
        account: LocalAccount,
        plan: OrderPlan,
        gas: int | None = None,
        permit_deadline: int | None = None,
    ) -> TxReceipt:
        """`place`, returning the receipt. `gas`: a fixed gas limit instead of an estimate;
        `permit_deadline`: the permit's expiry instead of `PERMIT_LIFETIME` from now (the
        permit is spent by this very transaction either way: its nonce is used up)."""
        fns = self.system.market.functions
        orders = [o.as_tuple() for o in plan.orders]
        try:
            # one read of the latest block: the permit's deadline, the fees, the gas limit
            latest = self.system.chain.w3.eth.get_block("latest")
            if plan.top_up:
                deadline = permit_deadline or int(latest["timestamp"]) + PERMIT_LIFETIME
                v, r, s = self.credit.sign_permit(
                    account, self.system.market.address, plan.top_up, deadline
                )
                fn = fns.placeOrdersWithPermit(orders, plan.top_up, deadline, v, r, s)
            else:
                fn = fns.placeOrders(orders)
            race_gas = placement_race_gas(len(orders))
            return transact(
                self.system.chain, account, fn, gas=gas, latest=latest, race_gas=race_gas
            )
        except ContractRevert as exc:
            raise self.explain(exc) from None

    def cancel_refund(self, order_id: int, tz: tzinfo | None) -> OrderView:
        """Checks that `order_id` is ours and still cancellable; returns it (refund = escrow)."""
        mine = {o.order_id: o for o in self.orders()}
        if order_id not in mine:
            raise PreflightError(
                f"order {order_id} is not one of {self.address}'s orders: see `p2penergy orders`"
            )
        view = mine[order_id]
        if view.status != "open":
            raise PreflightError(f"order {order_id} is {view.status} and cannot be cancelled")
        self.check_gate(view.slot, tz)
        return view

    def cancel(self, account: LocalAccount, order_id: int) -> int:
        try:
            receipt = self.market.cancel(account, order_id)
        except ContractRevert as exc:
            raise self.explain(exc) from None
        return int(events(self.system.market, "OrderCancelled", receipt)[0]["args"]["refund"])

    def retire_check(self, slot: int, wh: int, tz: tzinfo | None) -> None:
        # A trader's certificates of a slot are final once the slot settles (before, what
        # settlement moves may still change); the contract refuses with CertificateSlotNotFinal.
        final = bool(call(self.system.market.functions.certificateFlow(self.address, slot))[2])
        if not final:
            raise PreflightError(_not_final(self.clock.describe(slot, tz)))
        held = self.certificates.balance(self.address, slot)
        if wh > held:
            raise PreflightError(
                f"not enough certificates for {self.clock.describe(slot, tz)}: need "
                f"{format_wh(wh)}, have {format_wh(held)}"
            )

    def retire(self, account: LocalAccount, slot: int, wh: int, tz: tzinfo | None) -> None:
        self.retire_check(slot, wh, tz)
        try:
            self.certificates.retire(account, slot, wh)
        except ContractRevert as exc:
            raise self.explain(exc) from None

    def deposit_check(self, amount: int) -> None:
        """Checks a deposit before signing: enough credits in the wallet."""
        have = self.credit.balance(self.address)
        if amount > have:
            raise PreflightError(
                f"not enough credits in the wallet: need {format_credits(amount)}, have "
                f"{format_credits(have)}"
            )

    def deposit(self, account: LocalAccount, amount: int) -> int:
        """Moves `amount` wallet credits into the market balance in one transaction (an
        EIP-2612 permit, no separate approval); returns the market balance after it."""
        self.deposit_check(amount)
        deadline = self.system.chain.now() + PERMIT_LIFETIME
        v, r, s = self.credit.sign_permit(account, self.system.market.address, amount, deadline)
        fn = self.system.market.functions.depositWithPermit(amount, deadline, v, r, s)
        try:
            transact(self.system.chain, account, fn, race_gas=FRESH_WORD_RACE_GAS)
        except ContractRevert as exc:
            raise self.explain(exc) from None
        return self.market.balance(self.address)

    def withdraw_check(self, amount: int) -> None:
        """Checks a withdrawal from the market before signing: enough free market balance."""
        have = self.market.balance(self.address)
        if amount > have:
            raise PreflightError(
                f"not enough credits in the market: need {format_credits(amount)}, have "
                f"{format_credits(have)} free (escrow locked in open bids comes back when they "
                "settle or are cancelled)"
            )

    def withdraw(self, account: LocalAccount, amount: int) -> int:
        """Sends `amount` of the market balance back to the wallet; returns the wallet balance
        after it. A suspended account may withdraw too: the credits are its own."""
        self.withdraw_check(amount)
        try:
            self.market.withdraw(account, amount)
        except ContractRevert as exc:
            raise self.explain(exc) from None
        return self.credit.balance(self.address)

    def redeem_check(self, amount: int, ref: bytes) -> None:
        """Checks a withdrawal before signing: enough credits, a reference not used before."""
        have = self.credit.balance(self.address)
        if amount > have:
            raise PreflightError(
                f"not enough credits: need {format_credits(amount)}, have {format_credits(have)}"
            )
        if self.credit.reference_used(ref):
            raise PreflightError(
                f"payment reference {describe_ref(ref)} was already used: each withdrawal needs a "
                "reference of its own (ask the operator for one)"
            )

    def redeem(self, account: LocalAccount, amount: int, ref: bytes) -> int:
        """Burns `amount` of this account's own credits for the fiat withdrawal `ref`; returns
        the balance left. A suspended account may redeem too: it only takes out what is its own."""
        self.redeem_check(amount, ref)
        try:
            self.credit.redeem(account, amount, ref)
        except ContractRevert as exc:
            raise self.explain(exc) from None
        return self.credit.balance(self.address)

    def explain(self, exc: ContractRevert) -> ContractRevert:
        """A revert the checks did not foresee, as a sentence that says what to do."""
        args = exc.error_args
        if exc.name == "MarketGateClosed":
            slot = int(args["slot"])
            nxt = self.clock.next_open_slot(self.system.chain.now() + 1)
            message = (
                f"gate closed for slot {self.clock.describe(slot, None)}: next open slot is "
                f"{self.clock.describe(nxt, None)}"
            )
        elif exc.name == "MarketNotAllowed":
            message = (
                f"account {self.address} may not trade (not registered or suspended): "
                "ask the operator"
            )
        elif exc.name == "MarketNotProsumer":
            message = f"account {self.address} is not a prosumer: only prosumers can offer"
        elif exc.name == "MarketLimitBelowFee":
            message = (
                f"limit price {format_credits(int(args['limitPricePerKWh']))} per kWh is below the "
                f"seller fee of {format_credits(int(args['feePerKWh']))} per kWh now in force: "
                "offer at a limit that covers it"
            )
        elif exc.name == "MarketDuplicateOrder":
            message = (
                f"you already have an order for slot {args['slot']}: cancel it first "
                "(p2penergy cancel ORDER_ID)"
            )
        elif exc.name == "MarketPlacementLimit":
            message = (
                f"you already placed {args['limit']} orders for slot {args['slot']} (cancelled "
                "ones count): keep the open one, or trade in another slot"
            )
        elif exc.name in ("MarketSlotFull", "MarketSlotExhausted"):
            message = f"slot {args['slot']} takes no more orders: trade in another slot"
        elif exc.name == "CreditReferenceUsed":
            message = (
                f"payment reference {describe_ref(bytes(args['paymentRef']))} was already used: "
                "each withdrawal needs a reference of its own"
            )
        elif exc.name == "MarketInsufficientBalance":
            message = (
                f"not enough credits in the market: {format_credits(int(args['balance']))} free, "
                f"{format_credits(int(args['needed']))} needed"
            )
        elif exc.name in ("ERC20InsufficientBalance", "ERC20InsufficientAllowance"):
            message = f"not enough credits or allowance for the escrow: {exc}"
        elif exc.name == "CertificateSlotNotFinal":
            message = _not_final(self.clock.describe(int(args["slot"]), None))
        else:
            return exc
        return RefusedByContract(exc, message)

    # ── history ──

    def orders(self) -> list[OrderView]:
        """Every order this account placed, newest last, with its current status."""
        market = self.system.market
        placed = market.events.OrderPlaced().get_logs(
            from_block=self._from_block, argument_filters={"owner": self.address}
        )
        settled = {
            int(log["args"]["orderId"])
            for log in market.events.OrderSettled().get_logs(
                from_block=self._from_block, argument_filters={"owner": self.address}
            )
        }
        cancelled_ids = {
            int(log["args"]["orderId"])
            for log in market.events.OrderCancelled().get_logs(
                from_block=self._from_block, argument_filters={"owner": self.address}
            )
        }
        statuses: dict[int, str] = {}
        result = []
        for log in placed:
            a = log["args"]
            oid, slot = int(a["orderId"]), int(a["slot"])
            if slot not in statuses:
                statuses[slot] = self.market.clearing(slot).status
            if oid in cancelled_ids:
                status = "cancelled"
            elif oid in settled:
                status = "settled"
            else:
                status = statuses[slot]
            result.append(
                OrderView(
                    order_id=oid,
                    slot=slot,
                    side="bid" if int(a["side"]) == int(Side.BID) else "offer",
                    energy_wh=int(a["energyWh"]),
                    limit_price=int(a["limitPricePerKWh"]),
                    escrow=int(a["escrow"]),
                    status=status,
                )
            )
        return result

    def trades(self) -> list[TradeView]:
        """Settled orders with the slot's clearing price (0 and `expired` when never cleared)."""
        market = self.system.market
        sides = {o.order_id: o.side for o in self.orders()}
        logs = market.events.OrderSettled().get_logs(
            from_block=self._from_block, argument_filters={"owner": self.address}
        )
        prices: dict[int, int] = {}
        result = []
        for log in logs:
            a = log["args"]
            oid = int(a["orderId"])
            slot = slot_of(oid)
            if slot not in prices:
                prices[slot] = self.market.clearing(slot).price
            result.append(
                TradeView(
                    order_id=oid,
                    slot=slot,
                    side=sides.get(oid, "?"),
                    price=prices[slot],
                    filled_wh=int(a["filledWh"]),
                    metered_wh=int(a["meteredWh"]),
                    certificate_wh=int(a["certificateWh"]),
                    amount=int(a["amount"]),
                    fee=int(a["fee"]),
                    refund=int(a["refund"]),
                    expired=self._expired(slot),
                )
            )
        return result

    def _expired(self, slot: int) -> bool:
        logs = self.system.market.events.SlotSettled().get_logs(
            from_block=self._from_block, argument_filters={"slot": slot}
        )
        return bool(logs) and bool(logs[-1]["args"]["expired"])

    def balance(self) -> BalanceView:
        locked = sum(
            o.escrow
            for o in self.orders()
            if o.side == "bid" and o.status not in ("cancelled", "settled")
        )
        held = self.certificates.holdings(self.address)
        return BalanceView(
            account=self.address,
            participant=self.registry.participant(self.address),
            credits=self.credit.balance(self.address),
            market=self.market.balance(self.address),
            locked=locked,
            certificates_wh=sum(held.values()),
            gas_wei=int(self.system.chain.w3.eth.get_balance(self.address)),  # type: ignore[arg-type]
        )
