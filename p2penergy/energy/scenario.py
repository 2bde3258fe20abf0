"""Scenario files (YAML): where, when, who, which tariffs, and the seed behind every random draw."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2penergy._yaml import MappingMessages, load_mapping
from p2penergy.domain.slots import ALLOWED_SLOT_SECONDS
from p2penergy.exceptions import P2PEnergyError

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
DEFAULT_SCENARIO = "suburban-summer"


class ScenarioError(P2PEnergyError, ValueError):
    """A scenario file is missing, malformed or asks for something the platform cannot do."""


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    altitude_m: float = 0.0
    timezone: str = "UTC"


@dataclass(frozen=True)
class Tariffs:
    """Credit base units (6 decimals) per kWh.

    `outage_price_cap` is the administered price of island mode (outage slots, DESIGN §2.5);
    None means the midpoint of the local spread, `feed_in + (retail - network_fee - feed_in) // 2`
    (see `outage_cap`).
    """

    feed_in: int = 80_000
    retail: int = 300_000
    network_fee: int = 30_000
    outage_price_cap: int | None = None

    @property
    def outage_cap(self) -> int:
        """The price cap declared for outage slots (the contract's `feed_in <= cap <= retail`)."""
        if self.outage_price_cap is not None:
            return self.outage_price_cap
        return self.feed_in + (self.retail - self.network_fee - self.feed_in) // 2


@dataclass(frozen=True)
class HouseholdMix:
    count: int = 30
    prosumer_share: float = 0.4
    battery_share: float = 0.5
    critical_loads: int = 0
    annual_kwh: tuple[float, float] = (2000.0, 5500.0)
    demand_noise: float = 0.15


@dataclass(frozen=True)
class PVRange:
    kwp: tuple[float, float] = (4.0, 10.0)
    tilt_deg: tuple[float, float] = (20.0, 40.0)
    azimuth_deg: tuple[float, float] = (135.0, 225.0)
    performance_ratio: float = 0.85


@dataclass(frozen=True)
class BatteryRange:
    capacity_kwh: tuple[float, float] = (5.0, 10.0)
    power_kw: tuple[float, float] = (2.5, 5.0)
    charge_efficiency: float = 0.95
    initial_soc: float = 0.3


@dataclass(frozen=True)
class Weather:
    cloudiness: float = 0.25
    variability: float = 0.25


@dataclass(frozen=True)
class Forecast:
    demand_error: float = 0.12
    cloud_error: float = 0.15


@dataclass(frozen=True)
class StrategyConfig:
    """Limit prices as fractions of the spread, scaled by each household's seeded eagerness."""

    name: str = "linear"
    bid_range: tuple[float, float] = (0.35, 1.0)
    offer_range: tuple[float, float] = (0.0, 0.65)


@dataclass(frozen=True)
class Outage:
    start: str  # "HH:MM" local time on each simulated day
    hours: float


@dataclass(frozen=True)
class Scenario:
    """Everything one simulation run depends on; the same scenario and seed give the same run."""

    name: str
    seed: int
    location: Location
    date: dt.date
    days: int = 1
    slot_seconds: int = 900
    tariffs: Tariffs = field(default_factory=Tariffs)
    emission_factor_g_per_kwh: int = 380
    households: HouseholdMix = field(default_factory=HouseholdMix)
    pv: PVRange = field(default_factory=PVRange)
    battery: BatteryRange = field(default_factory=BatteryRange)
    weather: Weather = field(default_factory=Weather)
    forecast: Forecast = field(default_factory=Forecast)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    outages: tuple[Outage, ...] = ()
    # A window of the run (tests): first slot of the day and how many slots; None = whole days.
    first_slot: int = 0
    slot_count: int | None = None

    def __post_init__(self) -> None:
        if self.slot_seconds not in ALLOWED_SLOT_SECONDS:
            raise ScenarioError(
                f"slot length {self.slot_seconds} s is not one of {ALLOWED_SLOT_SECONDS}"
            )
        if self.days < 1:
            raise ScenarioError("days must be >= 1")
        if self.households.count < 1:
            raise ScenarioError("a community needs at least one household")
        if self.households.critical_loads > self.households.count:
            raise ScenarioError("more critical loads than households")
        t = self.tariffs
        if not 0 <= t.feed_in <= t.retail - t.network_fee:
            raise ScenarioError(
                "tariffs must satisfy 0 <= feed_in <= retail - network_fee "
                f"(got {t.feed_in}, {t.retail}, {t.network_fee})"
            )
        if not t.feed_in <= t.outage_cap <= t.retail:
            raise ScenarioError(
                f"tariffs.outage_price_cap {t.outage_cap} must lie between feed_in {t.feed_in} "
                f"and retail {t.retail}"
            )
        if self.first_slot < 0 or (self.slot_count is not None and self.slot_count < 1):
            raise ScenarioError("first_slot must be >= 0 and slot_count >= 1")
        if self.first_slot + (self.slot_count or 0) > self.total_slots_in_days:
            raise ScenarioError("the slot window runs past the simulated days")

    @property
    def slots_per_day(self) -> int:
        return 86_400 // self.slot_seconds

    @property
    def total_slots_in_days(self) -> int:
        return self.days * self.slots_per_day

    @property
    def slots(self) -> range:
        """Simulated slot indices, counted from local midnight of `date`."""
        end = (
            self.total_slots_in_days
            if self.slot_count is None
            else self.first_slot + self.slot_count
        )
        return range(self.first_slot, end)

    def outage_slots(self) -> frozenset[int]:
        """Slots (from local midnight of `date`) that fall inside a declared outage, every day."""
        result: set[int] = set()
        for outage in self.outages:
            hours, minutes = (int(part) for part in outage.start.split(":"))
            first = (hours * 3600 + minutes * 60) // self.slot_seconds
            count = round(outage.hours * 3600 / self.slot_seconds)
            for day in range(self.days):
                base = day * self.slots_per_day
                result.update(base + first + k for k in range(count))
        return frozenset(s for s in result if s < self.total_slots_in_days)

    def with_overrides(self, **overrides: Any) -> Scenario:
        """A copy with top-level fields or `households`-level `count` replaced (None = keep)."""
        values = {k: v for k, v in overrides.items() if v is not None}
        if "households" in values and isinstance(values["households"], int):
            values["households"] = dataclasses.replace(self.households, count=values["households"])
        return dataclasses.replace(self, **values)


def resolve(name_or_path: str | Path | None) -> Path:
    """A scenario file: an existing path, or a name shipped in `scenarios/` (`suburban-summer`)."""
    candidate = Path(name_or_path or DEFAULT_SCENARIO)
    if candidate.is_file():
        return candidate
    shipped = SCENARIO_DIR / f"{candidate.name.removesuffix('.yaml')}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
    raise ScenarioError(f"no scenario {str(name_or_path)!r}: give a YAML path or one of: {names}")


def load(name_or_path: str | Path | None = None) -> Scenario:
    """Reads and checks a scenario file."""
    path = resolve(name_or_path)
    return from_dict(load_mapping(path, ScenarioError, _MESSAGES), source=str(path))


_MESSAGES = MappingMessages(
    unreadable="cannot read the scenario {path}: {reason}",
    not_utf8="{path}: not UTF-8 text ({reason})",
    not_yaml="{path}: not valid YAML ({reason})",
    not_mapping="{path}: a scenario is a YAML mapping",
)


def from_dict(data: dict[str, Any], *, source: str = "scenario") -> Scenario:
    """Builds a scenario from parsed YAML; unknown keys are errors (typos must not pass)."""
    try:
        return Scenario(
            name=str(data["name"]),
            seed=int(data.get("seed", 0)),
            location=_build(Location, data["location"]),
            date=_date(data["date"]),
            days=int(data.get("days", 1)),
            slot_seconds=int(data.get("slot_seconds", 900)),
            tariffs=_build(Tariffs, data.get("tariffs", {})),
            emission_factor_g_per_kwh=int(data.get("emission_factor_g_per_kwh", 380)),
            households=_build(HouseholdMix, data.get("households", {})),
            pv=_build(PVRange, data.get("pv", {})),
            battery=_build(BatteryRange, data.get("battery", {})),
            weather=_build(Weather, data.get("weather", {})),
            forecast=_build(Forecast, data.get("forecast", {})),
            strategy=_build(StrategyConfig, data.get("strategy", {})),
            outages=tuple(_build(Outage, o) for o in data.get("outages") or ()),
            first_slot=int(data.get("first_slot", 0)),
            slot_count=None if data.get("slot_count") is None else int(data["slot_count"]),
        )
    except KeyError as exc:
        raise ScenarioError(f"{source}: missing key {exc}") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(f"{source}: {exc}") from None


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _build(cls: Any, values: Any) -> Any:
    if not isinstance(values, dict):
        raise ScenarioError(f"{cls.__name__.lower()} must be a mapping, got {values!r}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ScenarioError(f"{cls.__name__.lower()}: unknown keys {sorted(unknown)}")
    converted: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, list):
            value = tuple(float(v) for v in value)
        converted[key] = value
    return cls(**converted)
