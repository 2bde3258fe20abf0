// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title MarketMath
/// @notice The integer arithmetic of docs/market-rules.md (prices per kWh, energy in Wh).
library MarketMath {
    /// @dev ceil(a / b) for b > 0.
    function ceilDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return a == 0 ? 0 : (a - 1) / b + 1;
    }

    /// @notice Credits a bid locks: its energy at its limit plus the network fee, each rounded up.
    function escrow(uint256 energyWh, uint256 limitPerKWh, uint256 feePerKWh) internal pure returns (uint256) {
        return ceilDiv(energyWh * limitPerKWh, 1000) + ceilDiv(energyWh * feePerKWh, 1000);
    }

    /// @notice Midpoint (rounded down) of [max(mOffer, remBidMax), min(mBid, remOfferMin)].
    /// @dev `hasRemBid`/`hasRemOffer` say whether a bid / offer with energy left exists.
    function price(
        uint256 marginalBid,
        uint256 marginalOffer,
        bool hasRemBid,
        uint256 remBidMax,
        bool hasRemOffer,
        uint256 remOfferMin
    ) internal pure returns (uint256) {
        uint256 lo = hasRemBid && remBidMax > marginalOffer ? remBidMax : marginalOffer;
        uint256 hi = hasRemOffer && remOfferMin < marginalBid ? remOfferMin : marginalBid;
        return (lo + hi) / 2;
    }
}
