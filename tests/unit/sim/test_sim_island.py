"""Island mode in the simulation without a chain: the cap, the declared ranges, the strategy."""

from __future__ import annotations

import dataclasses

import pytest

from p2penergy.domain.orders import Side
from p2penergy.energy import scenario as scenarios
from p2penergy.energy.model import build
from p2penergy.sim.runner import outage_ranges
from p2penergy.sim.strategy import day_ahead_orders


def island(**tariffs: int | None) -> scenarios.Scenario:
    base = scenarios.load("island-outage").with_overrides(households=6)
    return dataclasses.replace(base, tariffs=dataclasses.replace(base.tariffs, **tariffs))


def test_the_default_cap_is_the_midpoint_of_the_local_spread():
    t = island(outage_price_cap=None).tariffs
    assert t.outage_cap == t.feed_in + (t.retail - t.network_fee - t.feed_in) // 2 == 175_000
    assert island(outage_price_cap=200_000).tariffs.outage_cap == 200_000


@pytest.mark.parametrize("cap", [79_999, 300_001])
def test_a_cap_outside_feed_in_to_retail_is_refused(cap: int):
    with pytest.raises(scenarios.ScenarioError, match="outage_price_cap"):
        island(outage_price_cap=cap)


def test_a_scenario_file_sets_the_cap():
    data = {"name": "x", "location": {"latitude": 52.5, "longitude": 13.4}, "date": "2026-06-21"}
    data["tariffs"] = {"outage_price_cap": 123_456}
    assert scenarios.from_dict(data).tariffs.outage_cap == 123_456


def test_outage_slots_are_declared_as_contiguous_ranges():
    whole = build(island().with_overrides(days=2))
    assert outage_ranges(whole) == [(56, 79), (96 + 56, 96 + 79)]  # 14:00-20:00, both days
    window = build(island().with_overrides(first_slot=70, slot_count=20))
    assert outage_ranges(window) == [(70, 79)]


def test_in_outage_slots_bids_reach_the_cap_and_offers_stay_under_it():
    community = build(island())
    cap = community.scenario.tariffs.outage_cap
    down = {s for s, d in zip(community.slots, community.outage, strict=True) if d}
    normal_low_bid = False
    for orders in day_ahead_orders(community):
        for order in orders:
            if order.slot in down and order.side == Side.BID:
                assert order.limit_price >= cap
            elif order.slot in down:
                assert order.limit_price <= cap
            elif order.side == Side.BID and order.limit_price < cap:
                normal_low_bid = True
    assert normal_low_bid  # the cap lifts bids that would otherwise not take part
