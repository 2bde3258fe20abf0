"""CSV parsing, the watched folder and simulated meters (no chain)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from p2penergy.domain.readings import Reading
from p2penergy.domain.slots import SlotGrid
from p2penergy.oracle.sources import (
    CSV_COLUMNS,
    FolderSource,
    SimulatedMeters,
    parse_csv,
)

GRID = SlotGrid(epoch=1_767_225_600, slot_length=900, window=4 * 3600)  # 2026-01-01T00:00Z
HEADER = ",".join(CSV_COLUMNS)


def test_a_good_file_yields_one_reading_per_row_with_slots_from_zoned_timestamps():
    text = (
        f"{HEADER}\n"
        "7,2026-01-01T00:15:00Z,100,0,1100,0\n"
        "7,2026-01-01T01:30:00+01:00,50,20,1150,20\n"  # 00:30 UTC
    )
    batch = parse_csv(text, "a.csv", GRID)
    assert batch.problems == []
    assert [r.reading for r in batch.rows] == [
        Reading(7, 1, 100, 0, 1100, 0),
        Reading(7, 2, 50, 20, 1150, 20),
    ]
    assert [r.line for r in batch.rows] == [2, 3]


def test_columns_may_come_in_any_order_and_extra_columns_are_ignored():
    text = (
        "export_wh,meter_id,note,slot_start,import_wh,export_register_wh,import_register_wh\n"
        "5,3,hello,2026-01-01T00:00:00Z,1,5,1\n"
    )
    batch = parse_csv(text, "b.csv", GRID)
    assert [r.reading for r in batch.rows] == [Reading(3, 0, 1, 5, 1, 5)]


def test_each_bad_row_is_reported_with_file_line_and_reason_and_the_rest_is_kept():
    text = (
        f"{HEADER}\n"
        "1,2026-01-01T00:00:00Z,10,0,10,0\n"  # 2 ok
        "1,2026-01-01T00:15:00Z,-5,0,10,0\n"  # 3 negative
        "1,2026-01-01T00:30:00,10,0,20,0\n"  # 4 no zone
        "1,yesterday,10,0,20,0\n"  # 5 not a timestamp
        "1,2026-01-01T00:31:00Z,10,0,20,0\n"  # 6 off the grid
        "1,2026-01-01T00:00:00Z,10,0,10,0\n"  # 7 duplicate of line 2
        "x,2026-01-01T00:45:00Z,10,0,20,0\n"  # 8 bad meter
        "1,2026-01-01T01:00:00Z,10,0\n"  # 9 missing fields
        "1,2026-01-01T01:15:00Z,1.5,0,30,0\n"  # 10 not whole Wh
        "2,2026-01-01T00:00:00Z,1,2,3,4\n"  # 11 ok
    )
    batch = parse_csv(text, "bad.csv", GRID)
    assert [r.line for r in batch.rows] == [2, 11]
    reasons = {p.line: p.reason for p in batch.problems}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "negative" in reasons[3]
    assert "no time zone" in reasons[4]
    assert "not an ISO 8601 timestamp" in reasons[5]
    assert "not a slot start" in reasons[6]
    assert "duplicate row for meter 1 slot 0 (first on line 2)" in reasons[7]
    assert "meter_id" in reasons[8]
    assert "lacks import_register_wh, export_register_wh" in reasons[9]
    assert "whole number" in reasons[10]
    assert str(batch.problems[0]) == "bad.csv:3: import_wh is negative: -5"


def test_a_header_without_a_required_column_rejects_the_file_with_one_clear_message():
    batch = parse_csv(
        "meter_id,slot_start,import_wh,export_wh\n1,2026-01-01T00:00Z,1,1\n", "h", GRID
    )
    assert batch.rows == []
    [problem] = batch.problems
    assert problem.line == 1
    assert "import_register_wh, export_register_wh" in problem.reason


def test_an_empty_file_is_reported():
    assert "empty" in parse_csv("", "e.csv", GRID).problems[0].reason


def test_the_folder_source_takes_settled_files_once_and_skips_known_contents(tmp_path: Path):
    first = tmp_path / "one.csv"
    first.write_text(f"{HEADER}\n1,2026-01-01T00:00:00Z,1,0,1,0\n")
    source = FolderSource(tmp_path, GRID, settle_seconds=60)
    assert source.poll() == []  # too fresh: may still be being written
    old = time.time() - 120
    os.utime(first, (old, old))
    [batch] = source.poll()
    assert batch.key is not None and len(batch.rows) == 1
    assert source.poll() == []  # unchanged
    copy = tmp_path / "copy.csv"
    copy.write_bytes(first.read_bytes())
    os.utime(copy, (old, old))
    assert source.poll() == []  # same contents under another name
    restarted = FolderSource(tmp_path, GRID, settle_seconds=0, already_seen=[batch.key])
    assert restarted.poll() == []
    (tmp_path / "ignored.txt").write_text("not a csv")
    assert restarted.poll() == []


def test_simulated_meters_accumulate_registers_per_meter():
    meters = SimulatedMeters()
    meters.record(1, 10, 100, 0)
    meters.record(2, 10, 0, 50)
    meters.record(1, 11, 30, 5)
    [batch] = meters.poll()
    assert [r.reading for r in batch.rows] == [
        Reading(1, 10, 100, 0, 100, 0),
        Reading(2, 10, 0, 50, 0, 50),
        Reading(1, 11, 30, 5, 130, 5),
    ]
    assert meters.poll() == []
