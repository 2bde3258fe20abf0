"""The adaptive strategy responds to scarcity: a grey day clears higher than a sunny one.

Same street, same households and seed; only the day's cloudiness differs. Orders come from the
strategy, each slot is cleared by `p2penergy.market.clear` (the rule the contract verifies), so
no chain is needed to compare the prices.
"""

from __future__ import annotations

import dataclasses
import statistics

from p2penergy.energy import scenario as scenarios
from p2penergy.energy.model import Community, build
from p2penergy.market import Order, clear
from p2penergy.sim.strategy import day_ahead_orders, scarcity_permille


def day(cloudiness: float) -> Community:
    base = scenarios.load("suburban-summer")
    return build(
        dataclasses.replace(
            base.with_overrides(households=8, first_slot=36, slot_count=32),
            weather=dataclasses.replace(base.weather, cloudiness=cloudiness),
        )
    )


def median_price(community: Community, strategy: str) -> float:
    scenario = community.scenario
    planned = dataclasses.replace(
        community,
        scenario=dataclasses.replace(
            scenario, strategy=dataclasses.replace(scenario.strategy, name=strategy)
        ),
    )
    by_slot: dict[int, list[Order]] = {}
    for orders in day_ahead_orders(planned):
        for o in orders:
            book = by_slot.setdefault(o.slot, [])
            book.append(Order(len(book), f"0x{o.home:040x}", o.side, o.energy_wh, o.limit_price))
    prices = [c.price for c in (clear(book) for book in by_slot.values()) if c.volume_wh > 0]
    assert len(prices) >= 5, "too few traded slots to compare"
    return statistics.median(prices)


def test_a_grey_day_clears_higher_than_a_sunny_day_with_the_adaptive_strategy() -> None:
    sunny, grey = day(0.05), day(0.9)
    assert statistics.median(scarcity_permille(grey)) > statistics.median(scarcity_permille(sunny))
    adaptive = median_price(grey, "adaptive") - median_price(sunny, "adaptive")
    linear = median_price(grey, "linear") - median_price(sunny, "linear")
    assert adaptive > 0  # scarcity raises the median clearing price
    # beyond who happens to trade on each day (which moves even static limits), the adaptive
    # limits themselves follow scarcity: the gap between the days is wider
    assert adaptive > linear
