"""Uniform-price clearing: compute it (`clear`) and check it the way the contract does (`verify`).

The rules are in docs/market-rules.md. `clear` walks the two sorted curves (O(n log n));
`verify` is the contract's one linear pass over the orders in id order, so a test can prove that
every clearing the keeper computes is one the contract accepts, and that nothing else is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from p2penergy.exceptions import P2PEnergyError
from p2penergy.market._utils import LIMIT_PRICE, ORDER_ID, ceil_div, in_id_order
from p2penergy.market.models import Clearing, MarketInputError, Order, Side

# Reasons, named like the contract's custom errors so Python and Solidity rejections compare.
MARGINAL_INVALID = "MarketClearingMarginalInvalid"
BUDGET_UNUSED = "MarketClearingBudgetUnused"
UNBALANCED = "MarketClearingUnbalanced"
NOT_MAXIMAL = "MarketClearingNotMaximal"


class ClearingRejected(P2PEnergyError, ValueError):
    """A clearing description is not the competitive outcome; `reason` names the contract error."""

    def __init__(self, reason: str, **values: int) -> None:
        self.reason = reason
        self.values: dict[str, int] = dict(values)
        rendered = ", ".join(f"{key}={value}" for key, value in values.items())
        super().__init__(f"{reason}({rendered})")


def bid_rank(order: Order) -> tuple[int, ...]:
    """Sort key of bids: highest limit first, then time (order id).

    Island mode will prepend the critical-load flag here; keep every ranking decision in this key.
    """
    return (-order.limit_price, order.order_id)


def offer_rank(order: Order) -> tuple[int, ...]:
    """Sort key of offers: lowest limit first, then time (order id)."""
    return (order.limit_price, order.order_id)


def escrow_for(energy_wh: int, limit_price: int, fee_per_kwh: int) -> int:
    """Credits a bid locks: its energy at its limit plus the network fee, each rounded up."""
    return ceil_div(energy_wh * limit_price, 1000) + ceil_div(energy_wh * fee_per_kwh, 1000)


# (marginal bid, marginal offer, bid marginal Wh, offer marginal Wh), as `clear` takes it.
Description = tuple[int, int, int, int]


class ClearingRule(Protocol):
    """How a slot clears: the competitive outcome, the fills a description implies, and the
    contract's acceptance of a description."""

    def clear(self, orders: Sequence[Order]) -> Clearing: ...

    def fills(self, orders: Sequence[Order], description: Description) -> dict[int, int]: ...

    def verify(self, orders: Sequence[Order], description: Description) -> Clearing: ...


@dataclass(frozen=True)
class NormalRule:
    """A normal slot: a uniform-price double auction over bids and offers."""

    def clear(self, orders: Sequence[Order]) -> Clearing:
        return _clear_normal(orders)

    def fills(self, orders: Sequence[Order], description: Description) -> dict[int, int]:
        return dict(_fill_pass(in_id_order(orders), *description).fills)

    def verify(self, orders: Sequence[Order], description: Description) -> Clearing:
        return _verify_normal(orders, description)


@dataclass(frozen=True)
class IslandRule:
    """An outage slot (island mode): one price, the `cap`, critical loads served first."""

    cap: int

    def clear(self, orders: Sequence[Order]) -> Clearing:
        return clear_island(orders, self.cap)

    def fills(self, orders: Sequence[Order], description: Description) -> dict[int, int]:
        return dict(_island_walk(orders, self.cap, *description).fills)

    def verify(self, orders: Sequence[Order], description: Description) -> Clearing:
        return verify_island(orders, self.cap, *description)


NORMAL = NormalRule()


def rule_for(outage_cap: int | None) -> ClearingRule:
    """The island rule for a slot with an outage price cap, the normal rule otherwise (the only
    place the choice is made)."""
    return IslandRule(outage_cap) if outage_cap else NORMAL


def clear(orders: Sequence[Order], *, outage_cap: int | None = None) -> Clearing:
    """Compute the slot's clearing: match the best bid with the best offer while they cross.

    With `outage_cap` (an outage slot, island mode) the island rule applies instead: see
    `clear_island`.

    The walk fills a prefix of each ranked curve, so the marginal limits are the last filled
    bid's and offer's; what remains can no longer trade, which is the maximality the contract
    checks. Volume 0 is described as `(0, 0, 0, 0)`.
    """
    return rule_for(outage_cap).clear(orders)


def _clear_normal(orders: Sequence[Order]) -> Clearing:
    ordered = in_id_order(orders)
    # Python's sort is stable, also with reverse=True: sorting the id-ordered orders by limit
    # alone gives exactly the `bid_rank` / `offer_rank` order without building a key tuple per
    # order (the clearing benchmark's largest cost at 10^6 orders).
    bids = [o for o in ordered if o.side is Side.BID]
    offers = [o for o in ordered if o.side is Side.OFFER]
    bids.sort(key=LIMIT_PRICE, reverse=True)
    offers.sort(key=LIMIT_PRICE)
    fills = dict.fromkeys(map(ORDER_ID, ordered), 0)
    if not bids or not offers or bids[0].limit_price < offers[0].limit_price:
        return _no_trade(fills)

    # Walk both curves while they cross; `bid_left`/`offer_left` are what the current order of
    # each side has not yet traded (its fill is written when it is done or the walk stops).
    i = j = volume = 0
    bid_count, offer_count = len(bids), len(offers)
    bid, offer = bids[0], offers[0]
    bid_left, offer_left = bid.energy_wh, offer.energy_wh
    while True:
        quantity = bid_left if bid_left < offer_left else offer_left
        volume += quantity
        bid_left -= quantity
        offer_left -= quantity
        marginal_bid, marginal_offer = bid.limit_price, offer.limit_price
        if bid_left == 0:
            fills[bid.order_id] = bid.energy_wh
            i += 1
        if offer_left == 0:
            fills[offer.order_id] = offer.energy_wh
            j += 1
        if i == bid_count or j == offer_count:
            break
        if bid_left == 0:
            bid = bids[i]
            bid_left = bid.energy_wh
        if offer_left == 0:
            offer = offers[j]
            offer_left = offer.energy_wh
        if bid.limit_price < offer.limit_price:
            break
    if i < len(bids):
        fills[bid.order_id] = bid.energy_wh - bid_left
    if j < len(offers):
        fills[offer.order_id] = offer.energy_wh - offer_left

    rem_bid_max = bids[i].limit_price if i < len(bids) else None
    rem_offer_min = offers[j].limit_price if j < len(offers) else None
    return Clearing(
        volume_wh=volume,
        price=_price(marginal_bid, marginal_offer, rem_bid_max, rem_offer_min),
        marginal_bid=marginal_bid,
        marginal_offer=marginal_offer,
        bid_marginal_wh=_marginal_wh(bids, min(i, len(bids) - 1), marginal_bid, fills),
        offer_marginal_wh=_marginal_wh(offers, min(j, len(offers) - 1), marginal_offer, fills),
        fills=MappingProxyType(fills),
    )


def _marginal_wh(ranked: list[Order], last: int, limit: int, fills: dict[int, int]) -> int:
    """Energy filled at the marginal `limit`: the filled orders at that limit sit together in
    the ranked curve and end at (or just before) index `last`, where the walk stopped."""
    total = 0
    for k in range(last, -1, -1):
        if ranked[k].limit_price != limit:
            if total:
                break
            continue  # `last` may be an untouched order beyond the marginal limit
        total += fills[ranked[k].order_id]
    return total


def fills_for(
    orders: Sequence[Order],
    marginal_bid: int,
    marginal_offer: int,
    bid_marginal_wh: int,
    offer_marginal_wh: int,
    *,
    outage_cap: int | None = None,
) -> dict[int, int]:
    """Every order's fill under a description, as the contract derives it (no acceptance checks).

    Orders beyond a marginal limit fill fully, orders at it share its budget in id order, and a
    description with both budgets 0 (the no-trade description) fills nothing.
    """
    description = (marginal_bid, marginal_offer, bid_marginal_wh, offer_marginal_wh)
    if min(description) < 0:
        raise MarketInputError(f"clearing description must be non-negative, got {description}")
    return rule_for(outage_cap).fills(orders, description)


def verify(
    orders: Sequence[Order],
    marginal_bid: int,
    marginal_offer: int,
    bid_marginal_wh: int,
    offer_marginal_wh: int,
    *,
    outage_cap: int | None = None,
) -> Clearing:
    """Accept a clearing description only if it is the competitive outcome, as the contract does.

    Checks, in the contract's order (the first failure is raised):
    1. `MarketClearingMarginalInvalid`: both budgets are 0 and a marginal limit is not 0, or a
       budget is 0 while the other is not, or `marginal_bid < marginal_offer` (or a negative value);
    2. `MarketClearingBudgetUnused`: orders at a marginal limit did not use its whole budget;
    3. `MarketClearingUnbalanced`: bid fills and offer fills differ;
    4. `MarketClearingNotMaximal`: a bid with energy left still crosses an offer with energy left.
    """
    description = (marginal_bid, marginal_offer, bid_marginal_wh, offer_marginal_wh)
    return rule_for(outage_cap).verify(orders, description)


def _verify_normal(orders: Sequence[Order], description: Description) -> Clearing:
    marginal_bid, marginal_offer, bid_marginal_wh, offer_marginal_wh = description
    trades = bid_marginal_wh != 0 or offer_marginal_wh != 0
    if (
        min(description) < 0
        or (not trades and (marginal_bid != 0 or marginal_offer != 0))
        or (trades and (bid_marginal_wh == 0 or offer_marginal_wh == 0))
        or marginal_bid < marginal_offer
    ):
        raise _marginal_invalid(description)

    walk = _fill_pass(in_id_order(orders), *description)
    _check_walk(walk)

    price = (
        _price(marginal_bid, marginal_offer, walk.rem_bid_max, walk.rem_offer_min) if trades else 0
    )
    return Clearing(
        volume_wh=walk.bid_wh,
        price=price,
        marginal_bid=marginal_bid,
        marginal_offer=marginal_offer,
        bid_marginal_wh=bid_marginal_wh,
        offer_marginal_wh=offer_marginal_wh,
        fills=MappingProxyType(walk.fills),
    )


@dataclass(slots=True)
class _Walk:
    """What one pass over the orders under a description yields."""

    fills: dict[int, int]
    bid_wh: int = 0
    offer_wh: int = 0
    bid_budget_left: int = 0
    offer_budget_left: int = 0
    rem_bid_max: int | None = None
    rem_offer_min: int | None = None


def _fill_pass(
    ordered: Iterable[Order],
    marginal_bid: int,
    marginal_offer: int,
    bid_marginal_wh: int,
    offer_marginal_wh: int,
) -> _Walk:
    """Fill the orders (in id order) under a description and collect what `verify` checks."""
    trades = bid_marginal_wh != 0 or offer_marginal_wh != 0
    walk = _Walk(fills={}, bid_budget_left=bid_marginal_wh, offer_budget_left=offer_marginal_wh)
    for order in ordered:
        limit = order.limit_price
        fill = 0
        if order.side == Side.BID:
            if trades and limit > marginal_bid:
                fill = order.energy_wh
            elif trades and limit == marginal_bid:
                fill = min(order.energy_wh, walk.bid_budget_left)
                walk.bid_budget_left -= fill
            walk.bid_wh += fill
            if fill < order.energy_wh and (walk.rem_bid_max is None or limit > walk.rem_bid_max):
                walk.rem_bid_max = limit
        else:
            if trades and limit < marginal_offer:
                fill = order.energy_wh
            elif trades and limit == marginal_offer:
                fill = min(order.energy_wh, walk.offer_budget_left)
                walk.offer_budget_left -= fill
            walk.offer_wh += fill
            if fill < order.energy_wh and (
                walk.rem_offer_min is None or limit < walk.rem_offer_min
            ):
                walk.rem_offer_min = limit
        walk.fills[order.order_id] = fill
    return walk


def _price(
    marginal_bid: int, marginal_offer: int, rem_bid_max: int | None, rem_offer_min: int | None
) -> int:
    """Midpoint (rounded down) of the interval every filled and unfilled order agrees with."""
    lo = marginal_offer if rem_bid_max is None else max(marginal_offer, rem_bid_max)
    hi = marginal_bid if rem_offer_min is None else min(marginal_bid, rem_offer_min)
    return (lo + hi) // 2


def _no_trade(fills: dict[int, int]) -> Clearing:
    return Clearing(0, 0, 0, 0, 0, 0, MappingProxyType(fills))


# ─────────────────── island mode (outage slots, docs/market-rules.md) ───────────────────


def island_eligible(order: Order, cap: int) -> bool:
    """Takes part in an outage slot: bids that can pay the cap, offers that accept it."""
    return order.limit_price >= cap if order.side == Side.BID else order.limit_price <= cap


def island_bid_rank(order: Order) -> tuple[int, ...]:
    """Outage-slot bid priority: critical loads first, then time."""
    return (0 if order.critical else 1, order.order_id)


def clear_island(orders: Sequence[Order], cap: int) -> Clearing:
    """Clear an outage slot: everyone eligible trades at `cap`, critical loads served first.

    The traded volume is the smaller of eligible demand and eligible supply; bids fill in
    `island_bid_rank` order, offers in `offer_rank` order. The description's `marginal_bid` is the
    marginal bid class (1 = critical loads, 0 = others).
    """
    ordered = in_id_order(orders)
    bids = sorted(
        (o for o in ordered if o.side == Side.BID and island_eligible(o, cap)), key=island_bid_rank
    )
    offers = sorted(
        (o for o in ordered if o.side == Side.OFFER and island_eligible(o, cap)), key=offer_rank
    )
    fills = {o.order_id: 0 for o in ordered}
    volume = min(sum(b.energy_wh for b in bids), sum(o.energy_wh for o in offers))
    if volume == 0:
        return _no_trade(fills)
    last_bid = _fill_in_order(bids, volume, fills)
    last_offer = _fill_in_order(offers, volume, fills)
    marginal_class = int(last_bid.critical)
    return Clearing(
        volume_wh=volume,
        price=cap,
        marginal_bid=marginal_class,
        marginal_offer=last_offer.limit_price,
        bid_marginal_wh=sum(fills[b.order_id] for b in bids if int(b.critical) == marginal_class),
        offer_marginal_wh=sum(
            fills[o.order_id] for o in offers if o.limit_price == last_offer.limit_price
        ),
        fills=MappingProxyType(fills),
    )


def _fill_in_order(ranked: Sequence[Order], volume: int, fills: dict[int, int]) -> Order:
    """Fill `ranked` orders in turn until `volume` is used; returns the last one filled."""
    left = volume
    last = ranked[0]
    for order in ranked:
        if left == 0:
            break
        fills[order.order_id] = min(order.energy_wh, left)
        left -= fills[order.order_id]
        last = order
    return last


def verify_island(
    orders: Sequence[Order],
    cap: int,
    marginal_class: int,
    marginal_offer: int,
    bid_marginal_wh: int,
    offer_marginal_wh: int,
) -> Clearing:
    """The contract's one-pass check of an outage-slot description (`verifyIsland`)."""
    description = (marginal_class, marginal_offer, bid_marginal_wh, offer_marginal_wh)
    trades = bid_marginal_wh != 0 or offer_marginal_wh != 0
    if (
        min(description) < 0
        or (not trades and (marginal_class != 0 or marginal_offer != 0))
        or (
            trades
            and (
                bid_marginal_wh == 0
                or offer_marginal_wh == 0
                or marginal_class > 1
                or marginal_offer > cap
            )
        )
    ):
        raise _marginal_invalid(description)
    walk = _island_walk(orders, cap, *description)
    # An island walk records `cap` as the highest bid left and only offers ≤ cap, so energy left
    # on both sides always "crosses": the shared check is the island rule's maximality.
    _check_walk(walk)
    return Clearing(
        volume_wh=walk.bid_wh,
        price=cap if trades else 0,
        marginal_bid=marginal_class,
        marginal_offer=marginal_offer,
        bid_marginal_wh=bid_marginal_wh,
        offer_marginal_wh=offer_marginal_wh,
        fills=MappingProxyType(walk.fills),
    )


def _island_walk(
    orders: Sequence[Order],
    cap: int,
    marginal_class: int,
    marginal_offer: int,
    bid_marginal_wh: int,
    offer_marginal_wh: int,
) -> _Walk:
    """Fill an outage slot's orders (in id order) under a description, as the contract does."""
    trades = bid_marginal_wh != 0 or offer_marginal_wh != 0
    walk = _Walk(fills={}, bid_budget_left=bid_marginal_wh, offer_budget_left=offer_marginal_wh)
    for order in in_id_order(orders):
        fill = 0
        if trades and island_eligible(order, cap):
            if order.side == Side.BID:
                cls = int(order.critical)
                if cls > marginal_class:
                    fill = order.energy_wh
                elif cls == marginal_class:
                    fill = min(order.energy_wh, walk.bid_budget_left)
                    walk.bid_budget_left -= fill
            elif order.limit_price < marginal_offer:
                fill = order.energy_wh
            elif order.limit_price == marginal_offer:
                fill = min(order.energy_wh, walk.offer_budget_left)
                walk.offer_budget_left -= fill
        walk.fills[order.order_id] = fill
        if not island_eligible(order, cap):
            continue
        if order.side == Side.BID:
            walk.bid_wh += fill
            if fill < order.energy_wh:
                walk.rem_bid_max = cap
        else:
            walk.offer_wh += fill
            if fill < order.energy_wh and (
                walk.rem_offer_min is None or order.limit_price < walk.rem_offer_min
            ):
                walk.rem_offer_min = order.limit_price
    return walk


def _marginal_invalid(description: tuple[int, int, int, int]) -> ClearingRejected:
    """The rejection of a non-canonical description (the contract's argument names)."""
    marginal_bid, marginal_offer, bid_marginal_wh, offer_marginal_wh = description
    return ClearingRejected(
        MARGINAL_INVALID,
        marginalBid=marginal_bid,
        marginalOffer=marginal_offer,
        bidMarginalWh=bid_marginal_wh,
        offerMarginalWh=offer_marginal_wh,
    )


def _check_walk(walk: _Walk) -> None:
    """Budgets used, balance, maximality: the checks after the pass, in the contract's order."""
    if walk.bid_budget_left != 0 or walk.offer_budget_left != 0:
        raise ClearingRejected(
            BUDGET_UNUSED,
            bidBudgetLeftWh=walk.bid_budget_left,
            offerBudgetLeftWh=walk.offer_budget_left,
        )
    if walk.bid_wh != walk.offer_wh:
        raise ClearingRejected(UNBALANCED, bidWh=walk.bid_wh, offerWh=walk.offer_wh)
    if (
        walk.rem_bid_max is not None
        and walk.rem_offer_min is not None
        and walk.rem_bid_max >= walk.rem_offer_min
    ):
        raise ClearingRejected(
            NOT_MAXIMAL, remBidMax=walk.rem_bid_max, remOfferMin=walk.rem_offer_min
        )
