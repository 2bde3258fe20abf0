"""Local wall-clock times <-> market slots, exactly (no floats, DST-aware via zoneinfo)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from p2penergy.domain.slots import OffGrid, SlotGrid
from p2penergy.wallet.errors import WalletError

_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def zone(name: str | None) -> tzinfo:
    """The time zone `name` (IANA, e.g. Europe/Berlin), or the system's local zone."""
    if not name:
        # astimezone() always attaches the system zone; UTC only satisfies the type
        return datetime.now().astimezone().tzinfo or UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WalletError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin"
        ) from None


def parse_local_time(text: str, tz: tzinfo) -> int:
    """`"2026-11-22 14:15"` in `tz` -> unix seconds; refuses times that do not exist (DST gap)."""
    raw = text.strip()
    for fmt in _FORMATS:
        try:
            naive = datetime.strptime(raw, fmt)
            break
        except ValueError:
            continue
    else:
        raise WalletError(f"cannot read the time {text!r}: write it as YYYY-MM-DD HH:MM")
    local = naive.replace(tzinfo=tz)
    timestamp = int(local.timestamp())
    # A wall time skipped by a DST change does not round-trip: refuse it rather than guess.
    if datetime.fromtimestamp(timestamp, tz).replace(tzinfo=None) != naive:
        raise WalletError(f"{raw} does not exist in {tz} (clocks changed): pick another time")
    return timestamp


def slot_starting_at(grid: SlotGrid, timestamp: int, shown: str) -> int:
    """The slot that starts exactly at `timestamp` (`shown` is how the user wrote it); refuses
    a time off the grid with the neighbouring starts."""
    try:
        return grid.slot_at(timestamp)
    except OffGrid as off:
        if off.before_epoch:
            raise WalletError(f"{shown} is before the market opened") from None
        minutes = grid.slot_length // 60
        before = off.previous_start
        raise WalletError(
            f"{shown} is not the start of a slot: slots are {minutes} min long "
            f"(e.g. {format_time(before, None)} or "
            f"{format_time(before + grid.slot_length, None)})"
        ) from None


def format_time(timestamp: int, tz: tzinfo | None) -> str:
    """`"2026-11-22 14:15 CET"` in `tz` (default: the system's local zone)."""
    moment = datetime.fromtimestamp(timestamp, tz or zone(None))
    return f"{moment:%Y-%m-%d %H:%M} {moment:%Z}"
