// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";

import {IEnergyCertificate} from "./interfaces/IEnergyCertificate.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {Roles} from "./libraries/Roles.sol";

/// @title EnergyCertificate
/// @notice Per-slot certificates of verified renewable export (ERC-1155, id = slot, amount = Wh).
contract EnergyCertificate is IEnergyCertificate, ERC1155 {
    IParticipantRegistry private immutable _registry;

    /// @param registry_ the community's participant registry (holds the system roles)
    constructor(IParticipantRegistry registry_) ERC1155("") {
        _registry = registry_;
    }

    /// @notice The registry this contract asks for the readings and market roles.
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IEnergyCertificate
    function mint(address account, uint256 slot, uint256 energyWh) external {
        _checkRole(Roles.READINGS);
        if (energyWh == 0) revert CertificateZeroAmount();
        // No acceptance callback: certificates go to meter owners, and a reverting receiver must
        // not be able to block a batch of readings.
        _update(address(0), account, _single(slot), _single(energyWh));
    }

    /// @inheritdoc IEnergyCertificate
    function marketMove(
        uint256 slot,
        address[] calldata sellers,
        uint256[] calldata sellerWh,
        address[] calldata buyers,
        uint256[] calldata buyerWh
    ) external {
        _checkRole(Roles.MARKET);
        if (sellers.length != sellerWh.length || buyers.length != buyerWh.length) {
            revert CertificateLengthMismatch();
        }
        uint256[] memory ids = _single(slot);
        uint256 outWh;
        uint256 inWh;
        for (uint256 i = 0; i < sellers.length; ++i) {
            if (sellerWh[i] == 0) continue;
            outWh += sellerWh[i];
            _update(sellers[i], address(0), ids, _single(sellerWh[i]));
        }
        for (uint256 j = 0; j < buyers.length; ++j) {
            if (buyerWh[j] == 0) continue;
            inWh += buyerWh[j];
            _update(address(0), buyers[j], ids, _single(buyerWh[j]));
        }
        if (outWh != inWh) revert CertificateMoveUnbalanced(outWh, inWh);
        emit CertificatesSettled(slot, outWh);
    }

    /// @inheritdoc IEnergyCertificate
    function retire(uint256 slot, uint256 energyWh) external {
        if (energyWh == 0) revert CertificateZeroAmount();
        _burn(msg.sender, slot, energyWh);
        emit CertificateRetired(msg.sender, slot, energyWh);
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

    function _checkRole(bytes32 role) private view {
        if (!_registry.hasRole(role, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, role);
        }
    }

    function _single(uint256 value) private pure returns (uint256[] memory array) {
        array = new uint256[](1);
        array[0] = value;
    }
}
