// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Community credits: the e-money the market settles in
/// @notice An ERC-20 with EIP-2612 permit and 6 decimals. The operator mints credits against fiat
/// top-ups and burns them on withdrawal, naming the payment paymentRef each time so an auditor can
/// match every mint and burn with the bank statement.
interface ICommunityCredit {
    /// @notice `account` may not send or receive credits (unregistered or suspended).
    /// @param account the account
    error CreditAccountNotAllowed(address account);
    /// @notice Amounts must be above zero.
    error CreditZeroAmount();
    /// @notice A top-up or withdrawal paymentRef must not be empty.
    error CreditMissingReference();

    /// @notice The operator minted `amount` base units to `account` for top-up `paymentRef`.
    event CreditMinted(address indexed account, uint256 amount, bytes32 indexed paymentRef);
    /// @notice The operator burned `amount` base units of `account` for withdrawal `paymentRef`.
    event CreditBurned(address indexed account, uint256 amount, bytes32 indexed paymentRef);

    /// @notice Mints `amount` base units to `account` against the fiat top-up `paymentRef`.
    /// @dev Requirements: caller has OPERATOR_ROLE; `account` is an active participant; `amount` > 0;
    /// `paymentRef` non-zero.
    function mint(address account, uint256 amount, bytes32 paymentRef) external;

    /// @notice Burns `amount` base units of `account` for the fiat withdrawal `paymentRef`.
    /// @dev Requirements: caller has OPERATOR_ROLE; `account` holds `amount`; `amount` > 0;
    /// `paymentRef` non-zero. Works for suspended accounts too, so they can be paid out.
    function burn(address account, uint256 amount, bytes32 paymentRef) external;
}
