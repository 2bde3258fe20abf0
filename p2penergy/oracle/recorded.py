"""The readings the chain recorded: `MeterReadings.ReadingsRecorded` events, one per call, each
carrying the call's recorded readings packed (MeterReadings' `ReadingRecords` layout). The one
decoder every reader uses: the relayer's confirmations, the audit, the simulator, the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from web3.contract import Contract
from web3.types import TxReceipt

from p2penergy.chain.tx import events
from p2penergy.domain.readings import InvalidReading

# `ReadingsRecorded`'s records (MeterReadings' `ReadingRecords`): big-endian meterId (8 bytes),
# slot (4), owner (20), importWh (4), exportWh (4).
RECORDED_READING_BYTES = 40


@dataclass(frozen=True, slots=True)
class RecordedReading:
    """A reading the chain recorded, as one record of a `ReadingsRecorded` event tells it: the
    meter, the slot, the owner credited (checksummed) and the energy."""

    meter_id: int
    slot: int
    owner: str
    import_wh: int
    export_wh: int

    def packed(self) -> bytes:
        """The record's `RECORDED_READING_BYTES` bytes (`unpack_recorded`'s inverse)."""
        return (
            self.meter_id.to_bytes(8, "big")
            + self.slot.to_bytes(4, "big")
            + bytes.fromhex(self.owner.removeprefix("0x"))
            + self.import_wh.to_bytes(4, "big")
            + self.export_wh.to_bytes(4, "big")
        )


def unpack_recorded(records: bytes) -> list[RecordedReading]:
    """The recorded readings of a `ReadingsRecorded` event's `records`, in batch order."""
    if len(records) % RECORDED_READING_BYTES:
        raise InvalidReading(
            f"recorded readings are a multiple of {RECORDED_READING_BYTES} bytes, "
            f"got {len(records)}"
        )
    found = []
    for i in range(0, len(records), RECORDED_READING_BYTES):
        record = records[i : i + RECORDED_READING_BYTES]
        found.append(
            RecordedReading(
                meter_id=int.from_bytes(record[0:8], "big"),
                slot=int.from_bytes(record[8:12], "big"),
                owner=to_checksum_address(record[12:32]),
                import_wh=int.from_bytes(record[32:36], "big"),
                export_wh=int.from_bytes(record[36:40], "big"),
            )
        )
    return found


def recorded_in(contract: Contract, receipt: TxReceipt) -> list[RecordedReading]:
    """The readings `contract` (a MeterReadings) recorded in `receipt`, in order."""
    return recorded_from(events(contract, "ReadingsRecorded", receipt))


def recorded_since(contract: Contract, from_block: int) -> list[RecordedReading]:
    """The readings `contract` recorded from block `from_block` on, in chain order."""
    return recorded_from(contract.events.ReadingsRecorded().get_logs(from_block=from_block))


def recorded_from(logs: Iterable[Mapping[str, Any]]) -> list[RecordedReading]:
    """The recorded readings of decoded `ReadingsRecorded` events, in order."""
    return [r for log in logs for r in unpack_recorded(bytes(log["args"]["records"]))]
