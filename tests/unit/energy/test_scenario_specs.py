"""Scenarios that describe a real place: per-household lists and skewed distributions for PV
size, orientation, batteries and annual demand; ranges keep drawing what they drew before."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from p2penergy.energy import scenario as sc
from p2penergy.energy.model import draw, draw_homes

SUMMER = Path(sc.SCENARIO_DIR) / "suburban-summer.yaml"


def scenario(**sections: dict[str, Any]) -> sc.Scenario:
    data = yaml.safe_load(SUMMER.read_text())
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return sc.from_dict(data)


def test_a_two_number_list_is_the_uniform_range_and_draws_as_before():
    s = sc.load("suburban-summer")
    assert s.pv.kwp == sc.Uniform(4.0, 10.0)
    assert s.households.annual_kwh == sc.Uniform(2000.0, 5500.0)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert draw(s.pv.kwp, a, 0) == float(b.uniform(4.0, 10.0))


def test_given_values_go_to_the_prosumers_in_household_order_and_repeat():
    s = scenario(
        households={"count": 10, "prosumer_share": 0.5, "battery_share": 1.0},
        pv={"kwp": {"values": [3.2, 9.9]}, "tilt_deg": 30, "azimuth_deg": {"values": [90, 270]}},
        battery={"capacity_kwh": {"values": [13.5]}, "power_kw": 5},
    )
    prosumers = [h for h in draw_homes(s) if h.pv is not None]
    assert len(prosumers) == 5
    assert [h.pv.kwp for h in prosumers if h.pv] == [3.2, 9.9, 3.2, 9.9, 3.2]
    assert [h.pv.azimuth_deg for h in prosumers if h.pv] == [90, 270, 90, 270, 90]
    assert {h.pv.tilt_deg for h in prosumers if h.pv} == {30}
    assert {h.battery.capacity_wh for h in prosumers if h.battery} == {13_500}


def test_annual_demand_per_household_from_a_list():
    s = scenario(households={"count": 4, "annual_kwh": {"values": [1500, 2500, 4000, 9000]}})
    assert [h.annual_kwh for h in draw_homes(s)] == [1500, 2500, 4000, 9000]


def test_a_lognormal_pv_size_is_skewed_and_clipped():
    s = scenario(
        households={"count": 400, "prosumer_share": 1.0},
        pv={"kwp": {"dist": "lognormal", "median": 5.0, "sigma": 0.6, "min": 1.5, "max": 25}},
    )
    sizes = [h.pv.kwp for h in draw_homes(s) if h.pv is not None]
    assert len(sizes) == 400 and min(sizes) >= 1.5 and max(sizes) <= 25
    assert 4.3 < statistics.median(sizes) < 5.7  # around the median asked for
    assert statistics.mean(sizes) > statistics.median(sizes)  # a long tail of large systems
    assert draw_homes(s) == draw_homes(s)  # seeded


@pytest.mark.parametrize(
    ("sections", "says"),
    [
        ({"pv": {"kwp": {"dist": "lognormal", "median": 5, "sigm": 0.3}}}, "['sigm']"),
        ({"pv": {"kwp": {"values": [1, 2], "repeat": True}}}, "['repeat'] beside values"),
        ({"pv": {"kwp": {"dist": "gamma", "shape": 2}}}, "dist must be one of"),
        ({"pv": {"kwp": {"dist": "lognormal", "median": 5}}}, "needs ['sigma']"),
        ({"pv": {"kwp": [1, 2, 3]}}, "a range is [low, high]"),
        ({"pv": {"kwp": {"values": []}}}, "pv.kwp.values: a non-empty list"),
        ({"pv": {"tilt_deg": {"values": [30, 95]}}}, "pv.tilt_deg: every value must be"),
        ({"households": {"annual_kwh": 0}}, "households.annual_kwh: every value must be above 0"),
        ({"battery": {"power_kw": [5, 2]}}, "battery.power_kw: range [5, 2] has low above high"),
        ({"pv": {"kwp": {"values": ["big"]}}}, "'big' is not a finite number"),
    ],
)
def test_malformed_per_household_values_are_refused_by_name(
    sections: dict[str, dict[str, Any]], says: str
):
    with pytest.raises(sc.ScenarioError) as raised:
        scenario(**sections)
    assert says in str(raised.value)


def test_unknown_keys_are_refused_with_their_names_at_every_level():
    data = yaml.safe_load(SUMMER.read_text())
    with pytest.raises(sc.ScenarioError, match=r"unknown keys \['wether'\]"):
        sc.from_dict({**data, "wether": {}})
    with pytest.raises(sc.ScenarioError, match=r"pv: unknown keys \['kwpp'\]"):
        sc.from_dict({**data, "pv": {"kwpp": 5}})


def test_time_of_use_bands_set_the_grid_tariffs_by_local_time_of_day():
    s = scenario(
        tariffs={
            "time_of_use": [
                {"start": "17:00", "end": "21:00", "retail": 380_000},
                {"start": "22:00", "end": "06:00", "retail": 220_000, "feed_in": 40_000},
            ]
        }
    )
    per_hour = 3600 // s.slot_seconds
    flat = (s.tariffs.feed_in, s.tariffs.retail)
    assert s.grid_tariffs(16 * per_hour + 3) == flat  # 16:45
    assert s.grid_tariffs(17 * per_hour) == (s.tariffs.feed_in, 380_000)  # 17:00, feed-in flat
    assert s.grid_tariffs(21 * per_hour) == flat  # the end is excluded
    assert s.grid_tariffs(23 * per_hour) == s.grid_tariffs(2 * per_hour) == (40_000, 220_000)
    assert s.grid_tariffs(s.slots_per_day + 2 * per_hour) == (40_000, 220_000)  # every day
    assert s.tariffs.retail == 300_000  # the contract's bounds stay flat


@pytest.mark.parametrize(
    ("band", "says"),
    [
        ({"start": 1020, "end": "21:00", "retail": 1}, "in quotes"),
        ({"start": "25:00", "end": "21:00", "retail": 1}, "'25:00' is not"),
        ({"start": "17:00", "end": "21:00", "retail": 50_000, "feed_in": 60_000}, "feed_in <="),
        ({"start": "17:00", "end": "21:00", "retail": 1, "price": 2}, "unknown keys ['price']"),
        ({"start": "18:00", "end": "19:00", "retail": 300_000}, "overlaps an earlier band"),
    ],
)
def test_malformed_time_of_use_bands_are_refused(band: dict[str, Any], says: str):
    first = {"start": "17:00", "end": "18:30", "retail": 380_000}
    with pytest.raises(sc.ScenarioError) as raised:
        scenario(tariffs={"time_of_use": [first, band]})
    assert says in str(raised.value)


def test_an_unknown_curtailment_policy_is_refused_with_the_choices():
    with pytest.raises(sc.ScenarioError, match="pro_rata, largest_first, smallest_first"):
        sc.from_dict({**yaml.safe_load(SUMMER.read_text()), "curtailment": "random"})


def test_a_seller_fee_splits_the_fee_and_moves_the_sellers_floor():
    """`tariffs.seller_fee` (default 0): offers ask at least feed-in + fee, the island cap is the
    midpoint of that narrower spread, and the strategies keep every offer above the fee."""
    from p2penergy.energy.model import Home
    from p2penergy.sim.strategy import limit_prices

    plain = scenario()
    assert plain.tariffs.seller_fee == 0
    assert plain.tariffs.outage_cap == 80_000 + (270_000 - 80_000) // 2
    s = scenario(tariffs={"seller_fee": 20_000})
    assert (s.tariffs.network_fee, s.tariffs.seller_fee) == (30_000, 20_000)
    assert s.tariffs.seller_floor == 100_000
    assert s.tariffs.outage_cap == 100_000 + (270_000 - 100_000) // 2
    eager = Home(0, "h0", "prosumer", False, 4000.0, 1000)  # asks the least
    for strategy in ("linear", "adaptive"):
        for scarcity in (0, 500, 1000):
            tuned = scenario(tariffs={"seller_fee": 20_000}, strategy={"name": strategy})
            _, offer = limit_prices(tuned, eager, scarcity)
            assert offer >= 100_000
            _, before = limit_prices(scenario(strategy={"name": strategy}), eager, scarcity)
            assert before >= 80_000


@pytest.mark.parametrize(
    ("tariffs", "says"),
    [
        ({"seller_fees": 1}, "tariffs: unknown keys ['seller_fees']"),
        ({"seller_fee": -1}, "tariffs.seller_fee must be a whole number of base units per kWh"),
        ({"seller_fee": 0.5}, "tariffs.seller_fee must be a whole number"),
        ({"seller_fee": 2**24}, "in 0..16777215 (got 16777216)"),
        ({"seller_fee": 200_000}, "feed_in + seller_fee <= retail - network_fee"),
        (
            {"seller_fee": 150_000, "feed_in": 0, "outage_price_cap": 100_000},
            "outage_price_cap 100000 is below the seller fee 150000",
        ),
    ],
)
def test_a_malformed_seller_fee_is_refused_by_name(tariffs: dict[str, Any], says: str):
    with pytest.raises(sc.ScenarioError) as raised:
        scenario(tariffs=tariffs)
    assert says in str(raised.value)
