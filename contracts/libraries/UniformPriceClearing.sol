// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IEnergyMarket} from "../interfaces/IEnergyMarket.sol";
import {MarketMath} from "./MarketMath.sol";

/// @title UniformPriceClearing
/// @notice Packed orders and the one-pass verification of a uniform-price clearing
/// (docs/market-rules.md). Shared by EnergyMarket and the test harness, so what the tests prove
/// about this code is what the market runs.
/// @dev Order word: owner (bits 0-159) | energyWh (160-191) | limit per kWh (192-223) |
/// fee per kWh (224-247) | side (248: 1 = offer) | cancelled (249) | critical load (250).
library UniformPriceClearing {
    uint256 internal constant OWNER_MASK = (1 << 160) - 1;
    uint256 internal constant MAX_FEE = (1 << 24) - 1;
    uint256 internal constant SIDE_BIT = 1 << 248;
    uint256 internal constant CANCELLED_BIT = 1 << 249;
    uint256 internal constant CRITICAL_BIT = 1 << 250;

    /// @dev A clearing description as submitted by the keeper.
    struct Description {
        uint256 marginalBid;
        uint256 marginalOffer;
        uint256 bidMarginalWh;
        uint256 offerMarginalWh;
    }

    /// @dev What one pass over the orders under a description yields.
    struct Walk {
        uint256 bidBudget;
        uint256 offerBudget;
        uint256 bidWh;
        uint256 offerWh;
        bool hasRemBid;
        bool hasRemOffer;
        uint256 remBidMax;
        uint256 remOfferMin;
    }

    function energyOf(uint256 packed) internal pure returns (uint256) {
        return uint32(packed >> 160);
    }

    function limitOf(uint256 packed) internal pure returns (uint256) {
        return uint32(packed >> 192);
    }

    function feeOf(uint256 packed) internal pure returns (uint256) {
        return (packed >> 224) & MAX_FEE;
    }

    function isOffer(uint256 packed) internal pure returns (bool) {
        return packed & SIDE_BIT != 0;
    }

    function isCancelled(uint256 packed) internal pure returns (bool) {
        return packed & CANCELLED_BIT != 0;
    }

    /// @dev True when the description trades at all (both budgets 0 means "no trade").
    function trades(Description memory d) internal pure returns (bool) {
        return d.bidMarginalWh != 0 || d.offerMarginalWh != 0;
    }

    /// @notice Verifies `d` against `orders` (in id order) and returns the price and volume.
    /// @dev Reverts with the market's custom errors, in the order docs/market-rules.md lists.
    /// `fills[i]` receives each order's fill when `fills.length == orders.length`.
    function verify(uint256[] memory orders, Description memory d, uint256[] memory fills)
        internal
        pure
        returns (uint256 price, uint256 volume)
    {
        bool trading = trades(d);
        if (
            (!trading && (d.marginalBid != 0 || d.marginalOffer != 0))
                || (trading && (d.bidMarginalWh == 0 || d.offerMarginalWh == 0)) || d.marginalBid < d.marginalOffer
        ) {
            revert IEnergyMarket.MarketClearingMarginalInvalid(
                d.marginalBid, d.marginalOffer, d.bidMarginalWh, d.offerMarginalWh
            );
        }
        Walk memory w = walk(orders, d, fills);
        if (w.bidBudget != 0 || w.offerBudget != 0) {
            revert IEnergyMarket.MarketClearingBudgetUnused(w.bidBudget, w.offerBudget);
        }
        if (w.bidWh != w.offerWh) revert IEnergyMarket.MarketClearingUnbalanced(w.bidWh, w.offerWh);
        if (w.hasRemBid && w.hasRemOffer && w.remBidMax >= w.remOfferMin) {
            revert IEnergyMarket.MarketClearingNotMaximal(w.remBidMax, w.remOfferMin);
        }
        price = trading
            ? MarketMath.price(d.marginalBid, d.marginalOffer, w.hasRemBid, w.remBidMax, w.hasRemOffer, w.remOfferMin)
            : 0;
        volume = w.bidWh;
    }

    /// @dev One pass in id (time) order: fill, and track what is left for the maximality check.
    function walk(uint256[] memory orders, Description memory d, uint256[] memory fills)
        internal
        pure
        returns (Walk memory w)
    {
        bool trading = trades(d);
        bool recordFills = fills.length == orders.length;
        w.bidBudget = d.bidMarginalWh;
        w.offerBudget = d.offerMarginalWh;
        for (uint256 i = 0; i < orders.length; ++i) {
            uint256 packed = orders[i];
            if (isCancelled(packed)) continue;
            uint256 energy = energyOf(packed);
            uint256 limit = limitOf(packed);
            uint256 fill;
            if (!isOffer(packed)) {
                if (trading) (fill, w.bidBudget) = bidFill(energy, limit, d.marginalBid, w.bidBudget);
                w.bidWh += fill;
                if (fill < energy && (!w.hasRemBid || limit > w.remBidMax)) (w.hasRemBid, w.remBidMax) = (true, limit);
            } else {
                if (trading) (fill, w.offerBudget) = offerFill(energy, limit, d.marginalOffer, w.offerBudget);
                w.offerWh += fill;
                if (fill < energy && (!w.hasRemOffer || limit < w.remOfferMin)) {
                    (w.hasRemOffer, w.remOfferMin) = (true, limit);
                }
            }
            if (recordFills) fills[i] = fill;
        }
    }

    // ─────────────────── island mode (outage slots, docs/market-rules.md) ───────────────────

    /// @notice Verifies an outage-slot description: bids rank by class (critical loads first)
    /// then time, offers by limit then time; only bids with limit ≥ `cap` and offers with
    /// limit ≤ `cap` take part; everything trades at `cap`. `d.marginalBid` is the marginal bid
    /// class (1 = critical loads, 0 = everyone else).
    function verifyIsland(uint256[] memory orders, Description memory d, uint256 cap, uint256[] memory fills)
        internal
        pure
        returns (uint256 price, uint256 volume)
    {
        bool trading = trades(d);
        if (
            (!trading && (d.marginalBid != 0 || d.marginalOffer != 0))
                || (trading && (d.bidMarginalWh == 0 || d.offerMarginalWh == 0 || d.marginalBid > 1 || d.marginalOffer > cap))
        ) {
            revert IEnergyMarket.MarketClearingMarginalInvalid(
                d.marginalBid, d.marginalOffer, d.bidMarginalWh, d.offerMarginalWh
            );
        }
        Walk memory w;
        w.bidBudget = d.bidMarginalWh;
        w.offerBudget = d.offerMarginalWh;
        bool recordFills = fills.length == orders.length;
        for (uint256 i = 0; i < orders.length; ++i) {
            uint256 packed = orders[i];
            uint256 fill;
            (fill, w.bidBudget, w.offerBudget) = fillOfIsland(packed, d, cap, w.bidBudget, w.offerBudget);
            if (fill == 0 && !_eligible(packed, cap)) continue;
            if (!isOffer(packed)) {
                w.bidWh += fill;
                if (fill < energyOf(packed)) (w.hasRemBid, w.remBidMax) = (true, cap);
            } else {
                w.offerWh += fill;
                uint256 limit = limitOf(packed);
                if (fill < energyOf(packed) && (!w.hasRemOffer || limit < w.remOfferMin)) {
                    (w.hasRemOffer, w.remOfferMin) = (true, limit);
                }
            }
            if (recordFills) fills[i] = fill;
        }
        if (w.bidBudget != 0 || w.offerBudget != 0) {
            revert IEnergyMarket.MarketClearingBudgetUnused(w.bidBudget, w.offerBudget);
        }
        if (w.bidWh != w.offerWh) revert IEnergyMarket.MarketClearingUnbalanced(w.bidWh, w.offerWh);
        // Everyone eligible trades at the cap: energy left on both sides means a missed trade.
        if (w.hasRemBid && w.hasRemOffer) revert IEnergyMarket.MarketClearingNotMaximal(w.remBidMax, w.remOfferMin);
        price = trading ? cap : 0;
        volume = w.bidWh;
    }

    /// @dev The fill of order `packed` in an outage slot, consuming the budgets.
    function fillOfIsland(uint256 packed, Description memory d, uint256 cap, uint256 bidBudget, uint256 offerBudget)
        internal
        pure
        returns (uint256 fill, uint256, uint256)
    {
        if (!trades(d) || isCancelled(packed) || !_eligible(packed, cap)) return (0, bidBudget, offerBudget);
        uint256 energy = energyOf(packed);
        if (!isOffer(packed)) {
            uint256 class = packed & CRITICAL_BIT != 0 ? 1 : 0;
            // bidFill's rule with the class in place of the limit: better class fills fully.
            (fill, bidBudget) = bidFill(energy, class, d.marginalBid, bidBudget);
        } else {
            (fill, offerBudget) = offerFill(energy, limitOf(packed), d.marginalOffer, offerBudget);
        }
        return (fill, bidBudget, offerBudget);
    }

    /// @dev Takes part in an outage slot: bids that can pay the cap, offers that accept it.
    function _eligible(uint256 packed, uint256 cap) private pure returns (bool) {
        if (isCancelled(packed)) return false;
        return isOffer(packed) ? limitOf(packed) <= cap : limitOf(packed) >= cap;
    }

    /// @dev The fill of order `packed` under a trading description, consuming the budgets.
    function fillOf(uint256 packed, Description memory d, uint256 bidBudget, uint256 offerBudget)
        internal
        pure
        returns (uint256 fill, uint256, uint256)
    {
        if (isCancelled(packed)) return (0, bidBudget, offerBudget);
        if (!isOffer(packed)) {
            (fill, bidBudget) = bidFill(energyOf(packed), limitOf(packed), d.marginalBid, bidBudget);
        } else {
            (fill, offerBudget) = offerFill(energyOf(packed), limitOf(packed), d.marginalOffer, offerBudget);
        }
        return (fill, bidBudget, offerBudget);
    }

    /// @dev Bids above the marginal limit fill fully, at it from the budget, below it not at all.
    function bidFill(uint256 energy, uint256 limit, uint256 marginal, uint256 budget)
        internal
        pure
        returns (uint256 fill, uint256)
    {
        if (limit < marginal) return (0, budget);
        if (limit > marginal) return (energy, budget);
        fill = energy < budget ? energy : budget;
        return (fill, budget - fill);
    }

    /// @dev Offers below the marginal limit fill fully, at it from the budget, above it not at all.
    function offerFill(uint256 energy, uint256 limit, uint256 marginal, uint256 budget)
        internal
        pure
        returns (uint256 fill, uint256)
    {
        if (limit > marginal) return (0, budget);
        if (limit < marginal) return (energy, budget);
        fill = energy < budget ? energy : budget;
        return (fill, budget - fill);
    }
}
