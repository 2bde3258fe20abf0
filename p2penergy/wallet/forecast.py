"""A household's day-ahead forecast, and the orders it asks for.

The household describes itself once in a profile (YAML, docs/wallet.md "Orders from your
forecast"): where it is, how much electricity it uses in a year, its PV system and battery, the
cloud cover it expects, and optionally the limit prices it trades at. The forecast is the
simulation's physics for one household without the random parts: demand is the BDEW H0
standard load profile scaled to the annual consumption, PV is pvlib's clear-sky irradiance on
the module plane derated for the expected cloud cover, and the battery covers the home's own
deficit from its own surplus first (`p2penergy.energy.model.dispatch`). What is left in a slot is
what the household offers (surplus) or bids for (deficit). Floats stay inside the physics;
each series becomes integer Wh once (`to_wh`).

The forecast covers 24 hours from local midnight in the profile's time zone, in slots of the
market's length; slot k starts at local midnight + k slot lengths.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from p2penergy._yaml import MappingMessages, load_mapping
from p2penergy.domain.orders import OrderInput
from p2penergy.domain.slots import SlotGrid
from p2penergy.energy.scenario import Location
from p2penergy.market import Side
from p2penergy.units import parse_kwh
from p2penergy.wallet.errors import WalletError
from p2penergy.wallet.timeslots import slot_starting_at
from p2penergy.wallet.trading import price_per_kwh

PERMILLE = 1000
DEFAULT_MIN_KWH = "0.01"  # smaller orders are not worth a slot of the book


class ProfileError(WalletError):
    """The household profile is missing, malformed or physically impossible."""


@dataclass(frozen=True)
class PV:
    kwp: float
    tilt_deg: float
    azimuth_deg: float
    performance_ratio: float = 0.85


@dataclass(frozen=True)
class BatterySpec:
    capacity_kwh: float
    power_kw: float
    charge_efficiency: float = 0.95
    initial_soc: float = 0.3


@dataclass(frozen=True)
class HouseholdProfile:
    """What a household tells the wallet about itself (prices in credit base units per kWh)."""

    location: Location
    annual_kwh: float
    pv: PV | None = None
    battery: BatterySpec | None = None
    cloud_cover: float = 0.25
    bid_price: int | None = None
    offer_price: int | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.location.timezone)


@dataclass(frozen=True)
class SlotForecast:
    """One slot of the forecast, in integer Wh (`start`: unix seconds)."""

    start: int
    demand_wh: int
    generation_wh: int
    self_consumed_wh: int
    battery_wh: int  # charged (+) or discharged (-) in the slot
    import_wh: int  # the deficit left: what to bid for
    export_wh: int  # the surplus left: what to offer


# ───────────────────────────── the profile ─────────────────────────────

_KEYS = {"location", "annual_kwh", "pv", "battery", "cloud_cover", "prices"}


_MESSAGES = MappingMessages(
    unreadable="cannot read the household profile {path}: {reason}",
    not_utf8="{path} is not UTF-8 text ({reason})",
    not_yaml="{path} is not valid YAML: {reason}",
    not_mapping="{path}: a household profile is a YAML mapping (see docs/wallet.md)",
)


def load_profile(path: Path) -> HouseholdProfile:
    """Reads and checks a household profile; every problem is a `ProfileError` naming the key."""
    raw = load_mapping(path, ProfileError, _MESSAGES)
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ProfileError(f"{path}: unknown key {unknown[0]!r}; known: {', '.join(sorted(_KEYS))}")
    where = _section(raw, "location", path, required=True)
    zone_name = str(where.get("timezone", "UTC"))
    try:
        ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProfileError(
            f"{path}: location.timezone {zone_name!r} is not an IANA time zone (e.g. Europe/Berlin)"
        ) from None
    location = Location(
        latitude=_number(where, "latitude", path, "location", -90, 90),
        longitude=_number(where, "longitude", path, "location", -180, 180),
        altitude_m=_number(where, "altitude_m", path, "location", -500, 9000, default=0.0),
        timezone=zone_name,
    )
    pv = battery = None
    if (section := _section(raw, "pv", path)) is not None:
        pv = PV(
            kwp=_number(section, "kwp", path, "pv", 0.1, 1000),
            tilt_deg=_number(section, "tilt_deg", path, "pv", 0, 90),
            azimuth_deg=_number(section, "azimuth_deg", path, "pv", 0, 360),
            performance_ratio=_number(
                section, "performance_ratio", path, "pv", 0.1, 1, default=0.85
            ),
        )
    if (section := _section(raw, "battery", path)) is not None:
        battery = BatterySpec(
            capacity_kwh=_number(section, "capacity_kwh", path, "battery", 0.1, 10_000),
            power_kw=_number(section, "power_kw", path, "battery", 0.1, 10_000),
            charge_efficiency=_number(
                section, "charge_efficiency", path, "battery", 0.5, 1, default=0.95
            ),
            initial_soc=_number(section, "initial_soc", path, "battery", 0, 1, default=0.3),
        )
    prices = _section(raw, "prices", path) or {}
    unknown = sorted(set(prices) - {"bid", "offer"})
    if unknown:
        raise ProfileError(f"{path}: unknown key prices.{unknown[0]}; known: bid, offer")
    return HouseholdProfile(
        location=location,
        annual_kwh=_number(raw, "annual_kwh", path, None, 1, 10_000_000),
        pv=pv,
        battery=battery,
        cloud_cover=_number(raw, "cloud_cover", path, None, 0, 1, default=0.25),
        bid_price=_price(prices, "bid", path),
        offer_price=_price(prices, "offer", path),
    )


def _section(raw: dict[str, Any], key: str, path: Path, required: bool = False) -> Any:
    value = raw.get(key)
    if value is None:
        if required:
            raise ProfileError(f"{path}: {key} is missing (see docs/wallet.md)")
        return None
    if not isinstance(value, dict):
        raise ProfileError(f"{path}: {key} must be a mapping")
    return value


def _number(
    raw: dict[str, Any],
    key: str,
    path: Path,
    section: str | None,
    low: float,
    high: float,
    default: float | None = None,
) -> float:
    name = f"{section}.{key}" if section else key
    value = raw.get(key, default)
    if value is None:
        raise ProfileError(f"{path}: {name} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"{path}: {name} must be a number, not {value!r}")
    if not low <= value <= high:
        raise ProfileError(f"{path}: {name} = {value} is outside {low:g} .. {high:g}")
    return float(value)


def _price(prices: dict[str, Any], key: str, path: Path) -> int | None:
    if prices.get(key) is None:
        return None
    try:
        return price_per_kwh(str(prices[key]))
    except WalletError as exc:
        raise ProfileError(f"{path}: prices.{key}: {exc}") from None


# ───────────────────────────── the forecast ─────────────────────────────


def forecast_day(
    profile: HouseholdProfile,
    date: dt.date,
    slot_seconds: int,
    cloud_cover: float | None = None,
) -> list[SlotForecast]:
    """The household's slots over 24 hours from local midnight of `date` (integer Wh)."""
    import numpy as np

    from p2penergy.energy import model
    from p2penergy.energy import scenario as sc

    cover = profile.cloud_cover if cloud_cover is None else cloud_cover
    if not 0 <= cover <= 1:
        raise ProfileError(f"cloud cover {cover} is outside 0 .. 1")
    try:
        # a one-household scenario, only to hand the physics its place, day and slot length
        scenario = sc.Scenario(
            name="household",
            seed=0,
            location=profile.location,
            date=date,
            slot_seconds=slot_seconds,
            pv=sc.PVRange(performance_ratio=profile.pv.performance_ratio if profile.pv else 0.85),
        )
    except sc.ScenarioError as exc:
        raise ProfileError(f"cannot forecast with this market: {exc}") from None
    n = scenario.slots_per_day
    demand = model.to_wh(model.h0_profile_kwh(scenario) * profile.annual_kwh / 1000.0)
    generation: tuple[int, ...] = (0,) * n
    if profile.pv is not None:
        system = model.PVSystem(profile.pv.kwp, profile.pv.tilt_deg, profile.pv.azimuth_deg)
        generation = model.to_wh(model.pv_kwh(scenario, system, np.full(n, cover)))
    battery = None
    if profile.battery is not None:
        b = profile.battery
        capacity_wh = round(b.capacity_kwh * 1000)
        battery = model.Battery(
            capacity_wh=capacity_wh,
            power_wh_per_slot=round(b.power_kw * 1000) * slot_seconds // 3600,
            charge_efficiency_permille=round(b.charge_efficiency * PERMILLE),
            initial_wh=round(capacity_wh * b.initial_soc),
        )
    flows = model.dispatch(demand, generation, battery)
    midnight = int(dt.datetime.combine(date, dt.time(), tzinfo=profile.zone).timestamp())
    return [
        SlotForecast(
            start=midnight + k * slot_seconds,
            demand_wh=flows.demand[k],
            generation_wh=flows.generation[k],
            self_consumed_wh=flows.self_consumed[k],
            battery_wh=flows.charge[k] - flows.discharge[k],
            import_wh=flows.import_wh[k],
            export_wh=flows.export_wh[k],
        )
        for k in range(n)
    ]


@dataclass(frozen=True)
class ForecastOrders:
    """The orders a forecast asks for, and the slots it leaves out (and why)."""

    orders: list[OrderInput]
    gate_closed: int  # slots with energy whose gate had closed
    too_small: int  # slots below the minimum order size
    min_wh: int


def forecast_orders(
    forecast: list[SlotForecast],
    side: Side,
    limit_price: int,
    clock: SlotGrid,
    now: int,
    min_wh: int = 10,
) -> ForecastOrders:
    """One order per slot with a forecast deficit (bids) or surplus (offers) of at least
    `min_wh`, for the slots whose gate is still open at chain time `now`."""
    orders: list[OrderInput] = []
    closed = small = 0
    for f in forecast:
        wh = f.import_wh if side == Side.BID else f.export_wh
        if wh == 0:
            continue
        if f.start < clock.epoch:  # before the market opened: long closed
            closed += 1
            continue
        slot = slot_starting_at(clock, f.start, _shown(f.start))
        if not clock.is_open(slot, now):
            closed += 1
        elif wh < min_wh:
            small += 1
        else:
            orders.append(OrderInput(slot, side, wh, limit_price))
    return ForecastOrders(orders, closed, small, min_wh)


def plan_day(
    path: Path,
    side: Side,
    clock: SlotGrid,
    now: int,
    *,
    date: str | None = None,
    price: str | None = None,
    cloud_cover: float | None = None,
    min_kwh: str | None = None,
) -> tuple[dt.date, ForecastOrders]:
    """What `bid/offer --forecast PATH` asks for, from what the household typed: the day
    (`date`, else tomorrow in the profile's zone by chain time `now`), the limit (`price`, else
    the profile's), and the orders of that day's forecast that are still open at `now`."""
    profile = load_profile(path)
    day = parse_date(date) if date else tomorrow(profile, dt.datetime.fromtimestamp(now, dt.UTC))
    if price is not None:
        limit = price_per_kwh(price)
    else:
        limit_or_none = profile.bid_price if side == Side.BID else profile.offer_price
        if limit_or_none is None:
            key = "bid" if side == Side.BID else "offer"
            raise WalletError(f"give --price, or prices: {key}: in the household profile {path}")
        limit = limit_or_none
    slots = forecast_day(profile, day, clock.slot_length, cloud_cover)
    min_wh = min_order_wh(min_kwh or DEFAULT_MIN_KWH)
    return day, forecast_orders(slots, side, limit, clock, now + 1, min_wh)


def _shown(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def parse_date(text: str) -> dt.date:
    """`--date` as typed (YYYY-MM-DD)."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise WalletError(f"cannot read the date {text!r}: write it as YYYY-MM-DD") from None


def tomorrow(profile: HouseholdProfile, now: dt.datetime | None = None) -> dt.date:
    """The day after today in the household's time zone: the day-ahead market's day."""
    today = (now or dt.datetime.now(dt.UTC)).astimezone(profile.zone).date()
    return today + dt.timedelta(days=1)


def min_order_wh(text: str) -> int:
    """`--min-kwh` as Wh (exact, like every kWh the CLI reads; 0 keeps every slot)."""
    try:
        wh = parse_kwh(text)
    except ValueError as exc:
        raise WalletError(f"{exc}: write the minimum in kWh, e.g. 0.05") from None
    if wh < 0:
        raise WalletError(f"minimum order {text} kWh is negative")
    return max(wh, 1)


__all__ = [
    "ForecastOrders",
    "HouseholdProfile",
    "ProfileError",
    "SlotForecast",
    "forecast_day",
    "forecast_orders",
    "load_profile",
    "plan_day",
]
