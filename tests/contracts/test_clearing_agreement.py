"""Python and Solidity clearing agree: the keeper's clearing is exactly what the contract accepts.

The contract side is `ClearingHarness`, which runs the market's own library
(`UniformPriceClearing`) on a book passed in calldata, so thousands of books cost only eth_calls.
"""

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2penergy.chain import artifacts
from p2penergy.chain.tx import call, deploy
from p2penergy.contracts.market import pack_order
from p2penergy.domain.orders import Side
from p2penergy.exceptions import MarketError
from p2penergy.market import ClearingRejected, Order, clear, clear_island, verify

from ..budget import examples

OWNERS = [Account.create().address for _ in range(8)]


@pytest.fixture(scope="session")
def harness(chain):
    artifact = artifacts.load("ClearingHarness")
    address, _ = deploy(chain, chain.faucet[0], artifact["abi"], artifact["bytecode"])
    return chain.w3.eth.contract(address=address, abi=artifact["abi"])


def _orders(draw_books) -> list[Order]:
    return [
        Order(
            order_id=i,
            owner=OWNERS[i % len(OWNERS)],
            side=side,
            energy_wh=energy,
            limit_price=limit,
            fee_per_kwh=fee,
            critical=critical and side == Side.BID,
        )
        for i, (side, energy, limit, fee, critical) in enumerate(draw_books)
    ]


order_strategy = st.tuples(
    st.sampled_from([Side.BID, Side.OFFER]),
    st.one_of(st.integers(1, 5_000), st.just(2**32 - 1)),
    st.integers(10, 20),
    st.integers(0, 50_000),
    st.booleans(),
)
books = st.lists(order_strategy, max_size=40).map(_orders)


def _on_chain(harness, orders: list[Order], description: tuple[int, int, int, int]):
    return call(harness.functions.verify([pack_order(o) for o in orders], *description))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck))
@given(books)
def test_python_clearing_is_accepted_on_chain_with_identical_fills_and_price(harness, orders):
    result = clear(orders)
    description = (
        result.marginal_bid,
        result.marginal_offer,
        result.bid_marginal_wh,
        result.offer_marginal_wh,
    )
    price, volume, fills = _on_chain(harness, orders, description)
    assert (price, volume) == (result.price, result.volume_wh)
    assert list(fills) == [result.fills[o.order_id] for o in orders]


@settings(max_examples=examples(100), deadline=None, suppress_health_check=list(HealthCheck))
@given(books, st.sampled_from(range(8)), st.sampled_from([-1, 1]))
def test_a_tampered_description_is_rejected_by_both_with_the_same_error(
    harness, orders, field, delta
):
    result = clear(orders)
    description = [
        result.marginal_bid,
        result.marginal_offer,
        result.bid_marginal_wh,
        result.offer_marginal_wh,
    ]
    if field < 4:
        description[field] += delta
    else:  # swap two fields
        a, b = divmod(field - 4, 2)
        description[a], description[b + 2] = description[b + 2], description[a]
    if min(description) < 0 or tuple(description) == (
        result.marginal_bid,
        result.marginal_offer,
        result.bid_marginal_wh,
        result.offer_marginal_wh,
    ):
        return
    try:
        expected = verify(orders, *description)
    except ClearingRejected as rejected:
        with pytest.raises(MarketError) as info:
            _on_chain(harness, orders, tuple(description))
        assert info.value.name == rejected.reason
        assert info.value.error_args == rejected.values
    else:  # the same outcome described another way would break uniqueness
        assert (expected.volume_wh, dict(expected.fills)) != (result.volume_wh, dict(result.fills))
        pytest.fail(f"tampered description {description} accepted for {orders}")


def test_ties_at_the_marginal_price_fill_in_time_order(harness):
    a, b, c = OWNERS[:3]
    orders = [
        Order(0, a, Side.OFFER, 300, 12),
        Order(1, b, Side.BID, 200, 15),
        Order(2, c, Side.BID, 200, 15),
    ]
    result = clear(orders)
    price, volume, fills = _on_chain(harness, orders, (15, 12, 300, 300))
    assert list(fills) == [300, 200, 100] == [result.fills[i] for i in range(3)]
    assert (price, volume) == (result.price, 300) == (15, 300)


@pytest.mark.parametrize(
    ("description", "error"),
    [
        ((15, 12, 300, 301), "MarketClearingBudgetUnused"),  # more than the offers at 12 hold
        ((14, 12, 300, 300), "MarketClearingBudgetUnused"),  # marginal bid off by one: no bid at 14
        ((16, 12, 0, 300), "MarketClearingMarginalInvalid"),
        ((15, 12, 300, 250), "MarketClearingUnbalanced"),
        ((15, 12, 200, 200), "MarketClearingNotMaximal"),  # leaves 200@15 and 100@12 crossing
        ((12, 15, 100, 100), "MarketClearingMarginalInvalid"),
    ],
)
def test_wrong_clearings_are_rejected_with_the_named_error(harness, description, error):
    a, b, c = OWNERS[:3]
    orders = [
        Order(0, a, Side.OFFER, 300, 12),
        Order(1, b, Side.BID, 200, 15),
        Order(2, c, Side.BID, 200, 15),
    ]
    with pytest.raises(MarketError) as info:
        _on_chain(harness, orders, description)
    assert info.value.name == error
    with pytest.raises(ClearingRejected) as py_info:
        verify(orders, *description)
    assert py_info.value.reason == error


# ───────────────────────────── island mode ─────────────────────────────


def _island_on_chain(harness, orders: list[Order], cap: int, description):
    return call(harness.functions.verifyIsland([pack_order(o) for o in orders], cap, *description))


@settings(max_examples=examples(200), deadline=None, suppress_health_check=list(HealthCheck))
@given(books, st.integers(10, 20))
def test_island_clearing_agrees_and_serves_critical_loads_first(harness, orders, cap):
    result = clear_island(orders, cap)
    description = (
        result.marginal_bid,
        result.marginal_offer,
        result.bid_marginal_wh,
        result.offer_marginal_wh,
    )
    price, volume, fills = _island_on_chain(harness, orders, cap, description)
    assert (price, volume) == (result.price, result.volume_wh)
    assert list(fills) == [result.fills[o.order_id] for o in orders]
    eligible_bids = [o for o in orders if o.side == Side.BID and o.limit_price >= cap]
    # no ordinary load is served while a critical load that could pay the cap goes short
    if any(result.fills[o.order_id] for o in eligible_bids if not o.critical):
        assert all(result.fills[o.order_id] == o.energy_wh for o in eligible_bids if o.critical)
    # nobody trades beyond its limit, and everything trades at the cap
    for o in orders:
        if result.fills[o.order_id]:
            assert (o.limit_price >= cap) if o.side == Side.BID else (o.limit_price <= cap)
    assert result.price in (0, cap)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=list(HealthCheck))
@given(books, st.integers(10, 20), st.sampled_from(range(4)), st.sampled_from([-1, 1]))
def test_a_tampered_island_description_is_rejected_by_both_alike(
    harness, orders, cap, field, delta
):
    from p2penergy.market import verify_island

    result = clear_island(orders, cap)
    description = [
        result.marginal_bid,
        result.marginal_offer,
        result.bid_marginal_wh,
        result.offer_marginal_wh,
    ]
    description[field] += delta
    if min(description) < 0:
        return
    try:
        verify_island(orders, cap, *description)
    except ClearingRejected as rejected:
        with pytest.raises(MarketError) as info:
            _island_on_chain(harness, orders, cap, tuple(description))
        assert (info.value.name, info.value.error_args) == (rejected.reason, rejected.values)
    else:
        pytest.fail(f"tampered island description {description} accepted")


def test_island_worked_example_serves_the_clinic_before_a_richer_neighbour(harness):
    a, b, c, d = OWNERS[:4]
    orders = [
        Order(0, a, Side.BID, 800, 20),  # ordinary household, bids high
        Order(1, b, Side.OFFER, 1_000, 12),
        Order(2, c, Side.BID, 600, 16, critical=True),  # the clinic
        Order(3, d, Side.OFFER, 500, 18),  # above the cap: sits out the outage
    ]
    result = clear_island(orders, 15)
    assert dict(result.fills) == {0: 400, 1: 1_000, 2: 600, 3: 0}
    assert (result.price, result.marginal_bid, result.bid_marginal_wh) == (15, 0, 400)
    price, volume, fills = _island_on_chain(harness, orders, 15, (0, 12, 400, 1_000))
    assert (price, volume, list(fills)) == (15, 1_000, [400, 1_000, 600, 0])
