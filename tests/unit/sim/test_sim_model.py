"""The community model without a chain: integer energy, batteries, the island rule, strategies."""

from __future__ import annotations

import numpy as np
from eth_account import Account

from p2penergy.domain.readings import Reading
from p2penergy.energy import scenario as scenarios
from p2penergy.energy.model import (
    Battery,
    Home,
    PVSystem,
    build,
    dispatch,
    island,
    share_out,
    to_wh,
)
from p2penergy.oracle.reading import sign_reading
from p2penergy.sim.meters import domain_separator, sign_fast
from p2penergy.sim.strategy import day_ahead_orders, limit_prices


def small(name: str = "suburban-summer", first: int = 40, count: int = 16) -> scenarios.Scenario:
    return scenarios.load(name).with_overrides(households=6, first_slot=first, slot_count=count)


def test_to_wh_rounds_the_running_total_so_the_day_total_is_exact():
    kwh = np.array([0.0004, 0.0004, 0.0004, 1.2345, 0.3333])
    wh = to_wh(kwh)
    assert sum(wh) == round(kwh.sum() * 1000)
    assert all(isinstance(v, int) and v >= 0 for v in wh)


def test_battery_dispatch_balances_every_slot():
    battery = Battery(
        capacity_wh=5_000, power_wh_per_slot=700, charge_efficiency_permille=950, initial_wh=1_000
    )
    demand = [300, 300, 900, 1_200, 200, 800]
    generation = [0, 1_500, 2_000, 100, 0, 900]
    f = dispatch(demand, generation, battery)
    soc = battery.initial_wh
    for s in range(len(demand)):
        assert demand[s] == f.self_consumed[s] + f.discharge[s] + f.import_wh[s]
        assert generation[s] == f.self_consumed[s] + f.charge[s] + f.export_wh[s]
        assert f.charge[s] == 0 or f.discharge[s] == 0
        soc += f.charge[s] * 950 // 1000 - f.discharge[s]
        assert 0 <= soc == f.soc_end[s] <= battery.capacity_wh


def test_share_out_is_exact_and_proportional():
    assert share_out(2, [1, 1, 1]) == [1, 1, 0]
    assert share_out(10, [1, 1, 1]) == [1, 1, 1]  # never more than the weight (the need)
    assert share_out(100, [30, 20]) == [30, 20]
    assert sum(share_out(997, [13, 400, 77, 1_000])) == 997


def test_island_serves_critical_loads_first_and_reports_the_rest_as_unserved():
    homes = [
        Home(0, "clinic", "consumer", True, 9_000, 1000),
        Home(1, "house-02", "consumer", False, 3_000, 500),
        Home(2, "house-03", "prosumer", False, 3_000, 500),
    ]
    flows = [
        dispatch([800, 800], [0, 0], None),
        dispatch([600, 600], [0, 0], None),
        dispatch([100, 100], [1_100, 2_000], None),
    ]
    out = island(flows, homes, [True, False])
    # slot 0: 1000 Wh of supply; the clinic needs 800 and gets it, house-02 gets the rest
    assert (out[0].import_wh[0], out[0].unserved[0]) == (800, 0)
    assert (out[1].import_wh[0], out[1].unserved[0]) == (200, 400)
    assert out[2].curtailed[0] == 0
    # slot 1 is not an outage: nothing changes
    assert out[1].import_wh[1] == 600 and out[2].export_wh[1] == 1_900
    for f in out:
        for s in range(2):
            assert (
                f.demand[s] == f.self_consumed[s] + f.discharge[s] + f.import_wh[s] + f.unserved[s]
            )
            assert (
                f.generation[s]
                == f.self_consumed[s] + f.charge[s] + f.export_wh[s] + f.curtailed[s]
            )


def test_island_curtailment_policy_picks_whose_export_is_curtailed_first():
    """1,000 Wh of demand, 2,400 Wh offered by a 3, a 6 and a 10 kWp system."""
    homes = [Home(0, "house-01", "consumer", False, 3_000, 500)] + [
        Home(i, f"house-0{i + 1}", "prosumer", False, 3_000, 500, pv=PVSystem(kwp, 30, 180))
        for i, kwp in ((1, 3.0), (2, 6.0), (3, 10.0))
    ]
    flows = [dispatch([1_000], [0], None)] + [dispatch([0], [800], None) for _ in range(3)]

    def curtailed(policy: str) -> list[int]:
        return [f.curtailed[0] for f in island(flows, homes, [True], policy)]

    assert curtailed("pro_rata") == [0, 466, 467, 467]  # ties by index
    assert curtailed("largest_first") == [0, 0, 600, 800]  # the 3 kWp roof sells all of it
    assert curtailed("smallest_first") == [0, 800, 600, 0]
    for policy in scenarios.CURTAILMENT:
        out = island(flows, homes, [True], policy)
        assert sum(f.export_wh[0] for f in out) == 1_000 == out[0].import_wh[0]


def test_the_model_is_deterministic_and_forecasts_differ_from_delivery():
    a, b = build(small()), build(small())
    assert a == b
    assert any(f.demand != g.demand for f, g in zip(a.actual, a.forecast, strict=True))
    assert sum(sum(f.generation) for f in a.actual) > 0


def test_limit_prices_stay_between_feed_in_and_retail_minus_fee():
    scenario = small()
    t = scenario.tariffs
    community = build(scenario)
    for home in community.homes:
        bid, offer = limit_prices(scenario, home)
        assert t.feed_in <= offer <= t.retail - t.network_fee
        assert t.feed_in <= bid <= t.retail - t.network_fee
    for orders in day_ahead_orders(community):
        assert len({o.slot for o in orders}) == len(orders)  # one order per slot and account


def test_the_fast_meter_signature_is_the_oracle_signature():
    key = Account.from_key(b"\x01" * 32).key
    reading = Reading(7, 1234, 250, 1000, 98_765, 43_210)
    contract = "0x" + "ab" * 20
    assert sign_fast(key, reading, domain_separator(31337, contract)) == sign_reading(
        key, reading, 31337, contract
    )


def test_shipped_scenarios_load_and_the_island_declares_six_hours():
    for name in ("suburban-summer", "suburban-winter", "island-outage"):
        assert scenarios.load(name).households.count == 30
    island_scenario = scenarios.load("island-outage")
    assert len(island_scenario.outage_slots()) == 6 * 4
    assert island_scenario.households.critical_loads == 2
