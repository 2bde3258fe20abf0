"""The oracle: takes batches from sources, checks them, signs each reading with its meter's key,
stores it in the outbox, and relays the outbox; `run` loops until told to stop.

Checks that need context happen here, per row, before signing: the meter must be one whose key
this oracle holds, a different reading for the same (meter, slot) must not already be signed, and
the registers must fit the meter's neighbouring readings (cumulative counters never go back).
A row is either signed and stored, or reported; a batch's rows and its input key are committed
in one transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from coincurve import PrivateKey
from eth_account.signers.local import LocalAccount

from p2penergy._retry import RETRIED, Backoff
from p2penergy.chain.deploy import System
from p2penergy.domain.readings import Reading
from p2penergy.exceptions import OracleError
from p2penergy.oracle.outbox import Outbox, ReadingConflict
from p2penergy.oracle.reading import separator_of, sign_with_separator, signing_key
from p2penergy.oracle.relayer import Relayer, RelayResult
from p2penergy.oracle.sources import Batch, Problem, Source

log = logging.getLogger(__name__)


@dataclass
class IntakeResult:
    """What one batch gave: readings newly signed, already present, and problems."""

    added: int = 0
    already: int = 0
    problems: list[Problem] = field(default_factory=list)


def register_problem(reading: Reading, before: Reading | None, after: Reading | None) -> str | None:
    """Why `reading`'s registers do not fit its neighbours, or None when they do.

    Registers are at the end of a slot: the next reading's registers must be at least this one's
    plus the next slot's energy, and every register at least its own slot's energy.
    """
    r = reading
    if r.import_register_wh < r.import_wh or r.export_register_wh < r.export_wh:
        return "register is below the slot's own energy"
    if before is not None and (
        r.import_register_wh < before.import_register_wh + r.import_wh
        or r.export_register_wh < before.export_register_wh + r.export_wh
    ):
        return (
            f"register went backwards: slot {before.slot} ended at "
            f"{before.import_register_wh}/{before.export_register_wh} Wh (import/export), "
            f"slot {r.slot} reports {r.import_register_wh}/{r.export_register_wh} Wh"
        )
    if after is not None and (
        after.import_register_wh < r.import_register_wh + after.import_wh
        or after.export_register_wh < r.export_register_wh + after.export_wh
    ):
        return (
            f"register is above the later slot {after.slot} "
            f"({after.import_register_wh}/{after.export_register_wh} Wh)"
        )
    return None


@dataclass
class RunSummary:
    """What went wrong during `Oracle.run`: inputs that could not be read at all (a missing file,
    a wrong header), rows that were not taken, readings the contract rejected."""

    sources_unreadable: int = 0
    rows_rejected: int = 0
    readings_rejected: int = 0

    def count(self, result: IntakeResult) -> None:
        for problem in result.problems:
            if problem.whole_input:
                self.sources_unreadable += 1
            else:
                self.rows_rejected += 1


class Oracle:
    """Signs readings for the meters whose keys it holds and relays them."""

    def __init__(
        self,
        system: System,
        meters: dict[int, LocalAccount],
        outbox: Outbox,
        relayer: Relayer,
        *,
        chain_id: int | None = None,
    ) -> None:
        self.system = system
        self.meters = meters
        self.outbox = outbox
        self.relayer = relayer
        # Kept so that intake is purely local: it works while the node is down.
        self.chain_id = chain_id if chain_id is not None else system.chain.chain_id
        self.contract = str(system.readings.address)
        # meter id -> (the account, its libsecp256k1 key): built on first use, rebuilt when
        # `meters` maps the id to another account
        self._signers: dict[int, tuple[LocalAccount, PrivateKey]] = {}

    def _signer(self, meter_id: int, account: LocalAccount) -> PrivateKey:
        cached = self._signers.get(meter_id)
        if cached is None or cached[0] is not account:
            cached = (account, signing_key(account.key))
            self._signers[meter_id] = cached
        return cached[1]

    @staticmethod
    def meters_for(system: System, keys: Iterable[LocalAccount]) -> dict[int, LocalAccount]:
        """Maps each key to its registered meter id; unregistered keys are an error."""
        meters: dict[int, LocalAccount] = {}
        for key in keys:
            meter_id = int(system.registry.functions.meterIdOf(key.address).call())
            if meter_id == 0:
                raise OracleError(
                    f"key {key.address} is not a registered meter device: register it first"
                )
            meters[meter_id] = key
        return meters

    def ingest(self, batch: Batch) -> IntakeResult:
        """Checks, signs and stores a batch's rows; problems are reported, never half-applied."""
        result = IntakeResult(problems=list(batch.problems))
        separator = separator_of(self.chain_id, self.contract)
        rows = sorted(batch.rows, key=lambda row: (row.reading.meter_id, row.reading.slot))
        with self.outbox.transaction() as db:
            for row in rows:
                reading = row.reading
                key = self.meters.get(reading.meter_id)
                if key is None:
                    result.problems.append(
                        Problem(
                            row.origin,
                            row.line,
                            f"unknown meter {reading.meter_id}: this oracle holds no key for it",
                        )
                    )
                    continue
                existing, before, after = self.outbox.around(db, reading.meter_id, reading.slot)
                if existing is not None and existing == reading:
                    result.already += 1
                    continue
                if existing is None:
                    why = register_problem(reading, before, after)
                    if why is not None:
                        result.problems.append(Problem(row.origin, row.line, why))
                        continue
                signed = sign_with_separator(
                    self._signer(reading.meter_id, key), reading, separator
                )
                origin = f"{row.origin}:{row.line}"
                if existing is None:  # looked up in this very transaction: no second look
                    self.outbox.insert(db, signed, origin)
                else:
                    try:
                        self.outbox.add(db, signed, origin)
                    except ReadingConflict as exc:
                        result.problems.append(Problem(row.origin, row.line, str(exc)))
                        continue
                result.added += 1
            if batch.key is not None:
                self.outbox.record_input(db, batch.key, batch.origin)
        return result

    def run(
        self,
        sources: Sequence[Source],
        *,
        stop: threading.Event,
        once: bool = False,
        interval: float = 5.0,
        backoff: Backoff | None = None,
        on_intake: Callable[[Batch, IntakeResult], None] | None = None,
        on_relay: Callable[[RelayResult], None] | None = None,
        on_retry: Callable[[BaseException, float], None] | None = None,
        health: Callable[[], None] | None = None,
    ) -> RunSummary:
        """Polls sources and relays until `stop` is set (or one full pass with `once`).

        While the node is unreachable, or the outbox cannot be written (disk full), the oracle
        backs off (`backoff`) and retries; a batch that could not be stored is kept and stored
        on a later pass, and readings keep arriving into the outbox while only the node is down.
        `health()` runs before each relay: it raises to stop the oracle (the chain is not the
        one it was started for, gas money ran out). With `once`, the run ends after a pass that
        found nothing due to relay. Returns what went wrong along the way, for the exit code.
        """
        backoff = backoff or Backoff()
        summary = RunSummary()
        unstored: list[Batch] = []

        def one_pass() -> RelayResult:
            for source in sources:
                unstored.extend(source.poll())
            while unstored:
                batch = unstored[0]
                result = self.ingest(batch)
                unstored.pop(0)
                summary.count(result)
                if on_intake is not None:
                    on_intake(batch, result)
            if health is not None:
                health()
            return self.relayer.relay(on_batch=on_relay)

        while not stop.is_set():
            relayed = backoff.attempt(
                one_pass, stop, on_retry=on_retry or _log_retry, health=health
            )
            if relayed is RETRIED:
                continue
            summary.readings_rejected += relayed.rejected
            if once and not relayed.transactions:
                return summary  # nothing left that is due
            if not once:
                stop.wait(interval)
        return summary


def _log_retry(exc: BaseException, delay: float) -> None:
    log.warning("%s; retrying in %.0f s", type(exc).__name__, delay)
