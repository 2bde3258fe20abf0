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
/// holds escrow). Transfers the market contract makes may pay out to any registered account,
/// suspended ones included, so that refunds and payments are never stuck by a suspension.
///
/// The market is fixed at deployment, not a role: the deployer passes the address EnergyMarket
/// will have (its own nonce a few transactions ahead), and EnergyMarket refuses to deploy against
/// a credit bound to another address. Nobody can later take the market's right to move escrow
/// away, nor give it to another contract. Credits leave an account only by its own signature:
/// a transfer, an allowance it granted, or its own redemption. There is no operator burn.
contract CommunityCredit is ICommunityCredit, ERC20, ERC20Permit {
    IParticipantRegistry private immutable _registry;
    address private immutable _market;
    uint256 private immutable _mintLimit;

    /// @dev Payment references of every mint and redemption: each names one fiat payment.
    mapping(bytes32 paymentRef => bool used) private _usedReferences;

    /// @param registry_ the community's participant registry (roles and accounts)
    /// @param market_ the address EnergyMarket will be deployed at
    /// @param mintLimit_ the most base units one mint may create
    constructor(IParticipantRegistry registry_, address market_, uint256 mintLimit_)
        ERC20("p2penergy Community Credit", "PEC")
        ERC20Permit("p2penergy Community Credit")
    {
        if (address(registry_) == address(0) || market_ == address(0) || mintLimit_ == 0) {
            revert CreditInvalidConfig();
        }
        _registry = registry_;
        _market = market_;
        _mintLimit = mintLimit_;
    }

    /// @notice The registry this token asks who may hold credits.
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc ICommunityCredit
    function market() external view returns (address) {
        return _market;
    }

    /// @inheritdoc ICommunityCredit
    function mintLimit() external view returns (uint256) {
        return _mintLimit;
    }

    /// @inheritdoc ICommunityCredit
    function referenceUsed(bytes32 paymentRef) external view returns (bool) {
        return _usedReferences[paymentRef];
    }

    /// @notice Credits have 6 decimals, like the fiat e-money they mirror.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @inheritdoc ICommunityCredit
    function mint(address account, uint256 amount, bytes32 paymentRef) external {
        if (!_registry.hasRole(Roles.OPERATOR, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, Roles.OPERATOR);
        }
        if (amount > _mintLimit) revert CreditMintLimitExceeded(amount, _mintLimit);
        // Top-ups go to participants only, never to the market's escrow balance.
        if (!_registry.isActiveParticipant(account)) revert CreditAccountNotAllowed(account);
        _useReference(amount, paymentRef);
        _mint(account, amount);
        emit CreditMinted(account, amount, paymentRef);
    }

    /// @inheritdoc ICommunityCredit
    function redeem(uint256 amount, bytes32 paymentRef) external {
        _redeem(msg.sender, amount, paymentRef);
    }

    /// @inheritdoc ICommunityCredit
    function redeemFrom(address account, uint256 amount, bytes32 paymentRef) external {
        _spendAllowance(account, msg.sender, amount);
        _redeem(account, amount, paymentRef);
    }

    function _redeem(address account, uint256 amount, bytes32 paymentRef) private {
        _useReference(amount, paymentRef);
        _burn(account, amount);
        emit CreditRedeemed(account, msg.sender, amount, paymentRef);
    }

    /// @dev Enforces the transfer rule on every balance change except burns (a holder may always
    /// redeem its own). Transfers the market itself makes need one registry look-up fewer: escrow
    /// it pulls (`to` is the market) comes from a trader it has just checked is active; its
    /// payouts may go to any registered account.
    function _update(address from, address to, uint256 value) internal override {
        if (to != address(0)) {
            if (_msgSender() == _market) {
                if (to != _market && !_isRegistered(to)) revert CreditAccountNotAllowed(to);
            } else {
                if (from != address(0) && !_mayHold(from)) revert CreditAccountNotAllowed(from);
                // Only the market moves credits into its escrow (placement): credits sent there
                // by anyone else would belong to no order, with no way back.
                if (to == _market || !_registry.isActiveParticipant(to)) {
                    revert CreditAccountNotAllowed(to);
                }
            }
        }
        super._update(from, to, value);
    }

    /// @dev Marks `paymentRef` used; refuses a zero amount, an empty or a reused reference.
    function _useReference(uint256 amount, bytes32 paymentRef) private {
        if (amount == 0) revert CreditZeroAmount();
        if (paymentRef == bytes32(0)) revert CreditMissingReference();
        if (_usedReferences[paymentRef]) revert CreditReferenceUsed(paymentRef);
        _usedReferences[paymentRef] = true;
    }

    function _mayHold(address account) private view returns (bool) {
        return account == _market || _registry.isActiveParticipant(account);
    }

    function _isRegistered(address account) private view returns (bool) {
        return _registry.participant(account).kind != IParticipantRegistry.Kind.None;
    }
}
