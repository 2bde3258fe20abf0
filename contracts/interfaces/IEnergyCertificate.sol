// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Granular certificates of verified local renewable generation
/// @notice ERC-1155: token id = slot, amount = Wh. The readings contract mints them to a seller for
/// verified export; the market moves the traded share to buyers at settlement; a holder retires
/// (burns) them to claim the consumption as renewable. Nobody else can move them.
/// @dev A holder's balance of slot `s` is its export that the readings contract verified for `s`
/// (`energyOf`) plus what the market moved to it, minus what the market took and what it retired.
/// Every change is a TransferSingle event, so balances also follow from the logs alone.
interface IEnergyCertificate {
    /// @notice Certificates move only through the market and the readings contract.
    error CertificateNonTransferable();
    /// @notice Amounts must be above zero.
    error CertificateZeroAmount();
    /// @notice A settlement move takes out `outWh` and hands on `inWh`: they must be equal.
    /// @param outWh Wh taken from the sellers
    /// @param inWh Wh given to the buyers
    error CertificateMoveUnbalanced(uint256 outWh, uint256 inWh);
    /// @notice Parallel arrays differ in length.
    error CertificateLengthMismatch();
    /// @notice Only the readings contract mints, and `caller` is not it.
    /// @param caller the caller
    error CertificateUnauthorizedMinter(address caller);
    /// @notice Only the market contract moves certificates, and `caller` is not it.
    /// @param caller the caller
    error CertificateUnauthorizedMover(address caller);
    /// @notice Deployment parameters are invalid (a zero registry, readings or market address).
    error CertificateInvalidConfig();

    /// @notice The market moved `energyWh` Wh of slot `slot` from sellers to buyers.
    event CertificatesSettled(uint256 indexed slot, uint256 energyWh);
    /// @notice `holder` retired `energyWh` Wh of slot `slot`, claiming it as consumed.
    event CertificateRetired(address indexed holder, uint256 indexed slot, uint256 energyWh);

    /// @notice Mints `energyWh` Wh of slot `slot` to `account` for verified export.
    /// @dev Stores nothing: the readings contract has already added `energyWh` to the account's
    /// verified export, which the balance includes; emits TransferSingle from zero.
    /// Requirements: the caller is the readings contract (`readings()`); `energyWh` > 0.
    function mint(address account, uint256 slot, uint256 energyWh) external;

    /// @notice Moves the traded certificates of slot `slot` from sellers to buyers at settlement.
    /// @dev The slot's traded Wh are pooled: seller `sellers[i]` gives `sellerWh[i]`, buyer
    /// `buyers[j]` receives `buyerWh[j]`. Emits TransferSingle per seller (to zero) and per buyer
    /// (from zero), so balances follow from the logs.
    /// Requirements: the caller is the market contract (`market()`); arrays pairwise equal length; Σ sellerWh == Σ buyerWh;
    /// each seller holds what it gives.
    function marketMove(
        uint256 slot,
        address[] calldata sellers,
        uint256[] calldata sellerWh,
        address[] calldata buyers,
        uint256[] calldata buyerWh
    ) external;

    /// @notice Burns `energyWh` Wh of the caller's slot-`slot` certificates as consumed.
    /// @dev Requirements: the caller holds `energyWh`; `energyWh` > 0.
    function retire(uint256 slot, uint256 energyWh) external;

    /// @notice The market contract, fixed at deployment: the only account that moves certificates.
    function market() external view returns (address);

    /// @notice The readings contract: the only minter, and the source of each holder's export.
    function readings() external view returns (address);
}
