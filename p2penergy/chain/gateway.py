"""The permissioning gateway: a JSON-RPC proxy in front of the local node.

It refuses a transaction whose sender the registry refuses, as Besu's account permissioning
does: `ParticipantRegistry.transactionAllowed(sender, to, value, gasPrice, gasLimit, data)` is
asked for every `eth_sendRawTransaction` (sender recovered from the signature) and every
`eth_sendTransaction` (its `from`), with no caching, so a suspension counts from the next
transaction. A refusal is Besu's error: code -32007, "Sender account not authorized to send
transactions". Everything else passes untouched, batches too.

Until the address book (`<deployments>/31337.json`) names a registry that has code on the chain,
every transaction passes: deploying the system needs that. The book is re-read when it changes.

Receipts are the acknowledgement: the gateway returns one only once the node's state file holds
its block (see `p2penergy.chain.supervisor.StateKeeper`); until then it answers `null`, as for a
transaction not yet mined, and clients keep polling.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import rlp
from aiohttp import web
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from p2penergy.chain.node import CHAIN_ID
from p2penergy.exceptions import ChainError

log = logging.getLogger("p2penergy.gateway")

NOT_AUTHORIZED = -32007  # Besu's RpcErrorType.TX_SENDER_NOT_AUTHORIZED
NOT_AUTHORIZED_MESSAGE = "Sender account not authorized to send transactions"
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
PARSE_ERROR = -32700
INVALID_REQUEST = -32600

RAW_SENDS = frozenset(
    {"eth_sendRawTransaction", "eth_sendRawTransactionSync", "eth_sendRawTransactionConditional"}
)
FROM_SENDS = frozenset(
    {"eth_sendTransaction", "eth_sendTransactionSync", "eth_sendUnsignedTransaction"}
)
RECEIPTS = frozenset({"eth_getTransactionReceipt", "eth_getBlockReceipts"})
SYNC_SENDS = frozenset({"eth_sendRawTransactionSync", "eth_sendTransactionSync"})
REWRITES = frozenset(
    {"evm_revert", "anvil_revert", "anvil_reset", "hardhat_reset", "anvil_loadState",
     "anvil_rollback"}
)  # fmt: skip
DURABLE_WAIT = 10.0  # seconds a receipt request may wait for its block to be written

_SELECTOR = keccak(text="transactionAllowed(address,address,uint256,uint256,uint256,bytes)")[:4]
_ZERO = "0x" + "00" * 20


class Durability(Protocol):
    """What the gateway needs from the state keeper."""

    async def ensure(self, block: int, timeout: float) -> bool: ...

    async def rewritten(self) -> None: ...


class Upstream(Protocol):
    """The node behind the gateway."""

    async def post(self, payload: Any) -> Any: ...

    async def call(self, method: str, params: list[Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class TransactionRequest:
    """The fields `transactionAllowed` is asked about."""

    sender: str
    to: str
    value: int
    gas_price: int
    gas_limit: int
    data: bytes


class UndecodableTransaction(ChainError, ValueError):
    """A raw transaction whose fields or signer cannot be read."""


def _int(item: bytes) -> int:
    return int.from_bytes(item, "big")


def _to(item: bytes) -> str:
    return to_checksum_address(item) if item else _ZERO


def decode_raw_transaction(raw: bytes) -> TransactionRequest:
    """Reads sender, target, value, gas price, gas limit and data of a signed transaction.

    Legacy, EIP-2930 (type 1), EIP-1559 (2), EIP-4844 (3, bare or with its blobs) and EIP-7702
    (4) envelopes; the gas price of a fee-market transaction is its `maxFeePerGas`.
    """
    try:
        if not raw:
            raise UndecodableTransaction("empty transaction")
        kind = raw[0]
        if kind >= 0xC0:
            fields = rlp.decode(raw)
            price, gas, to, value, data = fields[1:6]
        elif kind in (1, 2, 3, 4):
            fields = rlp.decode(raw[1:])
            if kind == 3 and fields and isinstance(fields[0], list):
                fields = fields[0]  # network form: [tx, blobs, commitments, proofs]
            price, gas, to, value, data = fields[2:7] if kind == 1 else fields[3:8]
        else:
            raise UndecodableTransaction(f"unknown transaction type {kind}")
        sender = Account.recover_transaction(raw)
    except UndecodableTransaction:
        raise
    except Exception as exc:
        raise UndecodableTransaction(f"{type(exc).__name__}: {exc}") from None
    return TransactionRequest(
        sender=to_checksum_address(sender),
        to=_to(bytes(to)),
        value=_int(bytes(value)),
        gas_price=_int(bytes(price)),
        gas_limit=_int(bytes(gas)),
        data=bytes(data),
    )


def _hex_int(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return int(str(value), 16)


def request_from_call(tx: dict[str, Any]) -> TransactionRequest:
    """The fields of an `eth_sendTransaction` object (sender = its `from`)."""
    try:
        data = tx.get("input", tx.get("data")) or "0x"
        return TransactionRequest(
            sender=to_checksum_address(tx["from"]),
            to=to_checksum_address(tx["to"]) if tx.get("to") else _ZERO,
            value=_hex_int(tx.get("value")),
            gas_price=_hex_int(tx.get("gasPrice", tx.get("maxFeePerGas"))),
            gas_limit=_hex_int(tx.get("gas")),
            data=bytes.fromhex(str(data).removeprefix("0x")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UndecodableTransaction(f"{type(exc).__name__}: {exc}") from None


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


class AddressBook:
    """The registry address from `<folder>/<chainId>.json`, re-read whenever the file changes."""

    def __init__(self, folder: Path, chain_id: int = CHAIN_ID) -> None:
        self.path = folder / f"{chain_id}.json"
        self._stamp: tuple[int, int] | None = None
        self._registry: str | None = None

    def registry(self) -> str | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._registry = None, None
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                book = json.loads(self.path.read_text())
                self._registry = to_checksum_address(book["addresses"]["ParticipantRegistry"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("gateway: unreadable address book %s: %s", self.path, exc)
                self._registry = None
            self._stamp = stamp
        return self._registry


class Gateway:
    """The aiohttp application: permission checks on sends, durable receipts, the rest passed."""

    def __init__(self, upstream: Upstream, deployments: Path, durability: Durability) -> None:
        self.upstream = upstream
        self.book = AddressBook(deployments)
        self.durability = durability

    async def start(self, host: str, port: int) -> web.AppRunner:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        return runner

    async def handle(self, request: web.Request) -> web.Response:
        try:
            payload = json.loads(await request.read())
        except ValueError:
            return web.json_response(_error(None, PARSE_ERROR, "Parse error"))
        try:
            return await self._answer(payload)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # anvil did not answer: an HTTP error, which clients retry like a refused connection
            log.warning("gateway: node unavailable: %s: %s", type(exc).__name__, exc)
            return web.Response(status=503, text="node unavailable")

    async def _answer(self, payload: Any) -> web.Response:
        if isinstance(payload, list):
            if not payload:
                return web.json_response(_error(None, INVALID_REQUEST, "Invalid Request"))
            answers = [await self.one(item) for item in payload]
            return web.json_response([a for a in answers if a is not None])
        answer = await self.one(payload)
        return web.json_response(answer) if answer is not None else web.Response(status=204)

    async def one(self, item: Any) -> Any:
        """Answers one JSON-RPC request object."""
        if not isinstance(item, dict) or not isinstance(item.get("method"), str):
            return _error(None, INVALID_REQUEST, "Invalid Request")
        method, request_id = item["method"], item.get("id")
        params = item.get("params") or []
        if method in RAW_SENDS or method in FROM_SENDS:
            refusal = await self.refusal(method, params, request_id)
            if refusal is not None:
                return refusal
        answer = await self.upstream.post(item)
        if method in REWRITES:
            await self.durability.rewritten()
        if method in RECEIPTS or method in SYNC_SENDS:
            answer = await self._durable(answer)
        return answer

    async def refusal(self, method: str, params: Any, request_id: Any) -> dict[str, Any] | None:
        """Besu's error when the registry refuses the sender; None when the send may pass."""
        try:
            if not isinstance(params, list) or not params:
                raise UndecodableTransaction("no transaction in params")
            if method in RAW_SENDS:
                raw = bytes.fromhex(str(params[0]).removeprefix("0x"))
                tx = decode_raw_transaction(raw)
            else:
                tx = request_from_call(params[0])
        except (UndecodableTransaction, ValueError) as exc:
            return _error(request_id, INVALID_PARAMS, f"Invalid params: {exc}")
        try:
            allowed = await self.allowed(tx)
        except Exception as exc:  # the node failed to answer: fail closed
            log.warning("gateway: permission check failed: %s: %s", type(exc).__name__, exc)
            return _error(request_id, INTERNAL_ERROR, "Internal error: permission check failed")
        if allowed:
            return None
        log.info("gateway: refused %s from %s", method, tx.sender)
        return _error(request_id, NOT_AUTHORIZED, NOT_AUTHORIZED_MESSAGE)

    async def allowed(self, tx: TransactionRequest) -> bool:
        """The registry's answer now (True while there is no registry on the chain)."""
        registry = self.book.registry()
        if registry is None:
            return True
        args = abi_encode(
            ["address", "address", "uint256", "uint256", "uint256", "bytes"],
            [tx.sender, tx.to, tx.value, tx.gas_price, tx.gas_limit, tx.data],
        )
        result = await self.upstream.call(
            "eth_call", [{"to": registry, "data": "0x" + (_SELECTOR + args).hex()}, "latest"]
        )
        output = bytes.fromhex(str(result).removeprefix("0x"))
        if not output:  # no code there: the book names a chain that is gone (bootstrap again)
            log.warning("gateway: no registry code at %s: letting transactions through", registry)
            return True
        (verdict,) = abi_decode(["bool"], output)
        return bool(verdict)

    async def _durable(self, answer: Any) -> Any:
        """A receipt only once its block is on disk; otherwise `null` (not mined yet)."""
        if not isinstance(answer, dict):
            return answer
        result = answer.get("result")
        receipts = result if isinstance(result, list) else [result]
        numbers = [
            int(str(r["blockNumber"]), 16)
            for r in receipts
            if isinstance(r, dict) and r.get("blockNumber") is not None
        ]
        if not numbers:
            return answer
        if await self.durability.ensure(max(numbers), DURABLE_WAIT):
            return answer
        return {**answer, "result": None}
