"""Heat pumps: demandlib's BDEW heat load profile / a temperature-dependent COP on top of H0."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from demandlib.bdew import HeatBuilding

from p2penergy.energy import scenario as scenarios
from p2penergy.energy.model import build, draw_homes, year_temperature

BERLIN = {"latitude": 52.52, "longitude": 13.40, "altitude_m": 34, "timezone": "Europe/Berlin"}
HEAT = (9000.0, 15000.0)


def street(date: str = "2026-01-20", share: float = 0.5, **changes: Any) -> scenarios.Scenario:
    data: dict[str, Any] = {
        "name": "heat",
        "seed": 3,
        "location": BERLIN,
        "date": date,
        "slot_seconds": 3600,
        "households": {"count": 6, "demand_noise": 0.0},
        "heat_pumps": {"share": share, "annual_heat_kwh": {"values": list(HEAT)}},
    }
    data.update(changes)
    return scenarios.from_dict(data)


def expected_heat_pump_kwh(date: str, heat_kwh: float, flow_c: float = 35.0) -> float:
    """The day's heat-pump electricity from the documented method, computed here: the modelled
    temperature (annual mean 10 °C, seasonal swing 9.5 °C, daily ±3 °C), demandlib's EFH class-5
    profile for the year scaled to `heat_kwh`, / Staffell's air-source COP."""
    hours = pd.date_range("2026-01-01", "2026-12-31 23:00", freq="h")
    day, hour = np.asarray(hours.dayofyear), np.asarray(hours.hour)
    temp = pd.Series(
        10
        - 9.5 * np.cos(2 * math.pi * (day - 15) / 365)
        + 3 * np.cos(2 * math.pi * (hour - 15) / 24),
        index=hours,
    )
    heat = HeatBuilding(
        hours, temperature=temp, shlp_type="EFH", building_class=5, wind_class=0,
        annual_heat_demand=heat_kwh, ww_incl=True,
    ).get_bdew_profile()  # fmt: skip
    delta = np.clip(flow_c - temp, 15, 60)
    cop = 6.08 - 0.09 * delta + 0.0005 * delta**2
    return float((heat / cop)[date].sum())


def test_heat_pumps_raise_winter_demand_by_the_bdew_heat_profile_over_the_cop():
    with_hp, without = build(street()), build(street(share=0.0))
    january = {}
    pumps = [h for h in with_hp.homes if h.heat_kwh]
    assert len(pumps) == 3  # half of six, none critical
    assert [h.heat_kwh for h in pumps] == [9000, 15000, 9000]  # values in household order
    for home in with_hp.homes:
        added = sum(with_hp.actual[home.index].demand) - sum(without.actual[home.index].demand)
        want = expected_heat_pump_kwh("2026-01-20", home.heat_kwh) * 1000 if home.heat_kwh else 0
        assert abs(added - want) <= 1, home.name  # integer Wh of the rounded day totals
        january[home.index] = added
        if home.heat_kwh:
            assert added > 10_000  # a January day on 9-15 MWh of heat a year
            # the day-ahead forecast carries the heat pump too (the temperature is known)
            fc = sum(with_hp.forecast[home.index].demand)
            assert fc - sum(without.forecast[home.index].demand) > 0.8 * added
    # a June day needs hot water only: far less
    june = build(street(date="2026-06-20"))
    june_without = build(street(date="2026-06-20", share=0.0))
    for home in pumps:
        summer = sum(june.actual[home.index].demand) - sum(june_without.actual[home.index].demand)
        want = expected_heat_pump_kwh("2026-06-20", home.heat_kwh) * 1000
        assert abs(summer - want) <= 1
        assert 0 < summer < 0.3 * january[home.index]


def test_heat_pumps_draw_from_their_own_stream():
    """Adding heat pumps does not change anyone's demand, PV or battery draw."""
    plain = draw_homes(street(share=0.0))
    heated = draw_homes(street(share=1.0))
    assert [dataclasses.replace(h, heat_kwh=0) for h in heated] == list(plain)
    assert all(h.heat_kwh for h in heated)


def test_the_weather_files_temperature_replaces_the_modelled_one_on_its_days():
    epw = scenarios.SCENARIO_DIR / "weather" / "berlin-june.epw"
    s = street(
        date="2026-06-13",
        location={**BERLIN, "timezone": "Etc/GMT-1"},
        weather={"file": str(epw)},
    )
    temp = year_temperature(s)
    import pvlib

    data, _ = pvlib.iotools.read_epw(epw)
    day = data.loc["2026-06-13", "temp_air"].to_numpy(dtype=float)
    assert np.allclose(temp.loc["2026-06-13"].to_numpy(), day)
    assert not np.allclose(temp.loc["2026-06-12"].to_numpy(), data.loc["2026-06-12", "temp_air"])


@pytest.mark.parametrize(
    ("heat_pumps", "message"),
    [
        ({"share": 0.5, "pump": 1}, r"heat_pumps: unknown keys \['pump'\]"),
        ({"share": 1.5}, "heat_pumps.share must lie in 0..1"),
        ({"building": "GHD"}, "heat_pumps.building 'GHD' is not one of EFH, MFH"),
        ({"building_class": 12}, "heat_pumps.building_class must be 1..11"),
        ({"flow_temp_c": 80}, "heat_pumps.flow_temp_c must lie in 25..65"),
        ({"annual_heat_kwh": {"values": [0]}}, "heat_pumps.annual_heat_kwh: every value"),
        ({"annual_heat_kwh": {"dist": "lognormal", "median": 9e3}}, r"needs \['sigma'\]"),
    ],
)
def test_heat_pump_keys_are_checked(heat_pumps: dict[str, Any], message: str):
    with pytest.raises(scenarios.ScenarioError, match=message):
        street(heat_pumps=heat_pumps)
