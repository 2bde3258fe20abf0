"""Governance client: schedule, execute and cancel delayed changes in the timelock.

Every change of roles, tariffs, meter keys, meter status, critical loads and outage
declarations is a call the `Governance` timelock makes: a proposer (the admin or the operator)
schedules it, it is public as a `CallScheduled` event for at least the minimum delay, the
guardian may cancel it meanwhile, and a proposer executes it once it is ready. Pending
operations are read back from the timelock's events, so any node can list them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from p2penergy.chain.deploy import SYSTEM, System
from p2penergy.chain.tx import call, events, transact
from p2penergy.exceptions import ChainError, UnknownOperation

NO_PREDECESSOR = bytes(32)
# TimelockController.OperationState, in declaration order.
STATES = ("unset", "waiting", "ready", "done")


@dataclass(frozen=True)
class Operation:
    """One scheduled call of the timelock, as its events describe it."""

    operation_id: str  # 0x-prefixed bytes32
    target: str
    value: int
    data: bytes
    predecessor: bytes
    salt: bytes
    ready_at: int  # unix seconds from which it may be executed
    state: str  # "waiting" | "ready" | "done" | "cancelled"
    description: str  # e.g. "EnergyMarket.setTariffs(70000, 310000, 25000)"
    scheduled_block: int

    @property
    def pending(self) -> bool:
        """Scheduled and neither executed nor cancelled."""
        return self.state in ("waiting", "ready")


@dataclass(frozen=True)
class Scheduled:
    """What `schedule` returns: the operation id and when it becomes executable."""

    operation_id: str
    ready_at: int
    receipt: TxReceipt


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class GovernanceClient:
    """Schedules, executes, cancels and lists the governance timelock's operations."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.chain = system.chain
        self.contract = system.governance

    def min_delay(self) -> int:
        """The shortest delay of a scheduled call, in seconds."""
        return int(call(self.contract.functions.getMinDelay()))

    def operation_id(
        self, fn: ContractFunction, salt: bytes, predecessor: bytes = NO_PREDECESSOR
    ) -> str:
        """The id the timelock gives the call `fn` scheduled with `salt` and `predecessor`."""
        target, data = self._encode(fn)
        op = self.contract.functions.hashOperation(target, 0, data, predecessor, salt)
        return _hex(call(op))

    def schedule(
        self,
        proposer: LocalAccount,
        fn: ContractFunction,
        *,
        delay: int | None = None,
        salt: bytes | None = None,
    ) -> Scheduled:
        """Schedules `fn` (a call on one of the system's contracts) after `delay` seconds.

        The delay defaults to the timelock's minimum; a longer one is allowed. A fresh random
        salt makes each scheduling its own operation, so the same change can be proposed again.
        """
        target, data = self._encode(fn)
        salt = salt if salt is not None else os.urandom(32)
        delay = self.min_delay() if delay is None else delay
        schedule = self.contract.functions.schedule(target, 0, data, NO_PREDECESSOR, salt, delay)
        receipt = transact(self.chain, proposer, schedule)
        (event,) = events(self.contract, "CallScheduled", receipt)
        operation_id = _hex(event["args"]["id"])
        return Scheduled(operation_id, self.ready_at(operation_id), receipt)

    def ready_at(self, operation_id: str) -> int:
        """The unix time from which `operation_id` may be executed (0: unknown, 1: done)."""
        return int(call(self.contract.functions.getTimestamp(bytes.fromhex(operation_id[2:]))))

    def execute(self, executor: LocalAccount, operation_id: str) -> TxReceipt:
        """Executes the ready operation `operation_id` (a proposer's transaction)."""
        op = self.operation(operation_id)
        fn = self.contract.functions.execute(op.target, op.value, op.data, op.predecessor, op.salt)
        return transact(self.chain, executor, fn)

    def cancel(self, guardian: LocalAccount, operation_id: str) -> TxReceipt:
        """Cancels the pending operation `operation_id` (the guardian's transaction)."""
        fn = self.contract.functions.cancel(bytes.fromhex(operation_id[2:]))
        return transact(self.chain, guardian, fn)

    def enact(
        self, proposer: LocalAccount, fn: ContractFunction, executor: LocalAccount | None = None
    ) -> TxReceipt:
        """Schedules `fn`, moves chain time past the delay and executes it (dev chains only).

        For tests, the simulation and the demo: on a real network time cannot be moved, and
        a change takes effect only after its delay has really passed.
        """
        scheduled = self.schedule(proposer, fn)
        self.chain.set_time(scheduled.ready_at)
        return self.execute(executor or proposer, scheduled.operation_id)

    # ── reading the timelock's events ──

    def operations(self) -> list[Operation]:
        """Every call ever scheduled, oldest first, with its current state."""
        start = self.system.deployment.blocks.get("Governance", 0)
        scheduled = self._logs("CallScheduled", start)
        salts = {
            _hex(e["args"]["id"]): bytes(e["args"]["salt"]) for e in self._logs("CallSalt", start)
        }
        executed = {_hex(e["args"]["id"]) for e in self._logs("CallExecuted", start)}
        cancelled = {_hex(e["args"]["id"]) for e in self._logs("Cancelled", start)}
        result = []
        for event in scheduled:
            args = event["args"]
            operation_id = _hex(args["id"])
            if operation_id in executed:
                state = "done"
            elif operation_id in cancelled:
                state = "cancelled"
            else:
                state = STATES[int(call(self.contract.functions.getOperationState(args["id"])))]
            ready_at = int(self.chain.w3.eth.get_block(event["blockNumber"])["timestamp"])
            result.append(
                Operation(
                    operation_id=operation_id,
                    target=to_checksum_address(args["target"]),
                    value=int(args["value"]),
                    data=bytes(args["data"]),
                    predecessor=bytes(args["predecessor"]),
                    salt=salts.get(operation_id, bytes(32)),
                    ready_at=ready_at + int(args["delay"]),
                    state=state,
                    description=self.describe(args["target"], bytes(args["data"])),
                    scheduled_block=int(event["blockNumber"]),
                )
            )
        return result

    def pending(self) -> list[Operation]:
        """The scheduled calls neither executed nor cancelled yet."""
        return [op for op in self.operations() if op.pending]

    def operation(self, operation_id: str) -> Operation:
        """The scheduled call `operation_id`; `UnknownOperation` when none was scheduled."""
        wanted = operation_id.lower()
        for op in self.operations():
            if op.operation_id == wanted:
                return op
        raise UnknownOperation(operation_id)

    def describe(self, target: str, data: bytes) -> str:
        """`Contract.function(args)` when `target` is one of the system's contracts."""
        for name in SYSTEM:
            address = self.system.deployment.addresses.get(name)
            if address is None or address.lower() != str(target).lower():
                continue
            try:
                fn, args = self.system.contract(name).decode_function_input(data)
            except ValueError:
                break
            rendered = ", ".join(_render(v) for v in args.values())
            return f"{name}.{fn.fn_name}({rendered})"
        return f"{to_checksum_address(target)} 0x{data.hex()}"

    def _encode(self, fn: ContractFunction) -> tuple[str, bytes]:
        if fn.address is None:
            raise ChainError("a governed call needs a deployed contract")
        return str(fn.address), bytes.fromhex(fn._encode_transaction_data()[2:])

    def _logs(self, name: str, start: int) -> list[Any]:
        event = getattr(self.contract.events, name)
        return list(event.get_logs(from_block=start, to_block="latest"))


def _render(value: Any) -> str:
    return _hex(value) if isinstance(value, bytes) else str(value)
