"""The meter reading and its EIP-712 signature, exactly as `MeterReadings.sol` verifies them.

A meter signs `Reading` with eth_signTypedData_v4 semantics; `typed_data` gives the JSON any
standard signer (MetaMask, ethers, a meter's firmware) takes, and `sign_reading` signs it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from p2penergy.domain.readings import READING_TYPE, InvalidReading, Reading, check_uint

DOMAIN_NAME = "p2penergy MeterReadings"
DOMAIN_VERSION = "1"

_EIP712_DOMAIN_TYPE = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)

_UINT256_END = 2**256


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
        check_uint("v", self.v, 2**8)
        check_uint("r", self.r, _UINT256_END)
        check_uint("s", self.s, _UINT256_END)

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
    check_uint("chain_id", chain_id, _UINT256_END)
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
    valid for that one deployment. The uint64 fields are decimal strings, as JavaScript signers
    need them above 2^53 (a double loses them); EIP-712 encoders (eth-account, ethers,
    MetaMask's) hash a decimal string and the number alike, so the signature does not change.
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
        "message": {name: str(value) for name, value in reading.as_message().items()},
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
