"""Signs and sends transactions with local keys; turns reverts into named exceptions."""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from eth_abi.exceptions import InsufficientDataBytes
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed as EmbeddedFailure
from hexbytes import HexBytes
from web3 import Web3
from web3._utils.events import _log_entry_data_to_bytes
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.datastructures import AttributeDict
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    TransactionIndexingInProgress,
    TransactionNotFound,
    Web3RPCError,
)
from web3.logs import DISCARD
from web3.types import BlockData, EventData, TxReceipt

from p2penergy.chain.errors import decode_revert
from p2penergy.chain.eventdata import EventLayout
from p2penergy.exceptions import (
    ChainError,
    ContractRevert,
    SenderNotAuthorized,
    TransactionFailed,
)


class ChainLike(Protocol):
    """What sending needs of a connection (`chain.connect.Chain` is one); a protocol, so that
    this module does not import the connection that uses it to fund accounts."""

    w3: Web3
    kind: str

    @property
    def chain_id(self) -> int: ...


SENDER_NOT_AUTHORIZED = -32007  # the permissioning error of Besu and of our gateway
GAS_HEADROOM_NUM = 6  # gas limit = estimate * 6 / 5
GAS_HEADROOM_DEN = 5
RECEIPT_POLL_FIRST = 0.002  # seconds: the first wait for a receipt on a JSON-RPC node, doubled
RECEIPT_POLL_MAX = 0.1  # up to web3's own interval
EMBEDDED_GAS_LIMIT = 29_000_000  # just under the embedded chain's 30,029,122 block gas limit


def revert_from(exc: Exception, contract: str | None = None) -> ContractRevert | None:
    """The decoded revert inside a web3 exception, or None when it was not a revert."""
    data: Any = getattr(exc, "data", None)
    if isinstance(exc, (ContractCustomError, ContractLogicError)):
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            return decode_revert(data, contract)
        return decode_revert(b"", contract)
    if isinstance(exc, EmbeddedFailure):  # eth-tester (embedded chain)
        from p2penergy.chain._embedded import revert_data

        raw_bytes = revert_data(exc)
        return None if raw_bytes is None else decode_revert(raw_bytes, contract)
    if isinstance(exc, Web3RPCError):
        payload = exc.rpc_response.get("error", {}) if exc.rpc_response else {}
        raw = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(raw, dict):
            raw = raw.get("data")
        if isinstance(raw, str) and raw.startswith("0x"):
            return decode_revert(raw, contract)
    return None


def fees(chain: ChainLike, latest: BlockData | None = None) -> dict[str, int]:
    """EIP-1559 fee fields: twice the latest base fee plus a 1 gwei tip (no tip at zero base
    fee, as on a permissioned network). `latest`: the latest block when the caller just read
    it (it is read otherwise)."""
    block = chain.w3.eth.get_block("latest") if latest is None else latest
    base = int(block.get("baseFeePerGas", 0))
    tip = 0 if base == 0 else 1_000_000_000
    return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}


def _rpc_error_code(exc: Exception) -> int | None:
    if isinstance(exc, Web3RPCError) and exc.rpc_response:
        error = exc.rpc_response.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), int):
            return int(error["code"])
    return None


def call(fn: ContractFunction, sender: str | None = None) -> Any:
    """Calls a view function; reverts come back as named exceptions."""
    try:
        return fn.call({"from": sender} if sender else None)
    except Exception as exc:
        decoded = revert_from(exc)
        if decoded is not None:
            raise decoded from None
        raise


def transact(
    chain: ChainLike,
    account: LocalAccount,
    fn: ContractFunction,
    gas: int | None = None,
    latest: BlockData | None = None,
    race_gas: int = 0,
) -> TxReceipt:
    """Estimates, signs with `account`, sends and waits; raises the decoded revert on failure.

    `latest`: the latest block, when the caller has just read it (for a permit's deadline);
    the fees and the block gas limit come from it, else from one read of the latest block.
    The nonce is asked for every time: another process may send from the same account.
    `race_gas`: added to an estimated limit, for a call whose cost depends on what other
    senders' transactions mined before it will have written (the estimate saw the state
    before them); unused gas is not charged.
    """
    if latest is None:
        latest = chain.w3.eth.get_block("latest")
    params: dict[str, Any] = {"from": account.address, **fees(chain, latest)}
    try:
        if gas is None:
            gas = _gas_limit(chain, fn, params, int(latest["gasLimit"]), race_gas)
        params["gas"] = gas
        params["nonce"] = chain.w3.eth.get_transaction_count(account.address, "pending")
        tx: dict[str, Any] = dict(fn.build_transaction(params))  # type: ignore[arg-type]
    except Exception as exc:
        decoded = revert_from(exc)
        if decoded is not None:
            raise decoded from None
        raise
    return send_signed(chain, account, tx)


def _gas_limit(
    chain: ChainLike,
    fn: ContractFunction,
    params: dict[str, Any],
    block_limit: int,
    race_gas: int = 0,
) -> int:
    """The gas limit to send with; raises the decoded revert if the call would fail.

    On the embedded chain one `eth_call` replaces py-evm's estimate (a binary search that runs
    the transaction a dozen times) and the limit is the block's: the gas *used* is the same.
    """
    if chain.kind == "embedded" and hasattr(fn, "call"):  # deployments still estimate
        fn.call({**params, "gas": EMBEDDED_GAS_LIMIT}, block_identifier="pending")  # type: ignore[arg-type]
        return EMBEDDED_GAS_LIMIT
    estimate = _estimate(fn, params)
    return min(estimate * GAS_HEADROOM_NUM // GAS_HEADROOM_DEN + race_gas, block_limit)


def _estimate(fn: ContractFunction, params: dict[str, Any]) -> int:
    """Estimates against the pending block, the one the transaction will be mined in: its
    timestamp is the next block's, so a call whose path depends on time (a reading window that
    just opened, a gate that just closed) is estimated on the path it will take. A node that
    has no pending block for estimates is asked for the latest."""
    try:
        return int(fn.estimate_gas(params, block_identifier="pending"))  # type: ignore[arg-type]
    except Web3RPCError as exc:
        if revert_from(exc) is not None:
            raise
        return int(fn.estimate_gas(params))  # type: ignore[arg-type]


def send_value(chain: ChainLike, account: LocalAccount, to: str, wei: int) -> TxReceipt:
    """Sends plain ether (gas money) from `account` to `to`."""
    tx: dict[str, Any] = {
        "to": to,
        "value": wei,
        "gas": 21_000,
        "chainId": chain.chain_id,
        "nonce": chain.w3.eth.get_transaction_count(account.address, "pending"),
        **fees(chain),
    }
    return send_signed(chain, account, tx)


def send_signed(chain: ChainLike, account: LocalAccount, tx: dict[str, Any]) -> TxReceipt:
    """Signs `tx`, submits it and waits for a successful receipt."""
    return wait_receipt(chain, send_only(chain, account, tx))


def send_only(chain: ChainLike, account: LocalAccount, tx: dict[str, Any]) -> bytes:
    """Signs and submits `tx` without waiting; its hash (`wait_receipt` waits for it)."""
    signed = account.sign_transaction(tx)
    try:
        return bytes(chain.w3.eth.send_raw_transaction(signed.raw_transaction))
    except Exception as exc:
        if _rpc_error_code(exc) == SENDER_NOT_AUTHORIZED:
            raise SenderNotAuthorized(account.address) from None
        decoded = revert_from(exc)
        if decoded is not None:
            raise decoded from None
        raise


def wait_receipt(chain: ChainLike, tx_hash: bytes, timeout: float = 120) -> TxReceipt:
    """Waits for the receipt of `tx_hash`; raises TransactionFailed if it reverted, web3's
    TimeExhausted if none came within `timeout` seconds.

    On a JSON-RPC node it asks at once, then after 2, 4, 8 ... ms up to every 100 ms (web3's own
    fixed interval): anvil mines a transaction a millisecond or two after accepting it, so
    web3's first 100 ms sleep was most of a transaction's time there, while on a network with
    2-second blocks this asks about as often as web3 did.
    """
    receipt = (
        chain.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=timeout)
        if chain.kind == "embedded"
        else _poll_receipt(chain, HexBytes(tx_hash), timeout)
    )
    if receipt["status"] != 1:
        raise TransactionFailed("0x" + tx_hash.hex(), receipt)
    return receipt


def _poll_receipt(chain: ChainLike, tx_hash: HexBytes, timeout: float) -> TxReceipt:
    """`tx_hash`'s receipt from a JSON-RPC node, asked at once and then after waits doubling
    from RECEIPT_POLL_FIRST to RECEIPT_POLL_MAX; web3's TimeExhausted after `timeout` s."""
    deadline = time.monotonic() + timeout
    delay = RECEIPT_POLL_FIRST
    while True:
        try:
            return chain.w3.eth.get_transaction_receipt(tx_hash)
        except (TransactionNotFound, TransactionIndexingInProgress):
            pass
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeExhausted(f"no receipt for {tx_hash.to_0x_hex()} within {timeout} s")
        time.sleep(min(delay, left))
        delay = min(2 * delay, RECEIPT_POLL_MAX)


def deploy(
    chain: ChainLike, account: LocalAccount, abi: list[dict[str, Any]], bytecode: str, *args: Any
) -> tuple[str, TxReceipt]:
    """Deploys a contract; returns its address and the receipt."""
    factory = chain.w3.eth.contract(abi=abi, bytecode=bytecode)
    receipt = transact(chain, account, factory.constructor(*args))  # type: ignore[arg-type]
    address = receipt["contractAddress"]
    if address is None:
        raise ChainError("deployment receipt has no contract address")
    return str(address), receipt


def events(contract: Contract, name: str, receipt: TxReceipt) -> list[EventData]:
    """The `name` events that `contract` emitted in `receipt` (other logs are skipped quietly).

    Decoded as web3's `process_receipt(errors=DISCARD)` decodes them, with the event's ABI
    worked out once (`chain.eventdata.EventLayout`) instead of on every log: the same
    `EventData`, for a fraction of the time on a receipt with many logs (a readings batch, a
    settlement). Logs whose first topic is not the event's are skipped before decoding, as web3
    refuses them anyway; an anonymous event goes through web3 itself.
    """
    event = getattr(contract.events, name)()
    layout = _layout(event.abi)
    if layout.topic is None:
        return list(event.process_receipt(receipt, errors=DISCARD))
    found: list[EventData] = []
    for log in receipt["logs"]:
        topics = log["topics"]
        if not topics or _log_entry_data_to_bytes(topics[0]) != layout.topic:
            continue
        try:
            args = layout.args(
                [_log_entry_data_to_bytes(t) for t in topics[1:]],
                _log_entry_data_to_bytes(log["data"]),
            )
        except (TypeError, InsufficientDataBytes):  # what DISCARD drops besides the above
            continue
        if args is None:  # another number of indexed arguments (web3's LogTopicError)
            continue
        data = EventData(
            args=args,
            event=str(event.abi["name"]),
            logIndex=log["logIndex"],
            transactionIndex=log["transactionIndex"],
            transactionHash=log["transactionHash"],
            address=log["address"],
            blockHash=log["blockHash"],
            blockNumber=log["blockNumber"],
        )
        found.append(AttributeDict.recursive(data) if isinstance(log, AttributeDict) else data)
    return found


_LAYOUTS: dict[str, EventLayout] = {}


def _layout(abi: Any) -> EventLayout:
    """The event's `EventLayout`, worked out once per distinct ABI."""
    key = json.dumps(abi, sort_keys=True)
    layout = _LAYOUTS.get(key)
    if layout is None:
        layout = _LAYOUTS[key] = EventLayout.of(dict(abi))
    return layout
