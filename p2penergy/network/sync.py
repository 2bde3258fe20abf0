"""`network sync-permissions`: every node's accounts allowlist equals the registry's allowed set.

One pass: read the chain head, fold the registry's new events (`RegistryReplay`), read each
node's allowlist, add what is missing and remove what the registry no longer allows, one PERM
request per direction and node. A second pass with nothing new sends no change at all.

Lockout: the accounts in `keep` (the deployment's admin always, plus `--keep` addresses: e.g. a
gateway's or a monitoring account) are added but never removed, whatever the registry says, so
a mistaken revocation cannot lock the operator out of the transaction that would repair it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eth_utils.address import to_checksum_address

from p2penergy._retry import RETRIED, Backoff, is_transient
from p2penergy.chain.connect import Chain, rpc
from p2penergy.chain.deploy import Deployment, System
from p2penergy.exceptions import DeploymentError, NodeUnreachable
from p2penergy.network.errors import AddressBookMismatch, NetworkError, PermRequestFailed
from p2penergy.network.perm import PermNode
from p2penergy.network.registry_replay import RegistryReplay

SYNC_RPC_TIMEOUT = 10


@dataclass(frozen=True)
class Change:
    """One account added to or removed from one node's allowlist."""

    node: str
    action: str  # "add" | "remove"
    account: str

    def line(self) -> str:
        sign = "+" if self.action == "add" else "-"
        return f"{self.node}: {sign} {self.account} ({self.action}ed)"


def connect_registry(url: str, deployments: Path, chain_id: int | None) -> System:
    """The deployment on the chain at `url`; a missing or stale address book is a mismatch.
    A node that does not answer raises NodeUnreachable, another chain id WrongChain."""
    chain: Chain = rpc(url, expected_chain_id=chain_id, timeout=SYNC_RPC_TIMEOUT)
    try:
        deployment = Deployment.load(deployments, chain.chain_id)
    except DeploymentError as exc:
        raise AddressBookMismatch(str(exc)) from exc
    system = System(chain, deployment)
    _check_code(system)
    return system


def _check_code(system: System) -> None:
    address = system.deployment.addresses.get("ParticipantRegistry", "")
    if not address or not system.chain.w3.eth.get_code(address):  # type: ignore[arg-type]
        raise AddressBookMismatch(
            f"no registry contract at {address or '(none)'} on chain {system.chain.chain_id}: "
            "the address book does not match this chain (redeployed or reset?)"
        )


class PermissionSync:
    """Keeps `nodes`' allowlists equal to the registry of `system` (plus `keep`)."""

    def __init__(self, system: System, nodes: list[PermNode], keep: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.system = system
        self.nodes = nodes
        self.keep = {str(to_checksum_address(a)) for a in keep} | {
            str(to_checksum_address(system.deployment.admin))
        }
        self.replay = RegistryReplay(system)
        self._last_head = -1

    def head(self) -> int:
        return int(self.system.chain.w3.eth.block_number)

    def target(self) -> set[str]:
        return self.replay.state.allowed_accounts() | self.keep

    def run_once(self, head: int | None = None) -> list[Change]:
        """One pass up to `head` (default: the current head); returns the changes applied."""
        head = self.head() if head is None else head
        if head < self._last_head:
            raise AddressBookMismatch(
                f"the chain went back from block {self._last_head} to {head}: it was reset"
            )
        _check_code(self.system)
        self.replay.advance(head)
        self._last_head = head
        target = self.target()
        changes: list[Change] = []
        for node in self.nodes:
            current = node.accounts()
            missing = sorted(target - current)
            extra = sorted(current - target - self.keep)
            node.add(missing)
            changes += [Change(node.url, "add", a) for a in missing]
            node.remove(extra)
            changes += [Change(node.url, "remove", a) for a in extra]
        return changes


def is_fault(exc: BaseException) -> bool:
    """A failure the daemon waits out (node down, a concurrent edit), as opposed to a wrong
    setup (PERM disabled, address book mismatch) that no retry can fix."""
    if isinstance(exc, (NodeUnreachable, PermRequestFailed)):
        return True
    if isinstance(exc, NetworkError):
        return False
    return is_transient(exc)


def wait_for(
    connect: Callable[[], PermissionSync],
    *,
    interval: float,
    stop: threading.Event,
    on_fault: Callable[[BaseException, float], None],
    max_backoff: float = 60.0,
) -> PermissionSync | None:
    """`connect()` once the node answers (faults back off); None when stopped first."""
    backoff = _backoff(interval, max_backoff)
    while not stop.is_set():
        sync = backoff.attempt(connect, stop, on_retry=on_fault, transient=is_fault)
        if sync is not RETRIED:
            return sync
    return None


def follow(
    sync: PermissionSync,
    *,
    interval: float,
    stop: threading.Event,
    on_changes: Callable[[list[Change]], None],
    on_fault: Callable[[BaseException, float], None],
    max_backoff: float = 60.0,
) -> None:
    """Syncs at every new block until `stop` is set; faults back off (doubling, capped) and
    setup errors propagate."""
    backoff = _backoff(interval, max_backoff)
    last = -1

    def one_pass() -> int:
        head = sync.head()
        if head != last:
            on_changes(sync.run_once(head))
        return head

    while not stop.is_set():
        head = backoff.attempt(one_pass, stop, on_retry=on_fault, transient=is_fault)
        if head is RETRIED:
            continue
        last = head
        stop.wait(interval)


def _backoff(interval: float, max_backoff: float) -> Backoff:
    """Twice the polling interval after a first fault, doubling up to `max_backoff`."""
    return Backoff(max_backoff, initial=2 * interval)
