"""Local wall-clock times <-> market slots, exactly (no floats, DST-aware via zoneinfo)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


@dataclass(frozen=True)
class SlotClock:
    """The market's slot grid: slot s delivers during [epoch + s·L, epoch + (s+1)·L)."""

    epoch: int
    slot_length: int
    gate_closure: int

    def start(self, slot: int) -> int:
        return self.epoch + slot * self.slot_length

    def gate_closes_at(self, slot: int) -> int:
        return max(self.start(slot) - self.gate_closure, 0)

    def slot_starting_at(self, timestamp: int, shown: str) -> int:
        """The slot that starts exactly at `timestamp` (`shown` is how the user wrote it)."""
        offset = timestamp - self.epoch
        if offset < 0:
            raise WalletError(f"{shown} is before the market opened")
        if offset % self.slot_length:
            minutes = self.slot_length // 60
            before = self.start(offset // self.slot_length)
            raise WalletError(
                f"{shown} is not the start of a slot: slots are {minutes} min long "
                f"(e.g. {format_time(before, None)} or "
                f"{format_time(before + self.slot_length, None)})"
            )
        return offset // self.slot_length

    def is_open(self, slot: int, now: int) -> bool:
        """Whether orders for `slot` are still accepted at chain time `now`."""
        return now < self.gate_closes_at(slot)

    def next_open_slot(self, now: int) -> int:
        """The first slot whose gate is still open at chain time `now`."""
        slot = max((now + self.gate_closure - self.epoch) // self.slot_length + 1, 0)
        while not self.is_open(slot, now):  # at most one step; kept for clarity at the edges
            slot += 1
        return slot

    def describe(self, slot: int, tz: tzinfo | None) -> str:
        """`"2026-11-22 14:15-14:30 CET (slot 1234)"`."""
        start = datetime.fromtimestamp(self.start(slot), tz or UTC)
        end = start + timedelta(seconds=self.slot_length)
        return f"{start:%Y-%m-%d %H:%M}-{end:%H:%M} {start:%Z} (slot {slot})"


def format_time(timestamp: int, tz: tzinfo | None) -> str:
    """`"2026-11-22 14:15 CET"` in `tz` (default: the system's local zone)."""
    moment = datetime.fromtimestamp(timestamp, tz or zone(None))
    return f"{moment:%Y-%m-%d %H:%M} {moment:%Z}"
