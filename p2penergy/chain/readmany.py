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
/// call) and returns the uint256 answers, in order, as the call's output.
contract ReadMany {
    constructor(address target, bytes4 selector, address[] memory accounts) {
        uint256[] memory answers = new uint256[](accounts.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            (bool ok, bytes memory answer) =
                target.staticcall(abi.encodeWithSelector(selector, accounts[i]));
            require(ok && answer.length == 32);
            answers[i] = abi.decode(answer, (uint256));
        }
        bytes memory output = abi.encode(answers);
        assembly {
            return(add(output, 32), mload(output))
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
    "608060405234801561000f575f5ffd5b5060405161037138038061037183398101604081905261002e916101f156"
    "5b5f81516001600160401b03811115610048576100486101dd565b60405190808252806020026020018201604052"
    "8015610071578160200160208202803683370190505b5090505f5b8251811015610196575f5f866001600160a01b"
    "03168686858151811061009e5761009e6102ed565b60200260200101516040516024016100c591906001600160a0"
    "1b0391909116815260200190565b60408051601f198184030181529181526020820180516001600160e01b031660"
    "01600160e01b03199094169390931790925290516101039190610301565b5f60405180830381855afa9150503d80"
    "5f811461013b576040519150601f19603f3d011682016040523d82523d5f602084013e610140565b606091505b50"
    "91509150818015610153575080516020145b61015b575f5ffd5b8080602001905181019061016f9190610317565b"
    "848481518110610181576101816102ed565b60209081029190910101525050600101610076565b505f8160405160"
    "20016101a9919061032e565b6040516020818303038152906040529050805160208201f35b80516001600160a01b"
    "03811681146101d8575f5ffd5b919050565b634e487b7160e01b5f52604160045260245ffd5b5f5f5f6060848603"
    "1215610203575f5ffd5b61020c846101c2565b60208501519093506001600160e01b031981168114610229575f5f"
    "fd5b60408501519092506001600160401b03811115610244575f5ffd5b8401601f81018613610254575f5ffd5b80"
    "516001600160401b0381111561026d5761026d6101dd565b604051600582901b90603f8201601f19168101600160"
    "0160401b038111828210171561029b5761029b6101dd565b60405291825260208184018101929081018984111561"
    "02b8575f5ffd5b6020850194505b838510156102de576102d0856101c2565b8152602094850194016102bf565b50"
    "809450505050509250925092565b634e487b7160e01b5f52603260045260245ffd5b5f82518060208501845e5f92"
    "0191825250919050565b5f60208284031215610327575f5ffd5b5051919050565b60208082528251828201819052"
    "5f918401906040840190835b81811015610365578351835260209384019390920191600101610347565b50909594"
    "505050505056fe"
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
