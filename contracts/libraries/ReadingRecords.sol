// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ReadingRecords
/// @notice The packed records of `IMeterReadings.ReadingsRecorded` and of
/// `IEnergyCertificate.mintBatch`: one fixed-width record per recorded reading, in batch order.
/// @dev A record is `RECORD_BYTES` (40) bytes, big-endian: meterId (8 bytes), slot (4), owner
/// (20), importWh (4), exportWh (4). The widths hold every recorded reading: meter ids are
/// uint64 (the signed field), a recorded slot is below 2^32 (refused as outside the window
/// otherwise), and a recorded reading's import and export are each at most the owner's slot sum,
/// below 2^30 (`MAX_SLOT_WH`). Written to memory by MeterReadings, read from calldata by the
/// certificate contract.
library ReadingRecords {
    /// @notice Bytes per record.
    uint256 internal constant RECORD_BYTES = 40;

    /// @dev Writes a record at memory `ptr`. The second store spans 32 bytes, so it also writes
    /// the 24 bytes after the record with zeros: the buffer needs that much room at its end, the
    /// next record overwrites them, and after the last one they are the zero padding the ABI
    /// encoding of the `bytes` wants. The caller guarantees the widths (see the library's notes).
    function write(uint256 ptr, uint256 meterId, uint256 slot, address owner, uint256 importWh, uint256 exportWh)
        internal
        pure
    {
        assembly ("memory-safe") {
            mstore(ptr, or(or(shl(192, meterId), shl(160, slot)), owner))
            mstore(add(ptr, 32), or(shl(224, importWh), shl(192, exportWh)))
        }
    }

    /// @dev The owner, slot and export of the record at byte `offset` of `records` (calldata);
    /// the caller keeps `offset + RECORD_BYTES` within `records`.
    function mintAt(bytes calldata records, uint256 offset)
        internal
        pure
        returns (address owner, uint256 slot, uint256 exportWh)
    {
        uint256 head;
        uint256 tail;
        assembly ("memory-safe") {
            let at := add(records.offset, offset)
            head := calldataload(at)
            tail := calldataload(add(at, 32))
        }
        owner = address(uint160(head));
        slot = uint32(head >> 160);
        exportWh = uint32(tail >> 192);
    }
}
