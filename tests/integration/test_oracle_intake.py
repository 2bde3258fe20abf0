"""The oracle on the embedded chain: CSV intake with bad rows, signing, relaying, rejections."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from p2penergy.oracle.outbox import PENDING, REJECTED, SUBMITTED, Outbox
from p2penergy.oracle.recorded import recorded_in, recorded_since
from p2penergy.oracle.relayer import Relayer, grid_of
from p2penergy.oracle.service import Oracle
from p2penergy.oracle.sources import CSV_COLUMNS, CsvSource

from ..conftest import Deployed
from .oracle_helpers import (
    CONSUMER,
    PROSUMER,
    advance_to,
    current_slot,
    new_trader,
    slot_start_iso,
    to_slot_end,
)

HEADER = ",".join(CSV_COLUMNS)


@pytest.fixture
def setup(deployed: Deployed, tmp_path: Path):
    d = deployed
    seller = new_trader(d.chain, d.system, d.actors.operator, PROSUMER)
    buyer = new_trader(d.chain, d.system, d.actors.operator, CONSUMER)
    # A reading verifies against the meter in force at its slot's gate: start the tests at the
    # next slot's start, so the gate of the slot after it comes after the meters' registration.
    epoch, length, _ = d.system.readings.functions.timing().call()
    advance_to(d.chain, epoch + (current_slot(d.chain, d.system) + 1) * length)
    outbox = Outbox(tmp_path / "outbox.sqlite", d.chain.chain_id, d.system.readings.address)
    relayer = Relayer(d.system, d.actors.keeper, outbox, batch_size=3)
    meters = Oracle.meters_for(d.system, [seller.device, buyer.device])
    oracle = Oracle(d.system, meters, outbox, relayer)
    yield d, seller, buyer, outbox, oracle
    outbox.close()


def test_a_csv_with_bad_rows_reports_each_and_relays_the_rest_exactly(setup, tmp_path: Path):
    d, seller, buyer, outbox, oracle = setup
    s = current_slot(d.chain, d.system) + 1
    iso = lambda k: slot_start_iso(d.system, k)  # noqa: E731
    m, b = seller.meter_id, buyer.meter_id
    lines = [
        HEADER,
        f"{m},{iso(s)},0,500,0,500",  # 2 ok
        f"{m},{iso(s + 1)},0,-1,0,500",  # 3 negative
        f"999,{iso(s)},1,0,1,0",  # 4 unknown meter
        f"{m},{iso(s)},0,500,0,500",  # 5 duplicate
        f"{b},not-a-time,1,0,1,0",  # 6 bad timestamp
        f"{b},{iso(s)},700,0,700,0",  # 7 ok
        f"{b},{iso(s + 1)},100,0,750,0",  # 8 register backwards (700 + 100 > 750)
        f"{m},{iso(s + 1)},0,200,0,700",  # 9 ok
        f"{b},{iso(s + 2)},10",  # 10 missing columns
    ]
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines) + "\n")
    [batch] = CsvSource(path, grid_of(d.system)).poll()
    result = oracle.ingest(batch)
    assert result.added == 3
    reasons = {p.line: p.reason for p in result.problems}
    assert sorted(reasons) == [3, 4, 5, 6, 8, 10]
    assert "unknown meter 999" in reasons[4]
    assert "register went backwards" in reasons[8]
    assert all(str(p).startswith(f"{path}:") for p in result.problems)
    # nothing due before the slots end: no transaction, everything pending
    assert oracle.relayer.relay().transactions == 0
    to_slot_end(d.chain, d.system, s + 1)
    relayed = oracle.relayer.relay()
    assert (relayed.submitted, relayed.rejected, relayed.transactions) == (3, 0, 1)
    assert outbox.counts() == {PENDING: 0, SUBMITTED: 3, REJECTED: 0}
    energy = d.system.readings.functions.energyOf
    assert energy(seller.account.address, s).call() == [0, 500, 1]
    assert energy(seller.account.address, s + 1).call() == [0, 200, 1]
    assert energy(buyer.account.address, s).call() == [700, 0, 1]
    # processing the same file again is a no-op, not a second reading
    again = oracle.ingest(CsvSource(path, grid_of(d.system)).poll()[0])
    assert (again.added, again.already) == (0, 3)
    assert oracle.relayer.relay().transactions == 0


def test_a_reading_the_chain_already_has_counts_as_submitted(setup):
    d, seller, _, outbox, oracle = setup
    from p2penergy.oracle.sources import SimulatedMeters

    s = current_slot(d.chain, d.system) + 1
    meters = SimulatedMeters()
    meters.record(seller.meter_id, s, 0, 300)
    [batch] = meters.poll()
    oracle.ingest(batch)
    to_slot_end(d.chain, d.system, s)
    # someone else relays the same signed reading first
    [entry] = outbox.pending()
    from p2penergy.chain.tx import transact

    transact(
        d.chain, d.actors.keeper, d.system.readings.functions.submit([entry.signed.as_tuple()])
    )
    relayed = oracle.relayer.relay()
    assert (relayed.submitted, relayed.rejected) == (1, 0)
    assert outbox.counts()[SUBMITTED] == 1


def test_a_skipped_reading_is_rejected_with_the_decoded_error_name(setup):
    d, seller, _, outbox, oracle = setup
    from p2penergy.oracle.sources import SimulatedMeters

    s = current_slot(d.chain, d.system) + 1
    meters = SimulatedMeters()
    meters.record(seller.meter_id, s, 0, 10**7)  # far above a 20 kW meter's 5 kWh per slot
    meters.record(seller.meter_id, s + 1, 0, 100)
    oracle.ingest(meters.poll()[0])
    to_slot_end(d.chain, d.system, s + 1)
    relayed = oracle.relayer.relay()
    assert relayed.reasons == {"ReadingsExportAboveCapacity": 1}
    [rejected] = outbox.entries(REJECTED)
    assert (rejected.key, rejected.reason) == ((seller.meter_id, s), "ReadingsExportAboveCapacity")
    assert outbox.counts() == {PENDING: 0, SUBMITTED: 1, REJECTED: 1}


def test_a_reading_sent_before_its_slot_ended_stays_pending_not_rejected(setup, monkeypatch):
    d, seller, _, outbox, oracle = setup
    from p2penergy.oracle.sources import SimulatedMeters

    s = current_slot(d.chain, d.system) + 2
    meters = SimulatedMeters()
    meters.record(seller.meter_id, s, 0, 300)
    oracle.ingest(meters.poll()[0])
    # a relayer whose clock runs ahead sends it early: the contract skips it as outside the window
    monkeypatch.setattr(oracle.relayer, "due", outbox.pending)
    relayed = oracle.relayer.relay()
    assert (relayed.transactions, relayed.submitted, relayed.rejected) == (1, 0, 0)
    assert outbox.counts() == {PENDING: 1, SUBMITTED: 0, REJECTED: 0}
    monkeypatch.undo()
    to_slot_end(d.chain, d.system, s)
    assert oracle.relayer.relay().submitted == 1


def test_a_batch_the_full_disk_refused_is_kept_and_stored_on_a_later_pass(setup, tmp_path: Path):
    """Disk full (a file-size limit) while a batch goes in: one retry line, back off, and the
    same batch is stored whole on the next pass; the source is not read twice."""
    import resource
    import threading

    from p2penergy._retry import Backoff
    from p2penergy.exceptions import OutboxWriteFailed

    d, seller, buyer, outbox, oracle = setup
    s = current_slot(d.chain, d.system) + 1
    lines = [HEADER]
    for k in range(150):
        iso = slot_start_iso(d.system, s + k)
        lines.append(f"{seller.meter_id},{iso},0,5,0,{5 * (k + 1)}")
        lines.append(f"{buyer.meter_id},{iso},5,0,{5 * (k + 1)},0")
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines) + "\n")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    retries: list[BaseException] = []

    def on_retry(exc: BaseException, delay: float) -> None:
        retries.append(exc)
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space is back

    resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))
    try:
        summary = oracle.run(
            [CsvSource(path, grid_of(d.system))],
            stop=threading.Event(),
            once=True,
            backoff=Backoff(maximum=0.1),
            on_retry=on_retry,
        )
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert [type(e) for e in retries] == [OutboxWriteFailed]
    assert outbox.counts() == {PENDING: 300, SUBMITTED: 0, REJECTED: 0}
    assert (summary.sources_unreadable, summary.rows_rejected) == (0, 0)


def _four_slots(d: Deployed, seller, buyer, oracle) -> int:  # type: ignore[no-untyped-def]
    """Eight readings (two meters, four slots) signed into the outbox, all due; the first slot."""
    from p2penergy.oracle.sources import SimulatedMeters

    s = current_slot(d.chain, d.system) + 1
    meters = SimulatedMeters()
    for k in range(4):
        meters.record(seller.meter_id, s + k, 0, 100 + k)
        meters.record(buyer.meter_id, s + k, 200 + k, 0)
    assert oracle.ingest(meters.poll()[0]).added == 8
    to_slot_end(d.chain, d.system, s + 3)
    return s


def test_the_relayers_calldata_and_outcomes_equal_web3s_encoding_and_decoding(setup):
    """The hot path's own encoding (`submitPacked`) and topic reading against web3's contract
    machinery, on a receipt holding both events (three readings recorded, one skipped, one
    already there)."""
    from p2penergy.chain.tx import events, transact
    from p2penergy.oracle.reading import pack_batch
    from p2penergy.oracle.relayer import reason_name

    d, seller, buyer, outbox, oracle = setup
    s = _four_slots(d, seller, buyer, oracle)
    entries = outbox.pending()[:4]
    contract = d.system.readings
    first = [entries[0].signed.as_tuple()]
    transact(d.chain, d.actors.keeper, contract.functions.submit(first))  # already recorded
    # a reading with a changed s recovers another signer: skipped, as submitOne would revert
    bad = entries[1].signed
    entries[1] = replace(entries[1], signed=replace(bad, s=bad.s ^ 1))
    packed = pack_batch(e.signed for e in entries)
    web3_data = contract.functions.submitPacked(packed)._encode_transaction_data()
    assert "0x" + oracle.relayer.calldata(entries).hex() == web3_data
    receipt = transact(d.chain, d.actors.keeper, contract.functions.submitPacked(packed))
    expected: dict[tuple[int, int], str | None] = {}
    for one in recorded_in(contract, receipt):
        expected[(one.meter_id, one.slot)] = None
    for event in events(contract, "ReadingSkipped", receipt):
        key = (event["args"]["meterId"], event["args"]["slot"])
        expected[key] = reason_name(event["args"]["reason"])
    assert len(expected) == 4 and sorted(set(expected.values()), key=str) == [
        None,
        "ReadingsAlreadyRecorded",
        "ReadingsWrongSigner",
    ]
    assert oracle.relayer.outcomes(receipt) == expected
    assert min(k[1] for k in expected) == s


def test_a_send_failing_mid_pass_keeps_the_unconfirmed_pending_and_the_next_pass_recovers(
    setup, monkeypatch
):
    """Three batches; the second reaches the node but its sender sees an error (a dropped
    connection): the pass confirms the first, raises, and marks nothing else. The next pass
    re-reads the nonce, resubmits both (the second is already recorded: submitted) and
    nothing is rejected or left behind."""
    import p2penergy.oracle.relayer as relayer_module

    d, seller, buyer, outbox, oracle = setup
    _four_slots(d, seller, buyer, oracle)
    real_send = relayer_module.send_only
    sends: list[int] = []

    def send_then_drop(chain, account, tx):  # type: ignore[no-untyped-def]
        sends.append(tx["nonce"])
        tx_hash = real_send(chain, account, tx)
        if len(sends) == 2:
            raise ConnectionError("connection dropped after the send")
        return tx_hash

    monkeypatch.setattr(relayer_module, "send_only", send_then_drop)
    confirmed: list[int] = []
    with pytest.raises(ConnectionError):
        oracle.relayer.relay(on_batch=lambda result: confirmed.append(result.submitted))
    assert confirmed == [3] and len(sends) == 2 and sends[1] == sends[0] + 1
    assert outbox.counts() == {PENDING: 5, SUBMITTED: 3, REJECTED: 0}
    relayed = oracle.relayer.relay()
    assert sends[2] == sends[1] + 1  # the nonce after the dropped-but-sent transaction
    assert (relayed.transactions, relayed.submitted, relayed.rejected) == (2, 5, 0)
    assert outbox.counts() == {PENDING: 0, SUBMITTED: 8, REJECTED: 0}
    recorded = recorded_since(d.system.readings, 0)
    assert len({(e.meter_id, e.slot) for e in recorded}) == len(recorded)


def test_pipelined_sends_keep_full_batches_never_resend_in_flight_and_collect_each_once(setup):
    """`send(full_only=True)` sends only full transactions and leaves the rest for later;
    readings in flight are not sent again by the next `send`; `collect` marks each reading
    from its receipt. The chain records each reading exactly once, with no skip at all."""
    d, seller, buyer, outbox, oracle = setup
    relayer = oracle.relayer
    start = d.chain.w3.eth.block_number + 1
    _four_slots(d, seller, buyer, oracle)  # 8 due readings, 3 per transaction
    assert relayer.send(full_only=True) == 2 and relayer.in_flight == 2
    assert relayer.send(full_only=True) == 0  # 2 not in flight: not a full transaction
    assert relayer.send() == 1 and relayer.in_flight == 3  # the rest, without the 6 again
    assert relayer.send() == 0
    confirmed: list[int] = []
    # both chains here mine on arrival: every receipt is in, so not waiting collects them all
    collected = relayer.collect(
        wait=False, on_batch=lambda result: confirmed.append(result.submitted)
    )
    assert (collected.transactions, collected.submitted, collected.rejected) == (3, 8, 0)
    assert confirmed == [3, 3, 2] and relayer.in_flight == 0
    assert outbox.counts() == {PENDING: 0, SUBMITTED: 8, REJECTED: 0}
    contract = d.system.readings
    recorded = recorded_since(contract, start)
    assert len({(e.meter_id, e.slot) for e in recorded}) == len(recorded) == 8
    assert not contract.events.ReadingSkipped().get_logs(from_block=start)


def test_a_collect_that_fails_forgets_what_was_in_flight_and_the_next_pass_confirms_it(
    setup, monkeypatch
):
    """A receipt that cannot be had (the node went away) fails `collect` and the relayer
    forgets its transactions in flight: their readings stay pending, the next pass sends them
    again and the chain's `ReadingsAlreadyRecorded` counts them submitted."""
    import p2penergy.oracle.relayer as relayer_module

    d, seller, buyer, outbox, oracle = setup
    relayer = oracle.relayer
    _four_slots(d, seller, buyer, oracle)
    assert relayer.send() == 3

    def gone(self, tx_hash, *, wait):  # type: ignore[no-untyped-def]
        raise ConnectionError("node went away")

    monkeypatch.setattr(relayer_module.Relayer, "_receipt", gone)
    with pytest.raises(ConnectionError):
        relayer.collect()
    assert relayer.in_flight == 0
    assert outbox.counts() == {PENDING: 8, SUBMITTED: 0, REJECTED: 0}
    monkeypatch.undo()
    relayed = relayer.relay()
    assert (relayed.transactions, relayed.submitted, relayed.rejected) == (3, 8, 0)
    assert outbox.counts() == {PENDING: 0, SUBMITTED: 8, REJECTED: 0}
