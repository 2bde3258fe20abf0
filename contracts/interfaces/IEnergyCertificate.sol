// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Granular certificates of verified local renewable generation
/// @notice ERC-1155: token id = slot, amount = Wh. The readings contract mints them to a seller for
/// verified export; the market moves the traded share to buyers at settlement; a holder retires
/// (burns) them to claim the consumption as renewable. Nobody else can move them.
/// @dev A holder's balance of slot `s` is its export that the readings contract verified for `s`
/// (`energyOf`) plus what the market moved to it, minus what the market took (both derived by the
/// market's `certificateFlow` from what settlement stored anyway) and what it retired (stored
/// here). Every change is a TransferSingle event, so balances also follow from the logs alone.
interface IEnergyCertificate {
    /// @notice Certificates move only through the market and the readings contract.
    error CertificateNonTransferable();
    /// @notice Amounts must be above zero.
    error CertificateZeroAmount();
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
    /// @notice `slot` cannot be retired by `holder` yet: the market has not settled it, and its
    /// gate is still open or the holder has a live order in it (what settlement moves may change).
    /// @param holder the caller
    /// @param slot the slot
    error CertificateSlotNotFinal(address holder, uint256 slot);

    /// @notice `holder` retired `energyWh` Wh of slot `slot`, claiming it as consumed.
    event CertificateRetired(address indexed holder, uint256 indexed slot, uint256 energyWh);

    /// @notice Mints the certificates of one readings call: for each record of `records` with
    /// export, its `exportWh` Wh of its slot to its owner.
    /// @dev `records` is what the same call emitted in `IMeterReadings.ReadingsRecorded`
    /// (`ReadingRecords`: 40 bytes per recorded reading). Stores nothing: the readings contract
    /// has already added each export to its owner's verified export, which the balance includes.
    /// Emits a TransferSingle from zero per record with export, in record order (none for a
    /// record without export).
    /// Requirements: the caller is the readings contract (`readings()`).
    function mintBatch(bytes calldata records) external;

    /// @notice Records the certificate moves of one settlement call of slot `slot` as events.
    /// @dev Seller `sellers[i]` gave `sellerWh[i]`, buyer `buyers[j]` received `buyerWh[j]`
    /// (zero entries are skipped). Stores nothing: the balances follow from the market's
    /// `certificateFlow`, which settlement has already fixed. Emits, in this order, TransferSingle
    /// per seller (to zero), Σ sellerWh into the market's pool (zero to market), per buyer (from
    /// zero) and Σ buyerWh out of the pool (market to zero), so balances also follow from the logs and
    /// a slot's certificates add up to its export − retired at every block, between the chunks
    /// of a settlement too. A call need not balance: a chunked settlement pools in one call and
    /// hands out in a later one (Σ given = S = Σ received over the slot's calls).
    /// Requirements: the caller is the market contract (`market()`); arrays pairwise equal length.
    function marketMove(
        uint256 slot,
        address[] calldata sellers,
        uint256[] calldata sellerWh,
        address[] calldata buyers,
        uint256[] calldata buyerWh
    ) external;

    /// @notice Burns `energyWh` Wh of the caller's slot-`slot` certificates as consumed.
    /// @dev Requirements: the caller holds `energyWh`; `energyWh` > 0; the caller's certificates
    /// of the slot are final (`CertificateSlotNotFinal`: the slot is settled, or its gate closed
    /// without a live order of the caller), so that what settlement takes later can never
    /// exceed what is left.
    function retire(uint256 slot, uint256 energyWh) external;

    /// @notice The market contract, fixed at deployment: the only account that moves certificates.
    function market() external view returns (address);

    /// @notice The readings contract: the only minter, and the source of each holder's export.
    function readings() external view returns (address);
}
