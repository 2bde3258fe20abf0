"""Wiring of the oracle service: the node connection, the outbox, the relayer, the sources and the
`Oracle` that runs them, built from settings and keys. `p2penergy oracle run` parses its options,
calls `OracleConnection.connect` then `OracleConnection.open`, and renders what happens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from eth_account.signers.local import LocalAccount

from p2penergy._retry import Anchor, Backoff, connect_system_retrying
from p2penergy.chain.config import Settings
from p2penergy.chain.deploy import System
from p2penergy.domain.slots import SlotGrid
from p2penergy.exceptions import OracleError, SourceUnreadable
from p2penergy.oracle.outbox import Outbox
from p2penergy.oracle.relayer import Relayer, grid_of, submit_gas_limit
from p2penergy.oracle.service import Oracle
from p2penergy.oracle.sources import CsvSource, FolderSource, Source

__all__ = ["OracleConnection", "RunningOracle", "SourceSpec", "meter_key_paths"]

# The block gas limit the relayer's gas reserve is sized against.
RESERVE_BLOCK_GAS_LIMIT = 30_000_000


@dataclass(frozen=True)
class SourceSpec:
    """One input: a CSV export (`csv`) or a folder whose new *.csv files are picked up
    (`folder`)."""

    kind: Literal["csv", "folder"]
    path: Path


def meter_key_paths(folder: Path) -> list[Path]:
    """The meter key files (`*.json` keystores, `*.key` files) in `folder`, in name order; none
    is an error."""
    paths = sorted(p for p in folder.iterdir() if p.suffix in (".json", ".key"))
    if not paths:
        raise OracleError(f"no meter keys (*.json, *.key) in {folder}")
    return paths


@dataclass(frozen=True)
class RunningOracle:
    """An oracle ready to `run`: its outbox (open), relayer, sources, and the gas its relayer
    keeps in reserve for one submit."""

    oracle: Oracle
    outbox: Outbox
    relayer: Relayer
    sources: list[Source]
    gas_reserve: int


@dataclass(frozen=True)
class OracleConnection:
    """A connected deployment with what the oracle reads at start-up: the chain id, the slot
    grid, and the registered meter id of each key."""

    system: System
    anchor: Anchor
    chain_id: int
    grid: SlotGrid
    meters: dict[int, LocalAccount]

    @classmethod
    def connect(
        cls,
        settings: Settings,
        keys: Sequence[LocalAccount],
        stop: threading.Event,
        backoff: Backoff,
        on_retry: Callable[[BaseException, float], None] | None,
    ) -> OracleConnection:
        """Connects (waiting for an unreachable node, `Stopped` when `stop` is set first) and
        maps each key to its registered meter (an unregistered key is an `OracleError`)."""

        def prepare(system: System) -> tuple[int, SlotGrid, dict[int, LocalAccount]]:
            return system.chain.chain_id, grid_of(system), Oracle.meters_for(system, keys)

        system, anchor, (chain_id, grid, meters) = connect_system_retrying(
            settings, stop, backoff, on_retry, prepare
        )
        return cls(system, anchor, chain_id, grid, meters)

    @contextmanager
    def open(
        self,
        outbox: Path,
        relayer_account: LocalAccount,
        sources: Sequence[SourceSpec],
        *,
        batch_size: int,
    ) -> Iterator[RunningOracle]:
        """Opens the outbox (bound to this chain and MeterReadings contract) and builds the
        relayer, the oracle and the sources; a folder source that is not a folder is
        `SourceUnreadable`. The outbox is closed on leaving."""
        with Outbox(outbox, self.chain_id, self.system.readings.address) as store:
            relayer = Relayer(
                self.system, relayer_account, store, batch_size=batch_size, grid=self.grid
            )
            oracle = Oracle(self.system, self.meters, store, relayer, chain_id=self.chain_id)
            built: list[Source] = []
            for spec in sources:
                if spec.kind == "csv":
                    built.append(CsvSource(spec.path, self.grid))
                else:
                    if not spec.path.is_dir():
                        raise SourceUnreadable(str(spec.path), "is not a folder")
                    built.append(
                        FolderSource(spec.path, self.grid, already_seen=store.input_keys())
                    )
            reserve = submit_gas_limit(batch_size, RESERVE_BLOCK_GAS_LIMIT)
            yield RunningOracle(oracle, store, relayer, built, reserve)
