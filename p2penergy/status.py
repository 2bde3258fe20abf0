"""What an operator asks first: is the chain moving, are slots being cleared and settled, are
readings flowing, and can the services still pay for gas (`p2penergy status`)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from p2penergy.chain.deploy import System

LOG_WINDOW = 5_000  # blocks per eth_getLogs request while scanning back from the head


@dataclass(frozen=True)
class AccountStatus:
    """A service account's gas money; `low` below the warning threshold."""

    role: str
    address: str
    balance_wei: int
    low: bool


@dataclass(frozen=True)
class Status:
    """One look at a deployment; `as_dict` is the `--json` document."""

    rpc: str | None
    chain_id: int
    head_block: int
    head_timestamp: int
    head_age_s: int
    last_cleared_slot: int | None
    last_settled_slot: int | None
    current_slot: int | None  # None before slot 0 starts
    current_slot_starts_at: int | None
    current_slot_gate_closes_at: int | None
    next_gate_slot: int
    next_gate_closes_at: int
    outbox: dict[str, Any] | None
    accounts: list[AccountStatus] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def last_event_slot(system: System, name: str, head: int) -> int | None:
    """The slot of the newest `name` event (SlotCleared, SlotSettled): scans back from the head
    in windows, so the cost follows how long ago it happened, not the chain's age."""
    event = getattr(system.market.events, name)
    first = int(system.deployment.blocks.get("EnergyMarket", 0))
    high = head
    while high >= first:
        low = max(first, high - LOG_WINDOW + 1)
        logs = event.get_logs(from_block=low, to_block=high)
        if logs:
            return max(int(log_["args"]["slot"]) for log_ in logs)
        high = low - 1
    return None


def read_status(
    system: System,
    *,
    accounts: list[tuple[str, str]],
    warn_below_wei: int,
    outbox: Path | None = None,
    now: float | None = None,
) -> Status:
    """Reads the chain, the market's slot events, the outbox file and each (role, address)."""
    from p2penergy.contracts.market import MarketClient

    chain = system.chain
    w3 = chain.w3
    head = w3.eth.get_block("latest")
    number, timestamp = int(head["number"]), int(head["timestamp"])
    epoch, length, _ = system.readings.functions.timing().call()
    epoch, length = int(epoch), int(length)
    market = MarketClient(system)
    current = (timestamp - epoch) // length if timestamp >= epoch else None
    start = gate = None
    if current is not None:
        start, gate, _ = market.slot_times(current)
    next_gate_slot = 0 if current is None else current
    next_gate = market.slot_times(next_gate_slot)[1]
    while next_gate <= timestamp:
        next_gate_slot += 1
        next_gate = market.slot_times(next_gate_slot)[1]
    rows = []
    for role, address in accounts:
        balance = int(w3.eth.get_balance(address))  # type: ignore[arg-type]
        rows.append(AccountStatus(role, address, balance, balance < warn_below_wei))
    return Status(
        rpc=chain.url,
        chain_id=chain.chain_id,
        head_block=number,
        head_timestamp=timestamp,
        head_age_s=max(0, int((now if now is not None else time.time()) - timestamp)),
        last_cleared_slot=last_event_slot(system, "SlotCleared", number),
        last_settled_slot=last_event_slot(system, "SlotSettled", number),
        current_slot=current,
        current_slot_starts_at=start,
        current_slot_gate_closes_at=gate,
        next_gate_slot=next_gate_slot,
        next_gate_closes_at=next_gate,
        outbox=outbox_status(outbox) if outbox is not None else None,
        accounts=rows,
    )


def outbox_status(path: Path) -> dict[str, Any]:
    """The oracle outbox's backlog: pending (not yet on chain) and failed (rejected) counts."""
    from p2penergy.exceptions import OracleError
    from p2penergy.oracle.outbox import PENDING, REJECTED, SUBMITTED, Outbox

    if not path.is_file():
        raise OracleError(f"no outbox at {path}")
    with Outbox(path) as store:
        counts = store.counts()
    return {
        "path": str(path),
        "pending": counts[PENDING],
        "failed": counts[REJECTED],
        "submitted": counts[SUBMITTED],
    }
