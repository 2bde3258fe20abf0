"""Raw chain data for the audit (logs, transactions, code), cached in SQLite.

The cache stores only what the chain said, never a conclusion, so an audit from the cache is the
same audit as one from the node. A second run fetches only blocks after the last one cached; a
block hash recorded at the end of each run detects a reorganised chain and starts afresh.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hexbytes import HexBytes

from p2penergy.chain.connect import Chain
from p2penergy.exceptions import ChainError

LOG_CHUNK = 2_000  # blocks per eth_getLogs request

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    block INTEGER NOT NULL, log_index INTEGER NOT NULL, tx_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL, address TEXT NOT NULL, topics TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (block, log_index)
);
CREATE TABLE IF NOT EXISTS txs (
    hash TEXT PRIMARY KEY, block INTEGER NOT NULL, tx_index INTEGER NOT NULL,
    sender TEXT NOT NULL, target TEXT, input TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class RawLog:
    """One log as the node returned it (addresses lower-case, hex strings)."""

    block: int
    log_index: int
    tx_index: int
    tx_hash: str
    address: str
    topics: tuple[str, ...]
    data: str


@dataclass(frozen=True, slots=True)
class RawTx:
    """The parts of a transaction the audit needs: who sent it, to what, with which calldata."""

    hash: str
    block: int
    tx_index: int
    sender: str
    target: str | None
    input: str


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = str(value)
    return text if text.startswith("0x") else "0x" + text


class AuditCache:
    """A SQLite file (or memory) holding every log and log-emitting transaction since `start`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(":memory:" if path is None else str(path))
        self._db.executescript(_SCHEMA)
        self.fetched_blocks = 0  # blocks read from the node by the last `sync`

    def close(self) -> None:
        """Closes the database."""
        self._db.close()

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _reset(self) -> None:
        self._db.executescript("DELETE FROM logs; DELETE FROM txs; DELETE FROM meta;")

    @property
    def synced_to(self) -> int | None:
        """Last block whose logs are cached, if any."""
        value = self._meta("synced_to")
        return None if value is None else int(value)

    def sync(
        self,
        chain: Chain,
        start: int,
        to_block: int,
        identity: dict[str, Any],
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Caches logs and their transactions of blocks `start..to_block` not cached yet.

        `identity` (chain id, address book) must match what the cache was built for; otherwise,
        or when the last cached block was reorganised away, the cache starts afresh. `progress`
        is told (blocks read, blocks to read) after each request.
        """
        w3 = chain.w3
        ident = json.dumps(identity, sort_keys=True)
        synced = self.synced_to
        if self._meta("identity") != ident or self._meta("start") != str(start):
            synced = None
        elif synced is not None:
            known = self._meta("synced_hash")
            if synced > to_block or known != _hex(w3.eth.get_block(synced)["hash"]):
                synced = None
        if synced is None:
            self._reset()
            self._set_meta("identity", ident)
            self._set_meta("start", str(start))
        first = start if synced is None else synced + 1
        self.fetched_blocks = max(0, to_block - first + 1)
        for low in range(first, to_block + 1, LOG_CHUNK):
            high = min(low + LOG_CHUNK - 1, to_block)
            try:
                logs = w3.eth.get_logs({"fromBlock": low, "toBlock": high})
            except Exception as exc:
                raise ChainError(f"could not read logs {low}..{high}: {exc}") from exc
            hashes: dict[str, None] = {}
            for log in logs:
                tx_hash = _hex(log["transactionHash"])
                hashes[tx_hash] = None
                self._db.execute(
                    "INSERT OR REPLACE INTO logs VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        int(log["blockNumber"]),
                        int(log["logIndex"]),
                        int(log["transactionIndex"]),
                        tx_hash,
                        str(log["address"]).lower(),
                        json.dumps([_hex(t) for t in log["topics"]]),
                        _hex(log["data"]),
                    ),
                )
            for tx_hash in hashes:
                tx = w3.eth.get_transaction(HexBytes(tx_hash))
                target = tx.get("to")
                self._db.execute(
                    "INSERT OR REPLACE INTO txs VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        tx_hash,
                        int(tx["blockNumber"]),
                        int(tx["transactionIndex"]),
                        str(tx["from"]).lower(),
                        None if target is None else str(target).lower(),
                        _hex(tx["input"]),
                    ),
                )
            if progress is not None:
                progress(high - first + 1, self.fetched_blocks)
        if to_block >= start:
            self._set_meta("synced_to", str(to_block))
            self._set_meta("synced_hash", _hex(w3.eth.get_block(to_block)["hash"]))
        self._db.commit()

    def logs(self, to_block: int) -> Iterator[RawLog]:
        """Cached logs up to `to_block`, in chain order."""
        rows = self._db.execute(
            "SELECT * FROM logs WHERE block <= ? ORDER BY block, log_index", (to_block,)
        )
        for block, log_index, tx_index, tx_hash, address, topics, data in rows:
            yield RawLog(
                block, log_index, tx_index, tx_hash, address, tuple(json.loads(topics)), data
            )

    def transaction(self, tx_hash: str) -> RawTx | None:
        """A cached transaction by hash."""
        row = self._db.execute("SELECT * FROM txs WHERE hash = ?", (tx_hash,)).fetchone()
        return None if row is None else RawTx(*row)
