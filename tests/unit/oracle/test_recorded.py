"""`ReadingsRecorded` records: the packed layout MeterReadings writes (no chain; the contract
side is tests/contracts/test_readings.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2penergy.domain.readings import InvalidReading
from p2penergy.exceptions import P2PEnergyError
from p2penergy.oracle.recorded import RECORDED_READING_BYTES, RecordedReading, unpack_recorded
from tests.budget import examples

OWNER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_a_record_is_meter_slot_owner_import_export_big_endian():
    record = bytes.fromhex(
        "0102030405060708"  # meterId, 8 bytes
        "0a0b0c0d"  # slot, 4 bytes
        "5fbdb2315678afecb367f032d93f642f64180aa3"  # owner, 20 bytes
        "00000123"  # importWh, 4 bytes
        "3fffffff"  # exportWh, 4 bytes
    )
    assert len(record) == RECORDED_READING_BYTES == 40
    assert unpack_recorded(record) == [
        RecordedReading(0x0102030405060708, 0x0A0B0C0D, OWNER, 0x123, 2**30 - 1)
    ]


def test_records_come_back_in_order_with_checksummed_owners():
    first = RecordedReading(1, 7, OWNER, 300, 700)
    second = RecordedReading(2**64 - 1, 2**32 - 1, "0x" + "00" * 19 + "01", 0, 0)
    (owner,) = {r.owner for r in unpack_recorded(first.packed())}
    assert owner == OWNER  # checksummed, as web3 gives addresses
    assert unpack_recorded(first.packed() + second.packed()) == [first, second]
    assert unpack_recorded(b"") == []


@given(
    st.lists(
        st.builds(
            RecordedReading,
            st.integers(0, 2**64 - 1),
            st.integers(0, 2**32 - 1),
            st.just(OWNER),
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**32 - 1),
        ),
        max_size=5,
    )
)
@settings(max_examples=examples(50))
def test_packed_records_round_trip(records: list[RecordedReading]):
    data = b"".join(r.packed() for r in records)
    assert len(data) == RECORDED_READING_BYTES * len(records)
    assert unpack_recorded(data) == records


@pytest.mark.parametrize("length", [1, 39, 41, 79])
def test_records_that_are_not_whole_are_refused_as_an_invalid_reading(length: int):
    with pytest.raises(InvalidReading) as info:
        unpack_recorded(b"\1" * length)
    assert isinstance(info.value, P2PEnergyError)
