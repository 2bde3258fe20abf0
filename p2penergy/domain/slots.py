"""The slot grid: slot s delivers during [epoch + s·L, epoch + (s+1)·L); its gate closes
`gate_closure` seconds before it starts, and its readings are accepted from its end for `window`
seconds (DESIGN §2.1). Unix seconds throughout; time zones are the callers' business."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from p2penergy.exceptions import P2PEnergyError

ALLOWED_SLOT_SECONDS = (300, 900, 1800, 3600)
DAY_SECONDS = 86_400


def epoch_at_midnight(now: int) -> int:
    """Slot 0 of a market opened at `now` starts at the UTC midnight before it."""
    return now - now % DAY_SECONDS


class OffGrid(P2PEnergyError, ValueError):
    """`timestamp` is not the start of a slot: before slot 0 (`before_epoch`) or between two
    starts."""

    def __init__(self, grid: SlotGrid, timestamp: int) -> None:
        self.grid = grid
        self.timestamp = timestamp
        self.before_epoch = timestamp < grid.epoch
        if self.before_epoch:
            why = f"{timestamp} is before slot 0 (epoch {grid.epoch})"
        else:
            why = f"is not a slot start ({grid.slot_length} s grid from {grid.epoch})"
        super().__init__(why)

    @property
    def previous_start(self) -> int:
        """The start of the slot `timestamp` falls in (the nearest start before it)."""
        return self.grid.start((self.timestamp - self.grid.epoch) // self.grid.slot_length)


@dataclass(frozen=True)
class SlotGrid:
    """A deployment's slot grid (`MeterReadings.timing()`, `EnergyMarket.gateClosure()`)."""

    epoch: int
    slot_length: int
    gate_closure: int = 0
    window: int = 0

    def start(self, slot: int) -> int:
        return self.epoch + slot * self.slot_length

    def slot_at(self, start: int) -> int:
        """The slot that starts at `start`; OffGrid (a ValueError) off the grid or before
        slot 0."""
        offset = start - self.epoch
        if offset < 0 or offset % self.slot_length:
            raise OffGrid(self, start)
        return offset // self.slot_length

    def gate_closes_at(self, slot: int) -> int:
        return max(self.start(slot) - self.gate_closure, 0)

    def is_open(self, slot: int, now: int) -> bool:
        """Whether orders for `slot` are still accepted at chain time `now`."""
        return now < self.gate_closes_at(slot)

    def next_open_slot(self, now: int) -> int:
        """The first slot whose gate is still open at chain time `now`."""
        slot = max((now + self.gate_closure - self.epoch) // self.slot_length + 1, 0)
        while not self.is_open(slot, now):  # at most one step; kept for clarity at the edges
            slot += 1
        return slot

    def opens_at(self, slot: int) -> int:
        """First second the slot's reading is accepted (the slot's end)."""
        return self.start(slot + 1)

    def closes_at(self, slot: int) -> int:
        """First second the slot's reading is no longer accepted."""
        return self.opens_at(slot) + self.window

    def describe(self, slot: int, tz: tzinfo | None) -> str:
        """`"2026-11-22 14:15-14:30 CET (slot 1234)"`."""
        start = datetime.fromtimestamp(self.start(slot), tz or UTC)
        end = start + timedelta(seconds=self.slot_length)
        return f"{start:%Y-%m-%d %H:%M}-{end:%H:%M} {start:%Z} (slot {slot})"
