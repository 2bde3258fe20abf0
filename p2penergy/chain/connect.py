"""Connections: the embedded in-process chain (eth-tester / py-evm) or a JSON-RPC node."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.middleware import Web3Middleware
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

from p2penergy.exceptions import ChainError, NodeUnreachable, WrongChain

EMBEDDED = "embedded"
DEFAULT_RPC_TIMEOUT = 30


def chain_id_cache() -> type[Web3Middleware]:
    """A middleware that asks the node for its chain id once and answers `eth_chainId` itself
    from then on (web3 also caches it as always cacheable when provider caching is on).

    Without it web3 asks on every `eth_call` and `eth_estimateGas` (its validation middleware
    checks the transaction's `chainId` against the node's) and every built transaction: 14 of
    the 26 requests an order took. A node's chain id does not change under a connection; a
    service that must notice another node behind the same URL asks with a raw provider request,
    which this does not answer (`_retry._chain_id`). Each call gives a class of its own, so
    that one connection's answer is never another's.
    """
    known: list[RPCResponse] = []  # the node's first answer, once it gave one

    class ChainIdCache(Web3Middleware):
        def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
            def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
                if method != "eth_chainId":
                    return make_request(method, params)
                if not known:
                    response = make_request(method, params)
                    if "result" not in response or response.get("error"):
                        return response  # an error is not kept: asked again next time
                    known.append(response)
                return known[0]

            return middleware

    return ChainIdCache


def _with_chain_id_cache(w3: Web3) -> Web3:
    w3.middleware_onion.add(chain_id_cache(), "chain_id_cache")
    return w3


@dataclass
class Chain:
    """A connected chain plus what tests and the simulation need to drive it.

    `faucet` holds keys funded at genesis (embedded chain and local Hardhat or anvil nodes only);
    on a production network it is empty and accounts must be funded by their owners.
    """

    w3: Web3
    kind: str  # "embedded" | "rpc"
    url: str | None = None
    faucet: list[LocalAccount] = field(default_factory=list)
    _tester: Any = None

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def now(self) -> int:
        """Timestamp of the latest block."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def set_time(self, timestamp: int) -> None:
        """Moves chain time forward so that the next block has `timestamp` (dev chains only)."""
        if timestamp <= self.now():
            return
        if self._tester is not None:
            self._tester.time_travel(timestamp)
            return
        try:
            self.w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])  # type: ignore[arg-type]
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        except Exception as exc:
            raise ChainError(f"this node cannot move time: {exc}") from exc

    def snapshot(self) -> Any:
        """Takes a snapshot of the chain state (dev chains only); see `revert`."""
        if self._tester is not None:
            return self._tester.take_snapshot()
        return self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]

    def revert(self, snapshot_id: Any) -> None:
        """Returns the chain to a snapshot taken by `snapshot` (dev chains only)."""
        if self._tester is not None:
            self._tester.revert_to_snapshot(snapshot_id)
            return
        ok = self.w3.provider.make_request("evm_revert", [snapshot_id])  # type: ignore[arg-type]
        if not ok.get("result"):
            raise ChainError(f"could not revert to snapshot {snapshot_id}")

    def fund(self, address: str, wei: int) -> None:
        """Sends gas money from the dev faucet to `address` (dev chains only)."""
        if not self.faucet:
            raise ChainError("no faucet on this chain: fund the account from a wallet")
        from p2penergy.chain.tx import send_value

        send_value(self, self.faucet[0], address, wei)


def embedded() -> Chain:
    """A fresh in-process chain (Cancun rules, as the Hardhat node is configured)."""
    from eth.vm.forks.cancun import CancunVM
    from eth_tester import EthereumTester

    from p2penergy.chain._embedded import RevertDataBackend, fast_keccak

    fast_keccak()
    backend = RevertDataBackend(vm_configuration=((0, CancunVM),))
    tester = EthereumTester(backend)
    w3 = _with_chain_id_cache(Web3(EthereumTesterProvider(tester)))
    faucet = [Account.from_key(key.to_bytes()) for key in backend.account_keys]
    # The sender of calls that name none: the first faucet account, as web3's eth-tester
    # middleware would guess, without deriving all ten accounts' addresses on every call.
    w3.eth.default_account = faucet[0].address
    return Chain(w3=w3, kind=EMBEDDED, faucet=faucet, _tester=tester)


# The well-known development keys of Hardhat's and anvil's default mnemonic ("test test ... junk").
_HARDHAT_MNEMONIC = "test test test test test test test test test test test junk"


def http_session(url: str) -> requests.Session:
    """A session for JSON-RPC to `url` that reads the environment once, here, instead of on
    every request: proxies (`HTTP(S)_PROXY`, `NO_PROXY`), a CA bundle (`REQUESTS_CA_BUNDLE`,
    `CURL_CA_BUNDLE`) and `.netrc` credentials apply as requests would apply them, but a
    request no longer walks the whole environment (about a quarter of a short call's CPU)."""
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    auth = requests.utils.get_netrc_auth(url)
    if auth:
        session.auth = auth
    return session


def rpc(
    url: str, *, expected_chain_id: int | None = None, timeout: int = DEFAULT_RPC_TIMEOUT
) -> Chain:
    """Connects to a JSON-RPC node; insists on `expected_chain_id` when given."""
    provider = HTTPProvider(url, request_kwargs={"timeout": timeout}, session=http_session(url))
    w3 = _with_chain_id_cache(Web3(provider))
    try:
        chain_id = int(w3.eth.chain_id)
        client = str(w3.client_version)
    except Exception as exc:
        raise NodeUnreachable(url, type(exc).__name__) from exc
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise WrongChain(url, expected_chain_id, chain_id)
    faucet: list[LocalAccount] = []
    if client.lower().startswith(("hardhat", "anvil")):
        Account.enable_unaudited_hdwallet_features()
        faucet = [
            Account.from_mnemonic(_HARDHAT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
            for i in range(10)
        ]
    return Chain(w3=w3, kind="rpc", url=url, faucet=faucet)


def connect(url: str | None = None, *, expected_chain_id: int | None = None) -> Chain:
    """`connect()` gives a fresh embedded chain; `connect(url)` a JSON-RPC node."""
    if url is None or url == EMBEDDED:
        return embedded()
    return rpc(url, expected_chain_id=expected_chain_id)
