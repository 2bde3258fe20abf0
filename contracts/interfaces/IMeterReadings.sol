// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Signed smart-meter readings
/// @notice Accepts batches of EIP-712 readings signed by registered meter device keys, relayed by
/// anyone registered. Each (meter, slot) is recorded once; verified export mints certificates.
/// @dev EIP-712 domain: name "p2penergy MeterReadings", version "1", chainId, verifyingContract.
/// Struct: Reading(uint64 meterId,uint64 slot,uint64 importWh,uint64 exportWh,
/// uint64 importRegisterWh,uint64 exportRegisterWh). Signatures are (v, r, s) with v 27 or 28 and
/// low s (s ≤ secp256k1n / 2), as eth_signTypedData_v4 produces them.
///
/// Slot `s` covers `[epoch + s·slotLength, epoch + (s+1)·slotLength)`; its readings are accepted
/// from the slot's end until `readingWindow` seconds later (late readings after an outage count).
interface IMeterReadings {
    /// @notice What a meter measured in one slot.
    /// @param meterId the registry's meter id
    /// @param slot the delivery slot (see `timing` for slot times)
    /// @param importWh energy drawn from the grid in the slot
    /// @param exportWh energy fed into the grid in the slot
    /// @param importRegisterWh the cumulative import register at the end of the slot
    /// @param exportRegisterWh the cumulative export register at the end of the slot
    struct Reading {
        uint64 meterId;
        uint64 slot;
        uint64 importWh;
        uint64 exportWh;
        uint64 importRegisterWh;
        uint64 exportRegisterWh;
    }

    /// @notice A reading with the meter device key's EIP-712 signature.
    /// @param reading the signed reading
    /// @param v recovery id, 27 or 28
    /// @param r signature r
    /// @param s signature s, in the lower half of the curve order
    struct SignedReading {
        Reading reading;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    // ───────────────────────────── errors ─────────────────────────────

    /// @notice The meter already has a reading for `slot` (replays and resubmissions).
    /// @param meterId the meter id
    /// @param slot the slot
    error ReadingsAlreadyRecorded(uint256 meterId, uint256 slot);
    /// @notice The signature is malformed or malleable (high s, v not 27 or 28, no signer).
    /// @param meterId the meter id
    /// @param slot the slot
    error ReadingsInvalidSignature(uint256 meterId, uint256 slot);
    /// @notice The signature recovers to `signer`, which is not the meter's device key in force
    /// when the slot's gate closed (`meterKeyTime`): a wrong key, a key rotated out before that
    /// moment or in only after it, or a signature made for another chain id or contract.
    /// @param meterId the meter id
    /// @param signer the address the signature recovers to
    error ReadingsWrongSigner(uint256 meterId, address signer);
    /// @notice No meter had id `meterId` when the slot's gate closed (never registered, or
    /// registered only after that moment).
    /// @param meterId the meter id
    error ReadingsUnknownMeter(uint256 meterId);
    /// @notice Meter `meterId` was deactivated when the slot's gate closed.
    /// @param meterId the meter id
    error ReadingsInactiveMeter(uint256 meterId);
    /// @notice A register went backwards or is inconsistent with the slot's energy.
    /// @dev Checked against the meter's latest recorded slot only: a later slot's registers must
    /// be at least the latest registers plus this slot's Wh, an earlier (late) slot's registers at
    /// most the latest registers, and every register at least its own slot's Wh.
    /// @param meterId the meter id
    /// @param slot the slot
    error ReadingsRegisterBackwards(uint256 meterId, uint256 slot);
    /// @notice `exportWh` exceeds the nameplate capacity times the slot length (`maxWh`).
    /// @param meterId the meter id
    /// @param exportWh the reported export
    /// @param maxWh floor(capacityW · slotLength / 3600)
    error ReadingsExportAboveCapacity(uint256 meterId, uint256 exportWh, uint256 maxWh);
    /// @notice Recording the reading would take its owner's import or export in `slot` above
    /// `MAX_SLOT_WH` (2^30 − 1 Wh), or its number of meter readings above 15: the widths of the
    /// packed record. The registry's bounds (at most 15 meters of at most 50 MW per owner) keep
    /// export and the count inside, so in practice this is an absurd import (over 1 GWh).
    /// @param meterId the meter id
    /// @param slot the slot
    error ReadingsImplausible(uint256 meterId, uint256 slot);
    /// @notice Readings for `slot` are accepted from `opensAt` until before `closesAt`.
    /// @dev Also raised for slots at or above 2^32, which no realistic clock ever reaches.
    /// @param slot the slot
    /// @param opensAt the slot's end (unix seconds)
    /// @param closesAt the slot's end plus the reading window (unix seconds)
    error ReadingsOutsideWindow(uint256 slot, uint256 opensAt, uint256 closesAt);
    /// @notice The caller may not relay readings (not an active participant or staff).
    /// @param relayer the caller
    error ReadingsRelayerNotAllowed(address relayer);
    /// @notice Deployment parameters are invalid.
    error ReadingsInvalidConfig();
    /// @notice `submitPacked`'s calldata is not a whole number of packed readings.
    /// @param length the length of the packed bytes
    error ReadingsMalformedBatch(uint256 length);
    /// @notice `isRecorded` cannot answer for `slot`: the contract remembers which of a meter's
    /// `MAX_WINDOW_SLOTS` most recent slots are recorded, and `slot` is older than that. Its
    /// reading window has closed; the `ReadingsRecorded` events hold the full history.
    /// @param meterId the meter id
    /// @param slot the slot asked about
    /// @param oldestKnown the oldest slot `isRecorded` can answer for this meter
    error ReadingsHistoryPruned(uint256 meterId, uint256 slot, uint256 oldestKnown);

    // ───────────────────────────── events ─────────────────────────────

    /// @notice The readings one call recorded, in batch order, packed: `ReadingRecords` (40
    /// bytes a reading, big-endian: meterId uint64, slot uint32, owner address, importWh uint32,
    /// exportWh uint32). Each reading's owner is credited with its energy and minted its export
    /// as certificates (the certificate contract's TransferSingle events follow, in the same
    /// order). One event per call instead of one per reading: a relayer's batch is the unit in
    /// which readings arrive, and one log of packed records costs a fraction of a log per reading.
    /// @dev Emitted once per `submit`, `submitPacked` or `submitOne` that records at least one
    /// reading, after the call's `ReadingSkipped` events.
    /// @param records the recorded readings, `RECORD_BYTES` (40) bytes each
    event ReadingsRecorded(bytes records);
    /// @notice A reading in a batch was skipped; `reason` is the selector of the custom error that
    /// `submitOne` would have reverted with.
    /// @param meterId the meter id the reading claims
    /// @param slot the slot the reading claims
    /// @param reason the custom error's selector
    event ReadingSkipped(uint256 indexed meterId, uint256 indexed slot, bytes4 reason);

    // ───────────────────────────── logic ─────────────────────────────

    /// @notice Applies each reading or skips it with a `ReadingSkipped` event: a batch never fails
    /// because of one bad reading, and resubmitting a batch is harmless.
    /// @dev Checks per reading, in this order (the first failure names the reason):
    /// already recorded, reading window, meter known, meter active, signature well-formed,
    /// signer is the meter's current device key, export within capacity, registers monotonic,
    /// the owner's sums for the slot within their bounds (`ReadingsImplausible`).
    /// Requirements: the caller is an active participant or holds a staff role
    /// (the registry's `transactionAllowed`); otherwise the whole call reverts.
    /// @param batch the signed readings, applied in order
    /// @return accepted how many readings were recorded
    function submit(SignedReading[] calldata batch) external returns (uint256 accepted);

    /// @notice `submit` with the batch in a tight encoding (what the oracle's relayer sends):
    /// each reading is 112 bytes, its six fields as big-endian uint64 in `Reading` order, then
    /// the signature in EIP-2098 compact form, r (32 bytes) and yParityAndS (32 bytes: bit 255
    /// is v − 27, the other bits s). The meter signs the same EIP-712 `Reading` as for `submit`
    /// (the compact form is transport only), and the same checks apply in the same order,
    /// high s included; the same events are emitted.
    /// @dev Reverts `ReadingsMalformedBatch` when the length is not a multiple of 112.
    /// @param packed the concatenated packed readings, applied in order
    /// @return accepted how many readings were recorded
    function submitPacked(bytes calldata packed) external returns (uint256 accepted);

    /// @notice Gives each listed meter that has no storage yet its per-meter word now (empty: no
    /// reading, registers zero), so that its first reading updates that word instead of creating
    /// it. Part of registering a meter: the ~20,000 gas of creating the word move from the first
    /// reading (a relayer's batch) to this one-off call. Changes nothing a view returns and no
    /// rule; a meter never prepared is read as before, only dearer the first time.
    /// @dev Meters already prepared or read are left as they are (idempotent). Reverts
    /// `ReadingsUnknownMeter` for an id the registry has no meter for. Same caller requirement as
    /// `submit`.
    /// @param meterIds the registry's meter ids
    function prepareMeters(uint256[] calldata meterIds) external;

    /// @notice Records one reading or reverts with the custom error naming what is wrong.
    /// @dev Same checks and requirements as `submit`.
    /// @param signed the signed reading
    function submitOne(SignedReading calldata signed) external;

    // ───────────────────────────── views ─────────────────────────────

    /// @notice Energy of `account` in `slot`, summed over its meters, and how many meters reported.
    /// @param account the meter owner
    /// @param slot the slot
    /// @return importWh Σ importWh of the account's recorded readings for the slot (< 2^30)
    /// @return exportWh Σ exportWh of the account's recorded readings for the slot (< 2^30)
    /// @return meterReadings how many of the account's meters have a reading for the slot
    function energyOf(address account, uint256 slot)
        external
        view
        returns (uint256 importWh, uint256 exportWh, uint256 meterReadings);

    /// @notice True when meter `meterId` has a reading for `slot`.
    /// @dev Exact for every slot whose reading window is still open and for the meter's
    /// `MAX_WINDOW_SLOTS` most recent slots; reverts `ReadingsHistoryPruned` for older ones.
    /// @param meterId the meter id
    /// @param slot the slot
    function isRecorded(uint256 meterId, uint256 slot) external view returns (bool);

    /// @notice The meter's most recent recorded slot and its registers (what the next reading's
    /// registers are checked against).
    /// @param meterId the meter id
    /// @return any false while the meter has no reading (the other values are then zero)
    /// @return slot the latest recorded slot
    /// @return importRegisterWh the import register at the end of `slot`
    /// @return exportRegisterWh the export register at the end of `slot`
    function latestReading(uint256 meterId)
        external
        view
        returns (bool any, uint256 slot, uint256 importRegisterWh, uint256 exportRegisterWh);

    /// @notice The EIP-712 digest a meter signs for `reading`.
    /// @param reading the reading
    function readingDigest(Reading calldata reading) external view returns (bytes32);

    /// @notice When readings for `slot` open (slot end) and close (slot end + reading window).
    /// @param slot the slot
    /// @return opensAt the slot's end (unix seconds), first second readings are accepted
    /// @return closesAt the first second readings are no longer accepted
    function readingWindow(uint256 slot) external view returns (uint256 opensAt, uint256 closesAt);

    /// @notice The slot grid: start of slot 0, slot length and reading window, in seconds.
    function timing() external view returns (uint64 epoch, uint32 slotLength, uint32 window);

    /// @notice Seconds before a slot's start at which its gate closes (as in the market).
    function gateClosure() external view returns (uint32);

    /// @notice The moment whose meter keys and status verify readings of `slot`: just before its
    /// gate closed (`slotStart − gateClosure − 1`). See the registry's `meterAt`.
    function meterKeyTime(uint256 slot) external view returns (uint256);
}
