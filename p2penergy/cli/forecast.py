"""`p2penergy forecast`: what a household's profile forecasts for a day (no chain needed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from p2penergy.cli._utils import console, handle_errors, json_option, print_json
from p2penergy.units import format_wh


def _kwh(wh: int) -> str:
    """`format_wh` without the unit (the table's title has it)."""
    return format_wh(wh).removesuffix(" kWh")


F = TypeVar("F", bound=Callable[..., Any])


def forecast_day_options(func: F) -> F:
    """`--date` and `--cloud-cover`: which day to forecast, under which sky (also on bid/offer)."""
    func = click.option(
        "--cloud-cover",
        type=click.FloatRange(0, 1),
        default=None,
        help="Expected cloud cover 0-1 for the day (default: the profile's).",
    )(func)
    return click.option(
        "--date",
        default=None,
        help="Day to forecast, YYYY-MM-DD (default: tomorrow in the profile's time zone).",
    )(func)


@click.command("forecast")
@click.argument("profile_path", metavar="PROFILE", type=click.Path(dir_okay=False, path_type=Path))
@forecast_day_options
@click.option(
    "--slot-minutes",
    type=click.Choice(["5", "15", "30", "60"]),
    default="15",
    show_default=True,
    help="The market's slot length.",
)
@json_option
@handle_errors
def forecast_command(
    profile_path: Path,
    date: str | None,
    slot_minutes: str,
    cloud_cover: float | None,
    as_json: bool,
) -> None:
    """Forecast a household's day from its PROFILE (YAML): demand, PV, battery, and the surplus
    it would offer and the deficit it would bid for (`offer/bid --forecast PROFILE`).

    Demand is the BDEW H0 standard load profile scaled to the annual consumption; PV is pvlib's
    clear-sky irradiance on the module plane, derated for the expected cloud cover; the battery
    serves the home first. Hours are shown in the profile's time zone.
    """
    from p2penergy.wallet import forecast as fc

    profile = fc.load_profile(profile_path)
    day = fc.parse_date(date) if date else fc.tomorrow(profile)
    slots = fc.forecast_day(profile, day, int(slot_minutes) * 60, cloud_cover)
    if as_json:
        print_json(
            {
                "date": day.isoformat(),
                "timezone": profile.location.timezone,
                "slot_seconds": int(slot_minutes) * 60,
                "slots": [
                    {
                        "start": s.start,
                        "demand_wh": s.demand_wh,
                        "generation_wh": s.generation_wh,
                        "self_consumed_wh": s.self_consumed_wh,
                        "battery_wh": s.battery_wh,
                        "bid_wh": s.import_wh,
                        "offer_wh": s.export_wh,
                    }
                    for s in slots
                ],
            }
        )
        return
    columns = ("demand", "PV", "used at home", "battery ±", "to offer", "to bid for")
    table = Table(title=f"Forecast for {day} ({profile.location.timezone}), kWh per hour")
    table.add_column("hour")
    for column in columns:
        table.add_column(column, justify="right")
    hours: dict[str, list[int]] = {}
    for s in slots:
        hour = datetime.fromtimestamp(s.start, profile.zone).strftime("%H:00")
        row = hours.setdefault(hour, [0] * len(columns))
        values = (
            s.demand_wh,
            s.generation_wh,
            s.self_consumed_wh,
            s.battery_wh,
            s.export_wh,
            s.import_wh,
        )
        for i, v in enumerate(values):
            row[i] += v
    totals = [0] * len(columns)
    for hour, row in hours.items():
        table.add_row(hour, *(_kwh(v) for v in row))
        totals = [t + v for t, v in zip(totals, row, strict=True)]
    table.add_row("day", *(_kwh(v) for v in totals), style="bold")
    console.print(table)
