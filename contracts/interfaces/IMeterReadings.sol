// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Signed smart-meter readings
/// @notice Accepts batches of EIP-712 readings signed by registered meter device keys, relayed by
/// anyone registered. Each (meter, slot) is recorded once; verified export mints certificates.
/// @dev EIP-712 domain: name "p2penergy MeterReadings", version "1", chainId, verifyingContract.
/// Struct: Reading(uint64 meterId,uint64 slot,uint64 importWh,uint64 exportWh,
/// uint64 importRegisterWh,uint64 exportRegisterWh). Signatures are (v, r, s) with low s.
interface IMeterReadings {
    /// @notice What a meter measured in one slot.
    /// @param meterId the registry's meter id
    /// @param slot the delivery slot (see EnergyMarket for slot times)
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
    struct SignedReading {
        Reading reading;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    // ───────────────────────────── errors ─────────────────────────────

    /// @notice The meter already has a reading for `slot` (replays and resubmissions).
    error ReadingsAlreadyRecorded(uint256 meterId, uint256 slot);
    /// @notice The signature is malformed or malleable (high s, bad v).
    error ReadingsInvalidSignature(uint256 meterId, uint256 slot);
    /// @notice The signature recovers to `signer`, which is not the meter's current device key
    /// (a wrong key, or a signature made for another chain id or contract).
    error ReadingsWrongSigner(uint256 meterId, address signer);
    /// @notice No meter has id `meterId`.
    error ReadingsUnknownMeter(uint256 meterId);
    /// @notice Meter `meterId` is deactivated.
    error ReadingsInactiveMeter(uint256 meterId);
    /// @notice A register went backwards or is inconsistent with the slot's energy.
    error ReadingsRegisterBackwards(uint256 meterId, uint256 slot);
    /// @notice `exportWh` exceeds the nameplate capacity times the slot length (`maxWh`).
    error ReadingsExportAboveCapacity(uint256 meterId, uint256 exportWh, uint256 maxWh);
    /// @notice Readings for `slot` are accepted from `opensAt` until before `closesAt`.
    error ReadingsOutsideWindow(uint256 slot, uint256 opensAt, uint256 closesAt);
    /// @notice The caller may not relay readings (not an active participant or staff).
    error ReadingsRelayerNotAllowed(address relayer);
    /// @notice Deployment parameters are invalid.
    error ReadingsInvalidConfig();

    // ───────────────────────────── events ─────────────────────────────

    /// @notice Meter `meterId` of `owner` reported `importWh`/`exportWh` for `slot`.
    event ReadingRecorded(
        uint256 indexed meterId, uint256 indexed slot, address indexed owner, uint256 importWh, uint256 exportWh
    );
    /// @notice A reading in a batch was skipped; `reason` is the selector of the custom error that
    /// `submitOne` would have reverted with.
    event ReadingSkipped(uint256 indexed meterId, uint256 indexed slot, bytes4 reason);

    // ───────────────────────────── logic ─────────────────────────────

    /// @notice Applies each reading or skips it with a `ReadingSkipped` event: a batch never fails
    /// because of one bad reading, and resubmitting a batch is harmless.
    /// @dev Requirements: the caller is an active participant or holds a staff role.
    /// @return accepted how many readings were recorded
    function submit(SignedReading[] calldata batch) external returns (uint256 accepted);

    /// @notice Records one reading or reverts with the custom error naming what is wrong.
    function submitOne(SignedReading calldata signed) external;

    // ───────────────────────────── views ─────────────────────────────

    /// @notice Energy of `account` in `slot`, summed over its meters, and how many meters reported.
    function energyOf(address account, uint256 slot)
        external
        view
        returns (uint256 importWh, uint256 exportWh, uint256 meterReadings);

    /// @notice True when meter `meterId` has a reading for `slot`.
    function isRecorded(uint256 meterId, uint256 slot) external view returns (bool);

    /// @notice The EIP-712 digest a meter signs for `reading`.
    function readingDigest(Reading calldata reading) external view returns (bytes32);

    /// @notice When readings for `slot` open (slot end) and close (slot end + reading window).
    function readingWindow(uint256 slot) external view returns (uint256 opensAt, uint256 closesAt);

    /// @notice The slot grid: start of slot 0, slot length and reading window, in seconds.
    function timing() external view returns (uint64 epoch, uint32 slotLength, uint32 window);
}
