"""A QBFT genesis for Hyperledger Besu and the node keys behind it: pure data, no files.

QBFT with block-header validator selection keeps the initial validators in the genesis block's
`extraData`: `RLP([32 zero bytes of vanity, [validator addresses], [] (no vote), round 0, []
(no seals)])`, validators in ascending order (Besu docs, "Configure QBFT consensus").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import rlp
from eth_keys.constants import SECPK1_N
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_canonical_address, to_checksum_address

from p2penergy.network.errors import InvalidNetworkInput

VANITY = bytes(32)
ISTANBUL_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
MAX_CHAIN_ID = 2**64 - 1
DEFAULT_EPOCH_LENGTH = 30_000
DEFAULT_GAS_LIMIT = 50_000_000
# Block-number milestones up to London, then the time-based ones: the EVM is Cancun from block 0,
# like the contracts' `evmVersion` (Besu runs Shanghai and Cancun on QBFT since 24.x).
BLOCK_MILESTONES = (
    "homesteadBlock",
    "eip150Block",
    "eip155Block",
    "eip158Block",
    "byzantiumBlock",
    "constantinopleBlock",
    "petersburgBlock",
    "istanbulBlock",
    "berlinBlock",
    "londonBlock",
)
TIME_MILESTONES = ("shanghaiTime", "cancunTime")


@dataclass(frozen=True)
class NodeKey:
    """A node's secp256k1 key: the private half stays in the node's `key` file."""

    private_key: bytes = b""

    @classmethod
    def generate(cls) -> NodeKey:
        """A fresh key from the OS's CSPRNG (retried in the negligible case it is out of range)."""
        while True:
            candidate = secrets.token_bytes(32)
            if 0 < int.from_bytes(candidate, "big") < SECPK1_N:
                return cls(candidate)

    @property
    def public_key(self) -> bytes:
        """The 64-byte uncompressed public key (no 0x04 prefix): the node id in enode URLs."""
        return bytes(PrivateKey(self.private_key).public_key.to_bytes())

    @property
    def address(self) -> str:
        """The node's address: a validator is named by it in extraData and QBFT votes."""
        return str(PrivateKey(self.private_key).public_key.to_checksum_address())

    def __repr__(self) -> str:  # never print the private key by accident
        return f"NodeKey(address={self.address})"


def enode(public_key: bytes, host: str, port: int) -> str:
    """The enode URL peers use to reach a node."""
    return f"enode://{public_key.hex()}@{host}:{port}"


def qbft_extra_data(validators: list[str]) -> bytes:
    """The genesis `extraData` naming `validators` (any order; encoded ascending)."""
    if not validators:
        raise InvalidNetworkInput("QBFT needs at least one validator")
    encoded = sorted(to_canonical_address(v) for v in validators)
    if len(set(encoded)) != len(encoded):
        raise InvalidNetworkInput("a validator address is listed twice")
    return bytes(rlp.encode([VANITY, encoded, [], b"", []]))


def validate_chain_id(chain_id: int) -> int:
    if not 0 < chain_id <= MAX_CHAIN_ID:
        raise InvalidNetworkInput(f"chain id {chain_id} is out of range: use 1 .. 2^64-1")
    return chain_id


def qbft_genesis(
    *,
    chain_id: int,
    validators: list[str],
    block_period: int,
    request_timeout: int,
    gas_limit: int,
    alloc: dict[str, int],
    timestamp: int,
    epoch_length: int = DEFAULT_EPOCH_LENGTH,
) -> dict[str, Any]:
    """The genesis.json document: QBFT, free gas (zero base fee), Cancun EVM from block 0.

    `alloc` maps addresses to balances in wei (gas is free, but a funded operator account keeps
    tools that check balances quiet).
    """
    validate_chain_id(chain_id)
    config: dict[str, Any] = {"chainId": chain_id}
    config.update(dict.fromkeys(BLOCK_MILESTONES, 0))
    config.update(dict.fromkeys(TIME_MILESTONES, 0))
    config["zeroBaseFee"] = True
    config["qbft"] = {
        "blockperiodseconds": block_period,
        "epochlength": epoch_length,
        "requesttimeoutseconds": request_timeout,
    }
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": hex(timestamp),
        "extraData": "0x" + qbft_extra_data(validators).hex(),
        "gasLimit": hex(gas_limit),
        "difficulty": "0x1",
        "mixHash": ISTANBUL_MIX_HASH,
        "coinbase": "0x" + "00" * 20,
        "alloc": {
            to_checksum_address(address)[2:].lower(): {"balance": hex(balance)}
            for address, balance in sorted(alloc.items())
        },
        "number": "0x0",
        "gasUsed": "0x0",
        "parentHash": "0x" + "00" * 32,
    }
