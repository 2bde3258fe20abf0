// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IEnergyCertificate} from "../interfaces/IEnergyCertificate.sol";

/// @title ForgedMarket (test only)
/// @notice A rogue contract, whatever roles it is granted, trying to move credits and certificates
/// as the market does. Credit and certificate are bound to the deployed market, so every attempt
/// must revert.
contract ForgedMarket {
    /// @notice Pays `amount` of its own credits to `owner` (it cannot be given any).
    function overpay(IERC20 credit, address owner, uint256 amount) external {
        bool ok = credit.transfer(owner, amount);
        ok;
    }

    /// @notice Takes `amount` credits from `from` (a household that approved only the real market).
    function drain(IERC20 credit, address from, uint256 amount) external {
        bool ok = credit.transferFrom(from, address(this), amount);
        ok;
    }

    /// @notice Moves `energyWh` of slot `slot` certificates from `from` to `to`.
    function moveCertificates(IEnergyCertificate certificate, uint256 slot, address from, address to, uint256 energyWh)
        external
    {
        address[] memory sellers = new address[](1);
        address[] memory buyers = new address[](1);
        uint256[] memory amounts = new uint256[](1);
        (sellers[0], buyers[0], amounts[0]) = (from, to, energyWh);
        certificate.marketMove(slot, sellers, amounts, buyers, amounts);
    }
}
