// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice A meter's signing key and active flag at one moment, packed into the 208-bit value of
/// an OpenZeppelin `Checkpoints.Trace208` entry: bits 0-159 the device address, bit 160 the
/// active flag. Zero means "no meter" (a registered meter always has a non-zero device).
type MeterStatus is uint208;

using MeterStatusLibrary for MeterStatus global;

/// @title MeterStatusLibrary
/// @notice Packs and reads `MeterStatus` values.
library MeterStatusLibrary {
    uint256 private constant _ACTIVE_BIT = 1 << 160;

    /// @notice The status of a meter signing with `deviceKey`, active or not.
    function pack(address deviceKey, bool isActive) internal pure returns (MeterStatus) {
        // 161 bits: fits in uint208.
        return MeterStatus.wrap(uint208(uint256(uint160(deviceKey)) | (isActive ? _ACTIVE_BIT : 0)));
    }

    /// @notice The device key of `status` (zero when no meter was registered then).
    function device(MeterStatus status) internal pure returns (address) {
        return address(uint160(MeterStatus.unwrap(status)));
    }

    /// @notice Whether the meter was active in `status`.
    function active(MeterStatus status) internal pure returns (bool) {
        return uint256(MeterStatus.unwrap(status)) & _ACTIVE_BIT != 0;
    }
}
