"""Scenario files (YAML): where, when, who, which tariffs, and the seed behind every random draw."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2penergy._yaml import MappingMessages, load_mapping
from p2penergy.domain.orders import MAX_FEE_PER_KWH
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
class TimeOfUse:
    """A band of the day in which the utility bills imports at `retail` and credits exports at
    `feed_in` (None: the flat feed-in), credit base units per kWh; local "HH:MM" times, `end`
    excluded, a band past midnight when `end` <= `start` ("22:00" to "06:00")."""

    start: str
    end: str
    retail: int
    feed_in: int | None = None

    def minutes(self) -> frozenset[int]:
        """The minutes of the day (0..1439) the band covers."""
        first, stop = _minute_of_day(self.start), _minute_of_day(self.end)
        if stop <= first:
            stop += 1440
        return frozenset(m % 1440 for m in range(first, stop))


def _minute_of_day(text: object) -> int:
    if not isinstance(text, str):
        raise ScenarioError(
            f'times are "HH:MM" strings in quotes (YAML reads 17:00 as a number), got {text!r}'
        )
    try:
        clock = dt.time.fromisoformat(text)
    except ValueError:
        raise ScenarioError(f'time {text!r} is not "HH:MM"') from None
    return clock.hour * 60 + clock.minute


@dataclass(frozen=True)
class Tariffs:
    """Credit base units (6 decimals) per kWh.

    `network_fee` is paid by buyers and `seller_fee` by sellers on every locally traded kWh, both
    to the fee account (the community splits the fee between them; the market snapshots each into
    the orders placed after it is set). `outage_price_cap` is the administered price of island
    mode (outage slots, DESIGN §2.5); None means the midpoint of the local spread,
    `floor + (retail - network_fee - floor) // 2` with `floor = feed_in + seller_fee` (see
    `outage_cap`). `time_of_use` bands price the grid side only (what the utility bills
    and credits, and so the grid-only comparison); `feed_in` and `retail` stay the contract's
    tariffs, the bounds of every limit price.
    """

    feed_in: int = 80_000
    retail: int = 300_000
    network_fee: int = 30_000
    seller_fee: int = 0
    outage_price_cap: int | None = None
    time_of_use: tuple[TimeOfUse, ...] = ()

    def band(self, minute_of_day: int) -> int | None:
        """The index of the time-of-use band covering `minute_of_day`, None outside them all."""
        for k, band in enumerate(self.time_of_use):
            if minute_of_day in band.minutes():
                return k
        return None

    def band_tariffs(self, band: int | None) -> tuple[int, int]:
        """(feed-in, retail) of band `band`; None: the flat tariffs."""
        if band is None:
            return (self.feed_in, self.retail)
        b = self.time_of_use[band]
        return (self.feed_in if b.feed_in is None else b.feed_in, b.retail)

    def grid(self, minute_of_day: int) -> tuple[int, int]:
        """(feed-in, retail) the utility applies at `minute_of_day`: the band covering it,
        else the flat tariffs."""
        return self.band_tariffs(self.band(minute_of_day))

    @property
    def outage_cap(self) -> int:
        """The price cap declared for outage slots (the contract's `feed_in <= cap <= retail`)."""
        if self.outage_price_cap is not None:
            return self.outage_price_cap
        return self.seller_floor + (self.retail - self.network_fee - self.seller_floor) // 2

    @property
    def seller_floor(self) -> int:
        """The least a seller asks: the feed-in tariff plus its fee (what it nets otherwise)."""
        return self.feed_in + self.seller_fee


# ───────────────────────────── per-household values ─────────────────────────────


@dataclass(frozen=True)
class Uniform:
    """Each household draws a value uniformly from [low, high] (YAML: `[low, high]`)."""

    low: float
    high: float

    @property
    def support(self) -> tuple[float, float]:
        return (self.low, self.high)


@dataclass(frozen=True)
class LogNormal:
    """A right-skewed draw (few large systems, many small ones): the log of the value is normal
    around log(`median`) with `sigma`; clipped to [min, max] when given.
    YAML: `{dist: lognormal, median: 5, sigma: 0.4, min: 1, max: 30}`."""

    median: float
    sigma: float
    min: float | None = None
    max: float | None = None

    @property
    def support(self) -> tuple[float, float]:
        return (0.0 if self.min is None else self.min, math.inf if self.max is None else self.max)


@dataclass(frozen=True)
class Values:
    """Given values, one per household in household order, repeated when there are more
    households than values (YAML: `{values: [3.2, 6.0, 9.9]}`, or one number for everyone)."""

    values: tuple[float, ...]

    @property
    def support(self) -> tuple[float, float]:
        return (min(self.values), max(self.values))


Spec = Uniform | LogNormal | Values
_SPEC = {"spec": True}  # field metadata: the field is a per-household Spec


@dataclass(frozen=True)
class HouseholdMix:
    count: int = 30
    prosumer_share: float = 0.4
    battery_share: float = 0.5
    critical_loads: int = 0
    annual_kwh: Spec = field(default=Uniform(2000.0, 5500.0), metadata=_SPEC)
    demand_noise: float = 0.15


@dataclass(frozen=True)
class PVRange:
    """PV systems of the prosumers (lists: one value per prosumer, in household order)."""

    kwp: Spec = field(default=Uniform(4.0, 10.0), metadata=_SPEC)
    tilt_deg: Spec = field(default=Uniform(20.0, 40.0), metadata=_SPEC)
    azimuth_deg: Spec = field(default=Uniform(135.0, 225.0), metadata=_SPEC)
    performance_ratio: float = 0.85


@dataclass(frozen=True)
class BatteryRange:
    """Batteries (lists: one value per battery, in household order)."""

    capacity_kwh: Spec = field(default=Uniform(5.0, 10.0), metadata=_SPEC)
    power_kw: Spec = field(default=Uniform(2.5, 5.0), metadata=_SPEC)
    charge_efficiency: float = 0.95
    initial_soc: float = 0.3


# What each per-household value may be: (where, lowest, highest, lowest excluded).
_SPEC_BOUNDS: tuple[tuple[str, float, float, bool], ...] = (
    ("households.annual_kwh", 0.0, math.inf, True),
    ("pv.kwp", 0.0, math.inf, True),
    ("pv.tilt_deg", 0.0, 90.0, False),
    ("pv.azimuth_deg", 0.0, 360.0, False),
    ("battery.capacity_kwh", 0.0, math.inf, True),
    ("battery.power_kw", 0.0, math.inf, True),
    ("heat_pumps.annual_heat_kwh", 0.0, math.inf, True),
)


WEATHER_FORMATS = ("epw", "tmy3", "csv")


@dataclass(frozen=True)
class Weather:
    """The cloud model (`cloudiness`, `variability`), or a measured weather `file` (EPW, TMY3
    or CSV; `format` defaults from an `.epw` suffix) read by `p2penergy.energy.weather`."""

    cloudiness: float = 0.25
    variability: float = 0.25
    file: str | None = None
    format: str | None = None
    # The modelled air temperature (heat pumps): the year's mean and its seasonal swing (°C),
    # coldest in mid-January north of the equator; a weather file's temperatures replace it on
    # the days the file covers.
    annual_mean_c: float = 10.0
    seasonal_swing_c: float = 9.5


HEAT_BUILDINGS = ("EFH", "MFH")  # BDEW: single-family, multi-family houses


@dataclass(frozen=True)
class HeatPumps:
    """Air-source heat pumps: a seeded `share` of the non-critical households heats with one.
    Heat demand is demandlib's BDEW heat load profile (`building`, `building_class` 1-11,
    `windy`), space heating and hot water, scaled to each one's `annual_heat_kwh` (lists: one
    value per heat-pump household, in household order); electricity is heat / COP at the hour's
    air temperature and the `flow_temp_c` of the heating water."""

    share: float = 0.0
    annual_heat_kwh: Spec = field(default=Uniform(8000.0, 16000.0), metadata=_SPEC)
    building: str = "EFH"
    building_class: int = 5
    windy: bool = False
    flow_temp_c: float = 35.0


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


# Island-mode curtailment: every seller in proportion to its export (pro_rata), or the largest
# PV systems first so small rooftops keep selling (largest_first), or the smallest first.
CURTAILMENT = ("pro_rata", "largest_first", "smallest_first")


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
    heat_pumps: HeatPumps = field(default_factory=HeatPumps)
    weather: Weather = field(default_factory=Weather)
    forecast: Forecast = field(default_factory=Forecast)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    outages: tuple[Outage, ...] = ()
    # Whose export is curtailed first in island mode when the community cannot take it all.
    curtailment: str = "pro_rata"
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
        for name in ("network_fee", "seller_fee"):
            fee = getattr(t, name)
            if isinstance(fee, bool) or not isinstance(fee, int) or not 0 <= fee <= MAX_FEE_PER_KWH:
                raise ScenarioError(
                    f"tariffs.{name} must be a whole number of base units per kWh in "
                    f"0..{MAX_FEE_PER_KWH} (got {fee!r})"
                )
        if t.seller_floor > t.retail - t.network_fee:
            raise ScenarioError(
                "tariffs must satisfy feed_in + seller_fee <= retail - network_fee, so a local "
                f"trade can pay both sides (got {t.feed_in} + {t.seller_fee} > {t.retail} - "
                f"{t.network_fee})"
            )
        if t.outage_cap < t.seller_fee:
            raise ScenarioError(
                f"tariffs.outage_price_cap {t.outage_cap} is below the seller fee "
                f"{t.seller_fee}: island offers must cover their fee"
            )
        if not t.feed_in <= t.outage_cap <= t.retail:
            raise ScenarioError(
                f"tariffs.outage_price_cap {t.outage_cap} must lie between feed_in {t.feed_in} "
                f"and retail {t.retail}"
            )
        for where, lowest, highest, open_low in _SPEC_BOUNDS:
            section, name = where.split(".")
            low, high = getattr(getattr(self, section), name).support
            if low < lowest or (open_low and low == lowest) or high > highest:
                bounds = f"{'above' if open_low else 'at least'} {lowest:g}"
                bounds += "" if highest == math.inf else f" and at most {highest:g}"
                got = f"got {low:g}..{high:g}"
                raise ScenarioError(f"{where}: every value must be {bounds} ({got})")
        hp = self.heat_pumps
        if not 0.0 <= hp.share <= 1.0:
            raise ScenarioError(f"heat_pumps.share must lie in 0..1 (got {hp.share:g})")
        if hp.building not in HEAT_BUILDINGS:
            raise ScenarioError(
                f"heat_pumps.building {hp.building!r} is not one of {', '.join(HEAT_BUILDINGS)}"
            )
        if isinstance(hp.building_class, bool) or hp.building_class not in range(1, 12):
            raise ScenarioError(
                f"heat_pumps.building_class must be 1..11 (got {hp.building_class!r})"
            )
        if not isinstance(hp.windy, bool):
            raise ScenarioError(f"heat_pumps.windy is true or false (got {hp.windy!r})")
        if not 25.0 <= hp.flow_temp_c <= 65.0:
            raise ScenarioError(
                f"heat_pumps.flow_temp_c must lie in 25..65 (got {hp.flow_temp_c:g})"
            )
        w = self.weather
        if w.file is None and w.format is not None:
            raise ScenarioError("weather.format needs weather.file")
        if w.file is not None and w.format not in WEATHER_FORMATS:
            raise ScenarioError(
                f"weather.format {w.format!r} is not one of {', '.join(WEATHER_FORMATS)}"
            )
        if self.curtailment not in CURTAILMENT:
            raise ScenarioError(
                f"curtailment {self.curtailment!r} is not one of {', '.join(CURTAILMENT)}"
            )
        covered: set[int] = set()
        for band in t.time_of_use:
            minutes = band.minutes()
            feed_in = t.feed_in if band.feed_in is None else band.feed_in
            if not 0 <= feed_in <= band.retail:
                raise ScenarioError(
                    f"tariffs.time_of_use {band.start}-{band.end}: needs 0 <= feed_in <= retail "
                    f"(got {feed_in}, {band.retail})"
                )
            if minutes & covered:
                raise ScenarioError(
                    f"tariffs.time_of_use {band.start}-{band.end} overlaps an earlier band"
                )
            covered |= minutes
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

    def grid_tariffs(self, slot: int) -> tuple[int, int]:
        """(feed-in, retail) the utility applies in `slot` (from local midnight of `date`):
        the time-of-use band its start falls in, else the flat tariffs."""
        return self.tariffs.band_tariffs(self.tariff_band(slot))

    def tariff_band(self, slot: int) -> int | None:
        """The time-of-use band `slot`'s start falls in (its index), None for the flat tariffs."""
        return self.tariffs.band((slot % self.slots_per_day) * self.slot_seconds // 60)

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
    return from_dict(
        load_mapping(path, ScenarioError, _MESSAGES), source=str(path), base=path.parent
    )


_MESSAGES = MappingMessages(
    unreadable="cannot read the scenario {path}: {reason}",
    not_utf8="{path}: not UTF-8 text ({reason})",
    not_yaml="{path}: not valid YAML ({reason})",
    not_mapping="{path}: a scenario is a YAML mapping",
)


def from_dict(
    data: dict[str, Any], *, source: str = "scenario", base: Path | None = None
) -> Scenario:
    """Builds a scenario from parsed YAML; unknown keys are errors (typos must not pass).
    A relative `weather.file` is relative to `base` (the scenario file's folder), else to the
    working directory."""
    unknown = sorted(str(k) for k in set(data) - _TOP_LEVEL)
    if unknown:
        raise ScenarioError(f"{source}: unknown keys {unknown}; known: {sorted(_TOP_LEVEL)}")
    try:
        return Scenario(
            name=str(data["name"]),
            seed=int(data.get("seed", 0)),
            location=_build(Location, data["location"], "location"),
            date=_date(data["date"]),
            days=int(data.get("days", 1)),
            slot_seconds=int(data.get("slot_seconds", 900)),
            tariffs=_tariffs(data.get("tariffs", {})),
            emission_factor_g_per_kwh=int(data.get("emission_factor_g_per_kwh", 380)),
            households=_build(HouseholdMix, data.get("households", {}), "households"),
            pv=_build(PVRange, data.get("pv", {}), "pv"),
            battery=_build(BatteryRange, data.get("battery", {}), "battery"),
            heat_pumps=_build(HeatPumps, data.get("heat_pumps", {}), "heat_pumps"),
            weather=_weather(data.get("weather", {}), base),
            forecast=_build(Forecast, data.get("forecast", {}), "forecast"),
            strategy=_build(StrategyConfig, data.get("strategy", {}), "strategy"),
            outages=tuple(_build(Outage, o, "outages[]") for o in data.get("outages") or ()),
            curtailment=str(data.get("curtailment", "pro_rata")),
            first_slot=int(data.get("first_slot", 0)),
            slot_count=None if data.get("slot_count") is None else int(data["slot_count"]),
        )
    except KeyError as exc:
        raise ScenarioError(f"{source}: missing key {exc}") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(f"{source}: {exc}") from None


def _weather(values: Any, base: Path | None) -> Any:
    if not isinstance(values, dict):
        raise ScenarioError(f"weather must be a mapping, got {values!r}")
    if "file" not in values:
        return _build(Weather, values, "weather")
    cloud = sorted({"cloudiness", "variability"} & set(values))  # the temperature keys stay
    if cloud:
        raise ScenarioError(
            f"weather: {cloud} belong to the cloud model; a weather file replaces it"
        )
    file = values["file"]
    if not isinstance(file, str) or not file:
        raise ScenarioError(f"weather.file is a path, got {file!r}")
    path = Path(file)
    if not path.is_absolute() and base is not None:
        path = base / path
    fmt = values.get("format")
    if fmt is None and path.suffix.lower() == ".epw":
        fmt = "epw"
    if fmt is None:
        raise ScenarioError(f"weather.format: say which of {', '.join(WEATHER_FORMATS)}")
    return _build(Weather, {**values, "file": str(path), "format": fmt}, "weather")


def _tariffs(values: Any) -> Tariffs:
    if not isinstance(values, dict):
        raise ScenarioError(f"tariffs must be a mapping, got {values!r}")
    bands = values.get("time_of_use") or []
    if not isinstance(bands, list):
        raise ScenarioError("tariffs.time_of_use is a list of {start, end, retail, feed_in}")
    flat: Tariffs = _build(
        Tariffs, {k: v for k, v in values.items() if k != "time_of_use"}, "tariffs"
    )
    return dataclasses.replace(
        flat,
        time_of_use=tuple(_build(TimeOfUse, b, "tariffs.time_of_use[]") for b in bands),
    )


_TOP_LEVEL = frozenset(
    {"name", "seed", "location", "date", "days", "slot_seconds", "tariffs"}
    | {"emission_factor_g_per_kwh", "households", "pv", "battery", "weather", "forecast"}
    | {"strategy", "outages", "curtailment", "first_slot", "slot_count", "heat_pumps"}
)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _build(cls: Any, values: Any, section: str) -> Any:
    if not isinstance(values, dict):
        raise ScenarioError(f"{section} must be a mapping, got {values!r}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ScenarioError(f"{section}: unknown keys {sorted(unknown)}")
    converted: dict[str, Any] = {}
    for key, value in values.items():
        if known[key].metadata.get("spec"):
            value = parse_spec(value, f"{section}.{key}")
        elif isinstance(value, list):
            value = tuple(float(v) for v in value)
        converted[key] = value
    return cls(**converted)


_DISTRIBUTIONS: dict[str, tuple[type[Uniform] | type[LogNormal], set[str], set[str]]] = {
    # name: (class, required keys, optional keys)
    "uniform": (Uniform, {"low", "high"}, set()),
    "lognormal": (LogNormal, {"median", "sigma"}, {"min", "max"}),
}


def parse_spec(value: Any, where: str) -> Spec:
    """A per-household value from YAML: `[low, high]` (uniform, as before), one number (every
    household alike), `{values: [...]}` (one per household, repeated), or
    `{dist: uniform|lognormal, ...}`. Unknown keys are refused with their names."""
    if isinstance(value, bool):
        raise ScenarioError(f"{where}: expected a number, a [low, high] range or a mapping")
    if isinstance(value, int | float):
        return Values((float(value),))
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ScenarioError(
                f"{where}: a range is [low, high]; for one value per household write "
                "{values: [...]}"
            )
        low, high = (_float(v, where) for v in value)
        if low > high:
            raise ScenarioError(f"{where}: range [{low:g}, {high:g}] has low above high")
        return Uniform(low, high)
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: expected a number, a [low, high] range or a mapping")
    if "values" in value:
        extra = sorted(set(value) - {"values"})
        if extra:
            raise ScenarioError(f"{where}: unknown keys {extra} beside values")
        listed = value["values"]
        if not isinstance(listed, list) or not listed:
            raise ScenarioError(f"{where}.values: a non-empty list of numbers")
        return Values(tuple(_float(v, f"{where}.values") for v in listed))
    name = value.get("dist")
    if not isinstance(name, str) or name not in _DISTRIBUTIONS:
        raise ScenarioError(
            f"{where}: dist must be one of {sorted(_DISTRIBUTIONS)} (or give values: [...]), "
            f"got {name!r}"
        )
    cls, required, optional = _DISTRIBUTIONS[name]
    params = {k: v for k, v in value.items() if k != "dist"}
    unknown = sorted(set(params) - required - optional)
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {unknown} for dist {name}")
    missing = sorted(required - set(params))
    if missing:
        raise ScenarioError(f"{where}: dist {name} needs {missing}")
    numbers = {k: _float(v, f"{where}.{k}") for k, v in params.items()}
    spec = cls(**numbers)
    if isinstance(spec, LogNormal):
        if spec.median <= 0 or spec.sigma < 0:
            raise ScenarioError(f"{where}: lognormal needs median > 0 and sigma >= 0")
        if spec.min is not None and spec.max is not None and spec.min > spec.max:
            raise ScenarioError(f"{where}: min {spec.min:g} is above max {spec.max:g}")
    elif spec.low > spec.high:
        raise ScenarioError(f"{where}: low {spec.low:g} is above high {spec.high:g}")
    return spec


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"{where}: {value!r} is not a finite number")
    return float(value)
