"""The meter reading and its EIP-712 signature, exactly as `MeterReadings.sol` verifies them.

A meter signs `Reading` with eth_signTypedData_v4 semantics; `typed_data` gives the JSON any
standard signer (MetaMask, ethers, a meter's firmware) takes, and `sign_reading` signs it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from p2penergy.exceptions import P2PEnergyError

DOMAIN_NAME = "p2penergy MeterReadings"
DOMAIN_VERSION = "1"

# Field names and Solidity types in struct order: they define the EIP-712 type hash.
READING_TYPE: tuple[tuple[str, str], ...] = (
    ("meterId", "uint64"),
    ("slot", "uint64"),
    ("importWh", "uint64"),
    ("exportWh", "uint64"),
    ("importRegisterWh", "uint64"),
    ("exportRegisterWh", "uint64"),
)

_EIP712_DOMAIN_TYPE = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)

_UINT64_END = 2**64
_UINT256_END = 2**256


class InvalidReading(P2PEnergyError, ValueError):
    """A reading, signature or signing domain is malformed (out of range, wrong type)."""


def _check_uint(name: str, value: object, end: int) -> None:
    # bool is an int subclass; a True meter id is a bug, not a value.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidReading(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value < end:
        raise InvalidReading(f"{name} must be in [0, 2**{end.bit_length() - 1}), got {value}")


@dataclass(frozen=True, slots=True)
class Reading:
    """What one meter measured in one slot (Wh; registers are cumulative at the slot's end)."""

    meter_id: int
    slot: int
    import_wh: int
    export_wh: int
    import_register_wh: int
    export_register_wh: int

    def __post_init__(self) -> None:
        for field in fields(self):
            _check_uint(field.name, getattr(self, field.name), _UINT64_END)

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        """The ABI tuple of the Solidity struct, fields in `READING_TYPE` order."""
        return (
            self.meter_id,
            self.slot,
            self.import_wh,
            self.export_wh,
            self.import_register_wh,
            self.export_register_wh,
        )

    def as_message(self) -> dict[str, int]:
        """The EIP-712 `message` object, keyed by the Solidity field names."""
        return {name: value for (name, _), value in zip(READING_TYPE, self.as_tuple(), strict=True)}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Reading:
        """The reading in an EIP-712 `message` object (decimal strings are accepted, as JS sends
        uint64 values that do not fit a double)."""
        values: list[Any] = []
        for name, _ in READING_TYPE:
            if name not in message:
                raise InvalidReading(f"message lacks {name}")
            value = message[name]
            if isinstance(value, str):
                try:
                    value = int(value, 10)
                except ValueError:
                    raise InvalidReading(f"{name} is not a decimal integer: {value!r}") from None
            values.append(value)
        extra = set(message) - {name for name, _ in READING_TYPE}
        if extra:
            raise InvalidReading(f"message has unknown fields: {sorted(extra)}")
        return cls(*values)


@dataclass(frozen=True, slots=True)
class SignedReading:
    """A reading with its device key's signature (`v` is 27 or 28 for a well-formed one).

    Only the ranges of `v`, `r`, `s` are checked here; whether the signature is valid (low s,
    right key, right domain) is the contract's call, and tests build invalid ones on purpose.
    """

    reading: Reading
    v: int
    r: int
    s: int

    def __post_init__(self) -> None:
        if not isinstance(self.reading, Reading):
            raise InvalidReading(f"reading must be a Reading, got {type(self.reading).__name__}")
        _check_uint("v", self.v, 2**8)
        _check_uint("r", self.r, _UINT256_END)
        _check_uint("s", self.s, _UINT256_END)

    def as_tuple(self) -> tuple[tuple[int, int, int, int, int, int], int, bytes, bytes]:
        """The ABI tuple `((meterId, slot, importWh, exportWh, importRegisterWh,
        exportRegisterWh), v, r, s)` that `submit` and `submitOne` take."""
        return (
            self.reading.as_tuple(),
            self.v,
            self.r.to_bytes(32, "big"),
            self.s.to_bytes(32, "big"),
        )


def _domain(chain_id: int, contract: str) -> dict[str, Any]:
    _check_uint("chain_id", chain_id, _UINT256_END)
    if not isinstance(contract, str) or not is_address(contract):
        raise InvalidReading(f"contract must be a 20-byte hex address, got {contract!r}")
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(contract),
    }


def typed_data(reading: Reading, chain_id: int, contract: str) -> dict[str, Any]:
    """The full eth_signTypedData_v4 JSON object a meter signs for `reading`.

    `contract` is the MeterReadings address and `chain_id` the chain's id: a signature is only
    valid for that one deployment.
    """
    if not isinstance(reading, Reading):
        raise InvalidReading(f"reading must be a Reading, got {type(reading).__name__}")
    return {
        "types": {
            "EIP712Domain": [{"name": n, "type": t} for n, t in _EIP712_DOMAIN_TYPE],
            "Reading": [{"name": n, "type": t} for n, t in READING_TYPE],
        },
        "primaryType": "Reading",
        "domain": _domain(chain_id, contract),
        "message": reading.as_message(),
    }


def reading_digest(reading: Reading, chain_id: int, contract: str) -> bytes:
    """The 32-byte EIP-712 digest of `reading` (equals the contract's `readingDigest`)."""
    signable = encode_typed_data(full_message=typed_data(reading, chain_id, contract))
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def sign_reading(
    private_key: bytes | str | int, reading: Reading, chain_id: int, contract: str
) -> SignedReading:
    """Signs `reading` with the meter's device key, as eth_signTypedData_v4 would.

    eth-account produces canonical signatures (low s, v 27 or 28), which the contract requires.
    """
    signed = Account.sign_typed_data(
        private_key, full_message=typed_data(reading, chain_id, contract)
    )
    return SignedReading(reading=reading, v=int(signed.v), r=int(signed.r), s=int(signed.s))
