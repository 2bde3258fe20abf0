// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IEnergyMarket} from "../interfaces/IEnergyMarket.sol";
import {UniformPriceClearing} from "./UniformPriceClearing.sol";

/// @dev One order, packed in one word (layout in UniformPriceClearing): owner (bits 0-159)
/// | energyWh (160-191) | limit per kWh (192-223) | fee per kWh (224-247: a bid's network fee,
/// an offer's seller fee, each snapshotted at placement) | side (248: 1 = offer)
/// | cancelled (249) | critical load (250). The zero word means "no order". The market stores
/// it as an OrderLane (below); the clearing, the views and the events see this word.
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

/// @dev One stored order in a 128-bit lane, two to a storage word: the owner's registry number
/// (bits 0-31, ≥ 1) | the order word's bits 160-250 (energyWh, limit, fee, side, cancelled,
/// critical) at bits 32-122, in the same order. The number stands in for the 160-bit owner, so
/// two orders share a word: the second order of a pair costs a warm rewrite, not a fresh word,
/// and clearing and settlement read one word per two orders. The zero lane means "no order".
type OrderLane is uint256;

using OrderLanes for OrderLane global;

/// @title OrderLanes
/// @notice Accessors of the 128-bit order lane and of the order pairs (keyed by `orderId >> 1`,
/// the lane of order `orderId` at bit 128 × (orderId & 1)); everything outside the market's
/// storage sees the full `OrderWord`, built with `toWord`.
library OrderLanes {
    // Literals only: a constant built from other constants is computed (with overflow checks)
    // wherever it is used, and these run on every step of the settlement sweeps.
    uint256 private constant _LANE_MASK = (1 << 128) - 1;
    uint256 private constant _NUMBER_BITS = 32;
    uint256 private constant _OWNER_BITS = 160;
    // The order word's flags move down by 160 - 32 = 128 bits into the lane (UniformPriceClearing's
    // SIDE_BIT 248 and CANCELLED_BIT 249 become 120 and 121): one mask each, no round trip
    // through the full word.
    uint256 private constant _SIDE_BIT = 1 << 120;
    uint256 private constant _CANCELLED_BIT = 1 << 121;

    /// @dev The lane of order `w` whose owner has registry number `number_` (< 2^32).
    function fromWord(OrderWord w, uint256 number_) internal pure returns (OrderLane) {
        return OrderLane.wrap(((OrderWord.unwrap(w) >> _OWNER_BITS) << _NUMBER_BITS) | uint32(number_));
    }

    /// @dev The order's full word, with `owner_` (the account of the lane's number) in bits 0-159.
    function toWord(OrderLane lane, address owner_) internal pure returns (OrderWord) {
        return OrderWord.wrap(((OrderLane.unwrap(lane) >> _NUMBER_BITS) << _OWNER_BITS) | uint256(uint160(owner_)));
    }

    /// @dev The order's word without its owner (bits 0-159 zero): what the clearing reads.
    function body(OrderLane lane) internal pure returns (OrderWord) {
        return OrderWord.wrap((OrderLane.unwrap(lane) >> _NUMBER_BITS) << _OWNER_BITS);
    }

    function isEmpty(OrderLane lane) internal pure returns (bool) {
        return OrderLane.unwrap(lane) == 0;
    }

    /// @dev The owner's registry number.
    function number(OrderLane lane) internal pure returns (uint256) {
        return uint32(OrderLane.unwrap(lane));
    }

    function isOffer(OrderLane lane) internal pure returns (bool) {
        return OrderLane.unwrap(lane) & _SIDE_BIT != 0;
    }

    function isCancelled(OrderLane lane) internal pure returns (bool) {
        return OrderLane.unwrap(lane) & _CANCELLED_BIT != 0;
    }

    /// @dev The same order, marked cancelled.
    function cancelled(OrderLane lane) internal pure returns (OrderLane) {
        return OrderLane.wrap(OrderLane.unwrap(lane) | _CANCELLED_BIT);
    }

    /// @dev The key of the storage word holding order `orderId` (`slot << 15 | index >> 1`).
    function pairKey(uint256 orderId) internal pure returns (uint256) {
        return orderId >> 1;
    }

    /// @dev The lane of order `orderId` in its pair word `pair`.
    function laneOf(uint256 pair, uint256 orderId) internal pure returns (OrderLane) {
        // (orderId & 1) × 128 as a shift, written out: settlement runs this on every sweep step
        return OrderLane.wrap((pair >> ((orderId & 1) << 7)) & _LANE_MASK);
    }

    /// @dev The stored lane of order `orderId` in `pairs` (zero: no such order).
    function load(mapping(uint256 => uint256) storage pairs, uint256 orderId) internal view returns (OrderLane) {
        // pairs[pairKey(orderId)], written out like laneOf
        return OrderLane.wrap((pairs[orderId >> 1] >> ((orderId & 1) << 7)) & _LANE_MASK);
    }

    /// @dev `pair` with the lane of order `orderId` replaced by `lane`.
    function withLane(uint256 pair, uint256 orderId, OrderLane lane) internal pure returns (uint256) {
        uint256 shift = _laneShift(orderId);
        return (pair & ~(_LANE_MASK << shift)) | (OrderLane.unwrap(lane) << shift);
    }

    /// @dev 0 or 128: the lane's bit offset in its pair word.
    function _laneShift(uint256 orderId) private pure returns (uint256) {
        // (orderId & 1) × 128: a shift, not a checked multiplication (run on every sweep step)
        return (orderId & 1) << 7;
    }
}
