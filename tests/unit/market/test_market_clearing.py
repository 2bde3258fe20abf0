"""Clearing: hand-worked books, the contract's acceptance checks, properties over random books."""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2penergy.domain.orders import Side
from p2penergy.exceptions import P2PEnergyError
from p2penergy.market import (
    BUDGET_UNUSED,
    MARGINAL_INVALID,
    NOT_MAXIMAL,
    UNBALANCED,
    Clearing,
    ClearingRejected,
    MarketInputError,
    Order,
    clear,
    escrow_for,
    fills_for,
    verify,
)

BID, OFFER = Side.BID, Side.OFFER


def bid(order_id: int, energy_wh: int, limit: int, owner: str = "buyer") -> Order:
    return Order(order_id, owner, BID, energy_wh, limit)


def offer(order_id: int, energy_wh: int, limit: int, owner: str = "seller") -> Order:
    return Order(order_id, owner, OFFER, energy_wh, limit)


def rejection(orders: Sequence[Order], *description: int) -> ClearingRejected:
    with pytest.raises(ClearingRejected) as caught:
        verify(orders, *description)
    return caught.value


# Bids 1 (100 @ 20), 2 (50 @ 18), 3 (70 @ 18), 4 (40 @ 15); offers 5 (60 @ 12), 6 (80 @ 16),
# 7 (100 @ 18), 8 (30 @ 19). Walk: 1x5 60, 1x6 40, 2x6 40, 2x7 10, 3x7 70, then 15 < 18 stops.
BOOK = [
    bid(1, 100, 20),
    bid(2, 50, 18),
    bid(3, 70, 18),
    bid(4, 40, 15),
    offer(5, 60, 12),
    offer(6, 80, 16),
    offer(7, 100, 18),
    offer(8, 30, 19),
]


# --- hand-worked clearings -------------------------------------------------------------------


def test_clear_walks_both_curves_to_the_crossing() -> None:
    result = clear(BOOK)

    assert result.description == (18, 18, 120, 80)
    assert result.volume_wh == 220
    assert dict(result.fills) == {1: 100, 2: 50, 3: 70, 4: 0, 5: 60, 6: 80, 7: 80, 8: 0}
    # lo = max(18, remBidMax 15) = 18, hi = min(18, remOfferMin 18) = 18.
    assert result.price == 18


def test_clear_fills_marginal_bids_in_id_order() -> None:
    # Bid 2 outranks bid 1 by price; at the marginal limit 15, ids 1, 3, 4 share 70 Wh in id order.
    orders = [bid(1, 50, 15), bid(2, 30, 18), bid(3, 40, 15), bid(4, 20, 15), offer(5, 100, 10)]

    result = clear(orders)

    assert result.description == (15, 10, 70, 100)
    assert dict(result.fills) == {1: 50, 2: 30, 3: 20, 4: 0, 5: 100}
    # lo = max(10, remBidMax 15) = 15, hi = min(15, no offer left) = 15.
    assert result.price == 15


def test_clear_fills_marginal_offers_in_id_order() -> None:
    orders = [
        bid(1, 100, 20),
        offer(2, 30, 10),
        offer(3, 50, 12),
        offer(4, 60, 12),
        offer(5, 10, 12),
    ]

    result = clear(orders)

    assert result.description == (20, 12, 100, 70)
    assert dict(result.fills) == {1: 100, 2: 30, 3: 50, 4: 20, 5: 0}
    # lo = max(12, no bid left) = 12, hi = min(20, remOfferMin 12) = 12.
    assert result.price == 12


def test_clear_prices_at_the_midpoint_rounded_down() -> None:
    orders = [bid(1, 100, 20), bid(2, 50, 14), offer(3, 100, 11), offer(4, 50, 17)]

    result = clear(orders)

    assert result.description == (20, 11, 100, 100)
    # lo = max(11, remBidMax 14) = 14, hi = min(20, remOfferMin 17) = 17, floor(31 / 2) = 15.
    assert result.price == 15


def test_clear_prices_between_the_marginals_when_both_sides_are_exhausted() -> None:
    result = clear([bid(1, 100, 20), offer(2, 100, 11)])

    assert result.volume_wh == 100
    assert result.price == 15  # floor((11 + 20) / 2)


def test_clear_splits_ties_when_every_order_has_one_price() -> None:
    orders = [bid(1, 40, 15), bid(2, 60, 15), offer(3, 30, 15), offer(4, 50, 15)]

    result = clear(orders)

    assert result.description == (15, 15, 80, 80)
    assert dict(result.fills) == {1: 40, 2: 40, 3: 30, 4: 50}
    assert result.price == 15


def test_clear_trades_nothing_when_the_book_does_not_cross() -> None:
    orders = [bid(1, 100, 12), bid(2, 10, 14), offer(3, 100, 15)]

    result = clear(orders)

    assert result == Clearing(0, 0, 0, 0, 0, 0, {1: 0, 2: 0, 3: 0})
    assert verify(orders, 0, 0, 0, 0) == result


@pytest.mark.parametrize(
    "orders",
    [[], [bid(1, 100, 20), bid(2, 5, 10)], [offer(1, 100, 10), offer(2, 5, 20)]],
    ids=["empty", "bids-only", "offers-only"],
)
def test_clear_trades_nothing_in_a_one_sided_book(orders: list[Order]) -> None:
    result = clear(orders)

    assert result.description == (0, 0, 0, 0)
    assert result.price == 0
    assert dict(result.fills) == {o.order_id: 0 for o in orders}
    assert verify(orders, 0, 0, 0, 0) == result


def test_clear_ignores_the_order_the_book_is_given_in() -> None:
    assert clear(list(reversed(BOOK))) == clear(BOOK)


def test_verify_accepts_the_hand_worked_clearing() -> None:
    assert verify(BOOK, 18, 18, 120, 80) == clear(BOOK)


def test_fills_for_fills_nothing_under_the_no_trade_description() -> None:
    assert fills_for(BOOK, 0, 0, 0, 0) == {o.order_id: 0 for o in BOOK}


# --- rejections, by contract error name ------------------------------------------------------


@pytest.mark.parametrize(
    "description",
    [
        (18, 18, 0, 80),  # a budget is 0 while the other is not
        (18, 18, 120, 0),
        (17, 18, 120, 80),  # marginalBid < marginalOffer
        (5, 0, 0, 0),  # no budget but a marginal limit
        (0, 5, 0, 0),
        (-1, 0, 0, 0),
    ],
)
def test_verify_rejects_a_non_canonical_description(description: tuple[int, ...]) -> None:
    assert rejection(BOOK, *description).reason == MARGINAL_INVALID


def test_verify_rejects_a_budget_the_marginal_orders_cannot_use() -> None:
    # Bids at 18 hold 120 Wh only.
    error = rejection(BOOK, 18, 18, 121, 80)

    assert error.reason == BUDGET_UNUSED
    assert error.values == {"bidBudgetLeftWh": 1, "offerBudgetLeftWh": 0}


def test_verify_rejects_a_marginal_limit_no_order_has() -> None:
    error = rejection(BOOK, 17, 17, 10, 10)

    assert error.reason == BUDGET_UNUSED
    assert error.values == {"bidBudgetLeftWh": 10, "offerBudgetLeftWh": 10}


def test_verify_rejects_unbalanced_fills() -> None:
    error = rejection(BOOK, 18, 18, 120, 79)

    assert error.reason == UNBALANCED
    assert error.values == {"bidWh": 220, "offerWh": 219}


def test_verify_rejects_a_balanced_clearing_that_leaves_a_crossing_trade() -> None:
    # 210 Wh each side, but bid 3 and offer 7 both keep energy at 18.
    error = rejection(BOOK, 18, 18, 110, 70)

    assert error.reason == NOT_MAXIMAL
    assert error.values == {"remBidMax": 18, "remOfferMin": 18}


def test_verify_rejects_no_trade_when_the_book_crosses() -> None:
    error = rejection(BOOK, 0, 0, 0, 0)

    assert error.reason == NOT_MAXIMAL
    assert error.values == {"remBidMax": 20, "remOfferMin": 12}


def test_clearing_rejected_is_a_p2penergy_value_error_naming_the_reason() -> None:
    error = rejection(BOOK, 18, 18, 120, 79)

    assert isinstance(error, P2PEnergyError)
    assert isinstance(error, ValueError)
    assert str(error) == "MarketClearingUnbalanced(bidWh=220, offerWh=219)"


def test_clear_rejects_duplicate_order_ids() -> None:
    with pytest.raises(MarketInputError):
        clear([bid(1, 10, 10), offer(1, 10, 10)])


@pytest.mark.parametrize("energy_wh", [0, -5])
def test_order_rejects_non_positive_energy(energy_wh: int) -> None:
    with pytest.raises(MarketInputError):
        bid(1, energy_wh, 10)


def test_escrow_rounds_energy_and_fee_up_separately() -> None:
    # ceil(1001 * 999 / 1000) = ceil(999.999) = 1000; ceil(1001 * 1 / 1000) = 2.
    assert escrow_for(1001, 999, 1) == 1002
    assert escrow_for(1000, 150_000, 20_000) == 170_000


def test_market_package_imports_no_chain_code() -> None:
    probe = (
        "import sys, p2penergy.market; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('web3', 'eth_utils', 'eth_abi', 'eth_account', 'brownie') "
        "or m.startswith(('p2penergy.chain', 'p2penergy.contracts'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()

    assert loaded == "[]"


# --- properties over random books ------------------------------------------------------------

OWNERS = ("0xA11ce", "0xB0b", "0xCa401", "0xDa5e", "0xE11e")


@st.composite
def books(
    draw: st.DrawFn,
    max_size: int = 60,
    limits: tuple[int, int] = (10, 20),
    energy: tuple[int, int] = (1, 5000),
) -> list[Order]:
    """Random books with common ties; ids increase with gaps and arrive shuffled."""
    size = draw(st.integers(0, max_size))  # uniform: plain st.lists favours tiny books
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(OWNERS),
                st.sampled_from(Side),
                st.integers(*energy),
                st.integers(*limits),
                st.integers(1, 3),
            ),
            min_size=size,
            max_size=size,
        )
    )
    ids = itertools.accumulate(gap for *_, gap in rows)
    orders = [
        Order(order_id, owner, side, energy_wh, limit)
        for order_id, (owner, side, energy_wh, limit, _) in zip(ids, rows, strict=True)
    ]
    return draw(st.permutations(orders))


def reference_max_volume(orders: Sequence[Order]) -> int:
    """Max tradable volume at one price: best over every limit of min(demand, supply)."""
    best = 0
    for price in {o.limit_price for o in orders}:
        demand = sum(o.energy_wh for o in orders if o.side == BID and o.limit_price >= price)
        supply = sum(o.energy_wh for o in orders if o.side == OFFER and o.limit_price <= price)
        best = max(best, min(demand, supply))
    return best


def mutations(description: tuple[int, int, int, int]) -> set[tuple[int, int, int, int]]:
    m_bid, m_offer, bid_wh, offer_wh = description
    variants = {(m_offer, m_bid, bid_wh, offer_wh), (m_bid, m_offer, offer_wh, bid_wh)}
    for index, delta in itertools.product(range(4), (-1, 1)):
        changed = list(description)
        changed[index] += delta
        variants.add((changed[0], changed[1], changed[2], changed[3]))
    variants.discard(description)
    return variants


@settings(max_examples=300, deadline=None)
@given(books())
def test_verify_accepts_exactly_what_clear_computes(orders: list[Order]) -> None:
    result = clear(orders)

    assert verify(orders, *result.description) == result
    assert fills_for(orders, *result.description) == dict(result.fills)


@settings(max_examples=300, deadline=None)
@given(books())
def test_clear_balances_respects_limits_and_leaves_no_crossing_trade(orders: list[Order]) -> None:
    result = clear(orders)
    fills = result.fills

    assert set(fills) == {o.order_id for o in orders}
    assert all(0 <= fills[o.order_id] <= o.energy_wh for o in orders)
    bid_wh = sum(fills[o.order_id] for o in orders if o.side == BID)
    offer_wh = sum(fills[o.order_id] for o in orders if o.side == OFFER)
    assert bid_wh == offer_wh == result.volume_wh
    for o in orders:
        if fills[o.order_id] > 0:
            assert o.limit_price >= result.price if o.side == BID else o.limit_price <= result.price
    left_bids = [o.limit_price for o in orders if o.side == BID and fills[o.order_id] < o.energy_wh]
    left_offers = [
        o.limit_price for o in orders if o.side == OFFER and fills[o.order_id] < o.energy_wh
    ]
    if left_bids and left_offers:
        assert max(left_bids) < min(left_offers)
    if result.volume_wh == 0:
        assert result.description == (0, 0, 0, 0)
        assert result.price == 0


@settings(max_examples=300, deadline=None)
@given(books())
def test_clear_finds_the_maximal_volume(orders: list[Order]) -> None:
    assert clear(orders).volume_wh == reference_max_volume(orders)


@settings(max_examples=200, deadline=None)
@given(books())
def test_verify_rejects_every_nearby_description(orders: list[Order]) -> None:
    result = clear(orders)

    for description in mutations(result.description):
        with pytest.raises(ClearingRejected):
            verify(orders, *description)


@settings(max_examples=80, deadline=None)
@given(books(max_size=6, limits=(1, 3), energy=(1, 3)))
def test_verify_accepts_one_description_only_and_it_is_clears(orders: list[Order]) -> None:
    bid_total = sum(o.energy_wh for o in orders if o.side == BID)
    offer_total = sum(o.energy_wh for o in orders if o.side == OFFER)
    accepted = []
    for description in itertools.product(
        range(5), range(5), range(bid_total + 2), range(offer_total + 2)
    ):
        with contextlib.suppress(ClearingRejected):
            accepted.append(verify(orders, *description))

    assert accepted == [clear(orders)]
