"""The keeper: clears each slot after gate closure, settles it after delivery, expires stale ones.

Everything it submits is checked on chain, so a keeper needs no trust; and everything it does is
idempotent: when another keeper got there first (the contract answers `MarketWrongSlotStatus`,
or our transaction reverts on chain because theirs landed first), the keeper re-reads the slot
and sees it done. Time is the next block's timestamp (`next_block_time`), never the local clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from eth_account.signers.local import LocalAccount
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from p2penergy._retry import RETRIED, Backoff, next_block_time
from p2penergy.chain.deploy import System
from p2penergy.chain.tx import call, events, transact
from p2penergy.contracts.market import MarketClient
from p2penergy.exceptions import ContractRevert, MarketError, TransactionFailed
from p2penergy.units import format_wh

log = logging.getLogger(__name__)

LOG_RANGE = 5_000  # blocks per eth_getLogs request


class Outcome(StrEnum):
    """What `step` did to a slot (the value is the word the CLI prints)."""

    CLEARED = "cleared"
    SETTLED = "settled"
    EXPIRED = "expired"
    DONE_BY_OTHER = "done by another keeper"
    WAITING = "waiting"
    FINISHED = "finished"
    RETRYING = "retrying"
    REFUSED = "refused"


# Errors that mean "not yet": the keeper's view of time is a block behind, or readings are due.
_NOT_YET = ("MarketGateOpen", "MarketSettlementTooEarly")
# Errors that mean "someone else changed the slot": re-read it.
_RACED = ("MarketWrongSlotStatus", "MarketClearingDeadlinePassed")
_DEADLINE_PASSED = "MarketClearingDeadlinePassed"
_REVERTED_ON_CHAIN = "reverted on chain"
_DONE = frozenset({Outcome.FINISHED, Outcome.SETTLED, Outcome.EXPIRED})


@dataclass(frozen=True)
class Action:
    """What the keeper did (or found) for one slot in one pass; `slot_status` is the slot's
    status on chain when the outcome depends on it (done by another keeper)."""

    slot: int
    outcome: Outcome
    detail: str = ""
    slot_status: str | None = None

    @property
    def finished(self) -> bool:
        """True when nothing is left to do for the slot: the keeper stops watching it."""
        return self.outcome in _DONE or (
            self.outcome is Outcome.DONE_BY_OTHER and self.slot_status == "settled"
        )


def after_race(slot: int, before: str, now: str, why: str) -> Action:
    """What a refused or reverted step means once the slot is read again: its status moved
    from `before` to `now` (another keeper did it), or not. `why` is the revert's name, or
    "reverted on chain" for a transaction mined as failed."""
    if now != before:
        return Action(slot, Outcome.DONE_BY_OTHER, f"{why}; slot is {now}", slot_status=now)
    if why == _DEADLINE_PASSED:
        return Action(slot, Outcome.WAITING, why)  # expire on the next pass
    return Action(slot, Outcome.RETRYING, f"{why} but the slot is still {now}")


class Keeper:
    """Watches the market's slots for one deployment and acts for them with `account`."""

    def __init__(
        self,
        system: System,
        account: LocalAccount,
        *,
        chunk: int = 100,
        slots: Iterable[int] | None = None,
        gas_limit: int | None = None,
    ) -> None:
        self.system = system
        # A fixed gas limit skips the pre-flight call (on the embedded chain) or the estimate
        # (over JSON-RPC) before each transaction; a revert is then mined as a failed
        # transaction, and `_send` asks the node why, so refusals keep their names.
        self.gas_limit = gas_limit
        self.account = account
        self.market = MarketClient(system)
        self.chunk = chunk
        self._fixed = slots is not None
        self.watched: set[int] = set(slots or ())
        self._next_block = int(system.deployment.blocks.get("EnergyMarket", 0))
        self._length = int(system.readings.functions.timing().call()[1])

    def discover(self) -> set[int]:
        """Adds the slots of orders placed since the last scan (OrderPlaced events)."""
        if self._fixed:
            return self.watched
        head = int(self.system.chain.w3.eth.block_number)
        event = self.system.market.events.OrderPlaced
        while self._next_block <= head:
            to_block = min(self._next_block + LOG_RANGE - 1, head)
            for log_ in event.get_logs(from_block=self._next_block, to_block=to_block):
                self.watched.add(int(log_["args"]["slot"]))
            self._next_block = to_block + 1
        return self.watched

    def step(self, slot: int) -> Action:
        """Does what is due for `slot` now: clear, settle, expire, or nothing."""
        now = next_block_time(self.system.chain)
        state = self.market.clearing(slot)
        start, gate, deadline = self.market.slot_times(slot)
        if state.status == "settled":
            return Action(slot, Outcome.FINISHED)
        if state.status == "open":
            if now < gate:
                return Action(slot, Outcome.WAITING, f"gate closes at {gate}")
            if now < deadline:
                return self._guarded(slot, "open", self._clear)
            return self._guarded(slot, "open", self._settle)  # never cleared: expire
        if state.volume_wh and now < start + self._length:
            return Action(slot, Outcome.WAITING, f"delivery ends at {start + self._length}")
        return self._guarded(slot, state.status, self._settle)

    def _guarded(self, slot: int, status: str, act: Callable[[int], Action]) -> Action:
        try:
            return act(slot)
        except MarketError as exc:
            if exc.name in _NOT_YET:
                return Action(slot, Outcome.WAITING, exc.name)
            if exc.name in _RACED:
                return self._reread(slot, status, exc.name)
            raise
        except TransactionFailed:
            # Our transaction passed estimation but reverted when mined: another keeper's
            # landed first in the same block. The chain says what happened.
            return self._reread(slot, status, _REVERTED_ON_CHAIN)

    def _reread(self, slot: int, status: str, why: str) -> Action:
        return after_race(slot, status, self.market.clearing(slot).status, why)

    def _clear(self, slot: int) -> Action:
        result = self.market.compute_clearing(slot)
        self._send(self.system.market.functions.clear(slot, *result.description))
        # in the deployment's currency, as `balance` and `statement` show money
        price = self.system.deployment.money.price(result.price)
        return Action(slot, Outcome.CLEARED, f"{format_wh(result.volume_wh)} at {price}")

    def _settle(self, slot: int) -> Action:
        contract = self.system.market
        transactions = 0
        while True:
            receipt = self._send(contract.functions.settle(slot, self.chunk))
            transactions += 1
            done = events(contract, "SlotSettled", receipt)
            if done:
                expired = bool(done[0]["args"]["expired"])
                outcome = Outcome.EXPIRED if expired else Outcome.SETTLED
                return Action(slot, outcome, f"{transactions} tx")

    def _send(self, fn: ContractFunction) -> TxReceipt:
        """Sends `fn`; with a fixed gas limit there is no pre-flight call, so a node that mines
        a reverting transaction (status 0) is asked why by calling `fn` again: a revert then
        comes back by name, like the one the pre-flight call would have raised."""
        try:
            return transact(self.system.chain, self.account, fn, gas=self.gas_limit)
        except TransactionFailed:
            if self.gas_limit is None:
                raise
            call(fn, self.account.address)  # raises the named revert if it still reverts
            raise

    def run_once(self, on_action: Callable[[Action], None] | None = None) -> list[Action]:
        """One pass over every watched slot; finished slots are dropped from the watch."""
        actions = []
        for slot in sorted(self.discover()):
            try:
                action = self.step(slot)
            except ContractRevert as exc:
                # One slot the contract refuses (a bug, a changed rule) must not stop the
                # keeper from serving the others; it is reported and tried again next pass.
                action = Action(slot, Outcome.REFUSED, str(exc))
            if action.finished:
                self.watched.discard(slot)
            actions.append(action)
            if on_action is not None and action.outcome is not Outcome.WAITING:
                on_action(action)
        return actions

    def run(
        self,
        *,
        stop: threading.Event,
        once: bool = False,
        interval: float = 5.0,
        backoff: Backoff | None = None,
        on_action: Callable[[Action], None] | None = None,
        on_retry: Callable[[BaseException, float], None] | None = None,
        health: Callable[[], None] | None = None,
    ) -> None:
        """Passes over the slots every `interval` seconds until `stop` (one pass with `once`);
        backs off while the node is unreachable. `health()` runs before each pass: it raises to
        stop the keeper (the chain is not the one it was started for, gas money ran out)."""
        backoff = backoff or Backoff()

        def one_pass() -> list[Action]:
            if health is not None:
                health()
            return self.run_once(on_action)

        while not stop.is_set():
            if backoff.attempt(one_pass, stop, on_retry=on_retry, health=health) is RETRIED:
                continue
            if once:
                return
            stop.wait(interval)
