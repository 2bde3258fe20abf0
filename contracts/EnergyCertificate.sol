// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";

import {IEnergyCertificate} from "./interfaces/IEnergyCertificate.sol";
import {IEnergyMarket} from "./interfaces/IEnergyMarket.sol";
import {IMeterReadings} from "./interfaces/IMeterReadings.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {ReadingRecords} from "./libraries/ReadingRecords.sol";

/// @title EnergyCertificate
/// @notice Per-slot certificates of verified renewable export (ERC-1155, id = slot, amount = Wh).
/// @dev Balances are derived at read time: a holder's balance of slot `s` is the export
/// MeterReadings verified for it in `s`, plus what the market's settlement moved to it, minus
/// what it took (both from `EnergyMarket.certificateFlow`, a function of what settlement stores
/// anyway), minus what the holder retired (the only balance storage here, written by `retire`).
/// `mintBatch` and `marketMove` store nothing; they only emit the ERC-1155 TransferSingle events, so
/// balances still follow from the logs. ERC1155's own balance storage is never written (no
/// `_update`, `_mint` or `_burn`): every balance is read through `balanceOf` below.
///
/// A balance never goes negative: export only grows, a seller gives at most its metered
/// delivery (≤ its export when it settled), and a holder retires only once its slot is final
/// (settled, or gate closed without a live order), so nothing is taken after a retirement.
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

    /// @dev Per holder, four slots a word: an unsigned 64-bit lane per slot (lane `slot % 4`)
    /// holding the Wh retired, written only by `retire`.
    mapping(address account => mapping(uint256 slotGroup => uint256 lanes)) private _retired;

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
    function mintBatch(bytes calldata records) external {
        if (msg.sender != address(_readings)) revert CertificateUnauthorizedMinter(msg.sender);
        // Nothing to store: MeterReadings recorded the export before calling (see balanceOf).
        // No acceptance callback: certificates go to meter owners, and a reverting receiver must
        // not be able to block a batch of readings.
        uint256 end = records.length;
        // Cannot overflow: offsets stay within the calldata.
        unchecked {
            for (uint256 offset = 0; offset + ReadingRecords.RECORD_BYTES <= end; offset += ReadingRecords.RECORD_BYTES) {
                (address account, uint256 slot, uint256 exportWh) = ReadingRecords.mintAt(records, offset);
                if (exportWh != 0) emit TransferSingle(msg.sender, address(0), account, slot, exportWh);
            }
        }
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
        // Nothing to store: the market has already stored what its certificateFlow derives the
        // moves from. The events keep the balances readable from the logs alone: sellers give
        // into the market's pool, the pool hands out to buyers (their mints, then the pool's
        // matching burn, so that no replay of the logs sees the pool below zero).
        uint256 outWh;
        for (uint256 i = 0; i < sellers.length; ++i) {
            if (sellerWh[i] == 0) continue;
            outWh += sellerWh[i];
            emit TransferSingle(msg.sender, sellers[i], address(0), slot, sellerWh[i]);
        }
        if (outWh > 0) emit TransferSingle(msg.sender, address(0), msg.sender, slot, outWh);
        uint256 inWh;
        for (uint256 j = 0; j < buyers.length; ++j) {
            if (buyerWh[j] == 0) continue;
            inWh += buyerWh[j];
            emit TransferSingle(msg.sender, address(0), buyers[j], slot, buyerWh[j]);
        }
        if (inWh > 0) emit TransferSingle(msg.sender, msg.sender, address(0), slot, inWh);
    }

    /// @inheritdoc IEnergyCertificate
    function retire(uint256 slot, uint256 energyWh) external {
        if (energyWh == 0) revert CertificateZeroAmount();
        (uint256 receivedWh, uint256 givenWh, bool final_) = IEnergyMarket(_market).certificateFlow(msg.sender, slot);
        if (!final_) revert CertificateSlotNotFinal(msg.sender, slot);
        uint256 word = _retired[msg.sender][slot / _SLOTS_PER_WORD];
        uint256 shift = (slot % _SLOTS_PER_WORD) * _LANE_BITS;
        uint256 retired = (word >> shift) & _LANE_MASK;
        uint256 balance = _balance(msg.sender, slot, receivedWh, givenWh, retired);
        if (balance < energyWh) revert ERC1155InsufficientBalance(msg.sender, balance, energyWh, slot);
        // retired + energyWh ≤ export + received: a slot's Wh are far below 2^64 (export < 2^30
        // per meter, received ≤ one order's uint32 energy); the check keeps the lane exact.
        uint256 lane = retired + energyWh;
        if (lane > _LANE_MASK) revert ERC1155InsufficientBalance(msg.sender, balance, energyWh, slot);
        _retired[msg.sender][slot / _SLOTS_PER_WORD] = (word & ~(_LANE_MASK << shift)) | (lane << shift);
        emit TransferSingle(msg.sender, msg.sender, address(0), slot, energyWh);
        emit CertificateRetired(msg.sender, slot, energyWh);
    }

    /// @notice `account`'s certificates of slot `id`: its verified export plus what the market
    /// moved to it, minus what it moved away and what the account retired.
    function balanceOf(address account, uint256 id) public view override returns (uint256) {
        (uint256 receivedWh, uint256 givenWh,) = IEnergyMarket(_market).certificateFlow(account, id);
        uint256 retired = (_retired[account][id / _SLOTS_PER_WORD] >> ((id % _SLOTS_PER_WORD) * _LANE_BITS)) & _LANE_MASK;
        return _balance(account, id, receivedWh, givenWh, retired);
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

    /// @dev export + received − given − retired. Never negative (see the contract's note); the
    /// checked arithmetic would revert rather than report a wrong balance if it ever were.
    function _balance(address account, uint256 slot, uint256 receivedWh, uint256 givenWh, uint256 retired)
        private
        view
        returns (uint256)
    {
        (, uint256 exportWh,) = _readings.energyOf(account, slot);
        return exportWh + receivedWh - givenWh - retired;
    }
}
