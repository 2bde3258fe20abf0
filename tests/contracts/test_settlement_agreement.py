"""Solidity and Python settlement agree to the integer, in one call and in chunks.

Hypothesis draws slots (sides, energies, limits, meter readings, missing readings); each slot
is placed, cleared and read on chain, then settled twice from the same chain state: in one
call and in chunks of a drawn size (the chain is rolled back in between). Every `OrderSettled`
and the `SlotSettled` totals must equal `p2penergy.market.settle`, and the buyers' certificate
balances its certificate lines. A seller fee is drawn too (set through governance): offers
snapshot it and pay it out of their receipts, and the fee account's balance moves by every fee.

The default profile draws few slots (each costs a dozen transactions on both chains); more:

    P2PENERGY_SETTLEMENT_EXAMPLES=200 .venv/bin/python -m pytest -q \\
        tests/contracts/test_settlement_agreement.py
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from p2penergy.chain.tx import events
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.market import settle

from ..conftest import CONSUMER, PROSUMER, Deployed, govern
from .test_market import (
    Trader,
    certificates,
    new_trader,
    open_slot,
    report,
    to_gate_close,
    to_slot_end,
)

EXAMPLES = int(os.environ.get("P2PENERGY_SETTLEMENT_EXAMPLES", "4"))
SELLERS, BUYERS = 3, 4

# per trader: (takes part, energy Wh, limit offset, reading Wh or None = no reading)
trader_plan = st.tuples(
    st.booleans(),
    st.integers(1, 3_000),
    st.integers(0, 120_000),
    st.one_of(st.none(), st.integers(0, 4_000)),
)
slot_plan = st.tuples(
    st.lists(trader_plan, min_size=SELLERS, max_size=SELLERS),
    st.lists(trader_plan, min_size=BUYERS, max_size=BUYERS),
    st.integers(1, 4),  # chunk size
    # the seller fee in force (≤ feed-in 80,000, so every offer's limit covers it)
    st.one_of(st.just(0), st.integers(1, 80_000)),
)


def _settled(d: Deployed, receipts: list) -> tuple[dict[int, tuple[int, ...]], tuple[int, ...]]:
    lines: dict[int, tuple[int, ...]] = {}
    totals: tuple[int, ...] = ()
    for receipt in receipts:
        for e in events(d.system.market, "OrderSettled", receipt):
            a = e["args"]
            lines[a["orderId"]] = (
                a["filledWh"],
                a["meteredWh"],
                a["certificateWh"],
                a["amount"],
                a["fee"],
                a["refund"],
            )
        for e in events(d.system.market, "SlotSettled", receipt):
            a = e["args"]
            totals = (a["fees"], a["dust"], a["certificateDustWh"])
    return lines, totals


@pytest.fixture
def pool(deployed: Deployed) -> list[Trader]:
    """The traders of every example of one test run (each example trades in a later slot)."""
    return [new_trader(deployed, PROSUMER) for _ in range(SELLERS)] + [
        new_trader(deployed, CONSUMER) for _ in range(BUYERS)
    ]


# no shrinking: each example is a dozen transactions; a failure prints the drawn plan as is
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)
@given(plan=slot_plan)
def test_settlement_gives_the_python_engines_integers_in_one_call_and_in_chunks(
    deployed: Deployed, pool: list[Trader], plan
):
    d = deployed
    market = MarketClient(d.system)
    sellers_plan, buyers_plan, chunk, seller_fee = plan
    if d.system.market.functions.sellerFee().call() != seller_fee:
        govern(d, d.system.market.functions.setSellerFee(seller_fee))
    slot = open_slot(d)
    usage: dict[Trader, tuple[int, int]] = {}
    for i, (trader, (takes_part, energy, offset, reading)) in enumerate(
        zip(pool, sellers_plan + buyers_plan, strict=True)
    ):
        side = Side.OFFER if i < SELLERS else Side.BID
        if takes_part:
            # limits from feed-in (80,000) up: offers low, bids high, so most of them cross
            limit = 80_000 + offset if side == Side.OFFER else 300_000 - offset
            market.place(trader.account, [OrderInput(slot, side, energy, limit)])
        if reading is not None:
            usage[trader] = (0, reading) if side == Side.OFFER else (reading, 0)
    to_gate_close(d, market, slot)
    orders = market.slot_orders(slot)
    result = market.clear_slot(d.actors.keeper, slot)
    to_slot_end(d, market, slot)
    if usage:
        report(d, slot, usage)
    # after the reading window: a missing reading counts as 0 and chunks are allowed
    d.chain.set_time(d.system.readings.functions.readingWindow(slot).call()[1])

    expected = settle(orders, result, {t.account.address: usage[t] for t in usage})
    want_lines = {
        line.order_id: (
            line.filled_wh,
            line.delivered_wh,
            line.energy_wh,
            line.amount,
            line.fee,
            line.refund,
        )
        for line in expected.lines
    }
    want_totals = (expected.fees_total, expected.dust, expected.certificate_dust_wh)
    buyers = [t.account.address for t in pool[SELLERS:]]
    want_certificates = [0] * BUYERS
    for line in expected.lines:
        if line.side == Side.BID:
            want_certificates[buyers.index(line.owner)] += line.energy_wh

    # sellers are credited the receipt net of the seller fee; the fee account every fee
    credited = [t.account.address for t in pool[:SELLERS]] + [d.fee_account]
    want_credit = [0] * SELLERS + [expected.fees_total]
    for line in expected.lines:
        if line.side == Side.OFFER:
            want_credit[credited.index(line.owner)] += line.paid

    def market_balances() -> list[int]:
        return [int(d.system.market.functions.balanceOf(a).call()) for a in credited]

    before = d.chain.snapshot()
    for size in (0, chunk):
        start = market_balances()
        got = _settled(d, market.settle_slot(d.actors.keeper, slot, chunk=size))
        assert got == (want_lines, want_totals), f"chunk {size}"
        assert certificates(d, buyers, slot) == want_certificates
        assert [b - a for a, b in zip(start, market_balances(), strict=True)] == want_credit
        if size == 0:
            d.chain.revert(before)
