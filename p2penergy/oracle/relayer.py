"""The relayer: submits pending outbox readings in batches and records what the chain said.

A reading is marked `submitted` only from a confirmed receipt (a `ReadingRecorded` event, or a
`ReadingSkipped` event whose reason is `ReadingsAlreadyRecorded`: the chain has it already, e.g.
from a submission whose receipt we never saw). Any other skip marks it `rejected` with the
decoded error name. While the node is unreachable nothing is marked and the batch is retried.

A pass sends every due batch first, with consecutive nonces, then waits for the receipts in
order: the node mines (and writes to disk) many transactions at once instead of one per round
trip. A batch goes to `submitPacked`: 112 bytes per reading (six uint64 fields and the EIP-2098
compact signature) instead of `submit`'s 288-byte ABI tuple, the same EIP-712 signatures and the
same checks and events for less calldata and decoding gas. The calldata is encoded here and the
outcome read from the events' indexed topics, without web3's contract machinery (the same
outcome, tested), as the relayer is the oracle's hot path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic, function_abi_to_4byte_selector
from web3.types import TxReceipt

from p2penergy._retry import next_block_time
from p2penergy.chain.deploy import System
from p2penergy.chain.errors import decode_revert
from p2penergy.chain.tx import call, fees, send_only, wait_receipt
from p2penergy.domain.slots import SlotGrid
from p2penergy.exceptions import TransactionFailed
from p2penergy.oracle.outbox import PENDING, REJECTED, SUBMITTED, Entry, Outbox
from p2penergy.oracle.reading import pack_batch

log = logging.getLogger(__name__)

ALREADY_RECORDED = "ReadingsAlreadyRecorded"
OUTSIDE_WINDOW = "ReadingsOutsideWindow"
DEFAULT_BATCH = 50
# The relayer sends `submitPacked` with a fixed gas limit sized from the gas benchmarks instead
# of an estimate: the costliest reading measured (benchmarks/gas-snapshot.json, "submit 100
# readings of new meters (all exporting)") is ~63,300 gas; 100,000 per reading plus 100,000 for
# the transaction leaves over 50 % headroom. An estimate is only as good as the block it was
# made against: a reading whose window opened between estimate and inclusion takes the costlier
# "record" path instead of the "skip" one, and the transaction ran out of gas. Gas *used* (what
# is paid) does not depend on the limit.
SUBMIT_GAS_PER_READING = 100_000
SUBMIT_GAS_BASE = 100_000


def submit_gas_limit(readings: int, block_gas_limit: int) -> int:
    """The fixed gas limit of a `submit` of `readings` readings (at most the block's)."""
    return min(SUBMIT_GAS_BASE + SUBMIT_GAS_PER_READING * readings, block_gas_limit)


def grid_of(system: System) -> SlotGrid:
    """The deployment's slot grid, read from MeterReadings.timing()."""
    epoch, length, window = system.readings.functions.timing().call()
    return SlotGrid(int(epoch), int(length), window=int(window))


def _abi_entry(abi: Sequence[Any], kind: str, name: str) -> Any:
    [entry] = [e for e in abi if e.get("type") == kind and e.get("name") == name]
    return entry


def reason_name(selector: bytes) -> str:
    """The custom-error name (with arguments, when the selector alone names them) of a skip."""
    return decode_revert(bytes(selector)).name


@dataclass
class RelayResult:
    """What one pass did."""

    submitted: int = 0
    rejected: int = 0
    transactions: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class Relayer:
    """Relays one outbox through `account` (any registered participant or staff key)."""

    def __init__(
        self,
        system: System,
        account: LocalAccount,
        outbox: Outbox,
        *,
        batch_size: int = DEFAULT_BATCH,
        grid: SlotGrid | None = None,
        gas_limit: int | None = None,
    ) -> None:
        self.system = system
        self.account = account
        self.outbox = outbox
        self.batch_size = batch_size
        self.grid = grid or grid_of(system)
        # `submit` skips bad readings instead of reverting, so a fixed limit is safe; None means
        # `submit_gas_limit` of the batch (see SUBMIT_GAS_PER_READING).
        self.gas_limit = gas_limit
        self._block_gas_limit: int | None = None
        self._submit_abi: tuple[bytes, list[str]] | None = None
        self._topics: tuple[bytes, bytes] | None = None

    def batch_gas_limit(self, readings: int) -> int:
        """The gas limit a `submit` of `readings` readings is sent with."""
        if self.gas_limit is not None:
            return self.gas_limit
        if self._block_gas_limit is None:
            latest = self.system.chain.w3.eth.get_block("latest")
            self._block_gas_limit = int(latest["gasLimit"])
        return submit_gas_limit(readings, self._block_gas_limit)

    def due(self) -> list[Entry]:
        """Pending readings whose slot has ended (earlier ones would be skipped as too early)."""
        now = next_block_time(self.system.chain)
        return self.outbox.pending(
            opened_before=now, grid_start=(self.grid.epoch, self.grid.slot_length)
        )

    def relay(self, on_batch: Callable[[RelayResult], None] | None = None) -> RelayResult:
        """Submits every due reading, `batch_size` per transaction, and records each outcome
        from its receipt; `on_batch` is called per confirmed transaction.

        Every batch is sent first (consecutive nonces from the node's pending count, re-read on
        each pass, so a pass that failed half-way leaves no gap behind), then the receipts are
        collected in order. A transient error stops the pass: batches sent before it are still
        confirmed when their receipts can be had, and the error is raised; nothing is marked
        for a batch without a receipt, and the next pass resubmits it harmlessly (the chain has
        it already: `ReadingsAlreadyRecorded` counts as submitted).
        """
        total = RelayResult()
        due = self.due()
        if not due:
            return total
        chunks = [due[i : i + self.batch_size] for i in range(0, len(due), self.batch_size)]
        chain = self.system.chain
        common: dict[str, Any] = {
            "to": self.system.readings.address,
            "value": 0,
            "chainId": chain.chain_id,
            **fees(chain),
        }
        nonce = int(chain.w3.eth.get_transaction_count(self.account.address, "pending"))
        sent: list[tuple[list[Entry], bytes]] = []
        failure: Exception | None = None
        for chunk in chunks:
            self.outbox.count_attempt([e.key for e in chunk])
            tx: dict[str, Any] = {
                **common,
                "data": self.calldata(chunk),
                "gas": self.batch_gas_limit(len(chunk)),
                "nonce": nonce,
            }
            try:
                tx_hash = send_only(chain, self.account, tx)
            except Exception as exc:  # confirm what went out before it, then raise it
                failure = exc
                break
            sent.append((chunk, tx_hash))
            nonce += 1
        for chunk, tx_hash in sent:
            try:
                receipt = wait_receipt(chain, tx_hash)
            except TransactionFailed:
                # No pre-flight call with a fixed limit: ask the node why (a refused relayer
                # comes back by name); one that fails for another reason stays TransactionFailed.
                call(
                    self.system.readings.functions.submitPacked(self._packed(chunk)),
                    self.account.address,
                )
                raise
            result = self._confirm(chunk, receipt)
            total.submitted += result.submitted
            total.rejected += result.rejected
            total.transactions += result.transactions
            for name, n in result.reasons.items():
                total.reasons[name] = total.reasons.get(name, 0) + n
            if on_batch is not None:
                on_batch(result)
        if failure is not None:
            raise failure
        return total

    @staticmethod
    def _packed(chunk: list[Entry]) -> bytes:
        return pack_batch(e.signed for e in chunk)

    def calldata(self, chunk: list[Entry]) -> bytes:
        """The calldata of `submitPacked(chunk)`: the selector and the ABI-encoded `bytes` of the
        packed readings."""
        if self._submit_abi is None:
            entry = _abi_entry(self.system.readings.abi, "function", "submitPacked")
            types = [collapse_if_tuple(i) for i in entry["inputs"]]
            self._submit_abi = (function_abi_to_4byte_selector(entry), types)
        selector, types = self._submit_abi
        return selector + encode(types, [self._packed(chunk)])

    def outcomes(self, receipt: TxReceipt) -> dict[tuple[int, int], str | None]:
        """(meterId, slot) -> None for each `ReadingRecorded` of the readings contract in
        `receipt`, or the decoded reason of its `ReadingSkipped`; read from the indexed topics
        and the event data directly."""
        if self._topics is None:
            abi = self.system.readings.abi
            self._topics = (
                event_abi_to_log_topic(_abi_entry(abi, "event", "ReadingRecorded")),
                event_abi_to_log_topic(_abi_entry(abi, "event", "ReadingSkipped")),
            )
        recorded, skipped = self._topics
        address = self.system.readings.address.lower()
        outcome: dict[tuple[int, int], str | None] = {}
        for event in receipt["logs"]:
            topics = event["topics"]
            if len(topics) < 3 or str(event["address"]).lower() != address:
                continue
            first = bytes(topics[0])
            if first != recorded and first != skipped:
                continue
            key = (int.from_bytes(topics[1], "big"), int.from_bytes(topics[2], "big"))
            # `reason` is a bytes4: left-aligned in the event's one data word
            outcome[key] = None if first == recorded else reason_name(bytes(event["data"])[:4])
        return outcome

    def _confirm(self, chunk: list[Entry], receipt: TxReceipt) -> RelayResult:
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        outcome = self.outcomes(receipt)
        result = RelayResult(transactions=1)
        done, rejected = [], []
        mined_at: int | None = None
        for entry in chunk:
            if entry.key not in outcome:
                log.warning("reading %s not in the receipt of %s; kept pending", entry.key, tx_hash)
                continue
            reason = outcome[entry.key]
            if reason == OUTSIDE_WINDOW:
                if mined_at is None:
                    block = self.system.chain.w3.eth.get_block(receipt["blockNumber"])
                    mined_at = int(block["timestamp"])
                if mined_at < self.grid.opens_at(entry.signed.reading.slot):
                    continue  # sent before the slot ended (clock skew): not refused, retried
            if reason is None or reason == ALREADY_RECORDED:
                done.append(entry.key)
            else:
                rejected.append((entry.key, reason))
                result.reasons[reason] = result.reasons.get(reason, 0) + 1
        self.outbox.mark(done, SUBMITTED, tx_hash=tx_hash)
        for key, reason in rejected:
            self.outbox.mark([key], REJECTED, reason=reason, tx_hash=tx_hash)
        result.submitted, result.rejected = len(done), len(rejected)
        return result


__all__ = ["PENDING", "RelayResult", "Relayer", "grid_of"]
