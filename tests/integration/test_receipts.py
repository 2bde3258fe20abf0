"""`chain.tx.wait_receipt` on a JSON-RPC node (a throwaway anvil): the receipt of a mined
transaction, also of one the node mines only after the wait began (its first answers are
"not found"), `TransactionFailed` for a failed one, web3's `TimeExhausted` for a hash the
node never mined."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.exceptions import TimeExhausted, TransactionNotFound

from p2penergy.chain.connect import Chain, rpc
from p2penergy.chain.node import start_anvil
from p2penergy.chain.tx import fees, send_only, send_value, wait_receipt
from p2penergy.exceptions import TransactionFailed


@pytest.fixture(scope="module")
def anvil_chain() -> Iterator[Chain]:
    with start_anvil() as node:
        yield rpc(node.url)


def _tx(chain: Chain, sender: LocalAccount, **fields: Any) -> dict[str, Any]:
    """A transaction of `sender`'s with `fields`, its chain id, next nonce and fees."""
    return {
        **fields,
        "chainId": chain.chain_id,
        "nonce": chain.w3.eth.get_transaction_count(sender.address, "pending"),
        **fees(chain),
    }


def test_a_mined_transaction_gives_its_receipt(anvil_chain: Chain):
    sender, receiver = anvil_chain.faucet[0], anvil_chain.faucet[1]
    before = anvil_chain.w3.eth.get_balance(receiver.address)
    receipt = send_value(anvil_chain, sender, receiver.address, 12_345)
    assert receipt["status"] == 1
    assert receipt["blockNumber"] == anvil_chain.w3.eth.block_number
    assert anvil_chain.w3.eth.get_balance(receiver.address) == before + 12_345


def test_a_failed_transaction_raises_with_its_receipt(anvil_chain: Chain):
    sender = anvil_chain.faucet[2]
    # creation code that is INVALID: the transaction fails, status 0
    tx_hash = send_only(anvil_chain, sender, _tx(anvil_chain, sender, data="0xfe", gas=60_000))
    with pytest.raises(TransactionFailed) as failed:
        wait_receipt(anvil_chain, tx_hash)
    assert failed.value.tx_hash == "0x" + tx_hash.hex()
    assert failed.value.receipt["status"] == 0


def test_a_hash_never_mined_times_out(anvil_chain: Chain):
    with pytest.raises(TimeExhausted):
        wait_receipt(anvil_chain, os.urandom(32), timeout=0.3)


def test_a_transaction_mined_after_the_wait_began_is_waited_for(anvil_chain: Chain):
    sender, receiver = anvil_chain.faucet[3], anvil_chain.faucet[4]
    rpc_call = anvil_chain.w3.provider.make_request
    tx = _tx(anvil_chain, sender, to=receiver.address, value=1, gas=21_000)
    rpc_call("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        tx_hash = send_only(anvil_chain, sender, tx)
        head = anvil_chain.w3.eth.block_number
        with pytest.raises(TransactionNotFound):  # accepted, not mined
            anvil_chain.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        miner = threading.Timer(0.3, lambda: rpc_call("evm_mine", []))  # type: ignore[arg-type]
        miner.start()
        receipt = wait_receipt(anvil_chain, tx_hash, timeout=30)
        miner.join()
    finally:
        rpc_call("evm_setAutomine", [True])  # type: ignore[arg-type]
    assert receipt["status"] == 1
    assert receipt["blockNumber"] == head + 1
