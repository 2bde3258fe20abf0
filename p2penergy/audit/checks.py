"""The audit's checks: each recomputes something from the history and compares with the chain.

Every finding is a `Finding` naming the check, the slot and the party it concerns and the amount
at stake, so a failure says exactly what to look at.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from p2penergy.audit.history import ZERO, Event, History, OrderRecord
from p2penergy.domain.orders import slot_of
from p2penergy.domain.readings import InvalidReading, Reading
from p2penergy.market import (
    Clearing,
    MarketInputError,
    Order,
    Side,
    clear,
    escrow_for,
    fills_for,
    settle,
)
from p2penergy.market.settlement import Settlement
from p2penergy.oracle.reading import recover_signer, separator_of

CLEARING = "clearing"
READINGS = "readings"
SETTLEMENT = "settlement"
CREDITS = "credit-supply"
ESCROW = "escrow"
CERTIFICATES = "certificates"
BYTECODE = "bytecode"
TOPUPS = "topups"
CHECK_NAMES = (CLEARING, READINGS, SETTLEMENT, CREDITS, ESCROW, CERTIFICATES, BYTECODE, TOPUPS)

INFO = "info"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One verified fact or one discrepancy. `ok` is False for a discrepancy."""

    check: str
    ok: bool
    message: str
    slot: int | None = None
    party: str | None = None
    amount: int | None = None
    block: int | None = None
    severity: str | None = None  # governance findings: "info" or "warning"

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "ok": self.ok,
            "message": self.message,
            "slot": self.slot,
            "party": self.party,
            "amount": self.amount,
            "block": self.block,
            "severity": self.severity,
        }


@dataclass
class SlotView:
    """What the report shows per slot (recomputed figures)."""

    slot: int
    orders: int = 0
    price: int | None = None
    volume_wh: int = 0
    traded_wh: int = 0
    feed_in: int = 0
    retail: int = 0
    status: str = "open"
    escrowed: int = 0
    held: int = 0


@dataclass
class Findings:
    """The findings of every check plus the per-slot figures and settlements computed on the way."""

    items: list[Finding] = field(default_factory=list)
    slots: dict[int, SlotView] = field(default_factory=dict)
    settlements: dict[int, Settlement] = field(default_factory=dict)

    def add(self, check: str, ok: bool, message: str, **where: Any) -> None:
        self.items.append(Finding(check, ok, message, **where))

    def could_not_check(self, check: str, what: str, exc: BaseException, **where: Any) -> None:
        """A check that could not run is a failure, never a pass: names what and the error type."""
        self.add(check, False, f"could not check {what}: {type(exc).__name__}", **where)

    def slot(self, slot: int) -> SlotView:
        if slot not in self.slots:
            self.slots[slot] = SlotView(slot)
        return self.slots[slot]


def _orders_of(history: History) -> dict[int, list[OrderRecord]]:
    by_slot: dict[int, list[OrderRecord]] = defaultdict(list)
    for order in history.orders.values():
        by_slot[order.slot].append(order)
    return by_slot


def _live(records: Iterable[OrderRecord]) -> list[Order]:
    return [
        Order(
            r.order_id, r.owner, Side(r.side), r.energy_wh, r.limit_price, r.fee_per_kwh, r.critical
        )
        for r in records
        if r.cancel_refund is None
    ]


def check_clearing(history: History, out: Findings) -> dict[int, Clearing]:
    """Each SlotCleared equals `p2penergy.market.clear` on the slot's orders (and its calldata).

    Outage slots (an `OutageDeclared` before the clearing) are re-cleared under the island rule.
    """
    expected: dict[int, Clearing] = {}
    by_slot = _orders_of(history)
    for slot in sorted(set(by_slot) | set(history.cleared)):
        view = out.slot(slot)
        view.orders = len(by_slot.get(slot, []))
        orders = _live(by_slot.get(slot, []))
        mine = clear(orders, outage_cap=history.outages.get(slot))
        expected[slot] = mine
        event = history.cleared.get(slot)
        if event is None:
            continue
        a = event.args
        view.price, view.volume_wh, view.status = a["price"], a["volumeWh"], "cleared"
        view.feed_in, view.retail, _ = history.tariffs_at(event.position)
        onchain = (a["marginalBid"], a["marginalOffer"], a["bidMarginalWh"], a["offerMarginalWh"])
        where = {"slot": slot, "block": event.position[0]}
        if (a["price"], a["volumeWh"], onchain) != (mine.price, mine.volume_wh, mine.description):
            out.add(
                CLEARING,
                False,
                f"SlotCleared price {a['price']} volume {a['volumeWh']} Wh {onchain} differs from "
                f"the recomputed price {mine.price} volume {mine.volume_wh} Wh {mine.description}",
                amount=a["price"] - mine.price,
                **where,
            )
            _fill_differences(history, orders, mine, onchain, slot, out)
        else:
            out.add(CLEARING, True, f"price {mine.price}, volume {mine.volume_wh} Wh", **where)
        calldata = history.clear_calls.get(slot)
        if calldata is not None and calldata != onchain:
            out.add(CLEARING, False, f"clear calldata {calldata} differs from event", **where)
    return expected


def _fill_differences(
    history: History,
    orders: list[Order],
    mine: Clearing,
    onchain: tuple[int, int, int, int],
    slot: int,
    out: Findings,
) -> None:
    """One finding per order whose on-chain fill is not its competitive fill."""
    try:
        fills = fills_for(orders, *onchain, outage_cap=history.outages.get(slot))
    except MarketInputError:
        return
    for order in orders:
        got, want = fills.get(order.order_id, 0), mine.fills.get(order.order_id, 0)
        if got != want:
            out.add(
                CLEARING,
                False,
                f"order {order.order_id}: filled {got} Wh, competitive fill {want} Wh",
                slot=slot,
                party=order.owner,
                amount=got - want,
                block=history.cleared[slot].position[0],
            )


def check_readings(
    history: History, chain_id: int, out: Findings, key_time: Callable[[int], int] | None
) -> None:
    """Each recorded reading is signed (per its calldata) by the meter key in force at its
    slot's key time (`key_time(slot)`: the last second before the slot's gate closed, as
    `MeterReadings.meterKeyTime`), from an active meter. Without `key_time` (the timing could
    not be read: already a failure) the key in force when the reading was recorded is used.
    A `ReadingsRecorded` whose records are not whole fails: its readings cannot be checked."""
    for e in history.malformed_records:
        out.add(
            READINGS,
            False,
            f"ReadingsRecorded in {e.tx_hash} is not whole 40-byte records",
            block=e.position[0],
        )
    for r in history.readings:
        where = {"slot": r.slot, "party": r.owner, "amount": r.export_wh or r.import_wh}
        where["block"] = r.position[0]
        label = f"meter {r.meter_id} slot {r.slot} ({r.import_wh} Wh in, {r.export_wh} Wh out)"
        if r in history.duplicate_readings:
            out.add(READINGS, False, f"{label}: recorded twice", **where)
        if r.signed is None:
            out.add(READINGS, False, f"{label}: no signed reading in the calldata", **where)
            continue
        values, v, sig_r, sig_s = r.signed
        if (values[2], values[3]) != (r.import_wh, r.export_wh):
            out.add(READINGS, False, f"{label}: event differs from signed {values}", **where)
            continue
        signer = _recover(values, v, sig_r, sig_s, chain_id, history.readings_address)
        if key_time is None:
            key = history.key_at(r.meter_id, r.position)
            active = history.active_at(r.meter_id, r.position)
        else:
            key, active = history.meter_at_time(r.meter_id, key_time(r.slot))
        owner = history.meter_owner.get(r.meter_id)
        if signer is None:
            out.add(READINGS, False, f"{label}: signature invalid or high-s", **where)
        elif key is None or signer != key:
            out.add(
                READINGS, False, f"{label}: signed by {signer}, registered key is {key}", **where
            )
        elif not active:
            out.add(READINGS, False, f"{label}: meter {r.meter_id} was inactive", **where)
        elif owner != r.owner:
            out.add(READINGS, False, f"{label}: owner {r.owner} but meter owner {owner}", **where)
        else:
            out.add(READINGS, True, f"{label}: signed by the registered key", **where)


def _recover(
    values: tuple[int, ...], v: int, r: bytes, s: bytes, chain_id: int, contract: str
) -> str | None:
    try:
        reading = Reading(*values)
        separator = separator_of(chain_id, contract)
    except InvalidReading:
        return None
    return recover_signer(reading, v, int.from_bytes(r, "big"), int.from_bytes(s, "big"), separator)


def _expired_lines(orders: list[Order]) -> dict[int, tuple[int, ...]]:
    return {
        o.order_id: (
            0,
            0,
            0,
            0,
            0,
            escrow_for(o.energy_wh, o.limit_price, o.fee_per_kwh) if o.side == Side.BID else 0,
        )
        for o in orders
    }


def check_settlement(history: History, out: Findings) -> None:
    """Each OrderSettled/SlotSettled equals `p2penergy.market.settle` on fills and readings."""
    by_slot = _orders_of(history)
    settled_by_order: dict[int, list[Event]] = defaultdict(list)
    for e in history.order_settled:
        oid = e.args["orderId"]
        if e.contract != "EnergyMarket":
            out.add(
                SETTLEMENT,
                False,
                f"OrderSettled for order {oid} emitted by {e.contract}, not the deployed market "
                f"(pays {e.args['amount']} + refund {e.args['refund']})",
                slot=slot_of(oid),
                party=e.args["owner"],
                amount=e.args["amount"] + e.args["refund"],
                block=e.position[0],
            )
            continue
        settled_by_order[oid].append(e)
    for slot in sorted(set(history.started) | set(history.slot_settled)):
        orders = _live(by_slot.get(slot, []))
        start = history.started.get(slot)
        done = history.slot_settled.get(slot)
        expired = bool(done and done.args["expired"]) or slot not in history.cleared
        position = start.position if start else (done.position if done else (0, 0))
        readings = history.slot_energy(slot, position)
        expected: dict[int, tuple[int, ...]]
        dust = fees = cert_dust = 0
        if expired:
            expected = _expired_lines(orders)
        else:
            ev = history.cleared[slot].args
            fills = fills_for(
                orders,
                ev["marginalBid"],
                ev["marginalOffer"],
                ev["bidMarginalWh"],
                ev["offerMarginalWh"],
                outage_cap=history.outages.get(slot),
            )
            clearing = Clearing(ev["volumeWh"], ev["price"], 0, 0, 0, 0, fills)
            try:
                result = settle(orders, clearing, readings)
            except MarketInputError as exc:
                out.add(SETTLEMENT, False, f"cannot settle: {exc}", slot=slot)
                continue
            out.settlements[slot] = result
            out.slot(slot).traded_wh = result.traded_wh
            dust, fees, cert_dust = result.dust, result.fees_total, result.certificate_dust_wh
            expected = {}
            for line in result.lines:
                expected[line.order_id] = (
                    line.filled_wh if ev["volumeWh"] else 0,
                    line.delivered_wh,  # min(fill, metered) even when nothing traded, as the chain
                    line.energy_wh,
                    line.amount,
                    line.fee,
                    line.refund,
                )
        for oid, want in expected.items():
            events = settled_by_order.get(oid, [])
            owner = history.orders[oid].owner
            if not events:
                if done is not None:
                    out.add(SETTLEMENT, False, f"order {oid} never settled", slot=slot, party=owner)
                continue
            if len(events) > 1:
                out.add(
                    SETTLEMENT,
                    False,
                    f"order {oid} settled {len(events)} times",
                    slot=slot,
                    party=owner,
                    amount=sum(e.args["amount"] for e in events),
                )
            a = events[0].args
            got = (
                a["filledWh"],
                a["meteredWh"],
                a["certificateWh"],
                a["amount"],
                a["fee"],
                a["refund"],
            )
            where = {"slot": slot, "party": owner, "block": events[0].position[0]}
            if got != want:
                out.add(
                    SETTLEMENT,
                    False,
                    f"order {oid}: (fill, metered, certificates, amount, fee, refund) = {got}, "
                    f"expected {want}",
                    amount=got[3] - want[3] or got[5] - want[5],
                    **where,
                )
            else:
                out.add(
                    SETTLEMENT,
                    True,
                    f"order {oid}: amount {got[3]}, fee {got[4]}, refund {got[5]}",
                    amount=got[3],
                    **where,
                )
        if done is not None:
            a = done.args
            got_t = (a["fees"], a["dust"], a["certificateDustWh"])
            if got_t != (fees, dust, cert_dust):
                out.add(
                    SETTLEMENT,
                    False,
                    f"SlotSettled (fees, dust, certificate dust) {got_t}, "
                    f"expected {(fees, dust, cert_dust)}",
                    slot=slot,
                    amount=a["dust"] - dust,
                )
            out.slot(slot).status = "expired" if a["expired"] else "settled"


def check_conservation(
    history: History, out: Findings, supply: int | None, market_balance: int | None
) -> None:
    """Credits minted - burned == supply; per slot escrow identity; certificate flows."""
    _credit_supply(history, out, supply)
    _escrow(history, out, market_balance)
    check_payments(history, out)
    _certificates(history, out)


def _credit_supply(history: History, out: Findings, supply: int | None) -> None:
    minted = sum(e.args["value"] for e in history.credit_transfers if e.args["from"] == ZERO)
    burned = sum(e.args["value"] for e in history.credit_transfers if e.args["to"] == ZERO)
    minted_events = sum(e.args["amount"] for e in history.credit_mints)
    burned_events = sum(e.args.get("amount", e.args.get("value", 0)) for e in history.credit_burns)
    if supply is not None:  # None: the read failed and is already a "could not check" failure
        out.add(
            CREDITS,
            minted - burned == supply,
            f"minted {minted} - burned {burned} = {minted - burned}, totalSupply {supply}",
            amount=minted - burned - supply,
        )
    if (minted, burned) != (minted_events, burned_events):
        out.add(
            CREDITS,
            False,
            f"token mints/burns ({minted}, {burned}) differ from "
            f"CreditMinted/CreditBurned ({minted_events}, {burned_events})",
            amount=minted - minted_events,
        )


def _escrow(history: History, out: Findings, market_balance: int | None) -> None:
    market = history.market
    by_slot = _orders_of(history)
    settled: dict[int, list[Event]] = defaultdict(list)
    for e in history.order_settled:
        if e.contract == "EnergyMarket":
            settled[slot_of(e.args["orderId"])].append(e)
    total_held = 0
    for record in history.orders.values():
        _check_order(history, record, out)
    for slot, records in sorted(by_slot.items()):
        escrowed = sum(r.escrow for r in records)
        cancelled = sum(r.cancel_refund or 0 for r in records)
        lines = settled.get(slot, [])
        # sellers are paid their receipt net of the seller fee; `fees` holds both sides' fees
        paid = sum(
            e.args["amount"] - e.args["fee"]
            for e in lines
            if history.orders[e.args["orderId"]].side == Side.OFFER
        )
        fees = sum(e.args["fee"] for e in lines)
        refunds = cancelled + sum(e.args["refund"] for e in lines)
        done = history.slot_settled.get(slot)
        dust = done.args["dust"] if done else 0
        held = escrowed - paid - fees - refunds - dust
        view = out.slot(slot)
        view.escrowed, view.held = escrowed, held
        total_held += held
        msg = (
            f"escrowed {escrowed} = paid {paid} + fees {fees} + refunds {refunds} + dust "
            f"{dust} + held {held}"
        )
        if done is not None and held != 0:
            out.add(
                ESCROW, False, msg + " (settled slot still holds credits)", slot=slot, amount=held
            )
        elif held < 0:
            out.add(ESCROW, False, msg + " (paid out more than escrowed)", slot=slot, amount=held)
        else:
            out.add(ESCROW, True, msg, slot=slot, amount=escrowed)
    balance = 0
    for e in history.credit_transfers:
        if e.args["to"] == market:
            balance += e.args["value"]
        if e.args["from"] == market:
            balance -= e.args["value"]
    # The market's token balance is the escrow it holds plus every account's free credits in
    # its internal ledger (deposits, refunds, receipts, fees and dust not yet withdrawn).
    free = sum(market_ledger(history).values())
    want = total_held + free
    if market_balance is None:  # the read failed: already a "could not check" failure
        out.add(
            ESCROW,
            balance == want,
            f"market holds {balance} (transfers), Σ held {total_held} + Σ market balances {free}",
            party=market,
            amount=balance - want,
        )
        return
    out.add(
        ESCROW,
        balance == want and market_balance == balance,
        f"market holds {balance} (transfers; balanceOf {market_balance}), Σ held {total_held} "
        f"+ Σ market balances {free}",
        party=market,
        amount=balance - want,
    )


def market_ledger(history: History) -> dict[str, int]:
    """Each account's free credits in the market's internal ledger, from the market's events
    alone: deposits (`CreditsDeposited`, top-ups included) less withdrawals and escrow locked by
    its bids, plus cancel refunds, seller receipts net of seller fees, bid refunds, the fees of
    both sides (fee account) and the
    dust (rounding account) of settlements."""
    ledger: dict[str, int] = defaultdict(int)
    for e in history.deposits:
        ledger[e.args["account"]] += e.args["amount"]
    for e in history.withdrawals:
        ledger[e.args["account"]] -= e.args["amount"]
    for r in history.orders.values():
        ledger[r.owner] += (r.cancel_refund or 0) - r.escrow
    for e in history.order_settled:
        if e.contract != "EnergyMarket":
            continue
        a = e.args
        offer = history.orders[a["orderId"]].side == Side.OFFER
        ledger[a["owner"]] += a["amount"] - a["fee"] if offer else a["refund"]
        if a["fee"] and history.fee_account:
            ledger[history.fee_account] += a["fee"]
    for e in history.slot_settled.values():
        if e.args["dust"] and history.rounding_account:
            ledger[history.rounding_account] += e.args["dust"]
    return dict(ledger)


def check_payments(history: History, out: Findings) -> None:
    """Every credit that entered or left the market, transaction by transaction, is a deposit or
    a withdrawal its events announce (settlement pays inside the market's ledger, never by a
    transfer), and no account's market balance, rebuilt from the events, ever went below zero."""
    market = history.market
    expected: dict[str, Counter[tuple[str, str, int]]] = defaultdict(Counter)
    for e in history.deposits:
        expected[e.tx_hash][("into", e.args["account"], e.args["amount"])] += 1
    for e in history.withdrawals:
        expected[e.tx_hash][("out of", e.args["account"], e.args["amount"])] += 1
    actual: dict[str, Counter[tuple[str, str, int]]] = defaultdict(Counter)
    blocks: dict[str, int] = {}
    for e in history.credit_transfers:
        a = e.args
        if a["to"] == market:
            actual[e.tx_hash][("into", a["from"], a["value"])] += 1
        elif a["from"] == market:
            actual[e.tx_hash][("out of", a["to"], a["value"])] += 1
        else:
            continue
        blocks[e.tx_hash] = e.position[0]
    count = 0
    for tx_hash in sorted(set(expected) | set(actual)):
        extra = actual[tx_hash] - expected[tx_hash]
        missing = expected[tx_hash] - actual[tx_hash]
        for (way, account, value), times in extra.items():
            out.add(
                ESCROW,
                False,
                f"{value} credits moved {way} the market for {account} ({times}x) in {tx_hash} "
                "without a deposit or withdrawal event announcing it",
                party=account,
                amount=value,
                block=blocks.get(tx_hash),
            )
        for (way, account, value), times in missing.items():
            out.add(
                ESCROW,
                False,
                f"events announce {value} credits {way} the market for {account} ({times}x) in "
                f"{tx_hash} but no such transfer",
                party=account,
                amount=-value,
            )
        count += sum(actual[tx_hash].values())
    for account, balance in sorted(market_ledger(history).items()):
        if balance < 0:
            out.add(
                ESCROW,
                False,
                f"the market's ledger of {account} went to {balance}: it paid out or locked more "
                "than the account deposited and earned",
                party=account,
                amount=balance,
            )
    out.add(
        ESCROW,
        True,
        f"{count} deposits and withdrawals checked against events (fee account "
        f"{history.fee_account}, rounding account {history.rounding_account})",
        party=market,
    )


def _check_order(history: History, r: OrderRecord, out: Findings) -> None:
    """An order's escrow and fee snapshot follow the rules and the tariffs in force then: a
    bid's the network fee, an offer's the seller fee (and an offer's limit covers it)."""
    feed_in, retail, fee = history.tariffs_at((r.block, r.log_index))
    want_fee = fee if r.side == Side.BID else history.seller_fee_at((r.block, r.log_index))
    want = escrow_for(r.energy_wh, r.limit_price, r.fee_per_kwh) if r.side == Side.BID else 0
    where = {"slot": r.slot, "party": r.owner, "block": r.block}
    if r.escrow != want or r.fee_per_kwh != want_fee:
        out.add(
            ESCROW,
            False,
            f"order {r.order_id}: escrow {r.escrow} / fee {r.fee_per_kwh} per kWh, expected "
            f"{want} / {want_fee}",
            amount=r.escrow - want,
            **where,
        )
    if r.side == Side.OFFER and r.limit_price < r.fee_per_kwh:
        out.add(
            ESCROW,
            False,
            f"order {r.order_id}: offer limit {r.limit_price} below its seller fee "
            f"{r.fee_per_kwh} per kWh",
            amount=r.fee_per_kwh - r.limit_price,
            **where,
        )
    if not feed_in <= r.limit_price <= retail:
        out.add(
            ESCROW,
            False,
            f"order {r.order_id}: limit {r.limit_price} outside [{feed_in}, {retail}]",
            amount=r.limit_price,
            **where,
        )
    if r.cancel_refund is not None and r.cancel_refund != r.escrow:
        out.add(
            ESCROW,
            False,
            f"order {r.order_id}: cancelled with refund {r.cancel_refund} of escrow {r.escrow}",
            amount=r.cancel_refund - r.escrow,
            **where,
        )


def _certificates(history: History, out: Findings) -> None:
    readings, market = history.readings_address, history.market
    exports: Mapping[tuple[str, int], tuple[int, int]] = history.energy()
    minted: dict[tuple[str, int], int] = defaultdict(int)
    moved_out: dict[int, int] = defaultdict(int)
    moved_in: dict[int, int] = defaultdict(int)
    # per slot and holder, the market's net move (received - given), from its events
    moves: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    balances: dict[tuple[str, int], int] = defaultdict(int)
    for e in history.certificate_transfers:
        a = e.args
        slot, value, operator = a["id"], a["value"], a["operator"]
        if a["from"] == ZERO and operator == readings:
            minted[(a["to"], slot)] += value
        elif operator == market and a["from"] == ZERO and a["to"] != market:
            moved_in[slot] += value
            moves[slot][a["to"]] += value
        elif operator == market and a["to"] == ZERO and a["from"] != market:
            moved_out[slot] += value
            moves[slot][a["from"]] -= value
        elif operator not in (readings, market, a["from"]):
            out.add(
                CERTIFICATES,
                False,
                f"{value} Wh moved by {operator}, not the readings or market contract",
                slot=slot,
                party=a["to"],
                amount=value,
            )
        if a["from"] != ZERO:
            balances[(a["from"], slot)] -= value
            if balances[(a["from"], slot)] < 0:
                out.add(
                    CERTIFICATES,
                    False,
                    f"{a['from']} gave up or retired more than it held",
                    slot=slot,
                    party=a["from"],
                    amount=value,
                    block=e.position[0],
                )
        if a["to"] != ZERO:
            balances[(a["to"], slot)] += value
    for owner, slot in sorted(set(minted) | {k for k, v in exports.items() if v[1]}):
        export = exports.get((owner, slot), (0, 0))[1]
        got = minted.get((owner, slot), 0)
        out.add(
            CERTIFICATES,
            got == export,
            f"minted {got} Wh for verified export {export} Wh",
            slot=slot,
            party=owner,
            amount=got - export,
        )
    for slot in sorted(set(moved_out) | set(out.settlements)):
        result = out.settlements.get(slot)
        traded = result.certificates_wh if result else 0
        ok = moved_out.get(slot, 0) == traded == moved_in.get(slot, 0)
        out.add(
            CERTIFICATES,
            ok,
            f"moved {moved_out.get(slot, 0)} Wh from sellers and "
            f"{moved_in.get(slot, 0)} Wh to buyers for {traded} Wh traded",
            slot=slot,
            amount=moved_out.get(slot, 0) - traded,
        )
    _certificate_moves(history, moves, out)
    retired = sum(e.args["energyWh"] for e in history.retirements)
    out.add(CERTIFICATES, True, f"{retired} Wh retired, never more than held")


def _certificate_moves(
    history: History, moves: Mapping[int, Mapping[str, int]], out: Findings
) -> None:
    """Each holder's certificates moved by the market in a settled slot equal what the settlement
    recomputed from the rules gives it: - s_i for a seller, + b_j for a buyer, + the dust for the
    rounding account. The market derives the balances it reports (`certificateFlow`) from what it
    stored when settling, so a move the rules do not give shows here, and a stored amount that
    differs from its event shows in the balances check."""
    for slot, result in sorted(out.settlements.items()):
        if slot not in history.slot_settled:
            continue  # settled in part: the per-slot totals above report what moved so far
        want: dict[str, int] = defaultdict(int)
        for line in result.lines:
            if line.energy_wh:
                want[line.owner] += line.energy_wh if line.side == Side.BID else -line.energy_wh
        if result.certificate_dust_wh and history.rounding_account:
            want[history.rounding_account] += result.certificate_dust_wh
        got = moves.get(slot, {})
        for holder in sorted(set(want) | set(got)):
            expected, moved = want.get(holder, 0), got.get(holder, 0)
            if moved != expected:
                out.add(
                    CERTIFICATES,
                    False,
                    f"the market moved {moved:+d} Wh of certificates for {holder}, the rules "
                    f"give {expected:+d} Wh",
                    slot=slot,
                    party=holder,
                    amount=moved - expected,
                )
        out.add(
            CERTIFICATES,
            all(got.get(h, 0) == w for h, w in want.items()) and set(got) <= set(want),
            f"certificates moved per holder as the rules give, {len(want)} holders",
            slot=slot,
        )


def check_duplicate_refs(history: History, out: Findings) -> None:
    """A top-up reference names one payment: a second CreditMinted with it is a failure."""
    first: dict[bytes, Event] = {}
    for e in history.credit_mints:
        ref = bytes(e.args["paymentRef"])
        account, amount = e.args["account"], e.args["amount"]
        earlier = first.setdefault(ref, e)
        if earlier is not e:
            out.add(
                TOPUPS,
                False,
                f"top-up reference 0x{ref.hex()} used again: mint of {amount} to {account} "
                f"(first used in block {earlier.position[0]} for {earlier.args['amount']} to "
                f"{earlier.args['account']})",
                party=account,
                amount=amount,
                block=e.position[0],
            )
    out.add(
        TOPUPS,
        True,
        f"{len(first)} distinct top-up references in {len(history.credit_mints)} mints",
    )


def check_topups(
    history: History, ledger: Mapping[str, tuple[str | None, int | None]], out: Findings
) -> None:
    """Each mint matches one top-up ledger row (reference, account, amount), each row once.

    A row without an account or an amount matches no mint: the ledger must say both."""
    used: dict[str, Event] = {}
    for e in history.credit_mints:
        ref = "0x" + bytes(e.args["paymentRef"]).hex()
        account, amount = e.args["account"], e.args["amount"]
        entry = ledger.get(ref)
        where = {"party": account, "amount": amount, "block": e.position[0]}
        if entry is None:
            out.add(
                TOPUPS,
                False,
                f"mint of {amount} to {account} with reference {ref} has no top-up ledger row",
                **where,
            )
            continue
        if ref in used:
            out.add(
                TOPUPS,
                False,
                f"ledger row {ref} used twice: mint of {amount} to {account} after the mint in "
                f"block {used[ref].position[0]}",
                **where,
            )
            continue
        used[ref] = e
        want_account, want_amount = entry
        if (str(want_account).lower(), want_amount) != (account, amount):
            out.add(
                TOPUPS,
                False,
                f"mint {ref} of {amount} to {account} but the ledger says "
                f"{want_amount} to {want_account}",
                **where,
            )
        else:
            out.add(TOPUPS, True, f"mint {ref} of {amount} matches the ledger", **where)
