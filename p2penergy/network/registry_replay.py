"""Who may transact, rebuilt from the participant registry's events.

The registry answers `transactionAllowed(sender, ...)` with: an active participant, or a holder
of the OPERATOR, AUDITOR, KEEPER or GOVERNOR role (the registry's admin is the governance
timelock, a contract, which sends no transactions). Besu's local allowlists cannot ask a contract,
so this module folds the registry's events (ParticipantRegistered / Suspended / Reinstated,
RoleGranted / RoleRevoked) into that same set, block range by block range, and checks every
account it changed against `transactionAllowed` at the same block: a disagreement means the
address book names a contract that is not our registry, and nothing is applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from web3.contract import Contract

from p2penergy.chain.deploy import System
from p2penergy.network.errors import AddressBookMismatch

STAFF_ROLES = ("OPERATOR_ROLE", "AUDITOR_ROLE", "KEEPER_ROLE", "GOVERNOR_ROLE")
EVENTS = (
    "ParticipantRegistered",
    "ParticipantSuspended",
    "ParticipantReinstated",
    "RoleGranted",
    "RoleRevoked",
)
LOG_CHUNK = 5_000  # blocks per eth_getLogs request (node limits on range and response size)
ZERO = "0x" + "00" * 20


@dataclass
class RegistryState:
    """Participants' active flags and staff roles, as of `block` (pure fold, no chain)."""

    staff_roles: frozenset[bytes]
    active: dict[str, bool] = field(default_factory=dict)
    roles: dict[str, set[bytes]] = field(default_factory=dict)
    block: int = -1

    def apply(self, name: str, args: dict[str, Any]) -> str | None:
        """Folds one event in; returns the account whose permission may have changed."""
        if name in ("ParticipantRegistered", "ParticipantReinstated", "ParticipantSuspended"):
            account = str(to_checksum_address(args["account"]))
            self.active[account] = name != "ParticipantSuspended"
            return account
        if name in ("RoleGranted", "RoleRevoked"):
            role = bytes(args["role"])
            if role not in self.staff_roles:
                return None
            account = str(to_checksum_address(args["account"]))
            held = self.roles.setdefault(account, set())
            if name == "RoleGranted":
                held.add(role)
            else:
                held.discard(role)
            return account
        return None

    def allowed(self, account: str) -> bool:
        return self.active.get(account, False) or bool(self.roles.get(account))

    def allowed_accounts(self) -> set[str]:
        """Exactly the accounts `transactionAllowed` accepts."""
        return {a for a in set(self.active) | set(self.roles) if self.allowed(a)}


class RegistryReplay:
    """Follows the registry of a deployment: `advance(block)` folds the events up to `block`."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.registry: Contract = system.registry
        self.address = str(self.registry.address)
        self.start = int(system.deployment.blocks.get("ParticipantRegistry", 0))
        self.state = RegistryState(frozenset(system.role(role) for role in STAFF_ROLES))
        self._events: dict[str, str] = {}
        for item in self.registry.abi:
            if item.get("type") == "event" and item.get("name") in EVENTS:
                topic = event_abi_to_log_topic(item)  # type: ignore[arg-type]
                self._events["0x" + topic.hex()] = str(item.get("name"))

    def advance(self, to_block: int) -> set[str]:
        """Folds events up to `to_block`; returns the accounts whose permission may have changed
        (every account seen, on the first call)."""
        touched: set[str] = set()
        first = max(self.state.block + 1, self.start)
        w3 = self.system.chain.w3
        for lo in range(first, to_block + 1, LOG_CHUNK):
            hi = min(lo + LOG_CHUNK - 1, to_block)
            logs = w3.eth.get_logs({"address": self.address, "fromBlock": lo, "toBlock": hi})  # type: ignore[typeddict-item]
            for log in sorted(logs, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
                topics = log["topics"]
                if not topics:
                    continue
                name = self._events.get("0x" + bytes(topics[0]).hex())
                if name is None:
                    continue
                decoded = getattr(self.registry.events, name)().process_log(log)
                account = self.state.apply(name, dict(decoded["args"]))
                if account is not None:
                    touched.add(account)
            self.state.block = hi  # a retry after a fault resumes here (the fold is idempotent)
        self.state.block = max(self.state.block, to_block)
        self._check(touched, to_block)
        return touched

    def _check(self, accounts: Iterable[str], block: int) -> None:
        """Each changed account's replayed permission equals `transactionAllowed` at `block`."""
        for account in sorted(accounts):
            fn = self.registry.functions.transactionAllowed(account, ZERO, 0, 0, 0, b"")
            on_chain = bool(fn.call(block_identifier=block))
            if on_chain != self.state.allowed(account):
                raise AddressBookMismatch(
                    f"the registry at {self.address} says transactionAllowed({account}) is "
                    f"{on_chain} at block {block} but its events say {not on_chain}: "
                    "the address book does not name our registry"
                )
