// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyCertificate} from "../interfaces/IEnergyCertificate.sol";
import {IMeterReadings} from "../interfaces/IMeterReadings.sol";
import {IParticipantRegistry} from "../interfaces/IParticipantRegistry.sol";

/// @title UncheckedReadings (test only)
/// @notice A tampered readings contract for the auditor's tests: same constructor, calldata and
/// events as MeterReadings, but it records any reading without checking its signature. The
/// auditor must catch it (wrong signer, and runtime code that differs from the artifact).
contract UncheckedReadings {
    event ReadingsRecorded(bytes records);

    IParticipantRegistry private immutable _registry;
    IEnergyCertificate private immutable _certificate;
    uint64 private immutable _epoch;
    uint32 private immutable _slotLength;
    uint32 private immutable _window;
    uint32 private immutable _gateClosure;

    mapping(address account => mapping(uint256 slot => uint256[3] energy)) private _energy;

    constructor(
        IParticipantRegistry registry,
        IEnergyCertificate certificate,
        uint64 epoch,
        uint32 slotLength,
        uint32 window,
        uint32 gateClosure_
    ) {
        _registry = registry;
        _certificate = certificate;
        _epoch = epoch;
        _slotLength = slotLength;
        _window = window;
        _gateClosure = gateClosure_;
    }

    /// @notice Records every reading of the batch, signed or not.
    function submit(IMeterReadings.SignedReading[] calldata batch) external returns (uint256 accepted) {
        bytes memory records;
        for (uint256 i = 0; i < batch.length; ++i) {
            IMeterReadings.Reading calldata reading = batch[i].reading;
            address owner = _registry.meter(reading.meterId).owner;
            uint256[3] storage energy = _energy[owner][reading.slot];
            energy[0] += reading.importWh;
            energy[1] += reading.exportWh;
            energy[2] += 1;
            // MeterReadings' record layout (ReadingRecords).
            records = abi.encodePacked(
                records,
                uint64(reading.meterId),
                uint32(reading.slot),
                owner,
                uint32(reading.importWh),
                uint32(reading.exportWh)
            );
        }
        emit ReadingsRecorded(records);
        _certificate.mintBatch(records);
        return batch.length;
    }

    function energyOf(address account, uint256 slot)
        external
        view
        returns (uint256 importWh, uint256 exportWh, uint256 meterReadings)
    {
        uint256[3] storage energy = _energy[account][slot];
        return (energy[0], energy[1], energy[2]);
    }

    function readingWindow(uint256 slot) public view returns (uint256 opensAt, uint256 closesAt) {
        opensAt = _epoch + (slot + 1) * _slotLength;
        closesAt = opensAt + _window;
    }

    function timing() external view returns (uint64 epoch, uint32 slotLength, uint32 window) {
        return (_epoch, _slotLength, _window);
    }

    function gateClosure() external view returns (uint32) {
        return _gateClosure;
    }
}
