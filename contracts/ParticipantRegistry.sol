// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";

import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";

import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {MeterStatus, MeterStatusLibrary} from "./libraries/MeterStatus.sol";
import {Roles} from "./libraries/Roles.sol";

/// @title ParticipantRegistry
/// @notice Roles, participants and meters of one trading community.
/// @dev Roles: DEFAULT_ADMIN_ROLE is held by exactly one account, the community's governance
/// timelock (`governance()`): it grants and revokes roles and makes every change that moves
/// someone else's energy (meter keys and status, critical loads, and in EnergyMarket tariffs and
/// outages), each delayed, public and cancellable by the guardian; handing it on is two-step and
/// delayed (AccessControlDefaultAdminRules). OPERATOR_ROLE (registers participants and meters,
/// suspends and reinstates, mints credits), AUDITOR_ROLE (read-only staff, allowed to transact on
/// a permissioned chain), KEEPER_ROLE (clears and settles), GOVERNOR_ROLE (the timelock's
/// proposers and guardian: no power here, allowed to transact), and the system role MARKET_ROLE
/// held by the market contract. (The readings contract needs no role: the certificate contract
/// is bound to it at deployment.) The initial staff is granted at construction; every later
/// grant or revocation goes through the timelock.
///
/// Meters are bounded so that MeterReadings can pack an owner's energy per slot in 30-bit fields
/// with a 4-bit reading count: at most `MAX_METERS_PER_OWNER` meters of at most `MAX_CAPACITY_W`
/// each export at most 15 · 50 MWh < 2^30 Wh in a slot (at most an hour long).
///
/// Every meter's (device key, active) history is kept as checkpoints keyed by block time, so
/// MeterReadings can verify a reading against the key and status in force when the slot's gate
/// closed (`meterAt`): a later change can neither void a delivered reading nor reach back into a
/// cleared slot.
contract ParticipantRegistry is IParticipantRegistry, AccessControlDefaultAdminRules {
    using Checkpoints for Checkpoints.Trace208;
    bytes32 public constant OPERATOR_ROLE = Roles.OPERATOR;
    bytes32 public constant GOVERNOR_ROLE = Roles.GOVERNOR;
    bytes32 public constant AUDITOR_ROLE = Roles.AUDITOR;
    bytes32 public constant KEEPER_ROLE = Roles.KEEPER;
    bytes32 public constant MARKET_ROLE = Roles.MARKET;

    /// @notice The largest nameplate export capacity of one meter, in W (50 MW).
    uint32 public constant MAX_CAPACITY_W = 50_000_000;
    /// @notice The most meters one participant may own.
    uint256 public constant MAX_METERS_PER_OWNER = 15;

    // ───────────────────────────── storage ─────────────────────────────

    mapping(address account => Participant) private _participants;
    /// @dev A meter as `meter` returns it, and since when its current key and status hold (the
    /// time of its latest history entry), in the owner's word: most readings are of slots whose
    /// gate closed after the meter's last change, and need neither the history nor a third word.
    struct MeterRecord {
        address device;
        address owner;
        uint32 capacityW;
        bool active;
        uint48 statusSince;
    }

    mapping(uint256 meterId => MeterRecord) private _meters;
    mapping(address device => uint256 meterId) private _meterIdOf;
    mapping(address owner => uint256 meters) private _meterCountOf;
    uint256 private _meterCount;
    mapping(uint256 meterId => Checkpoints.Trace208) private _meterHistory;
    /// @dev Participants registered so far (the last registration number handed out).
    uint32 private _participantCount;

    /// @param governance_ the governance timelock: the only holder of DEFAULT_ADMIN_ROLE
    /// @param adminTransferDelay seconds a new default admin must wait before accepting the role
    /// @param staff the initial role grants (operator, keepers, auditors, governors, the market)
    constructor(address governance_, uint48 adminTransferDelay, RoleGrant[] memory staff)
        AccessControlDefaultAdminRules(adminTransferDelay, governance_)
    {
        for (uint256 i = 0; i < staff.length; ++i) {
            if (staff[i].account == address(0)) revert RegistryZeroAddress();
            // DEFAULT_ADMIN_ROLE is refused here by AccessControlDefaultAdminRules itself.
            _grantRole(staff[i].role, staff[i].account);
        }
    }

    /// @dev Reverts unless the caller is the governance timelock (the single default admin).
    modifier onlyGovernance() {
        _checkGovernance();
        _;
    }

    // ───────────────────────────── operator ─────────────────────────────

    /// @inheritdoc IParticipantRegistry
    function registerParticipant(address account, Kind kind, bool criticalLoad)
        external
        onlyRole(OPERATOR_ROLE)
    {
        if (account == address(0)) revert RegistryZeroAddress();
        if (kind == Kind.None) revert RegistryInvalidKind(kind);
        if (_participants[account].kind != Kind.None) revert RegistryParticipantExists(account);
        uint32 number = _participantCount + 1;
        _participantCount = number;
        _participants[account] = Participant({kind: kind, active: true, criticalLoad: criticalLoad, number: number});
        emit ParticipantRegistered(account, kind, criticalLoad);
    }

    /// @inheritdoc IParticipantRegistry
    function suspendParticipant(address account) external onlyRole(OPERATOR_ROLE) {
        Participant storage p = _existing(account);
        if (!p.active) revert RegistryParticipantUnchanged(account, false);
        p.active = false;
        emit ParticipantSuspended(account);
    }

    /// @inheritdoc IParticipantRegistry
    function reinstateParticipant(address account) external onlyRole(OPERATOR_ROLE) {
        Participant storage p = _existing(account);
        if (p.active) revert RegistryParticipantUnchanged(account, true);
        p.active = true;
        emit ParticipantReinstated(account);
    }

    /// @inheritdoc IParticipantRegistry
    function registerMeter(address device, address owner, uint32 capacityW)
        external
        onlyRole(OPERATOR_ROLE)
        returns (uint256 meterId)
    {
        _checkFreeDevice(device);
        Kind kind = _participants[owner].kind;
        if (kind != Kind.Consumer && kind != Kind.Prosumer) {
            revert RegistryMeterOwnerInvalid(owner, kind);
        }
        if (capacityW == 0) revert RegistryZeroCapacity();
        if (capacityW > MAX_CAPACITY_W) revert RegistryCapacityTooLarge(capacityW, MAX_CAPACITY_W);
        uint256 owned = _meterCountOf[owner];
        if (owned == MAX_METERS_PER_OWNER) revert RegistryTooManyMeters(owner, MAX_METERS_PER_OWNER);
        _meterCountOf[owner] = owned + 1;
        meterId = ++_meterCount;
        _meters[meterId] = MeterRecord({
            device: device,
            owner: owner,
            capacityW: capacityW,
            active: true,
            statusSince: 0 // set by _checkpoint
        });
        _meterIdOf[device] = meterId;
        _checkpoint(meterId, device, true);
        emit MeterRegistered(meterId, device, owner, capacityW);
    }

    // ───────────────────────────── governance (delayed) ─────────────────────────────

    /// @inheritdoc IParticipantRegistry
    function setCriticalLoad(address account, bool criticalLoad) external onlyGovernance {
        _existing(account).criticalLoad = criticalLoad;
        emit CriticalLoadSet(account, criticalLoad);
    }

    /// @inheritdoc IParticipantRegistry
    function rotateMeterKey(uint256 meterId, address newDevice) external onlyGovernance {
        MeterRecord storage m = _existingMeter(meterId);
        _checkFreeDevice(newDevice);
        address oldDevice = m.device;
        // The old key stays mapped to this meter, so a retired (maybe leaked) key can never be
        // registered again; readers compare `meter(id).device` with the signer.
        m.device = newDevice;
        _meterIdOf[newDevice] = meterId;
        _checkpoint(meterId, newDevice, m.active);
        emit MeterKeyRotated(meterId, oldDevice, newDevice);
    }

    /// @inheritdoc IParticipantRegistry
    function setMeterActive(uint256 meterId, bool active) external onlyGovernance {
        MeterRecord storage m = _existingMeter(meterId);
        if (m.active == active) revert RegistryMeterUnchanged(meterId, active);
        m.active = active;
        _checkpoint(meterId, m.device, active);
        emit MeterStatusSet(meterId, active);
    }

    // ───────────────────────────── views ─────────────────────────────

    /// @inheritdoc IParticipantRegistry
    function governance() external view returns (address) {
        return defaultAdmin();
    }

    /// @inheritdoc IParticipantRegistry
    function participant(address account) external view returns (Participant memory) {
        return _participants[account];
    }

    /// @inheritdoc IParticipantRegistry
    function isActiveParticipant(address account) public view returns (bool) {
        Participant storage p = _participants[account];
        return p.active && p.kind != Kind.None;
    }

    /// @inheritdoc IParticipantRegistry
    function meter(uint256 meterId) external view returns (Meter memory) {
        MeterRecord storage m = _meters[meterId];
        return Meter({device: m.device, owner: m.owner, capacityW: m.capacityW, active: m.active});
    }

    /// @inheritdoc IParticipantRegistry
    function meterAt(uint256 meterId, uint256 timestamp) external view returns (Meter memory m) {
        MeterRecord storage current = _meters[meterId];
        m.owner = current.owner;
        m.capacityW = current.capacityW;
        if (timestamp >= current.statusSince) {
            // The latest history entry holds at `timestamp`: it is the current key and status
            // (for a meter never registered, statusSince and device are zero: no meter).
            m.device = current.device;
            m.active = current.active;
            return m;
        }
        uint48 key = uint48(timestamp); // below statusSince, a uint48
        MeterStatus status = MeterStatus.wrap(_meterHistory[meterId].upperLookupRecent(key));
        m.device = status.device();
        m.active = status.active();
    }

    /// @inheritdoc IParticipantRegistry
    function meterIdOf(address device) external view returns (uint256) {
        return _meterIdOf[device];
    }

    /// @inheritdoc IParticipantRegistry
    function meterCount() external view returns (uint256) {
        return _meterCount;
    }

    /// @inheritdoc IParticipantRegistry
    function meterCountOf(address owner) external view returns (uint256) {
        return _meterCountOf[owner];
    }

    /// @inheritdoc IParticipantRegistry
    function transactionAllowed(
        address sender,
        address, /* target */
        uint256, /* value */
        uint256, /* gasPrice */
        uint256, /* gasLimit */
        bytes calldata /* payload */
    ) external view returns (bool) {
        return isActiveParticipant(sender) || hasRole(OPERATOR_ROLE, sender)
            || hasRole(AUDITOR_ROLE, sender) || hasRole(KEEPER_ROLE, sender)
            || hasRole(GOVERNOR_ROLE, sender);
    }

    // ───────────────────────────── internal ─────────────────────────────

    /// @dev The one governance check: every delayed function calls it.
    function _checkGovernance() private view {
        _checkRole(DEFAULT_ADMIN_ROLE);
    }

    /// @dev Records the meter's key and status from now on (one entry per block time).
    function _checkpoint(uint256 meterId, address device, bool active) private {
        // Block time fits 48 bits for millions of years; push refuses an earlier key.
        _meterHistory[meterId].push(
            uint48(block.timestamp), MeterStatus.unwrap(MeterStatusLibrary.pack(device, active))
        );
        _meters[meterId].statusSince = uint48(block.timestamp);
    }

    function _existing(address account) private view returns (Participant storage p) {
        p = _participants[account];
        if (p.kind == Kind.None) revert RegistryUnknownParticipant(account);
    }

    function _existingMeter(uint256 meterId) private view returns (MeterRecord storage m) {
        m = _meters[meterId];
        if (m.device == address(0)) revert RegistryUnknownMeter(meterId);
    }

    function _checkFreeDevice(address device) private view {
        if (device == address(0)) revert RegistryZeroAddress();
        uint256 existing = _meterIdOf[device];
        if (existing != 0) revert RegistryDeviceInUse(device, existing);
    }
}
