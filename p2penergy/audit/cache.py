"""Raw chain data for the audit (block headers, logs, transactions), cached in SQLite.

The cache stores only what the chain said, never a conclusion, so an audit from the cache is the
same audit as one from the node. Every block since the deployment is read once, with its header
(hash, parent, state root, time) and every transaction with the fields its sender signed (so the
signature can be checked without asking the node again). A second run fetches only blocks after
the last one cached; a block hash recorded at the end of each run detects a reorganised chain and
starts afresh, and so does a cache written by an older layout (`SCHEMA`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p2penergy.chain.connect import Chain
from p2penergy.exceptions import ChainError

LOG_CHUNK = 2_000  # blocks per eth_getLogs request
PROGRESS_EVERY = 50  # blocks between progress reports
SCHEMA = "2"  # bumped whenever the tables change: an older cache starts afresh

_DROP = "DROP TABLE IF EXISTS logs; DROP TABLE IF EXISTS txs; DROP TABLE IF EXISTS blocks;"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY, hash TEXT NOT NULL, parent_hash TEXT NOT NULL,
    state_root TEXT NOT NULL, timestamp INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS logs (
    block INTEGER NOT NULL, log_index INTEGER NOT NULL, tx_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL, address TEXT NOT NULL, topics TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (block, log_index)
);
CREATE TABLE IF NOT EXISTS txs (
    hash TEXT PRIMARY KEY, block INTEGER NOT NULL, tx_index INTEGER NOT NULL,
    sender TEXT NOT NULL, target TEXT, input TEXT NOT NULL, signed TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS txs_by_block ON txs (block, tx_index);
"""

# The signed fields of a transaction (EIP-2718 types 0-3), by their JSON-RPC names.
SIGNED_FIELDS = (
    "type",
    "chainId",
    "nonce",
    "gas",
    "gasPrice",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "maxFeePerBlobGas",
    "blobVersionedHashes",
    "to",
    "value",
    "accessList",
    "v",
    "r",
    "s",
    "yParity",
)


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
    """A transaction as the node returned it: who sent it, to what, with which calldata, and
    (`signed`, JSON) the other fields its signature covers plus v, r, s / yParity."""

    hash: str
    block: int
    tx_index: int
    sender: str
    target: str | None
    input: str
    signed: str = "{}"


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """The parts of a block header the audit compares between nodes."""

    number: int
    hash: str
    parent_hash: str
    state_root: str
    timestamp: int


def _get(item: Any, name: str) -> Any:
    """A field by its JSON-RPC (camelCase) name, or its snake_case twin (eth-tester)."""
    if name in item:
        return item[name]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name)
    return item.get(snake)


def _plain(value: Any) -> Any:
    """JSON-safe: bytes as 0x hex, mappings and sequences recursively, camelCase keys."""
    if isinstance(value, (bytes, bytearray)):
        return _hex(value)
    if isinstance(value, dict) or hasattr(value, "items"):
        return {_camel(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


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
        self._db.executescript(_DROP + "DELETE FROM meta;" + _SCHEMA)

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
        """Caches the headers, transactions and logs of blocks `start..to_block` not cached yet.

        `identity` (chain id, address book) must match what the cache was built for; otherwise,
        or when the last cached block was reorganised away, the cache starts afresh. `progress`
        is told (blocks read, blocks to read) as blocks are read.
        """
        w3 = chain.w3
        ident = json.dumps(identity, sort_keys=True)
        synced = self.synced_to
        if (
            self._meta("identity") != ident
            or self._meta("start") != str(start)
            or self._meta("schema") != SCHEMA
        ):
            synced = None
        elif synced is not None:
            known = self._meta("synced_hash")
            if synced > to_block or known != _hex(w3.eth.get_block(synced)["hash"]):
                synced = None
        if synced is None:
            self._reset()
            self._set_meta("identity", ident)
            self._set_meta("start", str(start))
            self._set_meta("schema", SCHEMA)
        first = start if synced is None else synced + 1
        self.fetched_blocks = max(0, to_block - first + 1)
        for low in range(first, to_block + 1, LOG_CHUNK):
            high = min(low + LOG_CHUNK - 1, to_block)
            try:
                logs = w3.eth.get_logs({"fromBlock": low, "toBlock": high})
            except Exception as exc:
                raise ChainError(f"could not read logs {low}..{high}: {exc}") from exc
            for log in logs:
                self._db.execute(
                    "INSERT OR REPLACE INTO logs VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        int(log["blockNumber"]),
                        int(log["logIndex"]),
                        int(log["transactionIndex"]),
                        _hex(log["transactionHash"]),
                        str(log["address"]).lower(),
                        json.dumps([_hex(t) for t in log["topics"]]),
                        _hex(log["data"]),
                    ),
                )
            for number in range(low, high + 1):
                try:
                    block = w3.eth.get_block(number, full_transactions=True)
                except Exception as exc:
                    raise ChainError(f"could not read block {number}: {exc}") from exc
                self._store_block(number, block)
                if progress is not None and number % PROGRESS_EVERY == 0:
                    progress(number - first + 1, self.fetched_blocks)
            if progress is not None:
                progress(high - first + 1, self.fetched_blocks)
        if to_block >= start:
            self._set_meta("synced_to", str(to_block))
            self._set_meta("synced_hash", _hex(w3.eth.get_block(to_block)["hash"]))
        self._db.commit()

    def _store_block(self, number: int, block: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, ?, ?)",
            (
                number,
                _hex(block["hash"]),
                _hex(_get(block, "parentHash")),
                _hex(_get(block, "stateRoot")),
                int(block["timestamp"]),
            ),
        )
        for tx in block["transactions"]:
            target = tx.get("to") or None  # a contract creation: None (node) or "" (eth-tester)
            signed = {name: _plain(_get(tx, name)) for name in SIGNED_FIELDS}
            self._db.execute(
                "INSERT OR REPLACE INTO txs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    _hex(tx["hash"]),
                    number,
                    int(_get(tx, "transactionIndex")),
                    str(tx["from"]).lower(),
                    None if target is None else str(target).lower(),
                    _hex(_get(tx, "input") if _get(tx, "input") is not None else tx["data"]),
                    json.dumps({k: v for k, v in signed.items() if v is not None}),
                ),
            )

    def transactions(self, to_block: int) -> Iterator[RawTx]:
        """Every cached transaction up to `to_block`, in chain order."""
        rows = self._db.execute(
            "SELECT * FROM txs WHERE block <= ? ORDER BY block, tx_index", (to_block,)
        )
        for row in rows:
            yield RawTx(*row)

    def blocks(self, to_block: int) -> dict[int, BlockHeader]:
        """Cached block headers up to `to_block`, by number."""
        rows = self._db.execute("SELECT * FROM blocks WHERE number <= ?", (to_block,))
        return {row[0]: BlockHeader(*row) for row in rows}

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
