"""Settlement: hand-worked slots with exact integers, and conservation over random slots."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2penergy.domain.orders import Side
from p2penergy.market import (
    Clearing,
    MarketInputError,
    Order,
    Settlement,
    SettlementLine,
    clear,
    escrow_for,
    settle,
)

BID, OFFER = Side.BID, Side.OFFER
ALICE, BOB, CAROL, DAVE, ERIN = "0xA11ce", "0xB0b", "0xCa401", "0xDa5e", "0xE11e"

# Offers at 100_000 and bids at 146_915 clear at floor((100_000 + 146_915) / 2) = 123_457 per kWh,
# a price that makes most products fractional, so floor and ceil differ.
OFFER_LIMIT, BID_LIMIT, PRICE = 100_000, 146_915, 123_457


def line(settlement: Settlement, order_id: int) -> SettlementLine:
    return next(item for item in settlement.lines if item.order_id == order_id)


def assert_conserved(settlement: Settlement) -> None:
    """Credits and certificates: everything that goes in comes out, to the base unit and Wh."""
    bids = [item for item in settlement.lines if item.side == BID]
    offers = [item for item in settlement.lines if item.side == OFFER]
    escrow = sum(item.escrow for item in bids)
    receipts = sum(item.amount for item in offers)
    seller_fees = sum(item.fee for item in offers)
    paid = sum(item.paid for item in offers)
    fees = sum(item.fee for item in bids) + seller_fees
    refunds = sum(item.refund for item in bids)
    assert all(0 <= item.fee <= item.amount for item in offers)
    assert paid == receipts - seller_fees == settlement.paid_total
    assert escrow == paid + fees + refunds + settlement.dust
    assert settlement.dust == sum(item.amount for item in bids) - receipts >= 0
    assert (settlement.escrow_total, settlement.receipts_total) == (escrow, receipts)
    assert (settlement.fees_total, settlement.refunds_total) == (fees, refunds)
    assert settlement.seller_fees_total == seller_fees
    certificates_out = sum(item.energy_wh for item in offers)
    certificates_in = sum(item.energy_wh for item in bids)
    assert certificates_out == settlement.certificates_wh
    assert certificates_out == certificates_in + settlement.certificate_dust_wh
    assert settlement.certificate_dust_wh >= 0


def settled(orders: Sequence[Order], readings: Mapping[str, tuple[int, int]]) -> Settlement:
    clearing = clear(orders)
    settlement = settle(orders, clearing, readings)
    assert_conserved(settlement)
    return settlement


# --- hand-worked settlements -----------------------------------------------------------------


def test_settle_charges_fees_and_sends_rounding_dust_to_the_rounding_account() -> None:
    orders = [
        Order(1, ALICE, OFFER, 1000, OFFER_LIMIT),
        Order(2, BOB, BID, 600, BID_LIMIT, fee_per_kwh=30_001),
        Order(3, CAROL, BID, 400, BID_LIMIT, fee_per_kwh=30_001),
    ]
    readings = {ALICE: (0, 1000), BOB: (600, 0), CAROL: (400, 0)}

    result = settled(orders, readings)

    assert (result.price, result.delivered_total, result.absorbed_total) == (PRICE, 1000, 1000)
    assert result.traded_wh == 1000
    # r = floor(1000 * 123_457 / 1000) = 123_457
    assert line(result, 1) == SettlementLine(1, ALICE, OFFER, 1000, 1000, 1000, 123_457)
    # c = ceil(600 * 123.457) = ceil(74_074.2) = 74_075, fee = ceil(600 * 30.001) = 18_001,
    # escrow = ceil(600 * 146.915) + 18_001 = 88_149 + 18_001 = 106_150.
    assert line(result, 2) == SettlementLine(
        2, BOB, BID, 600, 600, 600, 74_075, 18_001, 106_150 - 74_075 - 18_001, 106_150
    )
    # c = ceil(49_382.8) = 49_383, fee = ceil(12_000.4) = 12_001, escrow = 58_766 + 12_001.
    assert line(result, 3) == SettlementLine(
        3, CAROL, BID, 400, 400, 400, 49_383, 12_001, 70_767 - 49_383 - 12_001, 70_767
    )
    assert result.fees_total == 30_002
    assert result.dust == 74_075 + 49_383 - 123_457 == 1
    assert result.certificate_dust_wh == 0


def test_settle_takes_the_seller_fee_out_of_the_receipt_rounded_down() -> None:
    """Two sellers share T = 1000 of D = 1500: fees floor(d·T·f/(D·1000)) to the fee account."""
    orders = [
        Order(1, ALICE, OFFER, 1000, OFFER_LIMIT, fee_per_kwh=20_001),
        Order(2, DAVE, OFFER, 500, OFFER_LIMIT, fee_per_kwh=7_777),
        Order(3, BOB, BID, 1500, BID_LIMIT, fee_per_kwh=30_001),
    ]
    readings = {ALICE: (0, 1000), DAVE: (0, 500), BOB: (1000, 0)}

    result = settled(orders, readings)

    assert (result.delivered_total, result.absorbed_total, result.traded_wh) == (1500, 1000, 1000)
    # Alice: r = floor(1000·1000·123_457 / 1_500_000) = 82_304, f = floor(1e6·20_001/1.5e6)
    # = floor(13_334.0) = 13_334; Dave: r = floor(41_152.33) = 41_152, f = floor(2_592.33) = 2_592
    assert (line(result, 1).amount, line(result, 1).fee, line(result, 1).paid) == (
        82_304,
        13_334,
        82_304 - 13_334,
    )
    assert (line(result, 2).amount, line(result, 2).fee) == (41_152, 2_592)
    # Bob pays c = 123_457 and the network fee ceil(30_001) = 30_001
    assert (line(result, 3).amount, line(result, 3).fee) == (123_457, 30_001)
    assert result.seller_fees_total == 13_334 + 2_592
    assert result.fees_total == 30_001 + 13_334 + 2_592
    assert result.dust == 123_457 - 82_304 - 41_152 == 1
    assert result.paid_total == 82_304 + 41_152 - 13_334 - 2_592


def test_settle_never_charges_a_seller_more_than_its_receipt() -> None:
    """A fee above the clearing price (the contract refuses such offers) is capped at r."""
    orders = [
        Order(1, ALICE, OFFER, 1000, OFFER_LIMIT, fee_per_kwh=500_000),
        Order(2, BOB, BID, 1000, BID_LIMIT),
    ]
    result = settled(orders, {ALICE: (0, 1000), BOB: (1000, 0)})
    assert line(result, 1).fee == line(result, 1).amount == PRICE
    assert line(result, 1).paid == 0


def test_settle_pays_seller_only_for_verified_export() -> None:
    orders = [
        Order(1, ALICE, OFFER, 1000, OFFER_LIMIT),
        Order(2, BOB, BID, 1000, BID_LIMIT),
        Order(3, ERIN, BID, 100, 90_000),  # below every offer: never filled
    ]
    readings = {ALICE: (0, 700), BOB: (1000, 0), ERIN: (100, 0)}

    result = settled(orders, readings)

    assert (result.delivered_total, result.absorbed_total, result.traded_wh) == (700, 1000, 700)
    seller, buyer, unfilled = line(result, 1), line(result, 2), line(result, 3)
    assert (seller.filled_wh, seller.delivered_wh) == (1000, 700)
    assert seller.amount == 86_419  # floor(700 * 700 * 123_457 / (700 * 1000)) = floor(86_419.9)
    assert buyer.amount == 86_420  # ceil(1000 * 700 * 123_457 / (1000 * 1000)) = ceil(86_419.9)
    assert buyer.refund == 146_915 - 86_420
    assert result.dust == 1
    assert (seller.energy_wh, buyer.energy_wh) == (700, 700)
    assert (unfilled.filled_wh, unfilled.amount, unfilled.refund) == (0, 0, unfilled.escrow)
    assert unfilled.escrow == escrow_for(100, 90_000, 0) == 9_000


def test_settle_charges_buyer_only_for_verified_import() -> None:
    orders = [Order(1, ALICE, OFFER, 1000, OFFER_LIMIT), Order(2, BOB, BID, 1000, BID_LIMIT)]
    readings = {ALICE: (0, 1000), BOB: (400, 0)}

    result = settled(orders, readings)

    assert (result.delivered_total, result.absorbed_total, result.traded_wh) == (1000, 400, 400)
    seller, buyer = line(result, 1), line(result, 2)
    assert seller.amount == 49_382  # floor(1000 * 400 * 123_457 / (1000 * 1000)) = floor(49_382.8)
    assert buyer.amount == 49_383  # ceil(400 * 400 * 123_457 / (400 * 1000))
    assert buyer.refund == 146_915 - 49_383
    assert (seller.energy_wh, buyer.energy_wh) == (400, 400)  # floor(1000 * 400 / 1000)


def test_settle_shares_the_smaller_pool_when_both_sides_fall_short() -> None:
    orders = [
        Order(1, ALICE, OFFER, 300, OFFER_LIMIT),
        Order(2, DAVE, OFFER, 300, OFFER_LIMIT),
        Order(3, BOB, BID, 300, BID_LIMIT),
        Order(4, CAROL, BID, 300, BID_LIMIT),
    ]
    readings = {ALICE: (0, 100), DAVE: (0, 200), BOB: (150, 0), CAROL: (100, 0)}

    result = settled(orders, readings)

    assert (result.delivered_total, result.absorbed_total, result.traded_wh) == (300, 250, 250)
    # r = floor(d * 250 * 123_457 / 300_000): floor(10_288.08), floor(20_576.17)
    assert [line(result, i).amount for i in (1, 2)] == [10_288, 20_576]
    # c = ceil(a * 250 * 123_457 / 250_000): ceil(18_518.55), ceil(12_345.7)
    assert [line(result, i).amount for i in (3, 4)] == [18_519, 12_346]
    assert result.dust == 18_519 + 12_346 - 10_288 - 20_576 == 1
    # escrow = ceil(300 * 146.915) = ceil(44_074.5) = 44_075
    assert [line(result, i).refund for i in (3, 4)] == [44_075 - 18_519, 44_075 - 12_346]
    # s = floor(100 * 250 / 300) = 83, floor(200 * 250 / 300) = 166; S = 249
    assert [line(result, i).energy_wh for i in (1, 2)] == [83, 166]
    # b = floor(150 * 249 / 250) = 149, floor(100 * 249 / 250) = 99; 1 Wh left to rounding
    assert [line(result, i).energy_wh for i in (3, 4)] == [149, 99]
    assert (result.certificates_wh, result.certificate_dust_wh) == (249, 1)


def test_settle_consumes_a_sellers_export_in_order_id_order() -> None:
    orders = [
        Order(1, ALICE, OFFER, 400, OFFER_LIMIT),
        Order(2, ALICE, OFFER, 400, OFFER_LIMIT),
        Order(3, BOB, BID, 800, BID_LIMIT),
    ]
    readings = {ALICE: (0, 500), BOB: (800, 0)}

    result = settled(orders, readings)

    assert [line(result, i).delivered_wh for i in (1, 2)] == [400, 100]
    assert result.traded_wh == 500
    # floor(400 * 123.457) = floor(49_382.8), floor(100 * 123.457) = floor(12_345.7)
    assert [line(result, i).amount for i in (1, 2)] == [49_382, 12_345]
    assert line(result, 3).amount == 61_729  # ceil(500 * 123.457) = ceil(61_728.5)
    assert result.dust == 2


def test_settle_refunds_bid_when_the_buyer_has_no_reading() -> None:
    orders = [Order(1, ALICE, OFFER, 1000, OFFER_LIMIT), Order(2, BOB, BID, 1000, BID_LIMIT)]

    result = settled(orders, {ALICE: (0, 1000)})

    assert (result.delivered_total, result.absorbed_total, result.traded_wh) == (1000, 0, 0)
    assert line(result, 1).amount == 0
    assert line(result, 2).refund == line(result, 2).escrow == 146_915
    assert (result.dust, result.certificates_wh) == (0, 0)


def test_settle_refunds_bid_when_the_seller_did_not_deliver() -> None:
    orders = [Order(1, ALICE, OFFER, 1000, OFFER_LIMIT), Order(2, BOB, BID, 1000, BID_LIMIT)]

    result = settled(orders, {BOB: (1000, 0), ALICE: (5000, 0)})  # imported, exported nothing

    assert (result.delivered_total, result.traded_wh) == (0, 0)
    assert line(result, 1).amount == 0
    assert line(result, 2).refund == 146_915


def test_settle_refunds_every_bid_of_a_slot_that_traded_nothing() -> None:
    orders = [Order(1, ALICE, OFFER, 1000, 150_000), Order(2, BOB, BID, 1000, 120_000, 10_000)]

    result = settled(orders, {ALICE: (0, 1000), BOB: (1000, 0)})

    assert line(result, 2).refund == escrow_for(1000, 120_000, 10_000) == 130_000
    assert result.traded_wh == result.dust == result.fees_total == 0


def test_settle_matches_readings_to_owners_case_insensitively() -> None:
    orders = [Order(1, ALICE, OFFER, 1000, OFFER_LIMIT), Order(2, BOB, BID, 1000, BID_LIMIT)]
    exact = settled(orders, {ALICE: (0, 700), BOB: (1000, 0)})

    assert settled(orders, {ALICE.lower(): (0, 700), BOB.upper(): (1000, 0)}) == exact


def test_settle_rejects_a_clearing_without_a_fill_for_every_order() -> None:
    orders = [Order(1, ALICE, OFFER, 1000, OFFER_LIMIT), Order(2, BOB, BID, 1000, BID_LIMIT)]
    partial = Clearing(1000, PRICE, BID_LIMIT, OFFER_LIMIT, 1000, 1000, {1: 1000})

    with pytest.raises(MarketInputError):
        settle(orders, partial, {})


def test_settle_rejects_a_price_above_a_filled_bids_limit() -> None:
    orders = [Order(1, ALICE, OFFER, 1000, OFFER_LIMIT), Order(2, BOB, BID, 1000, BID_LIMIT)]
    overpriced = Clearing(
        1000, BID_LIMIT + 1, BID_LIMIT, OFFER_LIMIT, 1000, 1000, {1: 1000, 2: 1000}
    )

    with pytest.raises(MarketInputError):
        settle(orders, overpriced, {ALICE: (0, 1000), BOB: (1000, 0)})


# --- properties over random slots ------------------------------------------------------------

OWNERS = (ALICE, BOB, CAROL, DAVE, ERIN)


@st.composite
def slots(draw: st.DrawFn) -> tuple[list[Order], dict[str, tuple[int, int]]]:
    """A random book (prices near the real spread, so rounding bites) and random readings."""
    size = draw(st.integers(0, 40))
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(OWNERS),
                st.sampled_from(Side),
                st.integers(1, 5000),
                st.integers(99_990, 100_010),
                st.integers(0, 30_011),
                st.integers(0, 99_990),  # an offer's seller fee (≤ its limit, as on chain)
            ),
            min_size=size,
            max_size=size,
        )
    )
    orders = [
        Order(order_id, owner, side, energy_wh, limit, fee if side == BID else seller_fee)
        for order_id, (owner, side, energy_wh, limit, fee, seller_fee) in enumerate(rows, start=1)
    ]
    readings = draw(
        st.dictionaries(
            st.sampled_from(OWNERS),
            st.tuples(st.integers(0, 12_000), st.integers(0, 12_000)),
        )
    )
    return orders, readings


@settings(max_examples=300, deadline=None)
@given(slots())
def test_settle_conserves_credits_and_certificates(
    slot: tuple[list[Order], dict[str, tuple[int, int]]],
) -> None:
    orders, readings = slot
    result = settle(orders, clear(orders), readings)

    assert_conserved(result)
    assert result.traded_wh == min(result.delivered_total, result.absorbed_total)
    assert all(item.refund >= 0 for item in result.lines)
    assert result.dust >= 0
    assert result.receipts_total <= result.traded_wh * result.price // 1000 <= result.charges_total


@settings(max_examples=300, deadline=None)
@given(slots())
def test_settle_never_pays_beyond_export_nor_charges_beyond_limit(
    slot: tuple[list[Order], dict[str, tuple[int, int]]],
) -> None:
    orders, readings = slot
    clearing = clear(orders)
    result = settle(orders, clearing, readings)
    by_id = {o.order_id: o for o in orders}

    for owner, group in itertools.groupby(
        sorted(result.lines, key=lambda item: (item.owner, item.side)),
        key=lambda item: (item.owner, item.side),
    ):
        name, side = owner
        items = list(group)
        import_wh, export_wh = readings.get(name, (0, 0))
        if side == OFFER:
            assert sum(item.delivered_wh for item in items) <= export_wh
            assert sum(item.energy_wh for item in items) <= export_wh
            assert 1000 * sum(item.amount for item in items) <= export_wh * result.price
        else:
            assert sum(item.delivered_wh for item in items) <= import_wh
    for item in result.lines:
        order = by_id[item.order_id]
        assert item.delivered_wh <= item.filled_wh == clearing.fills[item.order_id]
        if item.side == BID:
            assert 1000 * item.amount < item.delivered_wh * order.limit_price + 1000
            assert 1000 * item.fee < item.delivered_wh * order.fee_per_kwh + 1000
            assert item.escrow == escrow_for(order.energy_wh, order.limit_price, order.fee_per_kwh)
        else:
            # the seller fee rounds down: within 1 of d·T·fee/(D·1000), never above the receipt
            share = item.delivered_wh * result.traded_wh * order.fee_per_kwh
            if item.delivered_wh:
                assert item.fee * result.delivered_total * 1000 <= share
                assert item.fee == min(item.amount, share // (result.delivered_total * 1000))
            else:
                assert item.fee == 0
            assert item.paid == item.amount - item.fee >= 0
            assert (item.refund, item.escrow) == (0, 0)
