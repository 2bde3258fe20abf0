// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IEnergyMarket} from "../interfaces/IEnergyMarket.sol";
import {UniformPriceClearing} from "./UniformPriceClearing.sol";

/// @dev One stored order, packed in one word (layout in UniformPriceClearing): owner (bits 0-159)
/// | energyWh (160-191) | limit per kWh (192-223) | fee per kWh (224-247: a bid's network fee,
/// an offer's seller fee, each snapshotted at placement) | side (248: 1 = offer)
/// | cancelled (249) | critical load (250). The zero word means "no order".
type OrderWord is uint256;

using OrderWords for OrderWord global;

/// @title OrderWords
/// @notice Accessors of the packed order word and of order ids (`slot << 16 | index`), used by
/// EnergyMarket instead of raw masks and shifts.
library OrderWords {
    uint256 private constant _INDEX_BITS = 16;

    /// @dev The word of a new order; `feePerKWh` ≤ UniformPriceClearing.MAX_FEE.
    function pack(
        address owner_,
        IEnergyMarket.Side side_,
        uint256 energyWh_,
        uint256 limitPerKWh_,
        uint256 feePerKWh_,
        bool critical_
    ) internal pure returns (OrderWord) {
        return OrderWord.wrap(
            uint256(uint160(owner_)) | (uint256(uint32(energyWh_)) << 160) | (uint256(uint32(limitPerKWh_)) << 192)
                | ((feePerKWh_ & UniformPriceClearing.MAX_FEE) << 224)
                | (side_ == IEnergyMarket.Side.Offer ? UniformPriceClearing.SIDE_BIT : 0)
                | (critical_ ? UniformPriceClearing.CRITICAL_BIT : 0)
        );
    }

    function isEmpty(OrderWord w) internal pure returns (bool) {
        return OrderWord.unwrap(w) == 0;
    }

    function owner(OrderWord w) internal pure returns (address) {
        return address(uint160(OrderWord.unwrap(w) & UniformPriceClearing.OWNER_MASK));
    }

    function isOffer(OrderWord w) internal pure returns (bool) {
        return UniformPriceClearing.isOffer(OrderWord.unwrap(w));
    }

    function side(OrderWord w) internal pure returns (IEnergyMarket.Side) {
        return isOffer(w) ? IEnergyMarket.Side.Offer : IEnergyMarket.Side.Bid;
    }

    function isCancelled(OrderWord w) internal pure returns (bool) {
        return UniformPriceClearing.isCancelled(OrderWord.unwrap(w));
    }

    function isCritical(OrderWord w) internal pure returns (bool) {
        return OrderWord.unwrap(w) & UniformPriceClearing.CRITICAL_BIT != 0;
    }

    function energyWh(OrderWord w) internal pure returns (uint256) {
        return UniformPriceClearing.energyOf(OrderWord.unwrap(w));
    }

    function limitPerKWh(OrderWord w) internal pure returns (uint256) {
        return UniformPriceClearing.limitOf(OrderWord.unwrap(w));
    }

    function feePerKWh(OrderWord w) internal pure returns (uint256) {
        return UniformPriceClearing.feeOf(OrderWord.unwrap(w));
    }

    /// @dev The same order, marked cancelled.
    function cancelled(OrderWord w) internal pure returns (OrderWord) {
        return OrderWord.wrap(OrderWord.unwrap(w) | UniformPriceClearing.CANCELLED_BIT);
    }

    /// @dev The order as the market's view struct.
    function unpack(OrderWord w) internal pure returns (IEnergyMarket.Order memory) {
        return IEnergyMarket.Order({
            owner: owner(w),
            side: side(w),
            cancelled: isCancelled(w),
            critical: isCritical(w),
            energyWh: uint32(energyWh(w)),
            limitPricePerKWh: uint32(limitPerKWh(w)),
            feePerKWh: uint32(feePerKWh(w))
        });
    }

    /// @dev The id of the `index`-th order of `slot`.
    function id(uint256 slot, uint256 index) internal pure returns (uint256) {
        return (slot << _INDEX_BITS) | index;
    }

    /// @dev The slot of order `orderId`.
    function slotOf(uint256 orderId) internal pure returns (uint256) {
        return orderId >> _INDEX_BITS;
    }
}
