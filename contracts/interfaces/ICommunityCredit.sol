// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Community credits: the e-money the market settles in
/// @notice An ERC-20 with EIP-2612 permit and 6 decimals. The operator mints credits against fiat
/// top-ups; a holder withdraws to fiat by redeeming (burning) its own credits, or lets someone it
/// chose redeem them through an allowance or permit. Every mint and redemption names a payment
/// reference that can be used once, so an auditor can match each with one line of the bank
/// statement. No role can burn, move or freeze another account's credits; the market contract,
/// fixed at deployment, is the only account that moves credits it was given in escrow.
interface ICommunityCredit {
    /// @notice `account` may not send or receive credits (unregistered or suspended).
    /// @param account the account
    error CreditAccountNotAllowed(address account);
    /// @notice Amounts must be above zero.
    error CreditZeroAmount();
    /// @notice A top-up or withdrawal payment reference must not be empty.
    error CreditMissingReference();
    /// @notice Payment reference `paymentRef` was already used by a mint or a redemption.
    /// @param paymentRef the reused reference
    error CreditReferenceUsed(bytes32 paymentRef);
    /// @notice A single mint of `amount` base units exceeds the per-mint limit `limit`.
    /// @param amount the requested mint
    /// @param limit the deployment's per-mint limit
    error CreditMintLimitExceeded(uint256 amount, uint256 limit);
    /// @notice Deployment parameters are invalid (a zero registry or market, or a zero limit).
    error CreditInvalidConfig();

    /// @notice The operator minted `amount` base units to `account` for top-up `paymentRef`.
    event CreditMinted(address indexed account, uint256 amount, bytes32 indexed paymentRef);
    /// @notice `spender` (the holder itself, or one it approved) redeemed `amount` base units of
    /// `account` for the fiat withdrawal `paymentRef`; the credits were burned.
    event CreditRedeemed(
        address indexed account, address indexed spender, uint256 amount, bytes32 indexed paymentRef
    );

    /// @notice Mints `amount` base units to `account` against the fiat top-up `paymentRef`.
    /// @dev Requirements: caller has OPERATOR_ROLE; `account` is an active participant; 0 <
    /// `amount` ≤ `mintLimit()`; `paymentRef` non-zero and never used before.
    function mint(address account, uint256 amount, bytes32 paymentRef) external;

    /// @notice Burns `amount` of the caller's own credits for the fiat withdrawal `paymentRef`.
    /// @dev Requirements: the caller holds `amount`; `amount` > 0; `paymentRef` non-zero and never
    /// used before. Works for suspended accounts too: they may always withdraw what is theirs.
    function redeem(uint256 amount, bytes32 paymentRef) external;

    /// @notice Burns `amount` of `account`'s credits for the withdrawal `paymentRef`, spending the
    /// allowance (`approve` or an EIP-2612 `permit`) that `account` gave the caller.
    /// @dev Requirements: the caller's allowance from `account` ≥ `amount`; otherwise as `redeem`.
    function redeemFrom(address account, uint256 amount, bytes32 paymentRef) external;

    /// @notice The market contract: the only account that moves escrow and pays out of it.
    function market() external view returns (address);

    /// @notice The most base units one `mint` may create (a deployment parameter).
    function mintLimit() external view returns (uint256);

    /// @notice Whether `paymentRef` was already used by a mint or a redemption.
    function referenceUsed(bytes32 paymentRef) external view returns (bool);
}
