// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {IEnergyCertificate} from "./interfaces/IEnergyCertificate.sol";
import {IMeterReadings} from "./interfaces/IMeterReadings.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {ReadingRecords} from "./libraries/ReadingRecords.sol";

/// @title MeterReadings
/// @notice Records signed smart-meter readings per (meter, slot), sums them per owner and slot for
/// settlement, and mints energy certificates for verified export.
/// @dev Storage is one word per meter (latest registers, latest slot, a bitmap of the recent
/// slots already recorded) and one word per owner and eight consecutive slots (import, export
/// and meter count of each slot in a 32-bit lane of 14-bit sums), so a reading costs one cold
/// read-modify-write of each, and in steady operation seven slots in eight find the owner's word
/// already written. A slot whose import or export sum outgrows 14 bits (16,383 Wh: above about
/// 65 kW in a 15-minute slot) moves to a second, wide word per owner and four slots (30-bit sums,
/// the documented bounds); such readings cost one more read-modify-write.
/// The meter's word is created when the meter is registered (`prepareMeters`, sent by the
/// operator's registration), so a meter's first reading also finds it written; an unprepared
/// meter's first reading creates it.
///
/// The replay bitmap spans `MAX_WINDOW_SLOTS` slots back from the meter's latest recorded slot.
/// That is enough because the reading window is at most `MAX_WINDOW_SLOTS` slots long: a slot
/// `d` slots before the latest recorded one is still acceptable only while
/// `d · slotLength < window` (the latest slot's window opened no later than now), so
/// every slot that falls off the bitmap is already outside its window.
///
/// A reading is verified against the meter's key and status in force when its slot's gate
/// closed (the registry's `meterAt`, at `slotStart − gateClosure − 1`): changes made before the
/// gate closed count, later ones do not. That moment comes before the slot can be cleared and
/// before it ends, so a key rotation or deactivation can neither void a reading of delivered
/// energy nor reach back into a cleared slot, and a new meter counts only from the first slot
/// whose gate closes after its registration.
///
/// A call's recorded readings are collected as `ReadingRecords` in memory and published once at
/// its end: one `ReadingsRecorded` event and one `mintBatch` on the certificate contract, instead
/// of an event and a `mint` call per reading.
///
/// No reentrancy guard: the only external calls are views on the registry and `mintBatch` on the
/// certificate contract, both fixed at deployment; `mintBatch` calls no receiver hook, and it is
/// the call's last step, after every reading's effects and the event.
contract MeterReadings is IMeterReadings, EIP712 {
    /// @notice The EIP-712 type hash of `Reading`.
    bytes32 public constant READING_TYPEHASH = keccak256(
        "Reading(uint64 meterId,uint64 slot,uint64 importWh,uint64 exportWh,"
        "uint64 importRegisterWh,uint64 exportRegisterWh)"
    );

    /// @notice The longest reading window, in slots (one day of 15-minute slots); also how many
    /// recent slots per meter the replay bitmap covers.
    uint256 public constant MAX_WINDOW_SLOTS = 96;

    /// @notice The most an account's import or export can sum to in one slot, in Wh (the width
    /// of its packed field). The registry's bounds keep export below it (at most 15 meters of at
    /// most 50 MW); a reading that would take a sum above it is skipped as `ReadingsImplausible`.
    uint256 public constant MAX_SLOT_WH = 2 ** 30 - 1;

    /// @notice The most meter readings an account can have in one slot (the registry's
    /// `MAX_METERS_PER_OWNER`).
    uint256 public constant MAX_SLOT_METER_READINGS = 15;

    /// @notice Bytes per reading in `submitPacked`'s calldata: six big-endian uint64 fields in
    /// `Reading` order (48 bytes), then the EIP-2098 compact signature r ‖ yParityAndS (64).
    uint256 public constant PACKED_READING_BYTES = 112;

    // ───────────────────────────── storage ─────────────────────────────

    /// @dev A meter's replay and register state, stored in one word (see `_loadMeter`).
    /// @param importRegisterWh import register at the end of `latestSlot`
    /// @param exportRegisterWh export register at the end of `latestSlot`
    /// @param latestSlot the highest recorded slot (meaningful when `recent != 0`)
    /// @param recent bit i set: slot `latestSlot - i` is recorded (bit 0 is set once any is)
    struct MeterState {
        uint64 importRegisterWh;
        uint64 exportRegisterWh;
        uint32 latestSlot;
        uint96 recent;
    }

    IParticipantRegistry private immutable _registry;
    IEnergyCertificate private immutable _certificate;
    uint64 private immutable _epoch;
    uint32 private immutable _slotLength;
    uint32 private immutable _window;
    uint32 private immutable _gateClosure;

    // An account's compact energy word holds slots 8g..8g+7 (g = slot / 8), slot s in the 32-bit
    // lane at bit 32 · (s % 8): bits 0-13 import Wh, 14-27 export Wh, 28-31 number of meter
    // readings (0: none yet). A slot whose import or export sum outgrows 14 bits (16,383 Wh)
    // holds `_WIDE` there instead (a count of 0 with Wh: never a compact value), and its sums
    // move to the account's wide word of slots 4h..4h+3 (h = slot / 4), slot s in the 64-bit lane
    // at bit 64 · (s % 4): bits 0-29 import Wh, 30-59 export Wh, 60-63 number of meter readings.
    uint256 private constant _COMPACT_SLOTS = 8;
    uint256 private constant _COMPACT_BITS = 32;
    uint256 private constant _COMPACT_MASK = 2 ** 32 - 1;
    uint256 private constant _COMPACT_WH = 2 ** 14 - 1;
    uint256 private constant _COMPACT_EXPORT_SHIFT = 14;
    uint256 private constant _COMPACT_COUNT_SHIFT = 28;
    uint256 private constant _WIDE = 1;
    uint256 private constant _SLOTS_PER_WORD = 4;
    uint256 private constant _LANE_BITS = 64;
    uint256 private constant _LANE_MASK = 2 ** 64 - 1;
    uint256 private constant _EXPORT_SHIFT = 30;
    uint256 private constant _COUNT_SHIFT = 60;
    // secp256k1n / 2: a larger s is the malleable twin of a valid signature.
    uint256 private constant _HALF_ORDER =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    // A meter's word (see `_loadMeter`).
    uint256 private constant _EXPORT_REGISTER_SHIFT = 64;
    uint256 private constant _SLOT_SHIFT = 128;
    uint256 private constant _RECENT_SHIFT = 160;
    // A prepared meter's word (`prepareMeters`): no reading (empty bitmap), registers zero, and
    // one bit in the latest-slot field, which means nothing while the bitmap is empty.
    uint256 private constant _PREPARED = 1 << _SLOT_SHIFT;
    // `_recordPackedCompact`'s outcomes (0: not for the fast path).
    uint256 private constant _RECORDED = 1;
    uint256 private constant _CHECKED = 2;

    // Packed words, written with a single SSTORE each: Solidity's storage structs would read and
    // rewrite the word once per field.
    mapping(uint256 meterId => uint256 meterState) private _meterStates;
    mapping(address account => mapping(uint256 slotGroup => uint256 lanes)) private _energy;
    mapping(address account => mapping(uint256 slotGroup => uint256 lanes)) private _wideEnergy;

    /// @param registry the community's participant registry (meters, relayer rights)
    /// @param certificate the certificate contract; it must have been deployed for this
    /// contract's address (`certificate.readings()`), which makes this contract its only minter
    /// @param epoch start of slot 0 (unix seconds)
    /// @param slotLength seconds per slot: 300, 900, 1800 or 3600
    /// @param window the reading window: seconds after a slot's end during which its readings
    /// are accepted; above 0 and at most `MAX_WINDOW_SLOTS · slotLength`
    /// @param gateClosure_ seconds before a slot's start at which the market's gate closes (the
    /// market's own `gateClosure`): the meter keys and status in force then verify the readings
    constructor(
        IParticipantRegistry registry,
        IEnergyCertificate certificate,
        uint64 epoch,
        uint32 slotLength,
        uint32 window,
        uint32 gateClosure_
    ) EIP712("p2penergy MeterReadings", "1") {
        if (address(registry) == address(0) || address(certificate).code.length == 0) {
            revert ReadingsInvalidConfig();
        }
        // The pair is bound both ways: a certificate that trusts another minter is refused.
        if (certificate.readings() != address(this)) revert ReadingsInvalidConfig();
        if (slotLength != 300 && slotLength != 900 && slotLength != 1800 && slotLength != 3600) {
            revert ReadingsInvalidConfig();
        }
        if (window == 0 || window > MAX_WINDOW_SLOTS * slotLength) {
            revert ReadingsInvalidConfig();
        }
        _registry = registry;
        _certificate = certificate;
        _epoch = epoch;
        _slotLength = slotLength;
        _window = window;
        _gateClosure = gateClosure_;
    }

    // ───────────────────────────── logic ─────────────────────────────

    /// @inheritdoc IMeterReadings
    function submit(SignedReading[] calldata batch) external returns (uint256 accepted) {
        _checkRelayer();
        (bytes memory records, uint256 cursor) = _newRecords(batch.length);
        for (uint256 i = 0; i < batch.length; ++i) {
            SignedReading calldata signed = batch[i];
            // Nothing a reading allocates (its copy, the digest's encoding, a failure) outlives
            // its iteration: the next one reuses the memory, so a batch's memory cost stays flat
            // instead of growing quadratically with its length.
            uint256 freeMemory;
            assembly ("memory-safe") {
                freeMemory := mload(0x40)
            }
            Reading memory reading = signed.reading;
            if (_recordOrSkip(reading, signed.v, signed.r, signed.s, cursor)) {
                // Cannot overflow: bounded by batch.length (and the records' buffer).
                unchecked {
                    ++accepted;
                    cursor += ReadingRecords.RECORD_BYTES;
                }
            }
            assembly ("memory-safe") {
                mstore(0x40, freeMemory)
            }
        }
        _publish(records, cursor);
    }

    /// @inheritdoc IMeterReadings
    function submitPacked(bytes calldata packed) external returns (uint256 accepted) {
        _checkRelayer();
        if (packed.length % PACKED_READING_BYTES != 0) revert ReadingsMalformedBatch(packed.length);
        uint256 count = packed.length / PACKED_READING_BYTES;
        (bytes memory records, uint256 cursor) = _newRecords(count);
        uint256 context = _fastContext();
        uint256 offset;
        assembly ("memory-safe") {
            offset := packed.offset
        }
        for (uint256 i = 0; i < count; ++i) {
            uint256 freeMemory;
            assembly ("memory-safe") {
                freeMemory := mload(0x40)
            }
            bool recorded = _recordPackedFast(offset, cursor, context);
            if (!recorded) {
                // Anything but the common case (a reading of a slot after the meter's latest that
                // passes every check) goes the general way, which names the failure if any.
                (Reading memory reading, uint8 v, bytes32 r, bytes32 s) = _unpack(offset);
                recorded = _recordOrSkip(reading, v, r, s, cursor);
            }
            if (recorded) {
                // Cannot overflow: bounded by count (and the records' buffer).
                unchecked {
                    ++accepted;
                    cursor += ReadingRecords.RECORD_BYTES;
                }
            }
            assembly ("memory-safe") {
                mstore(0x40, freeMemory)
            }
            // Cannot overflow: inside the calldata.
            unchecked {
                offset += PACKED_READING_BYTES;
            }
        }
        _publish(records, cursor);
    }

    /// @inheritdoc IMeterReadings
    function prepareMeters(uint256[] calldata meterIds) external {
        _checkRelayer();
        // Meter ids are 1, 2, … in registration order and never removed: an id is a registered
        // meter exactly when it is between 1 and the registry's count.
        uint256 meterCount = _registry.meterCount();
        for (uint256 i = 0; i < meterIds.length; ++i) {
            uint256 meterId = meterIds[i];
            if (meterId == 0 || meterId > meterCount) revert ReadingsUnknownMeter(meterId);
            if (_meterStates[meterId] == 0) _meterStates[meterId] = _PREPARED;
        }
    }

    /// @inheritdoc IMeterReadings
    function submitOne(SignedReading calldata signed) external {
        _checkRelayer();
        (bytes memory records, uint256 cursor) = _newRecords(1);
        bytes memory failure = _record(signed.reading, signed.v, signed.r, signed.s, cursor);
        if (failure.length != 0) {
            // Re-raise the encoded custom error as it is (same idiom as OpenZeppelin's Address).
            assembly ("memory-safe") {
                revert(add(failure, 0x20), mload(failure))
            }
        }
        _publish(records, cursor + ReadingRecords.RECORD_BYTES);
    }

    // ───────────────────────────── views ─────────────────────────────

    /// @inheritdoc IMeterReadings
    function energyOf(address account, uint256 slot)
        external
        view
        returns (uint256 importWh, uint256 exportWh, uint256 meterReadings)
    {
        uint256 shift = (slot % _COMPACT_SLOTS) * _COMPACT_BITS;
        uint256 lane = (_energy[account][slot / _COMPACT_SLOTS] >> shift) & _COMPACT_MASK;
        if (lane != _WIDE) {
            return (
                lane & _COMPACT_WH,
                (lane >> _COMPACT_EXPORT_SHIFT) & _COMPACT_WH,
                lane >> _COMPACT_COUNT_SHIFT
            );
        }
        lane = (_wideEnergy[account][slot / _SLOTS_PER_WORD] >> _laneShift(slot)) & _LANE_MASK;
        return (lane & MAX_SLOT_WH, (lane >> _EXPORT_SHIFT) & MAX_SLOT_WH, lane >> _COUNT_SHIFT);
    }

    /// @inheritdoc IMeterReadings
    function isRecorded(uint256 meterId, uint256 slot) external view returns (bool) {
        MeterState memory state = _loadMeter(meterId);
        if (state.recent == 0 || slot > state.latestSlot) return false;
        // Cannot underflow: slot <= latestSlot was just checked.
        uint256 age;
        unchecked {
            age = state.latestSlot - slot;
        }
        if (age >= MAX_WINDOW_SLOTS) {
            revert ReadingsHistoryPruned(
                meterId, slot, uint256(state.latestSlot) + 1 - MAX_WINDOW_SLOTS
            );
        }
        return (state.recent >> age) & 1 == 1;
    }

    /// @inheritdoc IMeterReadings
    function latestReading(uint256 meterId)
        external
        view
        returns (bool any, uint256 slot, uint256 importRegisterWh, uint256 exportRegisterWh)
    {
        MeterState memory state = _loadMeter(meterId);
        return (state.recent != 0, state.latestSlot, state.importRegisterWh, state.exportRegisterWh);
    }

    /// @inheritdoc IMeterReadings
    function readingDigest(Reading calldata reading) external view returns (bytes32) {
        return _digest(reading);
    }

    /// @inheritdoc IMeterReadings
    function readingWindow(uint256 slot) public view returns (uint256 opensAt, uint256 closesAt) {
        opensAt = _epoch + (slot + 1) * _slotLength;
        closesAt = opensAt + _window;
    }

    /// @inheritdoc IMeterReadings
    function timing() external view returns (uint64 epoch, uint32 slotLength, uint32 window) {
        return (_epoch, _slotLength, _window);
    }

    /// @inheritdoc IMeterReadings
    function meterKeyTime(uint256 slot) public view returns (uint256) {
        uint256 startsAt = _epoch + slot * _slotLength;
        // The last moment before the gate closed (0 for slots whose gate closed at genesis).
        return startsAt > _gateClosure ? startsAt - _gateClosure - 1 : 0;
    }

    /// @dev `meterKeyTime` for a slot below 2^32 (checked with the window), without overflow
    /// checks: epoch + slot · slotLength < 2^97.
    function _keyTime(uint256 slot) private view returns (uint256) {
        unchecked {
            uint256 startsAt = _epoch + slot * _slotLength;
            return startsAt > _gateClosure ? startsAt - _gateClosure - 1 : 0;
        }
    }

    /// @inheritdoc IMeterReadings
    function gateClosure() external view returns (uint32) {
        return _gateClosure;
    }

    /// @notice The registry and certificate contracts this contract works with.
    function dependencies() external view returns (address registry, address certificate) {
        return (address(_registry), address(_certificate));
    }

    // ───────────────────────────── internal ─────────────────────────────

    /// @dev A buffer for the records of up to `count` readings and where the first one goes.
    /// `ReadingRecords.write` also zeroes the 24 bytes after a record, hence the spare word.
    function _newRecords(uint256 count) private pure returns (bytes memory records, uint256 cursor) {
        assembly ("memory-safe") {
            records := mload(0x40)
            cursor := add(records, 0x20)
            // count is bounded by the calldata: no overflow.
            mstore(0x40, add(cursor, add(mul(count, 40), 0x20)))
        }
    }

    /// @dev Publishes the records written before `cursor`: the `ReadingsRecorded` event, then
    /// one `mintBatch` when any of them exports.
    function _publish(bytes memory records, uint256 cursor) private {
        uint256 length;
        uint256 exported;
        assembly ("memory-safe") {
            let first := add(records, 0x20)
            length := sub(cursor, first)
            mstore(records, length)
            // exportWh is bits 192-223 of a record's second word.
            for { let p := first } lt(p, cursor) { p := add(p, 40) } {
                exported := or(exported, mload(add(p, 32)))
            }
            exported := and(shr(192, exported), 0xffffffff)
        }
        if (length == 0) return;
        emit ReadingsRecorded(records);
        if (exported != 0) _certificate.mintBatch(records);
    }

    /// @dev Records `reading` (its record written at memory `cursor`) or emits `ReadingSkipped`
    /// with the reason; true when recorded.
    function _recordOrSkip(Reading memory reading, uint8 v, bytes32 r, bytes32 s, uint256 cursor)
        private
        returns (bool)
    {
        bytes memory failure = _record(reading, v, r, s, cursor);
        if (failure.length == 0) return true;
        emit ReadingSkipped(reading.meterId, reading.slot, bytes4(failure));
        return false;
    }

    /// @dev Records the packed reading at calldata `offset` when it is of a slot after its
    /// meter's latest one (or its first), keeps its owner's slot in the compact lane, and passes
    /// every check, and returns true; otherwise changes nothing and returns false (the caller
    /// then takes the general path, which skips or records it, naming the failure). The checks
    /// are `_record`'s for that case, on words read straight from calldata: window (slot below
    /// 2^32), registers at least the latest plus this slot's Wh, meter known and active at the
    /// key time (the registry's `meterAt`), export within capacity, signature (low s) by its
    /// key, the owner's sums within their compact fields and at most 15 readings. The record
    /// goes to memory `cursor`; `context` is `_fastContext()`, built once per batch.
    /// In assembly because it runs once per reading of every batch: the same steps as
    /// `_record`, `_advance` and `_addEnergy` without their memory structs, ABI round trips and
    /// checked arithmetic (every sum below is of values under 2^97: no overflow).
    function _recordPackedFast(uint256 offset, uint256 cursor, uint256 context)
        private
        returns (bool)
    {
        uint256 status = _recordPackedCompact(offset, cursor, context);
        if (status != _CHECKED) return status == _RECORDED;
        uint256 next;
        address owner;
        assembly ("memory-safe") {
            next := mload(add(context, 0x100))
            owner := mload(add(context, 0x120))
        }
        // Checked, but the owner's slot is in its wide word or outgrows the compact lane: the
        // sums the general way, without checking the reading again.
        uint256 fields;
        assembly ("memory-safe") {
            fields := calldataload(offset)
        }
        uint256 slot = uint64(fields >> 128);
        uint256 importWh = uint64(fields >> 64);
        uint256 exportWh = uint64(fields);
        if (!_addEnergy(owner, slot, importWh, exportWh)) return false;
        uint256 meterId = fields >> 192;
        _meterStates[meterId] = next;
        // The widths fit: see ReadingRecords (the sums just checked bound both Wh by 2^30).
        ReadingRecords.write(cursor, meterId, slot, owner, importWh, exportWh);
        return true;
    }

    /// @dev `_recordPackedFast` in assembly, for a reading whose owner's slot stays in its
    /// compact lane (the common case): `_RECORDED` when it recorded the reading, 0 when a
    /// check failed or the reading is not of a later slot (nothing written), `_CHECKED` when
    /// every check passed but the owner's sums need the wide word (nothing written; the meter's
    /// next word and the owner are left in the context's last two words).
    function _recordPackedCompact(uint256 offset, uint256 cursor, uint256 context)
        private
        returns (uint256 status)
    {
        assembly ("memory-safe") {
            // One pass; `break` is "not for the fast path" (nothing written yet).
            for {} 1 {} {
                let fields := calldataload(offset)
                let slot := and(shr(128, fields), 0xffffffffffffffff)
                // The window (`_checkSlot`).
                if gt(slot, 0xffffffff) { break }
                {
                    let opensAt := add(mload(context), mul(add(slot, 1), mload(add(context, 0x20))))
                    if or(lt(timestamp(), opensAt), iszero(lt(timestamp(), add(opensAt, mload(add(context, 0x40)))))) {
                        break
                    }
                }
                // The meter's word (`_loadMeter`): a later slot than the latest, or the first.
                mstore(0x00, shr(192, fields))
                mstore(0x20, _meterStates.slot)
                let meterSlot := keccak256(0x00, 0x40)
                let next
                {
                    let state := sload(meterSlot)
                    let recent := shr(_RECENT_SHIFT, state)
                    switch recent
                    case 0 { recent := 1 }
                    default {
                        let latestSlot := and(shr(_SLOT_SHIFT, state), 0xffffffff)
                        // A replay or a late reading: the general path.
                        if iszero(gt(slot, latestSlot)) { break }
                        // `_advance`: a shift of 96 or more clears the bitmap (shl by 256 or
                        // more gives zero; the mask keeps 96 bits).
                        recent := and(or(shl(sub(slot, latestSlot), recent), 1), 0xffffffffffffffffffffffff)
                    }
                    // Registers (`_registersOk`, a later slot; with no reading yet the latest
                    // registers are zero, in `_PREPARED` too).
                    let registers := calldataload(add(offset, 32))
                    let importRegister := shr(192, registers)
                    let exportRegister := and(shr(128, registers), 0xffffffffffffffff)
                    if or(
                        lt(importRegister, add(and(state, 0xffffffffffffffff), and(shr(64, fields), 0xffffffffffffffff))),
                        lt(exportRegister, add(and(shr(_EXPORT_REGISTER_SHIFT, state), 0xffffffffffffffff), and(fields, 0xffffffffffffffff)))
                    ) { break }
                    next := or(
                        or(importRegister, shl(_EXPORT_REGISTER_SHIFT, exportRegister)),
                        or(shl(_SLOT_SHIFT, slot), shl(_RECENT_SHIFT, recent))
                    )
                }
                // The meter at the key time (`_keyTime`, `_meterAt`).
                let ptr := mload(0x40)
                let owner
                let device
                {
                    let startsAt := add(mload(context), mul(slot, mload(add(context, 0x20))))
                    let gateClosure_ := mload(add(context, 0x60))
                    let keyTime := 0
                    if gt(startsAt, gateClosure_) { keyTime := sub(sub(startsAt, gateClosure_), 1) }
                    mstore(ptr, mload(add(context, 0xa0)))
                    mstore(add(ptr, 0x04), shr(192, fields))
                    mstore(add(ptr, 0x24), keyTime)
                    if iszero(staticcall(gas(), mload(add(context, 0x80)), ptr, 0x44, ptr, 0x80)) {
                        returndatacopy(ptr, 0, returndatasize())
                        revert(ptr, returndatasize())
                    }
                    if lt(returndatasize(), 0x80) { revert(0, 0) }
                    device := and(mload(ptr), 0xffffffffffffffffffffffffffffffffffffffff)
                    owner := and(mload(add(ptr, 0x20)), 0xffffffffffffffffffffffffffffffffffffffff)
                    if or(iszero(device), iszero(mload(add(ptr, 0x60)))) { break }
                    // Export within capacity (`_checkMeterAndSignature`).
                    let capacityW := and(mload(add(ptr, 0x40)), 0xffffffff)
                    if gt(and(fields, 0xffffffffffffffff), div(mul(capacityW, mload(add(context, 0x20))), 3600)) {
                        break
                    }
                }
                {
                    // The EIP-712 digest (`_digest`): the struct hash of the six fields, then
                    // 0x1901 ‖ separator ‖ struct hash.
                    let registers := calldataload(add(offset, 32))
                    mstore(ptr, mload(add(context, 0xc0)))
                    mstore(add(ptr, 0x20), shr(192, fields))
                    mstore(add(ptr, 0x40), slot)
                    mstore(add(ptr, 0x60), and(shr(64, fields), 0xffffffffffffffff))
                    mstore(add(ptr, 0x80), and(fields, 0xffffffffffffffff))
                    mstore(add(ptr, 0xa0), shr(192, registers))
                    mstore(add(ptr, 0xc0), and(shr(128, registers), 0xffffffffffffffff))
                    let structHash := keccak256(ptr, 0xe0)
                    mstore(ptr, shl(240, 0x1901))
                    mstore(add(ptr, 0x02), mload(add(context, 0xe0)))
                    mstore(add(ptr, 0x22), structHash)
                    let digest := keccak256(ptr, 0x42)
                    // The signer (`_signer`): low s, then the precompile, which returns nothing
                    // (the zero in scratch space stays) when it recovers no address.
                    let vs := calldataload(add(offset, 80))
                    let s := and(vs, sub(shl(255, 1), 1))
                    if gt(s, _HALF_ORDER) { break }
                    mstore(ptr, digest)
                    mstore(add(ptr, 0x20), add(27, shr(255, vs)))
                    mstore(add(ptr, 0x40), calldataload(add(offset, 48)))
                    mstore(add(ptr, 0x60), s)
                    mstore(0x00, 0)
                    pop(staticcall(gas(), 0x01, ptr, 0x80, 0x00, 0x20))
                    if iszero(eq(mload(0x00), device)) { break }
                }
                // The owner's compact lane of the slot (`_addEnergy`); a wide lane, or sums
                // that would outgrow it, take the general path.
                mstore(0x00, owner)
                mstore(0x20, _energy.slot)
                mstore(0x20, keccak256(0x00, 0x40))
                mstore(0x00, shr(3, slot))
                let energySlot := keccak256(0x00, 0x40)
                let word := sload(energySlot)
                let shift := shl(5, and(slot, 7))
                let lane := and(shr(shift, word), _COMPACT_MASK)
                let fits := 0
                if iszero(eq(lane, _WIDE)) {
                    let importSum := add(and(lane, _COMPACT_WH), and(shr(64, fields), 0xffffffffffffffff))
                    let exportSum := add(and(shr(_COMPACT_EXPORT_SHIFT, lane), _COMPACT_WH), and(fields, 0xffffffffffffffff))
                    let count := add(shr(_COMPACT_COUNT_SHIFT, lane), 1)
                    fits := iszero(or(or(gt(importSum, _COMPACT_WH), gt(exportSum, _COMPACT_WH)), gt(count, MAX_SLOT_METER_READINGS)))
                    // count >= 1: the lane never reads as `_WIDE`.
                    lane := or(or(importSum, shl(_COMPACT_EXPORT_SHIFT, exportSum)), shl(_COMPACT_COUNT_SHIFT, count))
                }
                // _RECORDED (1) when the lane fits, else _CHECKED (2).
                status := sub(_CHECKED, fits)
                if iszero(fits) {
                    // Checked; the caller adds the sums the general way (`_addEnergy`).
                    mstore(add(context, 0x100), next)
                    mstore(add(context, 0x120), owner)
                    break
                }
                // The effects: the owner's lane, the meter's word, the record
                // (`ReadingRecords.write`; both Wh fit 14 bits here).
                sstore(energySlot, or(and(word, not(shl(shift, _COMPACT_MASK))), shl(shift, lane)))
                sstore(meterSlot, next)
                mstore(cursor, or(or(shl(192, shr(192, fields)), shl(160, slot)), owner))
                mstore(add(cursor, 32), or(shl(224, and(shr(64, fields), 0xffffffffffffffff)), shl(192, and(fields, 0xffffffffffffffff))))
                break
            }
        }
    }

    /// @dev What `_recordPackedFast` reads of the contract's immutables and constants, in
    /// memory for the batch (inline assembly reads neither): epoch, slot length, window, gate
    /// closure, registry, `meterAt`'s selector, the `Reading` type hash, the domain separator.
    function _fastContext() private view returns (uint256 context) {
        uint256 epoch = _epoch;
        uint256 slotLength = _slotLength;
        uint256 window = _window;
        uint256 gateClosure_ = _gateClosure;
        address registry = address(_registry);
        bytes4 selector = IParticipantRegistry.meterAt.selector;
        bytes32 typeHash = READING_TYPEHASH;
        bytes32 separator = _domainSeparatorV4();
        assembly ("memory-safe") {
            context := mload(0x40)
            // Eight words, and two for `_recordPackedCompact` to hand a checked reading back.
            mstore(0x40, add(context, 0x140))
            mstore(context, epoch)
            mstore(add(context, 0x20), slotLength)
            mstore(add(context, 0x40), window)
            mstore(add(context, 0x60), gateClosure_)
            mstore(add(context, 0x80), registry)
            mstore(add(context, 0xa0), selector)
            mstore(add(context, 0xc0), typeHash)
            mstore(add(context, 0xe0), separator)
        }
    }

    /// @dev The reading and (v, r, s) signature packed at calldata `offset` (see
    /// `PACKED_READING_BYTES`): six big-endian uint64 fields in `Reading` order, then the
    /// EIP-2098 compact signature r ‖ yParityAndS (bit 255 the y parity, the rest s).
    function _unpack(uint256 offset)
        private
        pure
        returns (Reading memory reading, uint8 v, bytes32 r, bytes32 s)
    {
        uint256 fields;
        uint256 registers;
        uint256 vs;
        assembly ("memory-safe") {
            fields := calldataload(offset)
            registers := calldataload(add(offset, 32))
            r := calldataload(add(offset, 48))
            vs := calldataload(add(offset, 80))
        }
        reading = Reading(
            uint64(fields >> 192),
            uint64(fields >> 128),
            uint64(fields >> 64),
            uint64(fields),
            uint64(registers >> 192),
            uint64(registers >> 128)
        );
        // v is 27 or 28; s keeps the low 255 bits, so a high s is still refused by the check.
        v = uint8(27 + (vs >> 255));
        s = bytes32(vs & ~(uint256(1) << 255));
    }

    /// @dev Records `reading` (its effects, and its record at memory `cursor`) or returns the
    /// ABI-encoded custom error that names why not; nothing changes in that case.
    function _record(Reading memory reading, uint8 v, bytes32 r, bytes32 s, uint256 cursor)
        private
        returns (bytes memory failure)
    {
        uint256 meterId = reading.meterId;
        uint256 slot = reading.slot;
        uint256 state = _meterStates[meterId];

        failure = _checkSlot(state, meterId, slot);
        if (failure.length != 0) return failure;
        // The key and status in force when the slot's gate closed (slot < 2^32: checked above).
        (address device, address owner, uint256 capacityW, bool active) =
            _meterAt(meterId, _keyTime(slot));
        failure = _checkMeterAndSignature(reading, v, r, s, device, capacityW, active);
        if (failure.length != 0) return failure;
        return _commit(state, reading, owner, cursor);
    }

    /// @dev The register and sum checks, then the effects and the record at memory `cursor`.
    function _commit(uint256 state, Reading memory reading, address owner, uint256 cursor)
        private
        returns (bytes memory)
    {
        uint256 meterId = reading.meterId;
        uint256 slot = reading.slot;
        if (!_registersOk(state, reading)) {
            return abi.encodeWithSelector(ReadingsRegisterBackwards.selector, meterId, slot);
        }
        uint256 exportWh = reading.exportWh;
        if (!_addEnergy(owner, slot, reading.importWh, exportWh)) {
            return abi.encodeWithSelector(ReadingsImplausible.selector, meterId, slot);
        }
        _meterStates[meterId] = _advance(state, reading);
        // The widths fit: see ReadingRecords (the sums just checked bound both Wh by 2^30).
        ReadingRecords.write(cursor, meterId, slot, owner, reading.importWh, exportWh);
        return "";
    }

    /// @dev Replay first (so a relayer's retry is told "already recorded"), then the window.
    /// `state` is the meter's packed word (see `_loadMeter`).
    function _checkSlot(uint256 state, uint256 meterId, uint256 slot)
        private
        view
        returns (bytes memory)
    {
        uint256 recent = state >> _RECENT_SHIFT;
        uint256 latestSlot = uint32(state >> _SLOT_SHIFT);
        if (recent != 0 && slot <= latestSlot) {
            // Cannot underflow: slot <= latestSlot was just checked.
            uint256 age;
            unchecked {
                age = latestSlot - slot;
            }
            // An age beyond the bitmap is outside the window (see the contract's @dev).
            if (age < MAX_WINDOW_SLOTS && (recent >> age) & 1 == 1) {
                return abi.encodeWithSelector(ReadingsAlreadyRecorded.selector, meterId, slot);
            }
        }
        // `readingWindow` without its overflow checks: slot < 2^64 (a uint64 field), so
        // (slot + 1) · slotLength + epoch + window stays far below 2^256.
        uint256 opensAt;
        uint256 closesAt;
        unchecked {
            opensAt = _epoch + (slot + 1) * _slotLength;
            closesAt = opensAt + _window;
        }
        if (block.timestamp < opensAt || block.timestamp >= closesAt || slot > type(uint32).max) {
            return abi.encodeWithSelector(ReadingsOutsideWindow.selector, slot, opensAt, closesAt);
        }
        return "";
    }

    /// @dev The registry's `meterAt(meterId, moment)`, called in assembly: the registry is
    /// fixed at deployment and has code (its `transactionAllowed` answered), and its answer goes
    /// straight to the stack instead of through a memory struct.
    function _meterAt(uint256 meterId, uint256 moment)
        private
        view
        returns (address device, address owner, uint256 capacityW, bool active)
    {
        bytes4 selector = IParticipantRegistry.meterAt.selector;
        address registry = address(_registry);
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), meterId)
            mstore(add(ptr, 0x24), moment)
            if iszero(staticcall(gas(), registry, ptr, 0x44, ptr, 0x80)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
            if lt(returndatasize(), 0x80) { revert(0, 0) }
            device := and(mload(ptr), 0xffffffffffffffffffffffffffffffffffffffff)
            owner := and(mload(add(ptr, 0x20)), 0xffffffffffffffffffffffffffffffffffffffff)
            capacityW := and(mload(add(ptr, 0x40)), 0xffffffff)
            active := iszero(iszero(mload(add(ptr, 0x60))))
        }
    }

    /// @dev The signer of `digest`, or zero when the signature is invalid: as OpenZeppelin's
    /// `ECDSA.tryRecover`, s must be in the lower half of the curve order (no malleable twin)
    /// and the precompile must recover an address (which also refuses a v other than 27, 28).
    function _signer(bytes32 digest, uint8 v, bytes32 r, bytes32 s)
        private
        view
        returns (address signer)
    {
        if (uint256(s) > _HALF_ORDER) return address(0);
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, digest)
            mstore(add(ptr, 0x20), v)
            mstore(add(ptr, 0x40), r)
            mstore(add(ptr, 0x60), s)
            mstore(0x00, 0)
            // A failed recovery returns nothing: the zero in scratch space stays.
            pop(staticcall(gas(), 0x01, ptr, 0x80, 0x00, 0x20))
            signer := mload(0x00)
        }
    }

    function _checkMeterAndSignature(
        Reading memory reading,
        uint8 v,
        bytes32 r,
        bytes32 s,
        address device,
        uint256 capacityW,
        bool active
    ) private view returns (bytes memory) {
        uint256 meterId = reading.meterId;
        if (device == address(0)) {
            return abi.encodeWithSelector(ReadingsUnknownMeter.selector, meterId);
        }
        if (!active) return abi.encodeWithSelector(ReadingsInactiveMeter.selector, meterId);
        address signer = _signer(_digest(reading), v, r, s);
        if (signer == address(0)) {
            return abi.encodeWithSelector(ReadingsInvalidSignature.selector, meterId, reading.slot);
        }
        if (signer != device) {
            return abi.encodeWithSelector(ReadingsWrongSigner.selector, meterId, signer);
        }
        uint256 maxWh;
        // Cannot overflow: a uint32 capacity times a uint32 slot length.
        unchecked {
            maxWh = capacityW * _slotLength / 3600;
        }
        if (reading.exportWh > maxWh) {
            return abi.encodeWithSelector(
                ReadingsExportAboveCapacity.selector, meterId, reading.exportWh, maxWh
            );
        }
        return "";
    }

    /// @dev Registers are cumulative: a later slot adds at least its own Wh to the latest
    /// registers; a late (earlier) slot cannot exceed them; no register is below its slot's Wh.
    function _registersOk(uint256 state, Reading memory reading) private pure returns (bool) {
        uint256 importRegister = reading.importRegisterWh;
        uint256 exportRegister = reading.exportRegisterWh;
        uint256 latestImport = uint64(state);
        uint256 latestExport = uint64(state >> _EXPORT_REGISTER_SHIFT);
        if (state >> _RECENT_SHIFT == 0 || reading.slot > uint32(state >> _SLOT_SHIFT)) {
            // Sums of two uint64 values in uint256: no overflow. With no reading yet the latest
            // registers are zero, which leaves the "at least its own Wh" rule.
            unchecked {
                return importRegister >= latestImport + reading.importWh
                    && exportRegister >= latestExport + reading.exportWh;
            }
        }
        return importRegister <= latestImport && exportRegister <= latestExport
            && importRegister >= reading.importWh && exportRegister >= reading.exportWh;
    }

    /// @dev The meter's packed word once `reading` (already checked) is recorded.
    function _advance(uint256 state, Reading memory reading) private pure returns (uint256) {
        // slot <= type(uint32).max was checked with the window.
        uint256 slot = reading.slot;
        uint256 recent = state >> _RECENT_SHIFT;
        uint256 latestSlot = uint32(state >> _SLOT_SHIFT);
        if (recent == 0 || slot > latestSlot) {
            // Shifting drops the slots that have left the bitmap; a shift of 96 or more clears
            // it (the uint96 conversion keeps the low 96 bits).
            // Cannot underflow: slot > latestSlot here whenever recent != 0.
            unchecked {
                recent = recent == 0 ? 1 : uint96((recent << (slot - latestSlot)) | 1);
            }
            return uint256(reading.importRegisterWh)
                | (uint256(reading.exportRegisterWh) << _EXPORT_REGISTER_SHIFT)
                | (slot << _SLOT_SHIFT) | (recent << _RECENT_SHIFT);
        }
        // A late reading: the latest registers stay, the slot's bit is set. age < 96 because the
        // slot is inside its window (see the contract's @dev).
        // Cannot underflow: slot <= latestSlot here.
        unchecked {
            return state | (uint256(1) << (_RECENT_SHIFT + latestSlot - slot));
        }
    }

    /// @dev Adds a reading's Wh to `owner`'s sums for `slot` and counts the reading, or returns
    /// false and writes nothing when a sum would pass `MAX_SLOT_WH` or the count
    /// `MAX_SLOT_METER_READINGS` (`ReadingsImplausible`). A slot's sums stay in its compact lane
    /// while both fit 14 bits; the reading that outgrows them moves the slot to the wide word.
    function _addEnergy(address owner, uint256 slot, uint256 importWh, uint256 exportWh)
        private
        returns (bool)
    {
        mapping(uint256 slotGroup => uint256 lanes) storage compact = _energy[owner];
        uint256 group = slot / _COMPACT_SLOTS;
        uint256 word = compact[group];
        uint256 shift = (slot % _COMPACT_SLOTS) * _COMPACT_BITS;
        uint256 lane = (word >> shift) & _COMPACT_MASK;
        if (lane == _WIDE) return _addWide(owner, slot, importWh, exportWh, 1);
        // 14-bit fields plus uint64 reading values: no overflow in uint256.
        unchecked {
            importWh += lane & _COMPACT_WH;
            exportWh += (lane >> _COMPACT_EXPORT_SHIFT) & _COMPACT_WH;
        }
        uint256 count = (lane >> _COMPACT_COUNT_SHIFT) + 1;
        if (importWh > _COMPACT_WH || exportWh > _COMPACT_WH) {
            // The slot moves to the wide word with its sums so far (its wide lane is empty).
            if (!_addWide(owner, slot, importWh, exportWh, count)) return false;
            lane = _WIDE;
        } else {
            if (count > MAX_SLOT_METER_READINGS) return false;
            // count >= 1: the lane never reads as `_WIDE`.
            lane = importWh | (exportWh << _COMPACT_EXPORT_SHIFT) | (count << _COMPACT_COUNT_SHIFT);
        }
        compact[group] = (word & ~(_COMPACT_MASK << shift)) | (lane << shift);
        return true;
    }

    /// @dev `_addEnergy` in the wide word: adds the values to `slot`'s wide lane, or returns
    /// false and writes nothing when a sum would outgrow its field.
    function _addWide(
        address owner,
        uint256 slot,
        uint256 addImportWh,
        uint256 addExportWh,
        uint256 addCount
    ) private returns (bool) {
        mapping(uint256 slotGroup => uint256 lanes) storage wide = _wideEnergy[owner];
        uint256 group = slot / _SLOTS_PER_WORD;
        (uint256 lanes, bool fits) = _addWh(wide[group], slot, addImportWh, addExportWh, addCount);
        if (fits) wide[group] = lanes;
        return fits;
    }

    /// @dev `lanes` (a wide word) with the values added to `slot`'s lane; `fits` is false when a
    /// sum would outgrow its field (then `lanes` is meaningless).
    function _addWh(
        uint256 lanes,
        uint256 slot,
        uint256 addImportWh,
        uint256 addExportWh,
        uint256 addCount
    ) private pure returns (uint256, bool fits) {
        // Each field is below 2^30 and each added value below 2^66: no overflow in uint256.
        unchecked {
            uint256 shift = _laneShift(slot);
            uint256 lane = (lanes >> shift) & _LANE_MASK;
            uint256 importWh = (lane & MAX_SLOT_WH) + addImportWh;
            uint256 exportWh = ((lane >> _EXPORT_SHIFT) & MAX_SLOT_WH) + addExportWh;
            uint256 count = (lane >> _COUNT_SHIFT) + addCount;
            fits = importWh <= MAX_SLOT_WH && exportWh <= MAX_SLOT_WH
                && count <= MAX_SLOT_METER_READINGS;
            lane = importWh | (exportWh << _EXPORT_SHIFT) | (count << _COUNT_SHIFT);
            return ((lanes & ~(_LANE_MASK << shift)) | (lane << shift), fits);
        }
    }

    function _laneShift(uint256 slot) private pure returns (uint256) {
        return (slot % _SLOTS_PER_WORD) * _LANE_BITS;
    }

    function _digest(Reading memory reading) private view returns (bytes32) {
        bytes32 typeHash = READING_TYPEHASH;
        bytes32 structHash;
        // keccak256(abi.encode(READING_TYPEHASH, reading)) without the copy: a memory struct of
        // six uint64 is six clean 32-byte words, as abi.encode lays them out.
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            mcopy(add(ptr, 0x20), reading, 0xc0)
            structHash := keccak256(ptr, 0xe0)
        }
        return _hashTypedDataV4(structHash);
    }

    // Meter word: bits 0-63 import register, 64-127 export register, 128-159 latest slot,
    // 160-255 the recent-slots bitmap. Zero, or `_PREPARED`, until the meter's first reading:
    // every path reads the registers as zero and ignores the latest slot while the bitmap is
    // empty, and the first reading writes the whole word.
    function _loadMeter(uint256 meterId) private view returns (MeterState memory state) {
        uint256 word = _meterStates[meterId];
        state.importRegisterWh = uint64(word);
        state.exportRegisterWh = uint64(word >> _EXPORT_REGISTER_SHIFT);
        state.recent = uint96(word >> _RECENT_SHIFT);
        // The latest slot means something only once there is a reading (not in `_PREPARED`).
        if (state.recent != 0) state.latestSlot = uint32(word >> _SLOT_SHIFT);
    }

    function _checkRelayer() private view {
        if (!_registry.transactionAllowed(msg.sender, address(this), 0, 0, 0, "")) {
            revert ReadingsRelayerNotAllowed(msg.sender);
        }
    }
}
