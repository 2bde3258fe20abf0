// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Roles
/// @notice The role identifiers held in the ParticipantRegistry, shared by every contract.
library Roles {
    /// @dev Registers participants and meters, suspends and reinstates, mints credits (never
    /// burns them). Proposes governed changes through the timelock like any proposer; holds none
    /// of them itself.
    bytes32 internal constant OPERATOR = keccak256("OPERATOR_ROLE");
    /// @dev Read-only staff that may still transact on a permissioned chain.
    bytes32 internal constant AUDITOR = keccak256("AUDITOR_ROLE");
    /// @dev Submits clearings and settlements when slots fall due.
    bytes32 internal constant KEEPER = keccak256("KEEPER_ROLE");
    /// @dev The governance timelock's proposers and guardian: no power in the contracts, but
    /// allowed to transact on a permissioned chain (to schedule, execute or cancel).
    bytes32 internal constant GOVERNOR = keccak256("GOVERNOR_ROLE");
    /// @dev Unused by the contracts: CommunityCredit and EnergyCertificate are bound to the market's
    /// address at construction (as EnergyCertificate is to the readings contract's), so moving
    /// escrow and certificates is no revocable role. Kept for the registry's ABI; never granted.
    bytes32 internal constant MARKET = keccak256("MARKET_ROLE");
}
