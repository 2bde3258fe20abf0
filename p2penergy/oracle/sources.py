"""Where readings come from: a utility's CSV export, a watched folder of them, simulated meters.

A source only parses: it turns input into `Row`s (a reading plus where it came from) and
`Problem`s (what was wrong, where). Checks that need context (is the meter ours, do its
registers fit the readings already signed) belong to the oracle, which sees the outbox.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from p2penergy.domain.readings import InvalidReading, Reading
from p2penergy.domain.slots import SlotGrid

# CSV columns, in the documented order (docs/oracle.md); the header row names them.
CSV_COLUMNS = (
    "meter_id",
    "slot_start",
    "import_wh",
    "export_wh",
    "import_register_wh",
    "export_register_wh",
)
_WH_COLUMNS = CSV_COLUMNS[2:]


@dataclass(frozen=True, slots=True)
class Row:
    """One reading and where it came from (`origin` a file or feed name, `line` 1-based)."""

    origin: str
    line: int
    reading: Reading


@dataclass(frozen=True, slots=True)
class Problem:
    """A row (or, with `whole_input`, a whole input: unreadable, empty, a wrong header) that was
    not taken, and why."""

    origin: str
    line: int
    reason: str
    whole_input: bool = False

    def __str__(self) -> str:
        return f"{self.origin}:{self.line}: {self.reason}"


@dataclass
class Batch:
    """What one input yielded. `key` identifies the input (a file's hash) so that a batch is
    recorded in the outbox together with its rows, in one transaction: all or nothing."""

    origin: str
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    key: str | None = None


class Source(Protocol):
    """Anything that yields batches of readings; `poll` returns what is new since last time."""

    def poll(self) -> list[Batch]: ...


def _parse_wh(name: str, text: str) -> int:
    text = text.strip()
    if not text:
        raise ValueError(f"{name} is missing")
    try:
        value = int(text, 10)
    except ValueError:
        raise ValueError(f"{name} is not a whole number of Wh: {text!r}") from None
    if value < 0:
        raise ValueError(f"{name} is negative: {value}")
    return value


def _parse_start(text: str, grid: SlotGrid) -> int:
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"slot_start is not an ISO 8601 timestamp: {text!r}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"slot_start has no time zone: {text!r} (add Z or +hh:mm)")
    if moment.microsecond:
        raise ValueError(f"slot_start {text!r} is not a whole second")
    try:
        return grid.slot_at(int(moment.timestamp()))
    except ValueError as exc:
        raise ValueError(f"slot_start {text!r} {exc}") from None


def parse_csv(text: str, origin: str, grid: SlotGrid) -> Batch:
    """Parses a CSV export (header row, columns `CSV_COLUMNS` in any order, extra columns
    ignored). Each bad row becomes a `Problem`; the good rows are kept. A duplicate
    (meter, slot) keeps the first row. A header without a required column rejects the file."""
    batch = Batch(origin=origin)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        batch.problems.append(Problem(origin, 1, "file is empty (no header row)", whole_input=True))
        return batch
    except csv.Error as exc:
        batch.problems.append(Problem(origin, 1, f"unreadable header: {exc}", whole_input=True))
        return batch
    names = [h.strip().lower() for h in header]
    missing = [c for c in CSV_COLUMNS if c not in names]
    if missing:
        batch.problems.append(
            Problem(
                origin,
                1,
                f"header lacks column(s) {', '.join(missing)}: file skipped",
                whole_input=True,
            )
        )
        return batch
    index = {c: names.index(c) for c in CSV_COLUMNS}
    seen: dict[tuple[int, int], int] = {}
    while True:
        try:
            fields_ = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            batch.problems.append(Problem(origin, reader.line_num, f"unreadable row: {exc}"))
            continue
        line = reader.line_num
        if not any(f.strip() for f in fields_):
            continue  # blank line
        try:
            if len(fields_) < len(names):
                absent = [c for c in CSV_COLUMNS if index[c] >= len(fields_)]
                raise ValueError(f"row has {len(fields_)} fields, lacks {', '.join(absent)}")
            meter_text = fields_[index["meter_id"]].strip()
            if not meter_text.isdigit():
                raise ValueError(f"meter_id is not a meter number: {meter_text!r}")
            meter_id = int(meter_text)
            slot = _parse_start(fields_[index["slot_start"]], grid)
            imp, exp, imp_reg, exp_reg = (_parse_wh(c, fields_[index[c]]) for c in _WH_COLUMNS)
            reading = Reading(meter_id, slot, imp, exp, imp_reg, exp_reg)
        except (ValueError, InvalidReading) as exc:
            batch.problems.append(Problem(origin, line, str(exc)))
            continue
        key = (meter_id, slot)
        if key in seen:
            batch.problems.append(
                Problem(
                    origin,
                    line,
                    f"duplicate row for meter {meter_id} slot {slot} (first on line {seen[key]})",
                )
            )
            continue
        seen[key] = line
        batch.rows.append(Row(origin, line, reading))
    return batch


class CsvSource:
    """One CSV file, read once (the first `poll`)."""

    def __init__(self, path: Path, grid: SlotGrid) -> None:
        self.path = path
        self.grid = grid
        self._done = False

    def poll(self) -> list[Batch]:
        if self._done:
            return []
        self._done = True
        return [read_csv_file(self.path, self.grid)]


def read_csv_file(path: Path, grid: SlotGrid) -> Batch:
    """Parses one CSV file; its batch key is the hash of its bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Batch(
            str(path),
            problems=[Problem(str(path), 0, f"unreadable: {exc.strerror}", whole_input=True)],
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Batch(
            str(path),
            problems=[Problem(str(path), 0, f"not UTF-8: {exc.reason}", whole_input=True)],
        )
    batch = parse_csv(text, str(path), grid)
    batch.key = hashlib.sha256(data).hexdigest()
    return batch


class FolderSource:
    """A folder a utility drops periodic `*.csv` exports into.

    A file is taken once it has not changed for `settle_seconds` (a half-written upload is not
    read); files whose contents the oracle already recorded (same hash) are skipped, so a
    restart or a re-sent file does not re-report them. Exporters that write `name.csv.tmp` and
    rename are picked up at once.
    """

    def __init__(
        self,
        folder: Path,
        grid: SlotGrid,
        *,
        settle_seconds: float = 2.0,
        already_seen: Iterable[str] = (),
    ) -> None:
        self.folder = folder
        self.grid = grid
        self.settle_seconds = settle_seconds
        self._seen_keys: set[str] = set(already_seen)
        self._taken: dict[Path, tuple[int, int]] = {}

    def mark_seen(self, key: str) -> None:
        self._seen_keys.add(key)

    def poll(self) -> list[Batch]:
        batches: list[Batch] = []
        now = time.time()
        try:
            paths = sorted(p for p in self.folder.glob("*.csv") if p.is_file())
        except OSError:
            return []
        for path in paths:
            try:
                info = path.stat()
            except OSError:
                continue  # vanished between glob and stat
            signature = (info.st_size, info.st_mtime_ns)
            if self._taken.get(path) == signature or now - info.st_mtime < self.settle_seconds:
                continue
            self._taken[path] = signature
            batch = read_csv_file(path, self.grid)
            if batch.key is not None and batch.key in self._seen_keys:
                continue
            if batch.key is not None:
                self._seen_keys.add(batch.key)
            batches.append(batch)
        return batches


class SimulatedMeters:
    """Meters the simulation feeds: `record` a slot's energy, registers are accumulated here."""

    def __init__(self, origin: str = "simulation") -> None:
        self.origin = origin
        self._registers: dict[int, tuple[int, int]] = {}
        self._queue: list[Row] = []
        self._count = 0

    def set_registers(
        self, meter_id: int, import_register_wh: int, export_register_wh: int
    ) -> None:
        """Starts a meter's cumulative registers somewhere other than zero."""
        self._registers[meter_id] = (import_register_wh, export_register_wh)

    def record(self, meter_id: int, slot: int, import_wh: int, export_wh: int) -> Reading:
        """What meter `meter_id` measured in `slot` (slots in increasing order per meter)."""
        imp_reg, exp_reg = self._registers.get(meter_id, (0, 0))
        reading = Reading(
            meter_id, slot, import_wh, export_wh, imp_reg + import_wh, exp_reg + export_wh
        )
        self._registers[meter_id] = (reading.import_register_wh, reading.export_register_wh)
        self._count += 1
        self._queue.append(Row(self.origin, self._count, reading))
        return reading

    def poll(self) -> list[Batch]:
        if not self._queue:
            return []
        rows, self._queue = self._queue, []
        return [Batch(self.origin, rows=rows)]
