// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title Governance
/// @notice The community's governance timelock: the single default admin of the
/// ParticipantRegistry. Every role grant or revocation and every change of meter keys, meter
/// status, critical loads, tariffs and outage declarations is scheduled here, visible as a
/// `CallScheduled` event for at least `getMinDelay()` seconds, cancellable by the guardian in that
/// time, and only then executed.
/// @dev OpenZeppelin's TimelockController with one change: the proposers are not cancellers; only
/// the guardian cancels (TimelockController makes every proposer a canceller). The timelock
/// administers itself (no admin account): changing its delay or its proposers is itself a
/// scheduled, delayed call.
contract Governance is TimelockController {
    /// @notice The guardian is the zero address.
    error GovernanceZeroGuardian();

    /// @param minDelay the shortest delay of a scheduled call, in seconds
    /// @param proposers the accounts that may schedule (the admin and the operator)
    /// @param executors the accounts that may execute a ready call
    /// @param guardian the only account that may cancel a scheduled call
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address guardian)
        TimelockController(minDelay, proposers, executors, address(0))
    {
        if (guardian == address(0)) revert GovernanceZeroGuardian();
        for (uint256 i = 0; i < proposers.length; ++i) {
            _revokeRole(CANCELLER_ROLE, proposers[i]);
        }
        _grantRole(CANCELLER_ROLE, guardian);
    }
}
