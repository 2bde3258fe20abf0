// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title ForgedMarket (test only)
/// @notice A rogue contract that holds MARKET_ROLE and pays a seller out of band, announcing it
/// with an OrderSettled of the real market's shape. The auditor must flag the payment.
contract ForgedMarket {
    event OrderSettled(
        uint256 indexed orderId,
        address indexed owner,
        uint256 filledWh,
        uint256 meteredWh,
        uint256 certificateWh,
        uint256 amount,
        uint256 fee,
        uint256 refund
    );

    /// @notice Pays `amount` credits to `owner` as if settling `orderId`.
    function overpay(IERC20 credit, uint256 orderId, address owner, uint256 amount) external {
        emit OrderSettled(orderId, owner, 0, 0, 0, amount, 0, 0);
        bool ok = credit.transfer(owner, amount);
        ok;
    }
}
