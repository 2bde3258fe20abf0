// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {Roles} from "./libraries/Roles.sol";

/// @title ParticipantRegistry
/// @notice Roles, participants and meters of one trading community.
/// @dev Roles: DEFAULT_ADMIN_ROLE (grants and revokes roles), OPERATOR_ROLE (registers
/// participants and meters, sets tariffs, mints credits), AUDITOR_ROLE (read-only staff, allowed
/// to transact on a permissioned chain), KEEPER_ROLE (clears and settles), and the system role
/// MARKET_ROLE held by the market contract. (The readings contract needs no role: the certificate
/// contract is bound to it at deployment.)
///
/// Meters are bounded so that MeterReadings can pack an owner's energy per slot in 30-bit fields
/// with a 4-bit reading count: at most `MAX_METERS_PER_OWNER` meters of at most `MAX_CAPACITY_W`
/// each export at most 15 · 50 MWh < 2^30 Wh in a slot (at most an hour long).
contract ParticipantRegistry is IParticipantRegistry, AccessControl {
    bytes32 public constant OPERATOR_ROLE = Roles.OPERATOR;
    bytes32 public constant AUDITOR_ROLE = Roles.AUDITOR;
    bytes32 public constant KEEPER_ROLE = Roles.KEEPER;
    bytes32 public constant MARKET_ROLE = Roles.MARKET;

    /// @notice The largest nameplate export capacity of one meter, in W (50 MW).
    uint32 public constant MAX_CAPACITY_W = 50_000_000;
    /// @notice The most meters one participant may own.
    uint256 public constant MAX_METERS_PER_OWNER = 15;

    // ───────────────────────────── storage ─────────────────────────────

    mapping(address account => Participant) private _participants;
    mapping(uint256 meterId => Meter) private _meters;
    mapping(address device => uint256 meterId) private _meterIdOf;
    mapping(address owner => uint256 meters) private _meterCountOf;
    uint256 private _meterCount;

    /// @param admin the account that holds DEFAULT_ADMIN_ROLE (and may grant the other roles)
    constructor(address admin) {
        if (admin == address(0)) revert RegistryZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
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
        _participants[account] = Participant({kind: kind, active: true, criticalLoad: criticalLoad});
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
    function setCriticalLoad(address account, bool criticalLoad) external onlyRole(OPERATOR_ROLE) {
        _existing(account).criticalLoad = criticalLoad;
        emit CriticalLoadSet(account, criticalLoad);
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
        _meters[meterId] = Meter({device: device, owner: owner, capacityW: capacityW, active: true});
        _meterIdOf[device] = meterId;
        emit MeterRegistered(meterId, device, owner, capacityW);
    }

    /// @inheritdoc IParticipantRegistry
    function rotateMeterKey(uint256 meterId, address newDevice) external onlyRole(OPERATOR_ROLE) {
        Meter storage m = _existingMeter(meterId);
        _checkFreeDevice(newDevice);
        address oldDevice = m.device;
        // The old key stays mapped to this meter, so a retired (maybe leaked) key can never be
        // registered again; readers compare `meter(id).device` with the signer.
        m.device = newDevice;
        _meterIdOf[newDevice] = meterId;
        emit MeterKeyRotated(meterId, oldDevice, newDevice);
    }

    /// @inheritdoc IParticipantRegistry
    function setMeterActive(uint256 meterId, bool active) external onlyRole(OPERATOR_ROLE) {
        Meter storage m = _existingMeter(meterId);
        if (m.active == active) revert RegistryMeterUnchanged(meterId, active);
        m.active = active;
        emit MeterStatusSet(meterId, active);
    }

    // ───────────────────────────── views ─────────────────────────────

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
        return _meters[meterId];
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
        return isActiveParticipant(sender) || hasRole(DEFAULT_ADMIN_ROLE, sender)
            || hasRole(OPERATOR_ROLE, sender) || hasRole(AUDITOR_ROLE, sender)
            || hasRole(KEEPER_ROLE, sender);
    }

    // ───────────────────────────── internal ─────────────────────────────

    function _existing(address account) private view returns (Participant storage p) {
        p = _participants[account];
        if (p.kind == Kind.None) revert RegistryUnknownParticipant(account);
    }

    function _existingMeter(uint256 meterId) private view returns (Meter storage m) {
        m = _meters[meterId];
        if (m.device == address(0)) revert RegistryUnknownMeter(meterId);
    }

    function _checkFreeDevice(address device) private view {
        if (device == address(0)) revert RegistryZeroAddress();
        uint256 existing = _meterIdOf[device];
        if (existing != 0) revert RegistryDeviceInUse(device, existing);
    }
}
