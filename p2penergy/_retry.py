"""Shared by the long-running services (oracle, keeper, permission sync): what counts as "the
node did not answer" (retry), what means "this is no longer the chain we were started for"
(stop), the one retry loop with back-off (`Backoff.attempt`), the gas money watch, and
connecting to a deployment while the node may still be down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final, TypeVar

from p2penergy.chain.config import Settings
from p2penergy.chain.connect import Chain, rpc
from p2penergy.chain.deploy import Deployment, System
from p2penergy.exceptions import (
    ContractRevert,
    DeploymentGone,
    GasBalanceTooLow,
    NodeUnreachable,
    OutboxWriteFailed,
    Stopped,
    WrongChain,
)

SERVICE_RPC_TIMEOUT = 10  # seconds per JSON-RPC request: a stalled node is noticed quickly
MAX_BACKOFF_S = 30.0


T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """True for failures that mean "try again later" (the node did not answer, the outbox's disk
    is full), not a refusal and not a chain that changed under us."""
    import requests
    from web3.exceptions import ProviderConnectionError, TimeExhausted

    if isinstance(exc, ContractRevert):
        return False
    return isinstance(
        exc,
        (
            requests.RequestException,
            ConnectionError,
            TimeoutError,
            ProviderConnectionError,
            TimeExhausted,
            NodeUnreachable,
            OutboxWriteFailed,
        ),
    )


def next_block_time(chain: Chain) -> int:
    """The time the next transaction would run at: the pending block's timestamp when the node
    offers one (a dev node that mines only on demand has a stale latest block), else the latest
    block's. Never the local clock: tests and simulations move chain time."""
    latest = chain.now()
    try:
        pending = int(chain.w3.eth.get_block("pending")["timestamp"])
    except Exception as exc:
        if is_transient(exc):
            raise
        return latest
    return max(latest, pending)


@dataclass(frozen=True)
class Anchor:
    """What a service was started against: the chain id, and the hash of the block its
    deployment was made in. A node that came back empty, a reset chain or another network at the
    same URL fails `verify`; a node restarted from its data directory passes."""

    chain_id: int
    block: int
    block_hash: bytes
    addresses: tuple[str, ...]

    @classmethod
    def take(cls, system: System) -> Anchor:
        """Reads the anchor; raises DeploymentGone when the address book's contracts have no
        code on this chain."""
        chain, deployment = system.chain, system.deployment
        chain_id = _chain_id(chain)
        addresses = tuple(deployment.addresses.values())
        for address in addresses:
            if not chain.w3.eth.get_code(address):  # type: ignore[arg-type]
                raise DeploymentGone(
                    chain_id,
                    address,
                    None,
                    f"the address book {deployment.chain_id}.json names {address}, which has no "
                    f"code on the node at {chain.url}: the node came back empty or the address "
                    "book is stale; redeploy or point --deployments at the right one",
                )
        block = min(deployment.blocks.values()) if deployment.blocks else 0
        return cls(chain_id, block, _block_hash(chain, block, chain_id), addresses)

    def verify(self, chain: Chain) -> None:
        """Raises WrongChain or DeploymentGone when the node no longer serves the chain the
        service was started against; a node that does not answer raises as transient."""
        chain_id = _chain_id(chain)
        if chain_id != self.chain_id:
            raise WrongChain(chain.url, self.chain_id, chain_id)
        if _block_hash(chain, self.block, chain_id) != self.block_hash:
            raise DeploymentGone(
                chain_id,
                None,
                self.block,
                f"block {self.block}, where the contracts were deployed, changed on the node at "
                f"{chain.url}: the chain was reset or replaced; redeploy and restart",
            )
        if not chain.w3.eth.get_code(self.addresses[0]):  # type: ignore[arg-type]
            raise DeploymentGone(
                chain_id,
                self.addresses[0],
                None,
                f"{self.addresses[0]} has no code any more on the node at {chain.url}",
            )


def _chain_id(chain: Chain) -> int:
    # A raw request: web3 may cache eth_chainId, and a node at the same URL may be another one.
    answer = chain.w3.provider.make_request("eth_chainId", [])  # type: ignore[arg-type]
    return int(str(answer["result"]), 16)


def _block_hash(chain: Chain, number: int, chain_id: int) -> bytes:
    from web3.exceptions import BlockNotFound

    try:
        block = chain.w3.eth.get_block(number)
    except BlockNotFound:
        block = None
    if block is None:
        raise DeploymentGone(
            chain_id,
            None,
            number,
            f"the node at {chain.url} has no block {number}, where the contracts were deployed: "
            "it came back empty; redeploy (or restore its data directory) and restart",
        )
    return bytes(block["hash"])


class GasWatch:
    """Watches one service account's gas money: a warning line once it falls below
    `warn_below_wei`, and GasBalanceTooLow before the next transaction could not be paid
    (`reserve_gas` at the current maximum fee per gas)."""

    def __init__(self, chain: Chain, address: str, warn_below_wei: int, reserve_gas: int) -> None:
        self.chain = chain
        self.address = address
        self.warn_below_wei = warn_below_wei
        self.reserve_gas = reserve_gas
        self._warned = False

    def check(self) -> str | None:
        """Raises GasBalanceTooLow, or returns a warning line (once per crossing) or None."""
        from p2penergy.chain.tx import fees

        balance = int(self.chain.w3.eth.get_balance(self.address))  # type: ignore[arg-type]
        needed = self.reserve_gas * fees(self.chain)["maxFeePerGas"]
        if balance < needed:
            raise GasBalanceTooLow(self.address, balance, needed)
        if balance >= self.warn_below_wei:
            self._warned = False
            return None
        if self._warned:
            return None
        self._warned = True
        return (
            f"gas balance of {self.address} is {balance / 10**18:.6f} ETH, below the warning "
            f"threshold {self.warn_below_wei / 10**18:.6f} ETH: fund it"
        )


class Retried(Enum):
    """What `Backoff.attempt` returns when the work failed transiently and was waited out."""

    RETRIED = "retried"


RETRIED: Final = Retried.RETRIED


class Backoff:
    """`initial` seconds doubling to `maximum`; `give_up_after` seconds of failures in a row
    raise NodeUnreachable."""

    def __init__(
        self,
        maximum: float = MAX_BACKOFF_S,
        give_up_after: float | None = None,
        *,
        initial: float = 1.0,
    ) -> None:
        self.maximum = maximum
        self.give_up_after = give_up_after
        self.initial = min(initial, maximum)
        self.delay = self.initial
        self._since: float | None = None

    def attempt(
        self,
        work: Callable[[], T],
        stop: threading.Event,
        *,
        on_retry: Callable[[BaseException, float], None] | None = None,
        health: Callable[[], None] | None = None,
        transient: Callable[[BaseException], bool] | None = None,
    ) -> T | Retried:
        """Runs `work` once: its value on success (the back-off resets); RETRIED after a
        transient failure (`on_retry(exc, delay)` is told, then the delay is waited, shorter if
        `stop` is set). Any other failure propagates, after `explain` checked whether the chain
        changed under the service (`health`)."""
        try:
            value = work()
        except Exception as exc:
            if not (transient or is_transient)(exc):
                explain(exc, health)
                raise
            if on_retry is not None:
                on_retry(exc, self.delay)
            self.failed(exc, stop)
            return RETRIED
        self.succeeded()
        return value

    def failed(self, exc: BaseException, stop: threading.Event) -> float:
        """Waits before the next attempt (returns early if `stop` is set); returns the wait."""
        now = time.monotonic()
        self._since = self._since if self._since is not None else now
        if self.give_up_after is not None and now - self._since >= self.give_up_after:
            raise NodeUnreachable(
                None, f"no answer for {now - self._since:.0f} s ({type(exc).__name__}): giving up"
            ) from exc
        delay = self.delay
        stop.wait(delay)
        self.delay = min(self.delay * 2, self.maximum)
        return delay

    def succeeded(self) -> None:
        self.delay = self.initial
        self._since = None


def explain(exc: BaseException, health: Callable[[], None] | None) -> None:
    """Before an unexpected error ends a service, checks whether the chain changed under it
    (a contract with no code answers calls with garbage): raises the typed mismatch if so."""
    if health is None or isinstance(exc, ContractRevert):
        return
    try:
        health()
    except (WrongChain, DeploymentGone, GasBalanceTooLow):
        raise
    except Exception:
        return


def connect_system_retrying(
    settings: Settings,
    stop: threading.Event,
    backoff: Backoff,
    on_retry: Callable[[BaseException, float], None] | None,
    prepare: Callable[[System], T],
) -> tuple[System, Anchor, T]:
    """`chain.config.connect_system`, but waits for an unreachable node instead of failing;
    checks that the address book's contracts are there (DeploymentGone otherwise) and that the
    chain id is `settings.chain_id` (WrongChain); `prepare(system)` (start-up reads) runs
    inside the same retry."""

    def connect() -> tuple[System, Anchor, T]:
        chain = rpc(settings.rpc, expected_chain_id=settings.chain_id, timeout=SERVICE_RPC_TIMEOUT)
        system = System(chain, Deployment.load(settings.deployments, chain.chain_id))
        anchor = Anchor.take(system)
        return system, anchor, prepare(system)

    while not stop.is_set():
        connected = backoff.attempt(connect, stop, on_retry=on_retry)
        if connected is not RETRIED:
            return connected
    raise Stopped
