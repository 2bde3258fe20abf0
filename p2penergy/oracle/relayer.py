"""The relayer: submits pending outbox readings in batches and records what the chain said.

A reading is marked `submitted` only from a confirmed receipt (a `ReadingsRecorded` record, or a
`ReadingSkipped` event whose reason is `ReadingsAlreadyRecorded`: the chain has it already, e.g.
from a submission whose receipt we never saw). Any other skip marks it `rejected` with the
decoded error name. While the node is unreachable nothing is marked and the batch is retried.

A pass sends every due batch first, with consecutive nonces, then waits for the receipts in
order: the node mines (and writes to disk) many transactions at once instead of one per round
trip. `send` and `collect` are the two halves of a pass for a caller that pipelines: it signs
the next readings while the transactions of the previous ones are pending, and collects their
receipts later. A reading in flight is not sent again while its receipt is awaited; when
collecting fails (the node went away, a receipt never came) the relayer forgets what was in
flight, and the readings, still pending in the outbox, are sent again by the next pass, which
the chain answers with `ReadingsAlreadyRecorded` for those it has (as before pipelining).

A batch goes to `submitPacked`: 112 bytes per reading (six uint64 fields and the EIP-2098
compact signature) instead of `submit`'s 288-byte ABI tuple, the same EIP-712 signatures and the
same checks and events for less calldata and decoding gas. The calldata is encoded here and the
outcome read from the events' indexed topics, without web3's contract machinery (the same
outcome, tested), as the relayer is the oracle's hot path; on a JSON-RPC node the receipts are
read as the node sends them (web3's result formatters checksum and wrap every one of a batch's
thousands of logs, which took longer than the node took to mine the batch).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic, function_abi_to_4byte_selector
from hexbytes import HexBytes
from web3.exceptions import TimeExhausted, TransactionNotFound
from web3.types import RPCEndpoint, TxReceipt

from p2penergy._retry import next_block_time
from p2penergy.chain.deploy import System
from p2penergy.chain.errors import decode_revert
from p2penergy.chain.tx import call, fees, send_only
from p2penergy.domain.slots import SlotGrid
from p2penergy.exceptions import TransactionFailed
from p2penergy.oracle.outbox import PENDING, REJECTED, SUBMITTED, Entry, Outbox
from p2penergy.oracle.reading import pack_batch
from p2penergy.oracle.recorded import unpack_recorded

log = logging.getLogger(__name__)

ALREADY_RECORDED = "ReadingsAlreadyRecorded"
OUTSIDE_WINDOW = "ReadingsOutsideWindow"
DEFAULT_BATCH = 50
# The relayer sends `submitPacked` with a fixed gas limit sized from the gas benchmarks instead
# of an estimate. The dearest reading is the first reading of a meter never prepared
# (`MeterReadings.prepareMeters`, which registration through RegistryClient sends) whose import
# or export outgrows the owner's 14-bit compact lane in a slot that opens both of the owner's
# energy words, compact and wide: about 86,500 gas (tests/contracts/test_readings.py checks it
# stays below this reserve); a prepared meter's dearest is about 69,500, a household's first
# reading about 46,100 and the steady case 31,238 (benchmarks/gas-snapshot.json). 95,000 per
# reading leaves about 9 % headroom on the worst case, and the 100,000 for the transaction covers
# its 21,000 intrinsic gas and the first reading's cold certificate account, the calldata's 112
# bytes a reading being counted in the per-reading figure. An estimate is only
# as good as the block it was made against: a reading whose window opened between estimate and
# inclusion takes the costlier "record" path instead of the "skip" one, and the transaction ran
# out of gas. Gas *used* (what is paid) does not depend on the limit; the limit decides how many
# readings one block can take (a block of 30,029,122 gas: 315 readings in one transaction).
SUBMIT_GAS_PER_READING = 95_000
SUBMIT_GAS_BASE = 100_000
RECEIPT_POLL = 0.02  # seconds between receipt polls on a JSON-RPC node
RECEIPT_TIMEOUT = 120.0  # seconds a receipt may take before the pass gives up (transient)


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

    def add(self, other: RelayResult) -> None:
        self.submitted += other.submitted
        self.rejected += other.rejected
        self.transactions += other.transactions
        for name, n in other.reasons.items():
            self.reasons[name] = self.reasons.get(name, 0) + n


@dataclass(frozen=True)
class InFlight:
    """A sent `submitPacked` whose receipt is not in yet."""

    chunk: list[Entry]
    tx_hash: bytes
    nonce: int


def _topic(value: Any) -> bytes:
    """A topic or data field as bytes, from web3's HexBytes or a node's hex string."""
    return bytes(HexBytes(value))


def _int(value: Any) -> int:
    """A quantity from a web3 receipt (int) or a node's (hex string)."""
    return value if isinstance(value, int) else int(str(value), 16)


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
        self._in_flight: list[InFlight] = []
        self._next_nonce: int | None = None  # while transactions are in flight
        self._chain_time: int | None = None  # the next block's time when last asked

    def batch_gas_limit(self, readings: int) -> int:
        """The gas limit a `submit` of `readings` readings is sent with."""
        if self.gas_limit is not None:
            return self.gas_limit
        if self._block_gas_limit is None:
            latest = self.system.chain.w3.eth.get_block("latest")
            self._block_gas_limit = int(latest["gasLimit"])
        return submit_gas_limit(readings, self._block_gas_limit)

    @property
    def in_flight(self) -> int:
        """Transactions sent whose receipts have not been collected."""
        return len(self._in_flight)

    def due(self) -> list[Entry]:
        """Pending readings whose slot has ended by the next block's time (earlier ones would be
        skipped as too early), less those in a transaction still in flight.

        Chain time only moves on, so the time read last is asked again only when a pending
        reading's slot ends after it: a backlog of ended slots costs the node no round trip.
        A reading sent too early all the same (the chain was rewound) is skipped by the
        contract as outside its window, kept pending, and makes the next pass read the time.
        """
        flying = {entry.key for sent in self._in_flight for entry in sent.chunk}
        pending = self.outbox.pending(exclude=flying)
        if not pending:
            return []
        epoch, length = self.grid.epoch, self.grid.slot_length
        last_end = epoch + (pending[-1].signed.reading.slot + 1) * length  # (slot, meter) order
        if self._chain_time is None or self._chain_time < last_end:
            self._chain_time = next_block_time(self.system.chain)
        now = self._chain_time
        return [e for e in pending if epoch + (e.signed.reading.slot + 1) * length <= now]

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
        try:
            self.send()
        except Exception:  # confirm what went out before it, then raise it
            self.collect(on_batch=on_batch)
            raise
        return self.collect(on_batch=on_batch)

    def send(self, *, full_only: bool = False) -> int:
        """Sends every due reading not already in flight, `batch_size` per transaction, without
        waiting for receipts (`collect` gets them); returns how many transactions went out.
        With `full_only`, a last batch smaller than `batch_size` is kept for a later call (a
        caller catching up on a backlog fills its transactions; `relay` sends everything).

        The nonce is the node's pending count when nothing is in flight, else the one after the
        last sent. A send that fails leaves what went out before it in flight and raises; the
        next `send` re-reads the nonce from the node once those are collected.
        """
        due = self.due()
        chunks = [due[i : i + self.batch_size] for i in range(0, len(due), self.batch_size)]
        if full_only and chunks and len(chunks[-1]) < self.batch_size:
            chunks.pop()
        if not chunks:
            return 0
        chain = self.system.chain
        common: dict[str, Any] = {
            "to": self.system.readings.address,
            "value": 0,
            "chainId": chain.chain_id,
            **fees(chain),
        }
        nonce = self._next_nonce if self._in_flight else None
        if nonce is None:
            nonce = int(chain.w3.eth.get_transaction_count(self.account.address, "pending"))
        self.outbox.count_attempt([e.key for chunk in chunks for e in chunk])
        sent = 0
        for chunk in chunks:
            tx: dict[str, Any] = {
                **common,
                "data": self.calldata(chunk),
                "gas": self.batch_gas_limit(len(chunk)),
                "nonce": nonce,
            }
            try:
                tx_hash = send_only(chain, self.account, tx)
            except Exception:
                self._next_nonce = None  # the node says what comes next
                raise
            self._in_flight.append(InFlight(chunk, tx_hash, nonce))
            nonce += 1
            sent += 1
            self._next_nonce = nonce
        return sent

    def collect(
        self,
        *,
        wait: bool = True,
        on_batch: Callable[[RelayResult], None] | None = None,
    ) -> RelayResult:
        """Records the outcome of the transactions in flight from their receipts, in the order
        they were sent; with `wait=False`, only of those whose receipts are in already (it stops
        at the first that is not). `on_batch` is called per confirmed transaction."""
        total = RelayResult()
        try:
            while self._in_flight:
                if not self._collect_one(total, wait=wait, on_batch=on_batch):
                    break
        except BaseException:
            self._in_flight.clear()  # still pending in the outbox: the next pass sends them
            self._next_nonce = None
            raise
        return total

    def _collect_one(
        self, total: RelayResult, *, wait: bool, on_batch: Callable[[RelayResult], None] | None
    ) -> bool:
        """Collects the oldest transaction in flight; False when its receipt is not in yet."""
        sent = self._in_flight[0]
        receipt = self._receipt(sent.tx_hash, wait=wait)
        if receipt is None:
            return False
        self._in_flight.pop(0)
        if _int(receipt["status"]) != 1:
            # No pre-flight call with a fixed limit: ask the node why (a refused relayer
            # comes back by name); one that fails for another reason stays TransactionFailed.
            call(
                self.system.readings.functions.submitPacked(self._packed(sent.chunk)),
                self.account.address,
            )
            raise TransactionFailed("0x" + sent.tx_hash.hex(), receipt)
        result = self._confirm(sent.chunk, receipt)
        total.add(result)
        if on_batch is not None:
            on_batch(result)
        return True

    def _receipt(self, tx_hash: bytes, *, wait: bool) -> Mapping[str, Any] | None:
        """The receipt of `tx_hash`, or None when it is not in and `wait` is False. On a JSON-RPC
        node it is the node's own JSON (hex strings), unformatted; an error answer goes through
        web3's path, which raises as every other call does."""
        chain = self.system.chain
        if chain.kind == "embedded":
            if not wait:
                try:
                    return chain.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
                except TransactionNotFound:
                    return None
            return chain.w3.eth.wait_for_transaction_receipt(
                HexBytes(tx_hash), timeout=RECEIPT_TIMEOUT
            )
        deadline = time.monotonic() + RECEIPT_TIMEOUT
        while True:
            answer = chain.w3.provider.make_request(
                RPCEndpoint("eth_getTransactionReceipt"), ["0x" + tx_hash.hex()]
            )
            if "error" in answer:
                return chain.w3.eth.wait_for_transaction_receipt(
                    HexBytes(tx_hash), timeout=RECEIPT_TIMEOUT
                )
            result = answer.get("result")
            if isinstance(result, Mapping):
                return result
            if not wait:
                return None
            if time.monotonic() >= deadline:
                raise TimeExhausted(f"no receipt for 0x{tx_hash.hex()} in {RECEIPT_TIMEOUT} s")
            time.sleep(RECEIPT_POLL)

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

    def outcomes(self, receipt: TxReceipt | Mapping[str, Any]) -> dict[tuple[int, int], str | None]:
        """(meterId, slot) -> None for each reading a `ReadingsRecorded` of the readings contract
        in `receipt` (web3's, or a node's JSON) carries, or the decoded reason of its
        `ReadingSkipped`; read from the topics and the event data directly."""
        if self._topics is None:
            abi = self.system.readings.abi
            self._topics = (
                event_abi_to_log_topic(_abi_entry(abi, "event", "ReadingsRecorded")),
                event_abi_to_log_topic(_abi_entry(abi, "event", "ReadingSkipped")),
            )
        recorded, skipped = self._topics
        address = self.system.readings.address.lower()
        outcome: dict[tuple[int, int], str | None] = {}
        for event in receipt["logs"]:
            topics = event["topics"]
            if not topics or str(event["address"]).lower() != address:
                continue
            first = _topic(topics[0])
            if first == recorded:
                # ABI `bytes`: its offset word, its length word, then the records.
                data = _topic(event["data"])
                length = int.from_bytes(data[32:64], "big")
                for one in unpack_recorded(data[64 : 64 + length]):
                    outcome[(one.meter_id, one.slot)] = None
            elif first == skipped and len(topics) >= 3:
                key = (
                    int.from_bytes(_topic(topics[1]), "big"),
                    int.from_bytes(_topic(topics[2]), "big"),
                )
                # `reason` is a bytes4: left-aligned in the event's one data word
                outcome[key] = reason_name(_topic(event["data"])[:4])
        return outcome

    def _confirm(self, chunk: list[Entry], receipt: Mapping[str, Any]) -> RelayResult:
        tx_hash = "0x" + _topic(receipt["transactionHash"]).hex()
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
                    block = self.system.chain.w3.eth.get_block(_int(receipt["blockNumber"]))
                    mined_at = int(block["timestamp"])
                if mined_at < self.grid.opens_at(entry.signed.reading.slot):
                    self._chain_time = None  # ahead of the chain (rewound): ask again
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


__all__ = ["PENDING", "InFlight", "RelayResult", "Relayer", "grid_of"]
