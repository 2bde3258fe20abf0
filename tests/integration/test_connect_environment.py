"""A JSON-RPC connection reads the proxy environment once, when it connects, as requests would
on every request: a proxy applies unless `NO_PROXY` names the node."""

from __future__ import annotations

import pytest

from p2penergy.chain.connect import rpc
from p2penergy.exceptions import NodeUnreachable
from tests.conftest import _brownie_hardhat_url

# Nothing listens on the discard port: a request sent through this proxy cannot be answered.
DEAD_PROXY = "http://127.0.0.1:9"


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_proxy_in_the_environment_is_used_unless_no_proxy_names_the_node(
    no_proxy_environment: pytest.MonkeyPatch,
) -> None:
    url = _brownie_hardhat_url()
    no_proxy_environment.setenv("HTTP_PROXY", DEAD_PROXY)
    with pytest.raises(NodeUnreachable):
        rpc(url, timeout=5)
    no_proxy_environment.setenv("NO_PROXY", "127.0.0.1,localhost")
    chain = rpc(url, timeout=5)
    # Read once, at connect: with NO_PROXY gone the dead proxy would now apply to a new
    # connection, but not to this one.
    no_proxy_environment.delenv("NO_PROXY")
    assert chain.w3.eth.block_number >= 0

    with pytest.raises(NodeUnreachable):
        rpc(url, timeout=5)
