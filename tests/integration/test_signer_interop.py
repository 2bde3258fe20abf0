"""A wallet's own signer agrees with ours: Hardhat's eth_signTypedData_v4 (the JSON-RPC method
MetaMask and every injected wallet answers) signs `typed_data()`'s JSON, uint64 fields as
decimal strings, to the digest MeterReadings verifies."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from p2penergy.chain.connect import Chain, rpc
from p2penergy.oracle import Reading, reading_digest, typed_data
from tests.conftest import _brownie_hardhat_url

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
# every uint64 field beyond a double's exact range (2^53)
BIG = Reading(2**64 - 1, 2**53 + 1, 1, 2**63, 2**64 - 2, 2**53 + 3)


@pytest.fixture(scope="module")
def hardhat() -> Chain:
    return rpc(_brownie_hardhat_url())


def test_hardhats_eth_sign_typed_data_v4_signs_the_json_to_the_contracts_digest(
    hardhat: Chain,
) -> None:
    signer = hardhat.w3.eth.accounts[0]
    data = json.dumps(typed_data(BIG, hardhat.chain_id, CONTRACT))
    answer = hardhat.w3.provider.make_request("eth_signTypedData_v4", [signer, data])  # type: ignore[arg-type]
    signature = bytes.fromhex(str(answer["result"]).removeprefix("0x"))
    digest = reading_digest(BIG, hardhat.chain_id, CONTRACT)
    assert Account._recover_hash(digest, signature=signature) == signer
