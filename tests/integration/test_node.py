"""The local profile: our own Hardhat node on 127.0.0.1 with the pinned hardfork and chain id."""

from __future__ import annotations

import pytest

from p2penergy.chain.connect import rpc
from p2penergy.chain.node import start_hardhat
from p2penergy.exceptions import ChainError


def test_started_node_serves_chain_31337_with_dev_keys(hardhat_node: str):
    chain = rpc(hardhat_node, expected_chain_id=31337)
    assert chain.url is not None and chain.url.startswith("http://127.0.0.1:")
    assert len(chain.faucet) == 10
    assert chain.w3.eth.get_balance(chain.faucet[0].address) > 0


def test_a_wrong_chain_id_is_refused_with_a_clear_error(hardhat_node: str):
    with pytest.raises(ChainError, match="serves chain id 31337, expected 1"):
        rpc(hardhat_node, expected_chain_id=1)


def test_an_unreachable_node_is_reported_as_such():
    with pytest.raises(ChainError, match="unreachable"):
        rpc("http://127.0.0.1:9", timeout=2)


def test_a_busy_port_is_reported(hardhat_node: str):
    port = int(hardhat_node.rsplit(":", 1)[1])
    with pytest.raises(ChainError, match="port"):
        start_hardhat(port, timeout=30)
