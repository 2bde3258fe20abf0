// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The few Foundry cheatcodes the invariant tests use
/// @dev forge-std is not on npm in a current version and nothing may be fetched from GitHub at
/// run time, so this declares only what tests/foundry needs (same signatures as forge-std's Vm).
interface Vm {
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function warp(uint256 newTimestamp) external;
    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory logs);
    function snapshotState() external returns (uint256 snapshotId);
    function revertToState(uint256 snapshotId) external returns (bool success);
    function chainId(uint256 newChainId) external;
    function label(address account, string calldata newLabel) external;
    function envBytes32(string calldata name) external view returns (bytes32);
}

/// @dev The cheatcode address (keccak256("hevm cheat code")) and small helpers.
abstract contract Cheats {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @dev `x` mapped into [lo, hi] (hi ≥ lo); a value already inside stays as it is.
    function _bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        if (x >= lo && x <= hi) return x;
        return lo + x % (hi - lo + 1);
    }
}

/// @dev What forge reads from a test contract to choose the invariant campaign's targets.
abstract contract InvariantTest is Cheats {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targets;
    FuzzSelector[] private _selectors;

    function _targetContract(address target) internal {
        _targets.push(target);
    }

    function _targetSelectors(address target, bytes4[] memory selectors) internal {
        _selectors.push(FuzzSelector(target, selectors));
    }

    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _selectors;
    }
}
