"""The oracle as a real process against our own node: kill -9 between signing and submission,
and a node that stops answering (TCP proxy) while readings stream in and the oracle restarts.
Every reading lands on chain exactly once and the outbox agrees with the chain."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from p2penergy.domain.readings import Reading
from p2penergy.oracle.outbox import PENDING, REJECTED, SUBMITTED, Outbox
from p2penergy.oracle.recorded import recorded_since
from p2penergy.oracle.sources import CSV_COLUMNS

from .oracle_helpers import PROSUMER, Trader, advance_to, current_slot, new_trader, slot_start_iso
from .process_helpers import FlakyProxy, Site, cli, new_site, spawn, wait_for

N_METERS = 6


@pytest.fixture
def site(hardhat_node: str, tmp_path: Path) -> Site:
    return new_site(hardhat_node, tmp_path)


def _traders(site: Site) -> list[Trader]:
    return [new_trader(site.chain, site.system, site.admin, PROSUMER) for _ in range(N_METERS)]


def _readings(traders: list[Trader], slots: list[int]) -> list[Reading]:
    out = []
    for k, trader in enumerate(traders):
        imp_reg = exp_reg = 0
        for slot in slots:
            imp, exp = 10 * k + slot % 7, 100 + k + slot % 11
            imp_reg, exp_reg = imp_reg + imp, exp_reg + exp
            out.append(Reading(trader.meter_id, slot, imp, exp, imp_reg, exp_reg))
    return out


def _csv(site: Site, readings: list[Reading]) -> str:
    lines = [",".join(CSV_COLUMNS)]
    for r in readings:
        iso = slot_start_iso(site.system, r.slot)
        lines.append(
            f"{r.meter_id},{iso},{r.import_wh},{r.export_wh},"
            f"{r.import_register_wh},{r.export_register_wh}"
        )
    return "\n".join(lines) + "\n"


def _counts(path: Path) -> dict[str, int]:
    if not path.exists():
        return {PENDING: 0, SUBMITTED: 0, REJECTED: 0}
    with Outbox(path) as outbox:
        return outbox.counts()


def _assert_exactly_once(site: Site, outbox_path: Path, readings: list[Reading]) -> None:
    contract = site.system.readings
    start = site.system.deployment.blocks["MeterReadings"]
    recorded = recorded_since(contract, start)
    keys = Counter((e.meter_id, e.slot) for e in recorded)
    assert keys == Counter((r.meter_id, r.slot) for r in readings)  # each exactly once
    skipped = contract.events.ReadingSkipped.get_logs(from_block=start)
    reasons = {bytes(e["args"]["reason"]) for e in skipped}
    from p2penergy.oracle.relayer import reason_name

    assert {reason_name(r) for r in reasons} <= {"ReadingsAlreadyRecorded"}
    by_key = {(e.meter_id, e.slot): e for e in recorded}
    with Outbox(outbox_path) as outbox:
        assert outbox.counts() == {PENDING: 0, SUBMITTED: len(readings), REJECTED: 0}
        for r in readings:
            entry = outbox.get(r.meter_id, r.slot)
            assert entry is not None and entry.signed.reading == r
            recorded_one = by_key[(r.meter_id, r.slot)]
            assert (recorded_one.import_wh, recorded_one.export_wh) == (r.import_wh, r.export_wh)


def _oracle_argv(site: Site, source: str, outbox: Path, url: str, *extra: str) -> list[str]:
    relayer = site.write_key(site.keepers[0], site.folder / "relayer.key")
    return cli(
        "oracle",
        "run",
        "--source",
        source,
        "--meter-keys",
        str(site.folder / "meters"),
        "--relayer-key",
        str(relayer),
        "--outbox",
        str(outbox),
        "--batch-size",
        "3",
        "--interval",
        "0.2",
        *extra,
        rpc_url=url,
        site=site,
    )


def test_kill_9_between_signing_and_submission_loses_and_doubles_nothing(
    site: Site, hardhat_node: str, tmp_path: Path
):
    traders = _traders(site)
    site.meter_keys(traders)
    # +2: the next slot's gate may have closed before these meters were registered (the time of
    # day decides), and a reading verifies against the meters in force at its slot's gate.
    first = current_slot(site.chain, site.system) + 2
    slots = list(range(first, first + 10))
    readings = _readings(traders, slots)
    advance_to(site.chain, site.system.readings.functions.readingWindow(slots[-1]).call()[0])
    export = tmp_path / "export.csv"
    export.write_text(_csv(site, readings))
    outbox = tmp_path / "outbox.sqlite"
    argv = _oracle_argv(site, f"csv:{export}", outbox, hardhat_node)
    log = tmp_path / "oracle.log"

    # 1: killed as soon as readings are signed and committed, before (or while) relaying
    proc = spawn(argv, log)
    wait_for(lambda: sum(_counts(outbox).values()) > 0, 60, "signed readings in the outbox")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after_first = _counts(outbox)
    assert sum(after_first.values()) == len(readings)  # the file went in whole, never half
    assert after_first[PENDING] > 0

    # 2: restarted, killed again in the middle of relaying
    proc = spawn(argv, log)
    wait_for(
        lambda: _counts(outbox)[SUBMITTED] > after_first[SUBMITTED] + 3,
        60,
        "some readings submitted",
        interval=0.02,
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _counts(outbox)[PENDING] > 0, "killed too late to test anything"

    # 3: a cron-style run finishes the job
    proc = spawn([*argv, "--once"], log)
    assert proc.wait(timeout=180) == 0, log.read_text()
    _assert_exactly_once(site, outbox, readings)


def test_a_node_that_stops_answering_and_an_oracle_restart_lose_and_double_nothing(
    site: Site, hardhat_node: str, tmp_path: Path
):
    traders = _traders(site)
    site.meter_keys(traders)
    # +2: the next slot's gate may have closed before these meters were registered (the time of
    # day decides), and a reading verifies against the meters in force at its slot's gate.
    first = current_slot(site.chain, site.system) + 2
    slots = list(range(first, first + 12))
    readings = _readings(traders, slots)
    advance_to(site.chain, site.system.readings.functions.readingWindow(slots[-1]).call()[0])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    upstream_port = int(hardhat_node.rsplit(":", 1)[1])
    proxy = FlakyProxy(upstream_port)
    outbox = tmp_path / "outbox.sqlite"
    argv = _oracle_argv(site, f"folder:{inbox}", outbox, proxy.url)
    log = tmp_path / "oracle.log"

    def drop(part: int) -> None:
        """The utility's export for two slots arrives (written, then renamed into place)."""
        chunk = [r for r in readings if r.slot in slots[2 * part : 2 * part + 2]]
        tmp = inbox / f"export-{part}.csv.tmp"
        tmp.write_text(_csv(site, chunk))
        old = time.time() - 10
        os.utime(tmp, (old, old))
        tmp.rename(inbox / f"export-{part}.csv")

    try:
        proc = spawn(argv, log)
        drop(0)
        wait_for(lambda: _counts(outbox)[SUBMITTED] >= 6, 60, "first export relayed")
        drop(1)
        proxy.set_mode("refuse")  # connections reset while readings keep arriving
        drop(2)
        time.sleep(2.5)
        proxy.set_mode("pass")
        wait_for(lambda: _counts(outbox)[SUBMITTED] >= 20, 90, "relaying resumed")
        proxy.set_mode("stall")  # accepted but never answered: requests time out
        drop(3)
        time.sleep(1.5)
        os.kill(proc.pid, signal.SIGKILL)  # the oracle dies during the outage
        proc.wait()
        proc = spawn(argv, log)  # and restarts while the node still does not answer
        time.sleep(2)
        drop(4)
        proxy.set_mode("refuse")
        time.sleep(1.5)
        proxy.set_mode("pass")
        drop(5)
        wait_for(lambda: _counts(outbox)[SUBMITTED] == len(readings), 180, "every reading relayed")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.close()
    output = log.read_text()
    assert "node unreachable" in output
    assert "oracle stopped" in output
    _assert_exactly_once(site, outbox, readings)
