"""The SQLite outbox: every reading is signed and stored here before anything is submitted.

One row per (meter, slot). States: `pending` (signed, not yet confirmed on chain), `submitted`
(a confirmed receipt recorded it, or the chain already had it), `rejected` (the contract skipped
it; `reason` holds the decoded custom error). WAL mode and `synchronous=FULL`: a row that was
committed survives a kill -9 or a power cut, and a reader (`oracle status`) never blocks the
relayer.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eth_utils.address import to_checksum_address

from p2penergy.domain.readings import Reading
from p2penergy.exceptions import OracleError, OutboxWriteFailed
from p2penergy.oracle.reading import SignedReading

PENDING, SUBMITTED, REJECTED = "pending", "submitted", "rejected"
STATES = (PENDING, SUBMITTED, REJECTED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS readings (
    meter_id INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    import_wh INTEGER NOT NULL,
    export_wh INTEGER NOT NULL,
    import_register_wh INTEGER NOT NULL,
    export_register_wh INTEGER NOT NULL,
    v INTEGER NOT NULL,
    r TEXT NOT NULL,
    s TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'submitted', 'rejected')),
    reason TEXT,
    tx_hash TEXT,
    origin TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (meter_id, slot)
);
CREATE INDEX IF NOT EXISTS readings_state ON readings (state, slot);
CREATE TABLE IF NOT EXISTS inputs (key TEXT PRIMARY KEY, origin TEXT NOT NULL, taken_at REAL);
"""


def _describe(exc: sqlite3.Error) -> str:
    code = getattr(exc, "sqlite_errorname", None)
    return f"{code}: {exc}" if code else str(exc)


class OutboxMismatch(OracleError):
    """The outbox belongs to another chain or MeterReadings deployment."""


class ReadingConflict(OracleError):
    """A different reading for the same (meter, slot) is already signed in the outbox."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One outbox row."""

    signed: SignedReading
    state: str
    reason: str | None
    tx_hash: str | None
    origin: str
    attempts: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.signed.reading.meter_id, self.signed.reading.slot)


def _reading(row: sqlite3.Row) -> Reading:
    return Reading(
        row["meter_id"],
        row["slot"],
        row["import_wh"],
        row["export_wh"],
        row["import_register_wh"],
        row["export_register_wh"],
    )


def _entry(row: sqlite3.Row) -> Entry:
    reading = _reading(row)
    signed = SignedReading(reading, row["v"], int(row["r"], 16), int(row["s"], 16))
    return Entry(
        signed, row["state"], row["reason"], row["tx_hash"], row["origin"], row["attempts"]
    )


@dataclass(frozen=True, slots=True)
class Binding:
    """The (chain id, MeterReadings address) an outbox holds readings for, typed as every
    `--json` output carries them: the chain id a number, the address checksummed."""

    chain_id: int | None
    contract: str | None


def _private(path: Path) -> None:
    """Creates the outbox file with mode 0600 (signed readings are the households' data), or
    narrows an existing one and its -wal/-shm files to 0600. SQLite creates -wal and -shm with
    the mode of the database file, so they are 0600 too."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.chmod(0o600)


class Outbox:
    """The outbox file of one oracle, bound to one (chain id, MeterReadings address)."""

    def __init__(self, path: Path, chain_id: int | None = None, contract: str | None = None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            _private(path)
        except OSError as exc:
            raise OracleError(f"outbox {path} is unusable: {exc.strerror or exc}") from None
        try:
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise OracleError(f"outbox {path} is unusable: {exc}") from None
        if chain_id is not None and contract is not None:
            self._bind(chain_id, contract)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit: everything inside is committed together or not at all. A write the
        database refuses (disk full, read-only, locked too long) raises OutboxWriteFailed, which
        the services treat as transient: nothing of the unit was stored."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise OutboxWriteFailed(str(self.path), _describe(exc)) from exc
        try:
            yield self._db
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise OutboxWriteFailed(str(self.path), _describe(exc)) from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # SQLite may have rolled back already (it does on SQLITE_FULL).
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _bind(self, chain_id: int, contract: str) -> None:
        want = {"chain_id": str(chain_id), "contract": contract.lower()}
        with self.transaction() as db:
            have = dict(db.execute("SELECT key, value FROM meta").fetchall())
            for key, value in want.items():
                if key in have and have[key] != value:
                    raise OutboxMismatch(
                        f"outbox {self.path} holds readings for {key} {have[key]}, not {value}: "
                        "use another --outbox for this deployment"
                    )
                db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))

    def binding(self) -> Binding:
        """The deployment this outbox is bound to (None parts for a file no oracle ran on)."""
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        chain_id, contract = meta.get("chain_id"), meta.get("contract")
        return Binding(
            chain_id=None if chain_id is None else int(chain_id),
            contract=None if contract is None else str(to_checksum_address(contract)),
        )

    # ── writing ──

    def add(self, db: sqlite3.Connection, signed: SignedReading, origin: str) -> bool:
        """Stores a signed reading as pending (inside `transaction`). Returns False when the same
        reading is already there (idempotent); raises ReadingConflict for a different one."""
        r = signed.reading
        existing = db.execute(
            "SELECT * FROM readings WHERE meter_id = ? AND slot = ?", (r.meter_id, r.slot)
        ).fetchone()
        if existing is not None:
            if _entry(existing).signed.reading == r:
                return False
            raise ReadingConflict(
                f"meter {r.meter_id} slot {r.slot} already has a different reading "
                f"(from {existing['origin']}, {existing['state']})"
            )
        self.insert(db, signed, origin)
        return True

    def insert(self, db: sqlite3.Connection, signed: SignedReading, origin: str) -> None:
        """Stores a signed reading as pending (inside `transaction`) when the caller has seen,
        in the same transaction, that its (meter, slot) holds nothing yet; `add` checks first.
        A row that is there after all is refused by the primary key (OutboxWriteFailed)."""
        r = signed.reading
        now = time.time()
        db.execute(
            "INSERT INTO readings (meter_id, slot, import_wh, export_wh, import_register_wh, "
            "export_register_wh, v, r, s, state, origin, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
            (
                *r.as_tuple(),
                signed.v,
                f"{signed.r:064x}",
                f"{signed.s:064x}",
                origin,
                now,
                now,
            ),
        )

    def record_input(self, db: sqlite3.Connection, key: str, origin: str) -> None:
        """Remembers that an input (a file's hash) was taken, in the same transaction as its
        rows, so a crash never leaves a file half taken."""
        db.execute("INSERT OR IGNORE INTO inputs VALUES (?, ?, ?)", (key, origin, time.time()))

    def input_keys(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT key FROM inputs")]

    def mark(
        self,
        keys: Iterable[tuple[int, int]],
        state: str,
        *,
        reason: str | None = None,
        tx_hash: str | None = None,
    ) -> None:
        """Moves readings to `state` in one transaction."""
        if state not in STATES:
            raise ValueError(f"unknown state {state}")
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                "UPDATE readings SET state = ?, reason = ?, tx_hash = COALESCE(?, tx_hash), "
                "updated_at = ? WHERE meter_id = ? AND slot = ?",
                [(state, reason, tx_hash, now, m, s) for m, s in keys],
            )

    def count_attempt(self, keys: Sequence[tuple[int, int]]) -> None:
        with self.transaction() as db:
            db.executemany(
                "UPDATE readings SET attempts = attempts + 1 WHERE meter_id = ? AND slot = ?",
                list(keys),
            )

    # ── reading ──

    def get_in(self, db: sqlite3.Connection, meter_id: int, slot: int) -> Reading | None:
        """The reading stored for (meter, slot) inside a transaction, if any."""
        row = db.execute(
            "SELECT * FROM readings WHERE meter_id = ? AND slot = ?", (meter_id, slot)
        ).fetchone()
        return None if row is None else _entry(row).signed.reading

    def get(self, meter_id: int, slot: int) -> Entry | None:
        row = self._db.execute(
            "SELECT * FROM readings WHERE meter_id = ? AND slot = ?", (meter_id, slot)
        ).fetchone()
        return None if row is None else _entry(row)

    def pending(
        self,
        *,
        opened_before: int | None = None,
        grid_start: tuple[int, int] = (0, 0),
        exclude: Collection[tuple[int, int]] = (),
    ) -> list[Entry]:
        """Pending entries in (slot, meter) order; with `opened_before`, only those whose slot
        ended by then (`grid_start` = (epoch, slot length) of the grid); never those whose
        (meter, slot) is in `exclude` (a relayer's readings in flight)."""
        query = "SELECT * FROM readings WHERE state = 'pending'"
        params: list[int] = []
        if opened_before is not None:
            epoch, length = grid_start
            query += " AND ? + (slot + 1) * ? <= ?"
            params += [epoch, length, opened_before]
        query += " ORDER BY slot, meter_id"
        rows = self._db.execute(query, params)
        if exclude:
            return [_entry(r) for r in rows if (r["meter_id"], r["slot"]) not in exclude]
        return [_entry(row) for row in rows]

    def entries(self, state: str | None = None) -> list[Entry]:
        query, params = "SELECT * FROM readings", []
        if state is not None:
            query, params = query + " WHERE state = ?", [state]
        return [_entry(row) for row in self._db.execute(query + " ORDER BY slot, meter_id", params)]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for state, n in self._db.execute("SELECT state, COUNT(*) FROM readings GROUP BY state"):
            counts[state] = n
        return counts

    def around(
        self, db: sqlite3.Connection, meter_id: int, slot: int
    ) -> tuple[Reading | None, Reading | None, Reading | None]:
        """The meter's reading at `slot` and those just before and just after it (`get_in` and
        `neighbours` in one statement: intake asks this once per reading)."""
        found: list[Reading | None] = [None, None, None]
        for row in db.execute(
            "SELECT * FROM (SELECT *, 0 AS which FROM readings WHERE meter_id = ? AND slot = ?) "
            "UNION ALL SELECT * FROM (SELECT *, 1 FROM readings WHERE meter_id = ? AND slot < ? "
            "ORDER BY slot DESC LIMIT 1) "
            "UNION ALL SELECT * FROM (SELECT *, 2 FROM readings WHERE meter_id = ? AND slot > ? "
            "ORDER BY slot ASC LIMIT 1)",
            (meter_id, slot) * 3,
        ):
            found[row["which"]] = _reading(row)
        return found[0], found[1], found[2]

    def neighbours(
        self, db: sqlite3.Connection, meter_id: int, slot: int
    ) -> tuple[Reading | None, Reading | None]:
        """The meter's readings just before and just after `slot` (register checks)."""
        before = db.execute(
            "SELECT * FROM readings WHERE meter_id = ? AND slot < ? ORDER BY slot DESC LIMIT 1",
            (meter_id, slot),
        ).fetchone()
        after = db.execute(
            "SELECT * FROM readings WHERE meter_id = ? AND slot > ? ORDER BY slot ASC LIMIT 1",
            (meter_id, slot),
        ).fetchone()
        return (
            None if before is None else _entry(before).signed.reading,
            None if after is None else _entry(after).signed.reading,
        )
