"""Normal or island clearing is one choice (`rule_for`), made from the slot's outage cap; the
module functions and the rule objects agree."""

from __future__ import annotations

from p2penergy.domain.orders import Side
from p2penergy.market import IslandRule, NormalRule, Order, clear, fills_for, rule_for, verify

A, B, C = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20
ORDERS = [
    Order(1, A, Side.OFFER, 3_000, 100_000),
    Order(2, B, Side.BID, 2_000, 250_000),
    Order(3, C, Side.BID, 2_000, 300_000, critical=True),
]


def test_an_outage_cap_chooses_the_island_rule_and_none_or_zero_the_normal_one():
    assert rule_for(None) == NormalRule() and rule_for(0) == NormalRule()
    assert rule_for(180_000) == IslandRule(180_000)


def test_the_functions_clear_fill_and_verify_by_the_chosen_rule():
    for cap in (None, 180_000):
        rule = rule_for(cap)
        result = clear(ORDERS, outage_cap=cap)
        assert result == rule.clear(ORDERS)
        description = result.description
        assert fills_for(ORDERS, *description, outage_cap=cap) == rule.fills(ORDERS, description)
        assert verify(ORDERS, *description, outage_cap=cap) == result
    island = clear(ORDERS, outage_cap=180_000)
    assert island.price == 180_000 and island.fills[3] == 2_000  # the critical load first
    assert clear(ORDERS).price != 180_000
