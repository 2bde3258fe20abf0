"""The community model: households, PV (pvlib), demand (BDEW H0, demandlib), batteries, forecasts.

Floats live only here, in the physics; everything that leaves this module is integer Wh per slot.
Each float series is converted once, by rounding its running total half up and differencing
(`to_wh`), so a household's day total is the rounded float total and rounding never drifts.

Random draws come from `numpy.random.default_rng([seed, stream])`, one stream per concern, so
adding a household or changing the weather does not reshuffle everything else.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from p2penergy.energy.scenario import LogNormal, Scenario, Spec, Uniform
from p2penergy.energy.weather import SlotWeather, cover_from_ghi, slot_weather
from p2penergy.ledger import share_out as share_out

STREAM_HOUSEHOLDS, STREAM_WEATHER, STREAM_DEMAND, STREAM_FORECAST = 1, 2, 3, 4
STREAM_HEAT_PUMPS = 5
CRITICAL_NAMES = ("clinic", "water-pump")
PERMILLE = 1000
DAILY_SWING_C = 3.0  # the modelled temperature's swing around the day's mean
PV_GAMMA_PER_K = -0.004  # PVWatts' power temperature coefficient (crystalline silicon)


@dataclass(frozen=True)
class PVSystem:
    kwp: float
    tilt_deg: float
    azimuth_deg: float


@dataclass(frozen=True)
class Battery:
    """Integer battery: capacity and per-slot power in Wh; efficiency in per mille on charging."""

    capacity_wh: int
    power_wh_per_slot: int
    charge_efficiency_permille: int
    initial_wh: int


@dataclass(frozen=True)
class Home:
    """One household as the scenario draws it."""

    index: int
    name: str
    kind: str  # "consumer" | "prosumer"
    critical: bool
    annual_kwh: float
    eagerness_permille: int  # 0..1000: how far into the spread its limit prices go
    pv: PVSystem | None = None
    battery: Battery | None = None
    heat_kwh: int = 0  # annual heat demand met by a heat pump (0: no heat pump)

    @property
    def meter_capacity_w(self) -> int:
        """Nameplate capacity registered for the meter: room for the PV and a home's peak."""
        pv_w = 0 if self.pv is None else math.ceil(self.pv.kwp * 1000)
        return max(25_000, pv_w * 2)


@dataclass(frozen=True)
class Flows:
    """What physically happened at one household in each slot (integer Wh).

    Balances, per slot: `demand = self_consumed + discharge + import_wh + unserved` and
    `generation = self_consumed + charge + export_wh + curtailed`. `import_wh` and `export_wh`
    are what the meter reads (in outage slots: what the island actually served and took).
    """

    demand: tuple[int, ...]
    generation: tuple[int, ...]
    self_consumed: tuple[int, ...]
    charge: tuple[int, ...]
    discharge: tuple[int, ...]
    soc_end: tuple[int, ...]
    import_wh: tuple[int, ...]
    export_wh: tuple[int, ...]
    unserved: tuple[int, ...]
    curtailed: tuple[int, ...]


@dataclass(frozen=True)
class Community:
    """The modelled community over the simulated slots (index k = scenario slot `slots[k]`)."""

    scenario: Scenario
    homes: tuple[Home, ...]
    slots: tuple[int, ...]
    outage: tuple[bool, ...]
    cloud_cover: tuple[float, ...]
    actual: tuple[Flows, ...]
    forecast: tuple[Flows, ...]


# ───────────────────────────── households ─────────────────────────────


def draw(spec: Spec, rng: np.random.Generator, k: int) -> float:
    """The `k`-th household's value of a per-household spec. A uniform range takes exactly the
    one draw it always took, so scenarios written with ranges give the same community as before;
    given values take no draw."""
    if isinstance(spec, Uniform):
        return float(rng.uniform(spec.low, spec.high))
    if isinstance(spec, LogNormal):
        value = float(rng.lognormal(math.log(spec.median), spec.sigma))
        low, high = spec.support
        return min(max(value, low), high)
    return spec.values[k % len(spec.values)]


def draw_homes(scenario: Scenario) -> tuple[Home, ...]:
    """The households: critical loads first, then a seeded choice of prosumers and batteries."""
    mix, pv, bat = scenario.households, scenario.pv, scenario.battery
    rng = np.random.default_rng([scenario.seed, STREAM_HOUSEHOLDS])
    n = mix.count
    critical = min(mix.critical_loads, n)
    others = list(range(critical, n))
    n_prosumers = min(len(others), round(mix.prosumer_share * n))
    prosumers = sorted(int(i) for i in rng.permutation(others)[:n_prosumers])
    n_batteries = round(mix.battery_share * n_prosumers)
    with_battery = {int(i) for i in rng.permutation(prosumers)[:n_batteries]}
    slot_hours = scenario.slot_seconds / 3600
    pv_order = {home: k for k, home in enumerate(prosumers)}
    battery_order = {home: k for k, home in enumerate(sorted(with_battery))}
    homes = []
    for i in range(n):
        annual = draw(mix.annual_kwh, rng, i)
        eagerness = int(rng.integers(0, PERMILLE + 1))
        system = battery = None
        if i in prosumers:
            k = pv_order[i]
            system = PVSystem(
                kwp=max(0.1, round(draw(pv.kwp, rng, k), 1)),
                tilt_deg=round(draw(pv.tilt_deg, rng, k)),
                azimuth_deg=round(draw(pv.azimuth_deg, rng, k)),
            )
        if i in with_battery:
            k = battery_order[i]
            capacity_wh = max(0.1, round(draw(bat.capacity_kwh, rng, k), 1)) * 1000
            power_w = max(0.1, round(draw(bat.power_kw, rng, k), 1)) * 1000
            battery = Battery(
                capacity_wh=int(capacity_wh),
                power_wh_per_slot=int(power_w * slot_hours),
                charge_efficiency_permille=round(bat.charge_efficiency * PERMILLE),
                initial_wh=int(capacity_wh * bat.initial_soc),
            )
        if i < critical:
            name = CRITICAL_NAMES[i] if i < len(CRITICAL_NAMES) else f"critical-{i + 1:02d}"
            annual *= 3  # a clinic or a pump draws more than a home
            eagerness = PERMILLE  # critical loads bid at their cap
        else:
            name = f"house-{i + 1:02d}"
        homes.append(
            Home(
                index=i,
                name=name,
                kind="prosumer" if system is not None else "consumer",
                critical=i < critical,
                annual_kwh=round(annual),
                eagerness_permille=eagerness,
                pv=system,
                battery=battery,
            )
        )
    return _with_heat_pumps(scenario, homes)


def _with_heat_pumps(scenario: Scenario, homes: list[Home]) -> tuple[Home, ...]:
    """A seeded `heat_pumps.share` of the non-critical households gets a heat pump (its own
    random stream, so the other draws stay as they were)."""
    spec = scenario.heat_pumps
    others = [h.index for h in homes if not h.critical]
    count = min(len(others), round(spec.share * len(others)))
    if count == 0:
        return tuple(homes)
    rng = np.random.default_rng([scenario.seed, STREAM_HEAT_PUMPS])
    chosen = sorted(int(i) for i in rng.permutation(others)[:count])
    for k, i in enumerate(chosen):
        heat = max(1, round(draw(spec.annual_heat_kwh, rng, k)))
        homes[i] = dataclasses.replace(homes[i], heat_kwh=heat)
    return tuple(homes)


# ───────────────────────────── profiles (floats, kWh per slot) ─────────────────────────────


def local_times(scenario: Scenario) -> Any:
    """Slot midpoints (tz-aware pandas index) of every slot in the simulated days."""
    import pandas as pd

    start = pd.Timestamp(scenario.date).tz_localize(scenario.location.timezone)
    offset = pd.Timedelta(seconds=scenario.slot_seconds / 2)
    return pd.date_range(
        start + offset,
        periods=scenario.total_slots_in_days,
        freq=pd.Timedelta(seconds=scenario.slot_seconds),
    )


def h0_profile_kwh(scenario: Scenario) -> np.ndarray[Any, Any]:
    """BDEW H0 standard load profile for 1,000 kWh/year, kWh per slot over the simulated days."""
    from demandlib import bdew

    quarter_hours = []
    for day in range(scenario.days):
        date = scenario.date + dt.timedelta(days=day)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            year_profile = bdew.ElecSlp(date.year).get_scaled_profiles({"h0": 1000.0})
        quarter_hours.append(year_profile.loc[date.isoformat(), "h0"].to_numpy(dtype=float))
    q = np.concatenate(quarter_hours)
    ratio = scenario.slot_seconds // 900 if scenario.slot_seconds >= 900 else 0
    if ratio:
        summed: np.ndarray[Any, Any] = q.reshape(-1, ratio).sum(axis=1)
        return summed
    split = 900 // scenario.slot_seconds
    return np.repeat(q / split, split)


def year_temperature(scenario: Scenario) -> Any:
    """Hourly air temperature (°C) over the year of `date`, local wall time (naive index):
    `annual_mean_c - seasonal_swing_c·cos(2π(day - 15)/365)` (coldest in mid-January; the sign
    flips south of the equator) plus a daily swing of ±3 °C peaking at 15:00; where a weather
    file covers the simulated days, the file's temperatures (hourly means of its slots)."""
    import pandas as pd

    w = scenario.weather
    year = scenario.date.year
    hours = pd.date_range(f"{year}-01-01", f"{year}-12-31 23:00", freq="h")
    season = -1.0 if scenario.location.latitude >= 0 else 1.0
    day = np.asarray(hours.dayofyear, dtype=float)
    hour = np.asarray(hours.hour, dtype=float)
    temp = (
        w.annual_mean_c
        + season * w.seasonal_swing_c * np.cos(2 * np.pi * (day - 15) / 365)
        + DAILY_SWING_C * np.cos(2 * np.pi * (hour - 15) / 24)
    )
    series = pd.Series(temp, index=hours)
    if w.file is not None:
        measured = pd.Series(
            slot_weather(scenario).temp_air,
            index=local_times(scenario).tz_localize(None).floor("h"),
        )
        means = measured.groupby(level=0).mean()
        means = means[means.index.year == year]
        series.loc[means.index] = means.to_numpy()
    return series


def heat_pump_cop(flow_temp_c: float, air_c: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """An air-source heat pump's COP (Staffell et al. 2012, Energy Environ. Sci. 5, 9291, fit
    to field data): `6.08 - 0.09·ΔT + 0.0005·ΔT²`, ΔT = flow - air temperature, held within the
    fit's 15..60 K."""
    delta = np.clip(flow_temp_c - np.asarray(air_c, dtype=float), 15.0, 60.0)
    cop: np.ndarray[Any, Any] = 6.08 - 0.09 * delta + 0.0005 * delta * delta
    return cop


def heat_pump_kwh_per_heat_kwh(scenario: Scenario) -> np.ndarray[Any, Any]:
    """Electricity per slot (kWh) of a heat pump meeting 1 kWh of annual heat demand: demandlib's
    BDEW heat load profile for the year (hourly, scaled to 1 kWh) / the hour's COP, each hour's
    energy spread evenly over its slots."""
    from demandlib.bdew import HeatBuilding

    spec = scenario.heat_pumps
    temp = year_temperature(scenario)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        heat = HeatBuilding(
            temp.index,
            temperature=temp,
            shlp_type=spec.building,
            building_class=spec.building_class,
            wind_class=int(spec.windy),
            annual_heat_demand=1.0,
            ww_incl=True,
        ).get_bdew_profile()
    electric = heat.to_numpy(dtype=float) / heat_pump_cop(spec.flow_temp_c, temp.to_numpy())
    hourly = dict(zip(temp.index, electric, strict=True))
    hours = local_times(scenario).tz_localize(None).floor("h")
    per_slot = scenario.slot_seconds / 3600
    return np.array([hourly.get(h, 0.0) * per_slot for h in hours])


def cloud_cover(scenario: Scenario) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(actual, forecast) cloud cover per slot, 0..1: a seeded AR(1) walk around the day's mean."""
    weather, n = scenario.weather, scenario.total_slots_in_days
    rng = np.random.default_rng([scenario.seed, STREAM_WEATHER])
    per_hour = 3600 / scenario.slot_seconds
    rho = 0.9 ** (1 / per_hour)  # persistence per slot, the same per hour at any slot length
    x = np.empty(n)
    level = 0.0
    for s in range(n):
        level = rho * level + weather.variability * math.sqrt(1 - rho * rho) * rng.standard_normal()
        x[s] = level
    actual = np.clip(weather.cloudiness + x, 0.0, 1.0)
    forecast = np.clip(actual + scenario.forecast.cloud_error * forecast_error(scenario), 0.0, 1.0)
    return actual, forecast


def _site(scenario: Scenario) -> Any:
    import pvlib

    loc = scenario.location
    return pvlib.location.Location(loc.latitude, loc.longitude, loc.timezone, loc.altitude_m)


def pv_kwh_measured(
    scenario: Scenario, system: PVSystem, weather: SlotWeather
) -> np.ndarray[Any, Any]:
    """PV energy per slot from measured irradiance: the slot's mean GHI, DNI and DHI transposed
    to the module plane at the slot's midpoint (isotropic sky, as the cloud model; DNI counts
    only while the sun is up), the cell temperature by Faiman's model from the air temperature
    (pvlib's default wind of 1 m/s), PVWatts DC power with -0.4 %/K above 25 °C, x the
    performance ratio."""
    import pvlib

    sun = _site(scenario).get_solarposition(local_times(scenario))
    zenith = sun["apparent_zenith"].to_numpy(dtype=float)
    dni = np.where(zenith < 90.0, np.asarray(weather.dni), 0.0)
    poa = pvlib.irradiance.get_total_irradiance(
        system.tilt_deg,
        system.azimuth_deg,
        zenith,
        sun["azimuth"].to_numpy(dtype=float),
        dni,
        np.asarray(weather.ghi),
        np.asarray(weather.dhi),
    )["poa_global"]
    poa = np.clip(np.nan_to_num(np.asarray(poa, dtype=float)), 0.0, None)
    cell = pvlib.temperature.faiman(poa, np.asarray(weather.temp_air))
    dc_kw = pvlib.pvsystem.pvwatts_dc(poa, cell, system.kwp, PV_GAMMA_PER_K)
    power_kw = np.asarray(dc_kw, dtype=float) * scenario.pv.performance_ratio
    energy: np.ndarray[Any, Any] = np.clip(power_kw, 0.0, None) * scenario.slot_seconds / 3600
    return energy


def measured_cover(weather: SlotWeather) -> np.ndarray[Any, Any]:
    """The report's cloud line for measured weather: the cover Kasten-Czeplak gives for the
    measured GHI over Ineichen's clear-sky GHI, both at the file's resolution."""
    result: np.ndarray[Any, Any] = cover_from_ghi(
        np.asarray(weather.ghi), np.asarray(weather.clear_ghi)
    )
    return result


def forecast_error(scenario: Scenario) -> np.ndarray[Any, Any]:
    """The day-ahead forecast's smoothed standard error per slot (stream STREAM_FORECAST)."""
    n = scenario.total_slots_in_days
    frng = np.random.default_rng([scenario.seed, STREAM_FORECAST, 0])
    error: np.ndarray[Any, Any] = np.convolve(
        frng.standard_normal(n + 3), np.ones(4) / 2.0, mode="valid"
    )[:n]
    return error


def pv_kwh(
    scenario: Scenario, system: PVSystem, cover: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """PV energy per slot: pvlib clear-sky (Ineichen) on the module plane x a clear-sky index.

    The clear-sky index is Kasten-Czeplak's `1 - 0.75·c^3.4` for cloud cover `c`, applied to the
    whole plane-of-array irradiance (a simplification that keeps the model one line).
    """
    import pvlib

    loc = scenario.location
    site = pvlib.location.Location(loc.latitude, loc.longitude, loc.timezone, loc.altitude_m)
    times = local_times(scenario)
    clear = site.get_clearsky(times, model="ineichen", linke_turbidity=3.0)
    sun = site.get_solarposition(times)
    poa = pvlib.irradiance.get_total_irradiance(
        system.tilt_deg,
        system.azimuth_deg,
        sun["apparent_zenith"],
        sun["azimuth"],
        clear["dni"],
        clear["ghi"],
        clear["dhi"],
    )["poa_global"].to_numpy(dtype=float)
    index = 1.0 - 0.75 * np.power(cover, 3.4)
    power_kw = system.kwp * np.nan_to_num(poa) / 1000.0 * scenario.pv.performance_ratio * index
    energy: np.ndarray[Any, Any] = np.clip(power_kw, 0.0, None) * scenario.slot_seconds / 3600
    return energy


def to_wh(kwh: np.ndarray[Any, Any]) -> tuple[int, ...]:
    """kWh floats -> integer Wh: round the running total half up, then difference (no drift)."""
    totals = np.floor(np.cumsum(np.asarray(kwh, dtype=float)) * 1000.0 + 0.5).astype(np.int64)
    previous = np.concatenate(([0], totals[:-1]))
    return tuple(int(v) for v in np.maximum(totals - previous, 0))


# ───────────────────────────── batteries and the island ─────────────────────────────


def dispatch(demand: Sequence[int], generation: Sequence[int], battery: Battery | None) -> Flows:
    """Self-consumption first, then the battery (charge from surplus, discharge to own demand).

    The grid (or the local market) sees only what is left. Integer Wh throughout: a charge of
    `c` Wh stores `c·efficiency // 1000` Wh.
    """
    n = len(demand)
    own, charge, discharge, soc_end, imp, exp = ([0] * n for _ in range(6))
    soc = battery.initial_wh if battery else 0
    for s in range(n):
        direct = min(demand[s], generation[s])
        surplus, deficit = generation[s] - direct, demand[s] - direct
        c = d = 0
        if battery is not None:
            eff = battery.charge_efficiency_permille
            room = (battery.capacity_wh - soc) * PERMILLE // eff
            c = min(surplus, battery.power_wh_per_slot, room)
            d = min(deficit, battery.power_wh_per_slot, soc)
            soc += c * eff // PERMILLE - d
        own[s], charge[s], discharge[s], soc_end[s] = direct, c, d, soc
        exp[s], imp[s] = surplus - c, deficit - d
    zeros = (0,) * n
    return Flows(
        demand=tuple(demand),
        generation=tuple(generation),
        self_consumed=tuple(own),
        charge=tuple(charge),
        discharge=tuple(discharge),
        soc_end=tuple(soc_end),
        import_wh=tuple(imp),
        export_wh=tuple(exp),
        unserved=zeros,
        curtailed=zeros,
    )


def curtailment_groups(homes: Sequence[Home], policy: str) -> list[list[int]]:
    """Sellers (home indices) in the order their island export is taken, the last group
    curtailed first; within a group, pro rata. `pro_rata`: one group; `largest_first`: by PV
    size ascending (the largest systems are curtailed first); `smallest_first`: descending."""
    if policy == "pro_rata":
        return [[h.index for h in homes]]

    def size(home: Home) -> float:
        return 0.0 if home.pv is None else home.pv.kwp

    sizes = sorted({size(h) for h in homes}, reverse=policy == "smallest_first")
    return [[h.index for h in homes if size(h) == k] for k in sizes]


def island(
    flows: Sequence[Flows],
    homes: Sequence[Home],
    outage: Sequence[bool],
    curtailment: str = "pro_rata",
) -> list[Flows]:
    """Applies island operation in outage slots: no grid, so local export is all the supply.

    Critical loads' deficits are served first (pro rata among them when short), then the others
    (pro rata); what cannot be served is unserved, export nobody can take is curtailed, by the
    scenario's `curtailment` policy (`curtailment_groups`).
    """
    groups = curtailment_groups(homes, curtailment)
    imports = [list(f.import_wh) for f in flows]
    exports = [list(f.export_wh) for f in flows]
    unserved = [[0] * len(outage) for _ in flows]
    curtailed = [[0] * len(outage) for _ in flows]
    for s, down in enumerate(outage):
        if not down:
            continue
        supply = sum(e[s] for e in exports)
        left = supply
        for critical in (True, False):
            members = [h.index for h in homes if h.critical == critical]
            served = share_out(left, [imports[i][s] for i in members])
            for i, got in zip(members, served, strict=True):
                unserved[i][s] = imports[i][s] - got
                imports[i][s] = got
            left -= sum(served)
        to_take = supply - left
        for group in groups:
            taken = share_out(to_take, [exports[i][s] for i in group])
            for i, t in zip(group, taken, strict=True):
                curtailed[i][s] = exports[i][s] - t
                exports[i][s] = t
            to_take -= sum(taken)
    return [
        Flows(
            demand=f.demand,
            generation=f.generation,
            self_consumed=f.self_consumed,
            charge=f.charge,
            discharge=f.discharge,
            soc_end=f.soc_end,
            import_wh=tuple(imports[i]),
            export_wh=tuple(exports[i]),
            unserved=tuple(unserved[i]),
            curtailed=tuple(curtailed[i]),
        )
        for i, f in enumerate(flows)
    ]


# ───────────────────────────── the whole community ─────────────────────────────


def build(scenario: Scenario) -> Community:
    """Draws the households and models every slot: actual flows and the day-ahead forecast."""
    homes = draw_homes(scenario)
    window = scenario.slots
    h0 = h0_profile_kwh(scenario)
    measured = None if scenario.weather.file is None else slot_weather(scenario)
    if measured is None:
        actual_cover, forecast_cover = cloud_cover(scenario)
    else:
        actual_cover = measured_cover(measured)
        # The day-ahead PV forecast misses the measured output by the cloud model's smoothed
        # error, applied as a relative error: x max(0, 1 + cloud_error * e).
        pv_forecast_factor = np.clip(
            1.0 + scenario.forecast.cloud_error * forecast_error(scenario), 0.0, None
        )
    n = scenario.total_slots_in_days
    noise = scenario.households.demand_noise
    outage_set = scenario.outage_slots()
    outage = tuple(s in outage_set for s in window)
    actual, forecast = [], []
    pv_cache: dict[PVSystem, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {}
    heat_per_kwh: np.ndarray[Any, Any] | None = None
    for home in homes:
        rng = np.random.default_rng([scenario.seed, STREAM_DEMAND, home.index])
        base = h0 * home.annual_kwh / 1000.0
        if home.heat_kwh:  # the heat pump's load, known a day ahead with the temperature
            if heat_per_kwh is None:
                heat_per_kwh = heat_pump_kwh_per_heat_kwh(scenario)
            base = base + heat_per_kwh * home.heat_kwh
        demand_actual = base * np.clip(1.0 + noise * rng.standard_normal(n), 0.05, None)
        demand_forecast = base * np.clip(
            1.0 + scenario.forecast.demand_error * rng.standard_normal(n), 0.05, None
        )
        if home.pv is not None:
            if home.pv not in pv_cache and measured is not None:
                output = pv_kwh_measured(scenario, home.pv, measured)
                pv_cache[home.pv] = (output, output * pv_forecast_factor)
            elif home.pv not in pv_cache:
                pv_cache[home.pv] = (
                    pv_kwh(scenario, home.pv, actual_cover),
                    pv_kwh(scenario, home.pv, forecast_cover),
                )
            gen_actual, gen_forecast = pv_cache[home.pv]
        else:
            gen_actual = gen_forecast = np.zeros(n)
        cut = slice(window.start, window.stop)
        actual.append(dispatch(to_wh(demand_actual)[cut], to_wh(gen_actual)[cut], home.battery))
        forecast.append(
            dispatch(to_wh(demand_forecast)[cut], to_wh(gen_forecast)[cut], home.battery)
        )
    return Community(
        scenario=scenario,
        homes=homes,
        slots=tuple(window),
        outage=outage,
        cloud_cover=tuple(round(float(c), 4) for c in actual_cover[window.start : window.stop]),
        actual=tuple(island(actual, homes, outage, scenario.curtailment)),
        forecast=tuple(forecast),
    )
