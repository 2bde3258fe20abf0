"""Measured weather files drive PV: pvlib's readers, slot resampling, and clean refusals."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pvlib
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2penergy.energy import scenario as scenarios
from p2penergy.energy.model import PV_GAMMA_PER_K, build
from p2penergy.energy.weather import slot_weather
from tests.budget import examples

EPW = scenarios.SCENARIO_DIR / "weather" / "berlin-june.epw"
BERLIN = {"latitude": 52.52, "longitude": 13.40, "altitude_m": 34, "timezone": "Europe/Berlin"}


def scenario(**changes: Any) -> scenarios.Scenario:
    data: dict[str, Any] = {
        "name": "measured",
        "seed": 5,
        "location": BERLIN,
        "date": "2026-06-13",
        "slot_seconds": 900,
        "households": {"count": 3, "prosumer_share": 1.0, "battery_share": 0.0},
        "pv": {"kwp": {"values": [4.0, 7.5, 10.0]}, "tilt_deg": 30, "azimuth_deg": 180},
        "weather": {"file": str(EPW)},
    }
    data.update(changes)
    return scenarios.from_dict(data)


def epw() -> Any:
    data, _ = pvlib.iotools.read_epw(EPW)
    return data


def test_a_clear_day_exports_more_than_an_overcast_day_of_the_same_file():
    clear, grey = (
        build(scenario(date=day)) for day in ("2026-06-13", "2026-06-14")
    )  # the file's June 13 is clear, June 14 overcast
    exported = [sum(sum(f.export_wh) for f in c.actual) for c in (clear, grey)]
    generated = [sum(sum(f.generation) for f in c.actual) for c in (clear, grey)]
    assert exported[0] > 2 * exported[1] > 0
    assert generated[0] > 2 * generated[1] > 0
    assert max(clear.cloud_cover) < 0.3 < min(c for c in grey.cloud_cover if c > 0)


def test_fifteen_minute_slots_take_the_file_hour_they_fall_in_across_the_utc_offset():
    """The file is in UTC+1 standard time; Berlin in June is UTC+2. A slot starting at local
    12:15 lies in the file's 11:00-12:00 row (EPW hour 12)."""
    s = scenario()
    weather = slot_weather(s)
    data = epw()
    starts = pd.date_range(
        pd.Timestamp("2026-06-13").tz_localize("Europe/Berlin"), periods=96, freq="15min"
    )
    rows = data.loc[starts.tz_convert(data.index.tz).floor("h")]
    for column in ("ghi", "dni", "dhi", "temp_air"):
        assert np.allclose(getattr(weather, column), rows[column].to_numpy(dtype=float))


def test_pv_agrees_with_pvlibs_own_chain_on_the_same_input():
    """Hourly slots in the file's own offset: each slot is one EPW row, so pvlib's transposition,
    Faiman cell temperature and PVWatts on that row give the slot's energy."""
    s = scenario(
        location={**BERLIN, "timezone": "Etc/GMT-1"},
        slot_seconds=3600,
        households={"count": 1, "prosumer_share": 1.0, "battery_share": 0.0},
        pv={"kwp": 6.0, "tilt_deg": 35, "azimuth_deg": 200},
    )
    data = epw().loc["2026-06-13"]
    site = pvlib.location.Location(52.52, 13.40, "Etc/GMT-1", 34)
    sun = site.get_solarposition(data.index + pd.Timedelta(minutes=30))
    zenith, azimuth = (sun[k].to_numpy() for k in ("apparent_zenith", "azimuth"))
    ghi, dni, dhi, temp = (data[k].to_numpy(dtype=float) for k in ("ghi", "dni", "dhi", "temp_air"))
    dni = np.where(zenith < 90, dni, 0.0)  # no beam from a sun below the horizon
    poa = pvlib.irradiance.get_total_irradiance(35, 200, zenith, azimuth, dni, ghi, dhi)
    poa = np.clip(np.nan_to_num(np.asarray(poa["poa_global"], dtype=float)), 0, None)
    cell = pvlib.temperature.faiman(poa, temp)
    wh = pvlib.pvsystem.pvwatts_dc(poa, cell, 6.0, PV_GAMMA_PER_K) * s.pv.performance_ratio * 1000
    generated = build(s).actual[0].generation
    assert len(generated) == 24 and sum(generated) > 30_000  # a clear June day on 6 kWp
    # integer Wh by rounding the running total: every slot within 1 Wh, the day exact
    assert all(abs(g - e) <= 1 for g, e in zip(generated, wh, strict=True))
    assert sum(generated) == round(wh.sum())


def write_tmy3(path: Path, data: Any) -> None:
    end = data.index + pd.Timedelta(hours=1)  # TMY3 labels the hour by its end, 24:00 for midnight
    hours = [f"{24 if t.hour == 0 else t.hour:02d}:00" for t in end]
    dates = [(t - pd.Timedelta(hours=1) if t.hour == 0 else t).strftime("%m/%d/%Y") for t in end]
    frame = pd.DataFrame(
        {
            "Date (MM/DD/YYYY)": dates,
            "Time (HH:MM)": hours,
            "GHI (W/m^2)": data["ghi"].to_numpy(),
            "DNI (W/m^2)": data["dni"].to_numpy(),
            "DHI (W/m^2)": data["dhi"].to_numpy(),
            "Dry-bulb (C)": data["temp_air"].to_numpy(),
        }
    )
    path.write_text("103840,BERLIN,BE,1.0,52.52,13.40,34\n" + frame.to_csv(index=False))


def test_the_same_data_as_epw_tmy3_and_csv_gives_the_same_slots(tmp_path: Path):
    data = epw()
    write_tmy3(tmp_path / "berlin.tmy3.csv", data)
    csv = data[["ghi", "dni", "dhi", "temp_air"]].copy()
    csv.insert(0, "time", [t.isoformat() for t in data.index])
    csv.to_csv(tmp_path / "berlin.csv", index=False)
    want = slot_weather(scenario())
    for name, fmt in (("berlin.tmy3.csv", "tmy3"), ("berlin.csv", "csv")):
        got = slot_weather(scenario(weather={"file": str(tmp_path / name), "format": fmt}))
        assert got == want, fmt
    # GHI alone: split by pvlib's Erbs model; the slot GHI and temperature are the file's
    csv.drop(columns=["dni", "dhi"]).to_csv(tmp_path / "ghi.csv", index=False)
    split = slot_weather(scenario(weather={"file": str(tmp_path / "ghi.csv"), "format": "csv"}))
    assert split.ghi == want.ghi and split.temp_air == want.temp_air
    assert max(split.dni) > 500 and all(d >= 0 for d in split.dhi)


def test_a_relative_weather_file_is_found_beside_the_scenario(tmp_path: Path):
    (tmp_path / "w.epw").write_bytes(EPW.read_bytes())
    path = tmp_path / "street.yaml"
    path.write_text(
        "name: street\nlocation: {latitude: 52.52, longitude: 13.4, timezone: Europe/Berlin}\n"
        "date: 2026-06-15\nweather: {file: w.epw}\n"
    )
    s = scenarios.load(path)
    assert s.weather.file == str(tmp_path / "w.epw") and s.weather.format == "epw"


@pytest.mark.parametrize(
    ("weather", "message"),
    [
        ({"file": "x.epw", "cloudiness": 0.3}, "['cloudiness'] belong to the cloud model"),
        ({"file": "x.epw", "sky": 1}, "weather: unknown keys ['sky']"),
        ({"file": "x.csv"}, "weather.format: say which of epw, tmy3, csv"),
        ({"file": "x.epw", "format": "grib"}, "weather.format 'grib' is not one of"),
        ({"format": "epw"}, "weather.format needs weather.file"),
    ],
)
def test_weather_keys_are_checked(weather: dict[str, Any], message: str):
    with pytest.raises(scenarios.ScenarioError, match=message.replace("[", r"\[")):
        scenario(weather=weather)


def _bad_files(tmp: Path) -> dict[str, tuple[str, str, str]]:
    """name: (file text or bytes marker, format, expected part of the message)."""
    lines = EPW.read_text().splitlines()
    short = [",".join(line.split(",")[:12]) if i >= 8 else line for i, line in enumerate(lines)]
    (tmp / "short.epw").write_text("\n".join(short) + "\n")
    coded = [line.split(",") for line in lines]
    coded[20][13] = "9999"  # EPW's code for a missing GHI
    (tmp / "coded.epw").write_text("\n".join(",".join(f) for f in coded) + "\n")
    (tmp / "binary.epw").write_bytes(b"\x00\x01\x02PK" * 64)
    (tmp / "nocol.csv").write_text("time,ghi\n2026-06-13T00:00+01:00,0\n2026-06-13T01:00+01:00,0\n")
    naive = "time,ghi,temp_air\n2026-06-13T00:00,0,1\n2026-06-13T01:00,0,1\n"
    (tmp / "naive.csv").write_text(naive)
    gappy = lines[:8] + lines[8:40] + lines[41:]
    (tmp / "gap.epw").write_text("\n".join(gappy) + "\n")
    (tmp / "not-epw.epw").write_text("time,ghi,temp_air\n1,2,3\n")
    return {
        "missing": (str(tmp / "nothing.epw"), "epw", "no such file"),
        "binary": (str(tmp / "binary.epw"), "epw", "a binary file, not text"),
        "short": (str(tmp / "short.epw"), "epw", "not a readable EPW file (ParserError"),
        "coded": (str(tmp / "coded.epw"), "epw", "column ghi is missing or out of range"),
        "nocol": (str(tmp / "nocol.csv"), "csv", "missing columns ['temp_air']"),
        "naive": (str(tmp / "naive.csv"), "csv", "times need a UTC offset"),
        "gap": (str(tmp / "gap.epw"), "epw", "evenly spaced, without gaps"),
        "wrong": (str(tmp / "not-epw.epw"), "epw", "not a readable EPW file"),
        "tmy3": (str(EPW), "tmy3", "not a readable TMY3 file"),
    }


def test_bad_weather_files_are_refused_with_one_line_and_nothing_written(tmp_path: Path):
    from p2penergy.cli.main import cli

    cases = _bad_files(tmp_path)
    cases["dates"] = (str(EPW), "epw", "no data for the slot at 2026-07-01 00:00")
    cases["site"] = (str(EPW), "epw", "from the scenario's location")
    for name, (file, fmt, message) in cases.items():
        location = {**BERLIN, "latitude": 48.1} if name == "site" else BERLIN
        date = "2026-07-01" if name == "dates" else "2026-06-13"
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            f"name: bad\nlocation: {location}\ndate: {date}\n"
            f"weather: {{file: '{file}', format: {fmt}}}\n"
        )
        out = tmp_path / f"out-{name}"
        result = CliRunner().invoke(cli, ["simulate", "--scenario", str(path), "--out", str(out)])
        assert result.exit_code == 1, (name, result.output)
        assert result.output.count("\n") == 1 and result.output.startswith("error: weather file")
        assert message in result.output, (name, result.output)
        assert "Traceback" not in result.output and not out.exists(), name


def test_days_outside_the_file_are_refused_after_the_days_override():
    s = scenario(date="2026-06-15")
    slot_weather(s)  # June 15 is in the file
    longer = dataclasses.replace(s, days=3)  # June 17 is not
    # local 01:00 on June 17 (UTC+2) is the file's June 17 00:00 (UTC+1), past its last row
    with pytest.raises(scenarios.ScenarioError, match="no data for the slot at 2026-06-17 01:00"):
        slot_weather(longer)
    # and local midnight of June 12 is the file's June 11, 23:00
    with pytest.raises(scenarios.ScenarioError, match="no data for the slot at 2026-06-12 00:00"):
        slot_weather(dataclasses.replace(s, date=dt.date(2026, 6, 12)))


def test_the_shipped_example_reads_its_file_and_has_heat_pumps():
    s = scenarios.load("berlin-june-measured").with_overrides(households=6)
    assert s.weather.file == str(EPW) and s.weather.format == "epw"
    community = build(s)
    assert sum(h.heat_kwh > 0 for h in community.homes) == round(0.3 * 6)
    assert sum(sum(f.generation) for f in community.actual) > 0
    assert len(s.tariffs.time_of_use) == 2
    assert build(s) == community  # the same scenario and seed, the same community


_TOKENS = st.sampled_from(["", "x", "-1", "1e309", "nan", "9999", "24", "0", "06/31/2026", ":"])


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    fmt=st.sampled_from(["epw", "tmy3", "csv"]),
    edits=st.lists(
        st.tuples(st.integers(0, 127), st.integers(0, 40), _TOKENS), min_size=1, max_size=4
    ),
    keep=st.one_of(st.just(128), st.integers(0, 128)),
)
def test_a_damaged_weather_file_is_read_or_refused_never_a_traceback(
    tmp_path: Path, fmt: str, edits: list[tuple[int, int, str]], keep: int
):
    """The fixture with fields replaced and rows cut, read as any format: a SlotWeather or a
    one-line ScenarioError, nothing else."""
    lines = EPW.read_text().splitlines()
    for row, column, token in edits:
        fields = lines[row % len(lines)].split(",")
        fields[column % len(fields)] = token
        lines[row % len(lines)] = ",".join(fields)
    path = tmp_path / f"damaged-{len(list(tmp_path.iterdir()))}.{fmt}"  # one file per example
    path.write_text("\n".join(lines[:keep]) + "\n")
    try:
        weather = slot_weather(scenario(weather={"file": str(path), "format": fmt}))
    except scenarios.ScenarioError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"weather file {path}: ")
    else:  # whatever was read has the slots' values, in range
        assert len(weather.ghi) == 96 and all(0 <= g <= 1500 for g in weather.ghi)
