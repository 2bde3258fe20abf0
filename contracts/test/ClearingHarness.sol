// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {UniformPriceClearing} from "../libraries/UniformPriceClearing.sol";

/// @title ClearingHarness (test only)
/// @notice Runs the market's own clearing verification on a book passed in calldata, so property
/// tests can compare thousands of books with the Python engine through cheap `eth_call`s.
contract ClearingHarness {
    /// @notice Verifies a description against packed orders (in id order); reverts like the market.
    function verify(
        uint256[] calldata orders,
        uint256 marginalBid,
        uint256 marginalOffer,
        uint256 bidMarginalWh,
        uint256 offerMarginalWh
    ) external pure returns (uint256 price, uint256 volume, uint256[] memory fills) {
        uint256[] memory book = orders;
        fills = new uint256[](book.length);
        (price, volume) = UniformPriceClearing.verify(
            book, UniformPriceClearing.Description(marginalBid, marginalOffer, bidMarginalWh, offerMarginalWh), fills
        );
    }

    /// @notice The outage-slot (island mode) verification with price cap `cap`.
    function verifyIsland(
        uint256[] calldata orders,
        uint256 cap,
        uint256 marginalBidClass,
        uint256 marginalOffer,
        uint256 bidMarginalWh,
        uint256 offerMarginalWh
    ) external pure returns (uint256 price, uint256 volume, uint256[] memory fills) {
        uint256[] memory book = orders;
        fills = new uint256[](book.length);
        (price, volume) = UniformPriceClearing.verifyIsland(
            book,
            UniformPriceClearing.Description(marginalBidClass, marginalOffer, bidMarginalWh, offerMarginalWh),
            cap,
            fills
        );
    }
}
