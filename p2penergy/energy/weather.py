"""Measured weather: irradiance and air temperature from an EPW, TMY3 or CSV file, per slot.

A weather file replaces the cloud model (`model.cloud_cover`). EPW and TMY3 files are read with
pvlib's own readers (`pvlib.iotools.read_epw`, `read_tmy3`); a CSV (`time`, `ghi`, optional
`dni` + `dhi`, `temp_air`) is read with pandas, and GHI alone is split into DNI and DHI with
pvlib's Erbs model. Every row is an interval mean (EPW: the hour ending at its `hour`, which pvlib
labels with the interval's start; TMY3: the hour ending at its time; CSV: the interval starting
at `time`). A typical year's rows are placed by month, day and time of day in the file's own UTC
offset, so any year's simulated days map onto the same calendar days; each slot takes the
time-weighted mean of the file intervals it overlaps (exact energy, any slot or file step), and a
slot the file does not cover is refused. February 29 takes February 28's rows.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from p2penergy.energy.scenario import WEATHER_FORMATS, Scenario, ScenarioError

DAY = 86_400
YEAR = 365 * DAY  # a typical year has no February 29
_MONTH_START = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
# Plausible ranges; EPW writes 9999 (irradiance) and 99.9 (temperature) for missing values.
_RANGES = {"ghi": (0.0, 1500.0), "dni": (0.0, 1500.0), "dhi": (0.0, 1000.0)}
_TEMP_RANGE = (-90.0, 65.0)
MAX_SITE_DISTANCE_DEG = 1.0


@dataclass(frozen=True)
class SlotWeather:
    """Per slot of the simulated days (index = slot from local midnight of `date`): mean
    irradiance in W/m² (global and diffuse horizontal, direct normal) and air temperature in °C."""

    ghi: tuple[float, ...]
    dni: tuple[float, ...]
    dhi: tuple[float, ...]
    temp_air: tuple[float, ...]
    # Ineichen clear-sky GHI at the file's interval midpoints, averaged like `ghi` (the report's
    # cloud line compares the two at the file's own resolution).
    clear_ghi: tuple[float, ...]


def _fail(path: Path, why: str) -> ScenarioError:
    return ScenarioError(f"weather file {path}: {why}")


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except OSError as exc:
        raise _fail(path, f"cannot read it ({exc.strerror or type(exc).__name__})") from None
    if b"\x00" in raw[:65536]:
        raise _fail(path, "a binary file, not text")
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark from spreadsheet exports is dropped
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # EPW headers from older tools carry Latin-1 city names


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def _read(path: Path, fmt: str) -> tuple[Any, tuple[float, float] | None]:
    """(frame with columns ghi, temp_air and dni/dhi when given, indexed by interval start in
    the file's UTC offset; the file's site (latitude, longitude) when it names one)."""
    import pandas as pd
    import pvlib

    text = _text(path)
    site: tuple[float, float] | None = None
    try:
        if fmt == "epw":
            data, meta = pvlib.iotools.read_epw(io.StringIO(text))
            starts = data.index
            site = (float(meta["latitude"]), float(meta["longitude"]))
        elif fmt == "tmy3":
            data, meta = pvlib.iotools.read_tmy3(io.StringIO(text), map_variables=True)
            site = (float(meta["latitude"]), float(meta["longitude"]))
            starts = None  # the index is the interval's end: shifted below, once the step is known
        else:
            data = pd.read_csv(io.StringIO(text))
            if "time" not in data.columns:
                raise _fail(path, f"a CSV needs a time column; it has {sorted(data.columns)}")
            text_times = data["time"].astype(str).str.strip()
            if not text_times.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$").all():
                raise _fail(path, 'times need a UTC offset ("2026-06-14T10:00+02:00")')
            times = pd.to_datetime(text_times, format="ISO8601", utc=True)
            own = pd.Timestamp(text_times.iloc[0]).tzinfo  # the file's offset: its first row's
            starts = pd.DatetimeIndex(times).tz_convert(own)
            data.index = starts
    except ScenarioError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, OverflowError) as exc:
        raise _fail(path, f"not a readable {fmt.upper()} file ({_first_line(exc)})") from None
    except pd.errors.ParserError as exc:  # pragma: no cover - a ValueError subclass today
        raise _fail(path, f"not a readable {fmt.upper()} file ({_first_line(exc)})") from None
    needed = ["ghi", "temp_air"]
    missing = [c for c in needed if c not in data.columns]
    has_split = {"dni", "dhi"} <= set(data.columns)
    if fmt == "csv" and ("dni" in data.columns) != ("dhi" in data.columns):
        missing.append("dhi" if "dni" in data.columns else "dni")
    if missing:
        raise _fail(path, f"missing columns {missing}")
    if len(data) < 2:
        raise _fail(path, "needs at least two rows")
    columns = ["ghi", "temp_air"] + (["dni", "dhi"] if has_split else [])
    frame = data[columns].apply(pd.to_numeric, errors="coerce")
    step = _step(path, data.index)
    if starts is None:
        starts = data.index - pd.Timedelta(seconds=step)
    frame.index = starts
    for column in columns:
        low, high = _RANGES.get(column, _TEMP_RANGE)
        values = frame[column].to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (values < low) | (values > high)
        if bad.any():
            at = frame.index[int(np.argmax(bad))]
            raise _fail(
                path,
                f"column {column} is missing or out of range ({low:g}..{high:g}) at "
                f"{at:%Y-%m-%d %H:%M}",
            )
    return frame, site


def _step(path: Path, index: Any) -> int:
    diffs = np.diff(index.asi8) // 1_000_000_000
    steps = set(int(d) for d in diffs)
    if len(steps) != 1 or min(steps) <= 0:
        raise _fail(path, "rows must be in time order, evenly spaced, without gaps")
    return steps.pop()


def _positions(index: Any) -> np.ndarray[Any, Any]:
    """Seconds into a typical (non-leap) year, from month, day and time of day; February 29
    counts as February 28."""
    month = np.asarray(index.month)
    day = np.minimum(np.asarray(index.day), np.where(month == 2, 28, 31))
    start = np.asarray(_MONTH_START)[month - 1]
    seconds = np.asarray(index.hour) * 3600 + np.asarray(index.minute) * 60 + index.second
    positions: np.ndarray[Any, Any] = (start + day - 1) * DAY + np.asarray(seconds)
    return positions


def _slot_starts(scenario: Scenario) -> Any:
    import pandas as pd

    start = pd.Timestamp(scenario.date).tz_localize(scenario.location.timezone)
    return pd.date_range(
        start,
        periods=scenario.total_slots_in_days,
        freq=pd.Timedelta(seconds=scenario.slot_seconds),
    )


def slot_weather(scenario: Scenario) -> SlotWeather:
    """The scenario's weather file, per slot of the simulated days (refused: unreadable or
    malformed files, a site far from the scenario's, days the file does not cover). Cached
    while the file's size and modification time stay the same."""
    if scenario.weather.file is None:
        raise ScenarioError("the scenario has no weather file")
    try:
        stat = Path(scenario.weather.file).stat()
    except OSError:
        return _slot_weather(scenario, None)  # refused by the reader, with its reason
    return _slot_weather(scenario, (stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _slot_weather(scenario: Scenario, version: tuple[int, int] | None) -> SlotWeather:
    spec = scenario.weather
    path = Path(spec.file or "")
    fmt = spec.format or ""
    if fmt not in WEATHER_FORMATS:  # pragma: no cover - the scenario checks it
        raise ScenarioError(f"weather.format {fmt!r} is not one of {', '.join(WEATHER_FORMATS)}")
    frame, site = _read(path, fmt)
    loc = scenario.location
    if site is not None:
        off = max(abs(site[0] - loc.latitude), abs(site[1] - loc.longitude))
        if off > MAX_SITE_DISTANCE_DEG:
            raise _fail(
                path,
                f"its site ({site[0]:g}, {site[1]:g}) is {off:.1f}° from the scenario's location "
                f"({loc.latitude:g}, {loc.longitude:g})",
            )
    step = _step(path, frame.index)
    keep = ~((frame.index.month == 2) & (frame.index.day == 29))
    frame = frame[keep]
    pos = _positions(frame.index)
    order = np.argsort(pos, kind="stable")
    pos, frame = pos[order], frame.iloc[order]
    if (np.diff(pos) == 0).any():
        raise _fail(path, "covers a day and time twice (more than one year?): keep one year")
    # Cells of a regular grid from the first position; NaN where the file has no row.
    cells = (pos - pos[0]) // step
    if ((pos - pos[0]) % step).any():
        raise _fail(path, "rows must be in time order, evenly spaced, without gaps")
    n = int(cells[-1]) + 1
    origin = int(pos[0])
    whole_year = n * step == YEAR and len(pos) == n
    columns = list(frame.columns)
    grid = np.full((n, len(columns)), np.nan)
    grid[cells] = frame.to_numpy(dtype=float)
    if whole_year:  # the year wraps: December 31 runs into January 1
        grid = np.concatenate([grid, grid, grid])
        origin -= YEAR
    grid = _derived(scenario, grid, columns, origin, step, frame.index.tz)
    columns += ["clear_ghi"] if "dni" in columns else ["clear_ghi", "dni", "dhi"]
    starts = _slot_starts(scenario).tz_convert(frame.index.tz)
    a = (_positions(starts) - origin).astype(float) / step
    b = a + scenario.slot_seconds / step
    missing = ~np.isfinite(grid[:, 0])
    gaps = np.concatenate(([0], np.cumsum(missing)))
    lo, hi = np.floor(a).astype(int), np.ceil(b).astype(int)
    outside = (lo < 0) | (hi > len(grid))
    inside = ~outside
    uncovered = outside.copy()
    uncovered[inside] = gaps[hi[inside]] - gaps[lo[inside]] > 0
    if uncovered.any():
        first = _slot_starts(scenario)[int(np.argmax(uncovered))]
        span = f"{frame.index[0]:%m-%d %H:%M} to {frame.index[-1]:%m-%d %H:%M}"
        raise _fail(
            path,
            f"no data for the slot at {first:%Y-%m-%d %H:%M} ({scenario.location.timezone}); "
            f"its rows run from {span} (UTC{frame.index[0]:%z})",
        )
    edges = np.arange(len(grid) + 1, dtype=float)
    means = {}
    for k, column in enumerate(columns):
        cumulative = np.concatenate(([0.0], np.cumsum(np.nan_to_num(grid[:, k]))))
        total = np.interp(b, edges, cumulative) - np.interp(a, edges, cumulative)
        means[column] = tuple(float(v) for v in total / (b - a))
    return SlotWeather(
        ghi=means["ghi"],
        dni=means["dni"],
        dhi=means["dhi"],
        temp_air=means["temp_air"],
        clear_ghi=means["clear_ghi"],
    )


def _derived(
    scenario: Scenario, grid: Any, columns: list[str], origin: int, step: int, tz: Any
) -> Any:
    """Columns computed at each file interval's midpoint: Ineichen's clear-sky GHI (Linke
    turbidity 3, as the cloud model), and DNI and DHI from GHI (pvlib's Erbs model) when the
    file gives GHI alone."""
    import pandas as pd
    import pvlib

    loc = scenario.location
    site = pvlib.location.Location(loc.latitude, loc.longitude, loc.timezone, loc.altitude_m)
    year_start = pd.Timestamp(year=scenario.date.year, month=1, day=1, tz=tz)
    mids = year_start + pd.to_timedelta(origin + (np.arange(len(grid)) + 0.5) * step, unit="s")
    clear = site.get_clearsky(mids, model="ineichen", linke_turbidity=3.0)["ghi"]
    added = [clear.to_numpy(dtype=float)]
    if "dni" not in columns:
        zenith = site.get_solarposition(mids)["zenith"]
        ghi = pd.Series(grid[:, columns.index("ghi")], index=mids)
        split = pvlib.irradiance.erbs(ghi.fillna(0.0), zenith, mids)
        for part in ("dni", "dhi"):
            added.append(np.where(np.isfinite(ghi), split[part].to_numpy(dtype=float), np.nan))
    return np.column_stack([grid, *added])


def cover_from_ghi(ghi: np.ndarray[Any, Any], clear_ghi: np.ndarray[Any, Any]) -> Any:
    """The cloud cover that Kasten-Czeplak's `1 - 0.75·c^3.4` gives for the measured clear-sky
    index (the report's cloud line); 0 at night."""
    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.where(clear_ghi > 20.0, ghi / clear_ghi, 1.0)
    shortfall = np.clip((1.0 - np.clip(index, 0.0, 1.0)) / 0.75, 0.0, 1.0)
    return np.power(shortfall, 1 / 3.4)
