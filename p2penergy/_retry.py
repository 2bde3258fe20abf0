"""Shared by the long-running services (oracle, keeper): what counts as "the node did not
answer", and connecting to a deployment while the node may still be down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from p2penergy.chain.config import Settings
from p2penergy.chain.connect import Chain, rpc
from p2penergy.chain.deploy import Deployment, System
from p2penergy.exceptions import ChainError, ContractRevert

SERVICE_RPC_TIMEOUT = 10  # seconds per JSON-RPC request: a stalled node is noticed quickly


T = TypeVar("T")


class Stopped(Exception):
    """The stop event was set while waiting for the node."""


def is_transient(exc: BaseException) -> bool:
    """True for failures that mean "the node did not answer" (retry later), not a refusal."""
    import requests
    from web3.exceptions import ProviderConnectionError, TimeExhausted

    if isinstance(exc, ContractRevert):
        return False
    if isinstance(
        exc,
        (
            requests.RequestException,
            ConnectionError,
            TimeoutError,
            ProviderConnectionError,
            TimeExhausted,
        ),
    ):
        return True
    # A transaction that failed on chain (status 0) is re-read from the chain, never guessed.
    return isinstance(exc, ChainError) and "unreachable" in str(exc)


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


class Backoff:
    """1 s doubling to `maximum`; `give_up_after` seconds of failures in a row raise ChainError."""

    def __init__(self, maximum: float = 30.0, give_up_after: float | None = None) -> None:
        self.maximum = maximum
        self.give_up_after = give_up_after
        self.delay = 1.0
        self._since: float | None = None

    def failed(self, exc: BaseException, stop: threading.Event) -> float:
        """Waits before the next attempt (returns early if `stop` is set); returns the wait."""
        now = time.monotonic()
        self._since = self._since if self._since is not None else now
        if self.give_up_after is not None and now - self._since >= self.give_up_after:
            raise ChainError(
                f"node unreachable for {now - self._since:.0f} s ({type(exc).__name__}): giving up"
            ) from exc
        delay = self.delay
        stop.wait(delay)
        self.delay = min(self.delay * 2, self.maximum)
        return delay

    def succeeded(self) -> None:
        self.delay = 1.0
        self._since = None


def connect_system_retrying(
    settings: Settings,
    stop: threading.Event,
    backoff: Backoff,
    on_retry: Callable[[BaseException, float], None] | None = None,
    prepare: Callable[[System], T] | None = None,
) -> tuple[System, T | None]:
    """`chain.config.connect_system`, but waits for an unreachable node instead of failing;
    `prepare(system)` (start-up reads) runs inside the same retry."""
    while True:
        if stop.is_set():
            raise Stopped
        try:
            chain = rpc(
                settings.rpc, expected_chain_id=settings.chain_id, timeout=SERVICE_RPC_TIMEOUT
            )
            deployment = Deployment.load(settings.deployments, chain.chain_id)
            system = System(chain, deployment)
            system.readings.functions.timing().call()  # the deployment is really there
            prepared = prepare(system) if prepare is not None else None
        except Exception as exc:
            if not is_transient(exc):
                raise
            if on_retry is not None:
                on_retry(exc, backoff.delay)
            backoff.failed(exc, stop)
            continue
        backoff.succeeded()
        return system, prepared
