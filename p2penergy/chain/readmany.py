"""Many `uint256 f(address)` reads of one contract in one `eth_call`.

`eth_call` without a recipient runs creation code and gives back what it returns: the
creation code of `ReadMany` (below, never deployed) calls the target once per account and
returns the answers. The answers are those of the target's own function at the same block
(a `staticcall` from inside the call: nothing can be written), so a caller that made one call
per account gets the same numbers in one request: on the embedded chain web3's and
eth-tester's work per request was six times the EVM's, on a node each is a round trip.

A creation's output is bounded by the contract size limit (24,576 bytes): `CHUNK` accounts
per call stay well inside it. The bytecode is checked against `SOURCE` compiled with
`SETTINGS` (tests/unit/chain/test_read_many.py); it is kept here, not in contracts/, because it
is a read helper of the Python side, never deployed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import BlockIdentifier

from p2penergy.exceptions import ChainError

SOURCE = """\
// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Never deployed: its creation code is sent as an `eth_call` without a recipient.
/// The constructor asks `target` for `selector(account)` of every account (a read-only
/// call, which must answer one word) and returns the answers, in order, ABI-encoded as a
/// `uint256[]`. Assembly: one scratch call buffer and the answers written in place, so that
/// memory does not grow with every read.
contract ReadMany {
    constructor(address target, bytes4 selector, address[] memory accounts) {
        assembly ("memory-safe") {
            let n := mload(accounts)
            let out := mload(0x40)
            mstore(out, 0x20) // the array's offset
            mstore(add(out, 0x20), n) // its length
            let answers := add(out, 0x40)
            let buffer := add(answers, mul(n, 0x20)) // selector, then the account
            mstore(buffer, selector)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                mstore(add(buffer, 4), mload(add(accounts, mul(add(i, 1), 0x20))))
                let answer := add(answers, mul(i, 0x20))
                if iszero(staticcall(gas(), target, buffer, 0x24, answer, 0x20)) {
                    revert(0, 0)
                }
                if iszero(eq(returndatasize(), 0x20)) { revert(0, 0) }
            }
            return(out, add(0x40, mul(n, 0x20)))
        }
    }
}
"""

SETTINGS: dict[str, Any] = {
    "evmVersion": "cancun",
    "optimizer": {"enabled": True, "runs": 200},
    "metadata": {"bytecodeHash": "none", "appendCBOR": False},
}

CREATION_CODE = bytes.fromhex(
    "608060405234801561000f575f5ffd5b506040516101c83803806101c883398101604081905261002e916100cb56"
    "5b805160405160208152816020820152604081016020830281018581525f5b8481101561008f5760206001820102"
    "86015160048301526020810283016020816024858c5afa61007a575f5ffd5b5060203d14610087575f5ffd5b6001"
    "0161004c565b5050506020820260400181f35b80516001600160a01b03811681146100b2575f5ffd5b919050565b"
    "634e487b7160e01b5f52604160045260245ffd5b5f5f5f606084860312156100dd575f5ffd5b6100e68461009c56"
    "5b60208501519093506001600160e01b031981168114610103575f5ffd5b60408501519092506001600160401b03"
    "81111561011e575f5ffd5b8401601f8101861361012e575f5ffd5b80516001600160401b03811115610147576101"
    "476100b7565b604051600582901b90603f8201601f191681016001600160401b0381118282101715610175576101"
    "756100b7565b604052918252602081840181019290810189841115610192575f5ffd5b6020850194505b83851015"
    "6101b8576101aa8561009c565b815260209485019401610199565b5080945050505050925092509256fe"
)

BALANCE_OF = "balanceOf(address)"
CHUNK = 500  # accounts per call: 16 kB of output
CALL_GAS = 29_000_000  # below every block gas limit we run on; a read costs about 3,000


def read_many(
    w3: Web3,
    target: str,
    signature: str,
    accounts: Sequence[str],
    block_identifier: BlockIdentifier = "latest",
) -> list[int]:
    """`target.<signature>(account)` for every account, in order, at `block_identifier`;
    `signature` is a function of one address returning one uint256 (`"balanceOf(address)"`).
    Raises what web3 raises for a failed call when any of the reads fails."""
    selector = keccak(text=signature)[:4]
    answers: list[int] = []
    for low in range(0, len(accounts), CHUNK):
        chunk = list(accounts[low : low + CHUNK])
        args = encode(["address", "bytes4", "address[]"], [target, selector, chunk])
        output = w3.eth.call(
            {"data": CREATION_CODE + args, "gas": CALL_GAS}, block_identifier=block_identifier
        )
        (values,) = decode(["uint256[]"], bytes(output))
        if len(values) != len(chunk):
            raise ChainError(f"{len(chunk)} reads, {len(values)} answers")
        answers.extend(int(v) for v in values)
    return answers
