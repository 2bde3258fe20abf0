// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IEnergyCertificate} from "./interfaces/IEnergyCertificate.sol";
import {IMeterReadings} from "./interfaces/IMeterReadings.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";

/// @title EnergyCertificate
/// @notice Per-slot certificates of verified renewable export (ERC-1155, id = slot, amount = Wh).
/// @dev Minting is lazy: a holder's balance of slot `s` is the export MeterReadings verified for
/// it in `s` plus a stored signed adjustment (Wh received from the market − Wh given to it −
/// Wh retired). `mint` stores nothing; it only emits the ERC-1155 TransferSingle from zero, so
/// balances still follow from the logs. ERC1155's own balance storage is never written (no
/// `_update`, `_mint` or `_burn`): every balance is read through `balanceOf` below.
///
/// The readings contract is fixed at deployment. The deployer passes the address MeterReadings
/// will have (its own next nonce), and MeterReadings refuses to deploy against a certificate
/// bound to another address, so the pair is bound both ways without a setter. The market is
/// fixed the same way (EnergyMarket refuses to deploy against a certificate bound elsewhere): it
/// is not a role, so nobody can take its right to move certificates away or give it to another.
contract EnergyCertificate is IEnergyCertificate, ERC1155 {
    IParticipantRegistry private immutable _registry;
    IMeterReadings private immutable _readings;
    address private immutable _market;

    /// @dev Per holder, four slots a word: a signed 64-bit lane per slot (lane `slot % 4`) holding
    /// received − given − retired, in Wh; never below −(its export). A household that trades in
    /// consecutive slots writes one fresh word every four slots instead of one per slot.
    mapping(address account => mapping(uint256 slotGroup => uint256 lanes)) private _adjustments;

    uint256 private constant _SLOTS_PER_WORD = 4;
    uint256 private constant _LANE_BITS = 64;
    uint256 private constant _LANE_MASK = type(uint64).max;

    /// @param registry_ the community's participant registry
    /// @param readings_ the MeterReadings contract: the only minter and the source of export
    /// @param market_ the address EnergyMarket will be deployed at: the only mover
    constructor(IParticipantRegistry registry_, IMeterReadings readings_, address market_) ERC1155("") {
        if (address(registry_) == address(0) || address(readings_) == address(0) || market_ == address(0)) {
            revert CertificateInvalidConfig();
        }
        _registry = registry_;
        _readings = readings_;
        _market = market_;
    }

    /// @notice The community's participant registry.
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IEnergyCertificate
    function readings() external view returns (address) {
        return address(_readings);
    }

    /// @inheritdoc IEnergyCertificate
    function market() external view returns (address) {
        return _market;
    }

    /// @inheritdoc IEnergyCertificate
    function mint(address account, uint256 slot, uint256 energyWh) external {
        if (msg.sender != address(_readings)) revert CertificateUnauthorizedMinter(msg.sender);
        if (energyWh == 0) revert CertificateZeroAmount();
        // Nothing to store: MeterReadings recorded the export before calling (see balanceOf).
        // No acceptance callback: certificates go to meter owners, and a reverting receiver must
        // not be able to block a batch of readings.
        emit TransferSingle(msg.sender, address(0), account, slot, energyWh);
    }

    /// @inheritdoc IEnergyCertificate
    function marketMove(
        uint256 slot,
        address[] calldata sellers,
        uint256[] calldata sellerWh,
        address[] calldata buyers,
        uint256[] calldata buyerWh
    ) external {
        if (msg.sender != _market) revert CertificateUnauthorizedMover(msg.sender);
        if (sellers.length != sellerWh.length || buyers.length != buyerWh.length) {
            revert CertificateLengthMismatch();
        }
        uint256 outWh;
        uint256 inWh;
        for (uint256 i = 0; i < sellers.length; ++i) {
            if (sellerWh[i] == 0) continue;
            outWh += sellerWh[i];
            _take(sellers[i], slot, sellerWh[i]);
            emit TransferSingle(msg.sender, sellers[i], address(0), slot, sellerWh[i]);
        }
        for (uint256 j = 0; j < buyers.length; ++j) {
            if (buyerWh[j] == 0) continue;
            inWh += buyerWh[j];
            _credit(buyers[j], slot, buyerWh[j]);
            emit TransferSingle(msg.sender, address(0), buyers[j], slot, buyerWh[j]);
        }
        if (outWh != inWh) revert CertificateMoveUnbalanced(outWh, inWh);
        emit CertificatesSettled(slot, outWh);
    }

    /// @inheritdoc IEnergyCertificate
    function retire(uint256 slot, uint256 energyWh) external {
        if (energyWh == 0) revert CertificateZeroAmount();
        _take(msg.sender, slot, energyWh);
        emit TransferSingle(msg.sender, msg.sender, address(0), slot, energyWh);
        emit CertificateRetired(msg.sender, slot, energyWh);
    }

    /// @notice `account`'s certificates of slot `id`: its verified export plus what it received,
    /// minus what it gave and retired.
    function balanceOf(address account, uint256 id) public view override returns (uint256) {
        return _balance(account, id, _adjustment(account, id));
    }

    /// @dev Holders cannot move certificates themselves: a certificate follows the energy.
    function safeTransferFrom(address, address, uint256, uint256, bytes memory) public pure override {
        revert CertificateNonTransferable();
    }

    /// @dev Holders cannot move certificates themselves: a certificate follows the energy.
    function safeBatchTransferFrom(address, address, uint256[] memory, uint256[] memory, bytes memory)
        public
        pure
        override
    {
        revert CertificateNonTransferable();
    }

    /// @dev Approvals would be meaningless for non-transferable certificates.
    function setApprovalForAll(address, bool) public pure override {
        revert CertificateNonTransferable();
    }

    /// @dev Takes `energyWh` of slot `slot` from `account`, which must hold them.
    function _take(address account, uint256 slot, uint256 energyWh) private {
        (uint256 word, uint256 shift) = _lanes(account, slot);
        int256 adjustment = _lane(word, shift);
        uint256 balance = _balance(account, slot, adjustment);
        if (balance < energyWh) revert ERC1155InsufficientBalance(account, balance, energyWh, slot);
        // energyWh ≤ balance < 2^255, so the conversion is exact; the balance stays ≥ 0.
        _store(account, slot, word, shift, adjustment - int256(energyWh));
    }

    /// @dev Adds `energyWh` received from the market to `account`'s lane of `slot`.
    function _credit(address account, uint256 slot, uint256 energyWh) private {
        (uint256 word, uint256 shift) = _lanes(account, slot);
        _store(account, slot, word, shift, _lane(word, shift) + SafeCast.toInt256(energyWh));
    }

    /// @dev The signed adjustment of `account` in `slot` (its 64-bit lane, sign-extended).
    function _adjustment(address account, uint256 slot) private view returns (int256) {
        (uint256 word, uint256 shift) = _lanes(account, slot);
        return _lane(word, shift);
    }

    /// @dev The stored word holding `account`'s lane of `slot`, and the lane's bit offset in it.
    function _lanes(address account, uint256 slot) private view returns (uint256 word, uint256 shift) {
        return (_adjustments[account][slot / _SLOTS_PER_WORD], (slot % _SLOTS_PER_WORD) * _LANE_BITS);
    }

    /// @dev The lane at `shift` of `word`, sign-extended.
    function _lane(uint256 word, uint256 shift) private pure returns (int256) {
        return int64(uint64(word >> shift));
    }

    /// @dev Stores `value` in the lane at `shift` of `word` (read from `account`'s word of `slot`,
    /// unchanged since); reverts if it leaves int64 (a slot's Wh are bounded by one order's
    /// uint32 energy and a 2^30 Wh export, far inside).
    function _store(address account, uint256 slot, uint256 word, uint256 shift, int256 value) private {
        uint256 lane = uint64(SafeCast.toInt64(value));
        _adjustments[account][slot / _SLOTS_PER_WORD] = (word & ~(_LANE_MASK << shift)) | (lane << shift);
    }

    function _balance(address account, uint256 slot, int256 adjustment)
        private
        view
        returns (uint256)
    {
        (, uint256 exportWh,) = _readings.energyOf(account, slot);
        // exportWh < 2^30. Never negative: every decrease of the adjustment is checked above.
        return SafeCast.toUint256(int256(exportWh) + adjustment);
    }
}
