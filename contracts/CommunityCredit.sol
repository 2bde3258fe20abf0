// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

import {ICommunityCredit} from "./interfaces/ICommunityCredit.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {Roles} from "./libraries/Roles.sol";

/// @title CommunityCredit
/// @notice The community's e-money (6 decimals), transferable only between registered accounts.
/// @dev Transfer rule: both sides must be active participants (or the market contract, which
/// holds escrow). Transfers the market contract (MARKET_ROLE) makes may pay out to any registered
/// account, suspended ones included, so that refunds and payments are never stuck by a
/// suspension.
contract CommunityCredit is ICommunityCredit, ERC20, ERC20Permit {
    IParticipantRegistry private immutable _registry;

    /// @param registry_ the community's participant registry (roles and accounts)
    constructor(IParticipantRegistry registry_)
        ERC20("p2penergy Community Credit", "PEC")
        ERC20Permit("p2penergy Community Credit")
    {
        _registry = registry_;
    }

    /// @notice The registry this token asks who may hold credits.
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @notice Credits have 6 decimals, like the fiat e-money they mirror.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @inheritdoc ICommunityCredit
    function mint(address account, uint256 amount, bytes32 paymentRef) external {
        _checkOperator();
        _checkAmount(amount, paymentRef);
        _mint(account, amount);
        emit CreditMinted(account, amount, paymentRef);
    }

    /// @inheritdoc ICommunityCredit
    function burn(address account, uint256 amount, bytes32 paymentRef) external {
        _checkOperator();
        _checkAmount(amount, paymentRef);
        _burn(account, amount);
        emit CreditBurned(account, amount, paymentRef);
    }

    /// @dev Enforces the transfer rule on every balance change except burns. Transfers the market
    /// itself makes need one registry look-up fewer: escrow it pulls (`to` is the market) comes
    /// from a trader it has just checked is active; its payouts may go to any registered account.
    function _update(address from, address to, uint256 value) internal override {
        if (to != address(0)) {
            address caller = _msgSender();
            if (_isMarket(caller)) {
                if (to != caller && !_isRegistered(to)) revert CreditAccountNotAllowed(to);
            } else {
                if (from != address(0) && !_mayHold(from)) revert CreditAccountNotAllowed(from);
                if (!_mayHold(to)) revert CreditAccountNotAllowed(to);
            }
        }
        super._update(from, to, value);
    }

    function _mayHold(address account) private view returns (bool) {
        return _registry.isActiveParticipant(account) || _isMarket(account);
    }

    function _isMarket(address account) private view returns (bool) {
        return _registry.hasRole(Roles.MARKET, account);
    }

    function _isRegistered(address account) private view returns (bool) {
        return _registry.participant(account).kind != IParticipantRegistry.Kind.None
            || _isMarket(account);
    }

    function _checkOperator() private view {
        if (!_registry.hasRole(Roles.OPERATOR, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, Roles.OPERATOR);
        }
    }

    function _checkAmount(uint256 amount, bytes32 paymentRef) private pure {
        if (amount == 0) revert CreditZeroAmount();
        if (paymentRef == bytes32(0)) revert CreditMissingReference();
    }
}
