"""Trading strategies: what each household offers or bids a day ahead, and at which limit price.

The `linear` strategy:
- a household with a forecast surplus in a slot offers it; one with a forecast deficit bids it
  (one order per account and slot, as the contract demands; nothing when the forecast is 0);
- the spread runs from `F = feed-in tariff + seller fee`, the least a seller can ask and still
  net the feed-in tariff (the seller fee comes out of its receipt; 0 unless the community splits
  the fee), to `C = retail - network fee`, the most a buyer can pay locally (the fee comes on
  top of the clearing price) and still beat the grid;
- each household has a seeded eagerness `e` in [0, 1000] ‰. Its bid limit is
  `F + (C - F)·b(e)` and its offer limit `F + (C - F)·o(e)` with `b` rising linearly from
  `bid_range[0]` to `bid_range[1]` and `o` falling from `offer_range[1]` to `offer_range[0]`
  (an eager buyer bids high, an eager seller asks little). Integer arithmetic, rounded down.
Critical loads bid at `C`. All limits stay inside `[feed-in, retail]`, the contract's range,
and every offer covers the seller fee (`MarketLimitBelowFee`).

The `adaptive` strategy responds to scarcity (after gsy-e's rates that move toward the other
side): per slot it takes the community's forecast balance, the scarcity
`r = forecast import / (forecast import + forecast export)` in ‰, and moves each household's
linear bid and offer fractions halfway toward `r` (`(b + r) / 2`, `(o + r) / 2`). On a sunny
day (much export, `r` low) both sides ask and bid less, on a grey day (little export, `r` high)
more, so the clearing price follows scarcity; limits stay within `[F, C]`.

Island mode (outage slots, docs/market-rules.md): only bids at or above the slot's price cap and
offers at or below it take part, and everything trades at the cap. Every household wants to be
served in an outage and every prosumer's surplus is needed, so in outage slots a bid's limit is
`max(bid, cap)` and an offer's `min(offer, cap)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from p2penergy.domain.orders import OrderInput
from p2penergy.energy.model import PERMILLE, Community, Home
from p2penergy.energy.scenario import Scenario, ScenarioError
from p2penergy.market import Side

STRATEGIES = ("linear", "adaptive")


@dataclass(frozen=True)
class PlannedOrder:
    """A day-ahead order of one household for a simulated slot (`slot` counts from `date`)."""

    home: int
    slot: int
    side: Side
    energy_wh: int
    limit_price: int


def limit_prices(
    scenario: Scenario, home: Home, scarcity_permille: int | None = None
) -> tuple[int, int]:
    """(bid limit, offer limit) of `home` under the scenario's strategy; the `adaptive` one
    moves both toward `scarcity_permille` (the slot's forecast import share, default 500)."""
    config = scenario.strategy
    if config.name not in STRATEGIES:
        raise ScenarioError(f"unknown strategy {config.name!r}; known: {', '.join(STRATEGIES)}")
    floor = scenario.tariffs.seller_floor
    cap = scenario.tariffs.retail - scenario.tariffs.network_fee
    spread = cap - floor
    if home.critical:
        return cap, cap
    e = home.eagerness_permille
    b_lo, b_hi = (round(x * PERMILLE) for x in config.bid_range)
    o_lo, o_hi = (round(x * PERMILLE) for x in config.offer_range)
    bid_fraction = b_lo + (b_hi - b_lo) * e // PERMILLE
    offer_fraction = o_hi - (o_hi - o_lo) * e // PERMILLE
    if config.name == "adaptive":
        r = PERMILLE // 2 if scarcity_permille is None else scarcity_permille
        bid_fraction = (bid_fraction + r) // 2
        offer_fraction = (offer_fraction + r) // 2
    bid = floor + spread * bid_fraction // PERMILLE
    offer = floor + spread * offer_fraction // PERMILLE
    return bid, offer


def day_ahead_orders(community: Community) -> list[list[PlannedOrder]]:
    """Every household's orders, one list per household, from its forecast import and export."""
    scenario = community.scenario
    cap = scenario.tariffs.outage_cap
    scarcity = scarcity_permille(community)
    result = []
    for home, forecast in zip(community.homes, community.forecast, strict=True):
        orders = []
        for k, slot in enumerate(community.slots):
            bid_limit, offer_limit = limit_prices(scenario, home, scarcity[k])
            island_bid, island_offer = max(bid_limit, cap), min(offer_limit, cap)
            exported, imported = forecast.export_wh[k], forecast.import_wh[k]
            down = community.outage[k]
            if exported > 0 and home.kind == "prosumer":
                limit = island_offer if down else offer_limit
                orders.append(PlannedOrder(home.index, slot, Side.OFFER, exported, limit))
            elif imported > 0:
                limit = island_bid if down else bid_limit
                orders.append(PlannedOrder(home.index, slot, Side.BID, imported, limit))
        result.append(orders)
    return result


def scarcity_permille(community: Community) -> list[int]:
    """Per slot, the community's forecast import as a share of import + export (‰; 500 when
    nothing is forecast): high when energy is scarce, low when PV is plentiful."""
    out = []
    for k in range(len(community.slots)):
        imported = sum(f.import_wh[k] for f in community.forecast)
        exported = sum(f.export_wh[k] for f in community.forecast)
        total = imported + exported
        out.append(imported * PERMILLE // total if total else PERMILLE // 2)
    return out


def to_inputs(orders: list[PlannedOrder], chain_slot_offset: int) -> list[OrderInput]:
    """The contract's order inputs, with simulated slots shifted onto the chain's slot grid."""
    return [
        OrderInput(o.slot + chain_slot_offset, o.side, o.energy_wh, o.limit_price) for o in orders
    ]
