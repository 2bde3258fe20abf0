// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MarketMath} from "./MarketMath.sol";

/// @title Settlement
/// @notice The per-order arithmetic of min-of-two pool settlement (docs/market-rules.md,
/// "Settlement"), used by EnergyMarket both when it settles and when it derives a holder's
/// certificates afterwards (`certificateFlow`), so that the rounding of each amount is stated
/// once. D = delivered, A = absorbed, T = min(D, A) traded, S = sellers' certificates.
library Settlement {
    using MarketMath for uint256;

    /// @notice A seller's gross receipt floor(d·T·P / (D·1000)) and seller fee
    /// min(floor(d·T·fee / (D·1000)), receipt).
    /// @dev Called only with delivered > 0 (d > 0 implies D ≥ d). The seller fee rounds down
    /// (the seller is never charged more than the stated fee) and never exceeds the receipt.
    function seller(uint256 metered, uint256 traded, uint256 delivered, uint256 price, uint256 feePerKWh)
        internal
        pure
        returns (uint256 receipt, uint256 fee)
    {
        uint256 denominator = delivered * 1000;
        receipt = metered * traded * price / denominator;
        fee = metered * traded * feePerKWh / denominator;
        if (fee > receipt) fee = receipt;
    }

    /// @notice The certificates a seller gives: floor(d·T / D) (≤ d, so ≤ its export).
    /// @dev Called only with delivered > 0.
    function sellerCertificates(uint256 metered, uint256 traded, uint256 delivered) internal pure returns (uint256) {
        return metered * traded / delivered;
    }

    /// @notice A buyer's charge ceil(a·T·P / (A·1000)) and fee ceil(a·T·fee / (A·1000)).
    /// @dev Called only with absorbed > 0 (a > 0 implies A ≥ a).
    function buyer(uint256 metered, uint256 traded, uint256 absorbed, uint256 price, uint256 feePerKWh)
        internal
        pure
        returns (uint256 charge, uint256 fee)
    {
        uint256 denominator = absorbed * 1000;
        charge = (metered * traded * price).ceilDiv(denominator);
        fee = (metered * traded * feePerKWh).ceilDiv(denominator);
    }

    /// @notice The certificates a buyer receives: floor(a·S / A).
    /// @dev Called only with absorbed > 0.
    function buyerCertificates(uint256 metered, uint256 absorbed, uint256 certificates)
        internal
        pure
        returns (uint256)
    {
        return metered * certificates / absorbed;
    }
}
