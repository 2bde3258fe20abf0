"""The SQLite outbox and device keys (no chain)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from eth_account import Account

from p2penergy.domain.readings import Reading
from p2penergy.oracle.identity import (
    DeviceKeyError,
    load_key,
    load_keys,
    new_key_file,
    new_keystore,
)
from p2penergy.oracle.outbox import (
    PENDING,
    REJECTED,
    SUBMITTED,
    Outbox,
    OutboxMismatch,
    ReadingConflict,
)
from p2penergy.oracle.reading import sign_reading

CONTRACT = "0x" + "11" * 20
KEY = Account.create()


def signed(meter: int, slot: int, imp: int = 1):
    return sign_reading(KEY.key, Reading(meter, slot, imp, 0, 100 + imp, 0), 31337, CONTRACT)


def test_the_outbox_is_in_wal_mode_and_stores_signed_readings_idempotently(tmp_path: Path):
    with Outbox(tmp_path / "o.sqlite", 31337, CONTRACT) as outbox:
        with outbox.transaction() as db:
            assert outbox.add(db, signed(1, 5), "a.csv:2") is True
            assert outbox.add(db, signed(1, 5), "a.csv:2") is False
        conflict = pytest.raises(ReadingConflict, match="meter 1 slot 5 already has a different")
        with conflict, outbox.transaction() as db:
            outbox.add(db, signed(2, 5), "b")
            outbox.add(db, signed(1, 5, imp=2), "b")
        # the failed transaction left nothing behind, not even its first row
        assert outbox.counts() == {PENDING: 1, SUBMITTED: 0, REJECTED: 0}
        assert outbox.get(1, 5).signed == signed(1, 5)  # type: ignore[union-attr]
        mode = sqlite3.connect(tmp_path / "o.sqlite").execute("PRAGMA journal_mode").fetchone()
        assert mode == ("wal",)


def test_marks_keep_the_decoded_reason_and_the_transaction(tmp_path: Path):
    with Outbox(tmp_path / "o.sqlite", 31337, CONTRACT) as outbox:
        with outbox.transaction() as db:
            for slot in (1, 2, 3):
                outbox.add(db, signed(1, slot), "x")
        outbox.mark([(1, 1)], SUBMITTED, tx_hash="0xaa")
        outbox.mark([(1, 2)], REJECTED, reason="ReadingsOutsideWindow", tx_hash="0xbb")
        assert outbox.counts() == {PENDING: 1, SUBMITTED: 1, REJECTED: 1}
        [rejected] = outbox.entries(REJECTED)
        assert (rejected.reason, rejected.tx_hash) == ("ReadingsOutsideWindow", "0xbb")
        assert [e.key for e in outbox.pending()] == [(1, 3)]


def test_an_outbox_refuses_another_deployment(tmp_path: Path):
    Outbox(tmp_path / "o.sqlite", 31337, CONTRACT).close()
    with pytest.raises(OutboxMismatch, match="contract"):
        Outbox(tmp_path / "o.sqlite", 31337, "0x" + "22" * 20)


def test_a_keystore_round_trips_with_its_password_only(tmp_path: Path):
    path = tmp_path / "meter.json"
    account = new_keystore(path, "s3cret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path, "s3cret").address == account.address
    with pytest.raises(DeviceKeyError, match="wrong password"):
        load_key(path, "nope")
    with pytest.raises(DeviceKeyError, match="already exists"):
        new_keystore(path, "s3cret")


def test_a_raw_key_file_is_0600_and_refused_when_others_can_read_it(tmp_path: Path):
    path = tmp_path / "meter.key"
    account = new_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [k.address for k in load_keys(tmp_path)] == [account.address]
    path.chmod(0o644)
    with pytest.raises(DeviceKeyError, match="readable by others"):
        load_key(path)


def test_a_full_disk_fails_the_whole_transaction_with_a_typed_error_and_writes_resume(
    tmp_path: Path,
):
    """A file-size limit stands in for a full disk: SQLite's write fails (EFBIG), nothing of the
    unit is stored, the error is OutboxWriteFailed (transient for the services), and once space
    is back the same unit goes in."""
    import resource

    from p2penergy.exceptions import OutboxWriteFailed

    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path, 31337, CONTRACT)
    with outbox.transaction() as db:
        outbox.add(db, signed(1, 1), "warm-up")
    rows = [signed(2, slot) for slot in range(600)]
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
    try:
        with pytest.raises(OutboxWriteFailed) as failed, outbox.transaction() as db:
            for row in rows:
                outbox.add(db, row, "export.csv")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert failed.value.path == str(path)
    assert outbox.counts()[PENDING] == 1  # all or nothing
    with outbox.transaction() as db:
        for row in rows:
            outbox.add(db, row, "export.csv")
    assert outbox.counts()[PENDING] == 1 + len(rows)
    outbox.close()


def test_around_is_the_reading_and_its_neighbours_in_one_statement(tmp_path: Path):
    with Outbox(tmp_path / "o.sqlite", 31337, CONTRACT) as outbox, outbox.transaction() as db:
        for meter, slot in ((1, 2), (1, 5), (1, 9), (2, 5)):
            outbox.add(db, signed(meter, slot), "x")
        for meter in (1, 2, 3):
            for slot in range(12):
                at = outbox.get_in(db, meter, slot)
                assert outbox.around(db, meter, slot) == (
                    at,
                    *outbox.neighbours(db, meter, slot),
                )
        r = lambda slot: signed(1, slot).reading  # noqa: E731
        assert outbox.around(db, 1, 5) == (r(5), r(2), r(9))
        assert outbox.around(db, 1, 6) == (None, r(5), r(9))


def test_pending_leaves_out_the_readings_in_flight(tmp_path: Path):
    with Outbox(tmp_path / "o.sqlite", 31337, CONTRACT) as outbox:
        with outbox.transaction() as db:
            for slot in (1, 2, 3):
                outbox.add(db, signed(1, slot), "x")
        assert [e.key for e in outbox.pending(exclude={(1, 2), (7, 7)})] == [(1, 1), (1, 3)]
        assert [e.key for e in outbox.pending(exclude=set())] == [(1, 1), (1, 2), (1, 3)]
