// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @title The community's register of who may transact
/// @notice One source of truth for roles, participants and meters. Every other p2penergy contract
/// asks it before moving money, energy or readings, and the local gateway / Besu node allowlists
/// follow its events.
interface IParticipantRegistry is IAccessControl {
    /// @notice What a registered account is in the market.
    /// @dev `None` marks an unregistered account. `Service` accounts (the distribution operator's
    /// fee account, the rounding account) may hold credits but place no orders.
    enum Kind {
        None,
        Consumer,
        Prosumer,
        Service
    }

    /// @notice A registered account.
    /// @param kind consumer, prosumer or service account
    /// @param active false while the operator has suspended the account
    /// @param criticalLoad served first in island mode (clinic, water pump, medical devices)
    /// @param number the account's registration number: 1, 2, … in order of registration, never
    /// reused or changed (0: not registered). The market finds the account's balance lane by it.
    struct Participant {
        Kind kind;
        bool active;
        bool criticalLoad;
        uint32 number;
    }

    /// @notice A role granted at construction (the initial staff).
    /// @param role the role id
    /// @param account the account that receives it
    struct RoleGrant {
        bytes32 role;
        address account;
    }

    /// @notice A smart meter whose device key signs readings.
    /// @param device the address of the meter's current signing key
    /// @param owner the participant whose import/export the meter measures
    /// @param capacityW nameplate export capacity in W (bounds the export per slot)
    /// @param active false once the operator has deactivated the meter
    struct Meter {
        address device;
        address owner;
        uint32 capacityW;
        bool active;
    }

    // ───────────────────────────── errors ─────────────────────────────

    /// @notice `account` is the zero address.
    error RegistryZeroAddress();
    /// @notice `account` is already registered.
    /// @param account the account
    error RegistryParticipantExists(address account);
    /// @notice `account` is not registered.
    /// @param account the account
    error RegistryUnknownParticipant(address account);
    /// @notice `kind` cannot be registered (`None`).
    /// @param kind the rejected kind
    error RegistryInvalidKind(Kind kind);
    /// @notice `account` is already in the requested state (active or suspended).
    /// @param account the account
    /// @param active the state it is already in
    error RegistryParticipantUnchanged(address account, bool active);
    /// @notice No meter has id `meterId`.
    /// @param meterId the meter id
    error RegistryUnknownMeter(uint256 meterId);
    /// @notice `device` already signs for meter `meterId`.
    /// @param device the device key address
    /// @param meterId the meter it belongs to
    error RegistryDeviceInUse(address device, uint256 meterId);
    /// @notice A meter needs a nameplate capacity above zero.
    error RegistryZeroCapacity();
    /// @notice `capacityW` is above the largest capacity a meter may have.
    /// @param capacityW the requested capacity in W
    /// @param maxW the largest capacity in W (`MAX_CAPACITY_W`)
    error RegistryCapacityTooLarge(uint32 capacityW, uint32 maxW);
    /// @notice `owner` already owns the most meters a participant may own.
    /// @param owner the proposed owner
    /// @param max the most meters per owner (`MAX_METERS_PER_OWNER`)
    error RegistryTooManyMeters(address owner, uint256 max);
    /// @notice Meters belong to consumers or prosumers, not to `owner` of kind `kind`.
    /// @param owner the proposed owner
    /// @param kind its kind
    error RegistryMeterOwnerInvalid(address owner, Kind kind);
    /// @notice Meter `meterId` is already in the requested state.
    /// @param meterId the meter id
    /// @param active the state it is already in
    error RegistryMeterUnchanged(uint256 meterId, bool active);

    // ───────────────────────────── events ─────────────────────────────

    /// @notice The operator registered `account`.
    event ParticipantRegistered(address indexed account, Kind kind, bool criticalLoad);
    /// @notice The operator suspended `account`: it may no longer transact.
    event ParticipantSuspended(address indexed account);
    /// @notice The operator reinstated the suspended `account`.
    event ParticipantReinstated(address indexed account);
    /// @notice Governance changed the critical-load flag of `account`.
    event CriticalLoadSet(address indexed account, bool criticalLoad);
    /// @notice The operator registered meter `meterId` for `owner`, signing with `device`.
    event MeterRegistered(
        uint256 indexed meterId, address indexed device, address indexed owner, uint32 capacityW
    );
    /// @notice Governance replaced the signing key of meter `meterId`.
    event MeterKeyRotated(uint256 indexed meterId, address indexed oldDevice, address indexed newDevice);
    /// @notice Governance activated (`active`) or deactivated meter `meterId`.
    event MeterStatusSet(uint256 indexed meterId, bool active);

    // ───────────────────────────── operator ─────────────────────────────

    /// @notice Registers `account` as an active participant.
    /// @dev Requirements: caller has OPERATOR_ROLE; `account` non-zero and not registered;
    /// `kind` is not `None`.
    function registerParticipant(address account, Kind kind, bool criticalLoad) external;

    /// @notice Suspends `account`: it can no longer place orders or send credits.
    /// @dev Requirements: caller has OPERATOR_ROLE; `account` registered and active.
    function suspendParticipant(address account) external;

    /// @notice Reinstates the suspended `account`.
    /// @dev Requirements: caller has OPERATOR_ROLE; `account` registered and suspended.
    function reinstateParticipant(address account) external;

    // ───────────────────────────── governance (delayed) ─────────────────────────────

    /// @notice Sets whether `account` is a critical load (served first in island mode).
    /// @dev Governed: the flag decides who is served first from everyone's island energy.
    /// Requirements: caller is the governance timelock; `account` registered.
    function setCriticalLoad(address account, bool criticalLoad) external;

    /// @notice Registers a meter for `owner` whose readings `device` signs.
    /// @dev Requirements: caller has OPERATOR_ROLE; `device` non-zero and unused; `owner` a
    /// registered consumer or prosumer owning fewer than `MAX_METERS_PER_OWNER` meters;
    /// 0 < `capacityW` ≤ `MAX_CAPACITY_W`.
    /// @return meterId the new meter's id (sequential, from 1)
    function registerMeter(address device, address owner, uint32 capacityW)
        external
        returns (uint256 meterId);

    /// @notice Replaces the signing key of meter `meterId` (a lost or compromised device key).
    /// @dev Requirements: caller is the governance timelock; meter exists; `newDevice` non-zero
    /// and never used by any meter.
    function rotateMeterKey(uint256 meterId, address newDevice) external;

    /// @notice Activates or deactivates meter `meterId`.
    /// @dev Requirements: caller is the governance timelock; meter exists and is not already in
    /// that state.
    function setMeterActive(uint256 meterId, bool active) external;

    // ───────────────────────────── views ─────────────────────────────

    /// @notice The governance timelock: the single holder of DEFAULT_ADMIN_ROLE, the only caller
    /// of every delayed function here and in the other contracts.
    function governance() external view returns (address);

    /// @notice The participant record of `account` (kind `None` when unregistered).
    function participant(address account) external view returns (Participant memory);

    /// @notice True when `account` is registered and not suspended.
    function isActiveParticipant(address account) external view returns (bool);

    /// @notice The meter with id `meterId` (zero device when unknown).
    function meter(uint256 meterId) external view returns (Meter memory);

    /// @notice Meter `meterId` as it stood at `timestamp`: its device key and active flag after
    /// every change made at or before `timestamp` (owner and capacity never change).
    /// @dev A zero device means the meter was not registered yet at `timestamp` (or never).
    /// MeterReadings asks for the moment just before a slot's gate closed.
    function meterAt(uint256 meterId, uint256 timestamp) external view returns (Meter memory);

    /// @notice The id of the meter that `device` signs or signed for (0 when never used).
    /// @dev A rotated-out key keeps its meter id; `meter(id).device` is the current key.
    function meterIdOf(address device) external view returns (uint256);

    /// @notice How many meters were ever registered (ids are 1..meterCount).
    function meterCount() external view returns (uint256);

    /// @notice How many meters `owner` owns (deactivated ones included).
    function meterCountOf(address owner) external view returns (uint256);

    /// @notice Besu's account-permissioning rule: may `sender` send this transaction?
    /// @dev True exactly for active participants and for holders of a staff or system role.
    /// The signature is the one Besu's onchain account permissioning calls.
    function transactionAllowed(
        address sender,
        address target,
        uint256 value,
        uint256 gasPrice,
        uint256 gasLimit,
        bytes calldata payload
    ) external view returns (bool);
}
