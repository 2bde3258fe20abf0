"""Every transaction is signed by its sender: the signature recovers to `from`.

A node operator can put a transaction "from" any account into its own blocks (Hardhat's and
anvil's impersonation, or a patched client); the other nodes would reject the block, but the
JSON-RPC answers of that node alone look normal. The signed fields are re-serialised with
eth_account's transaction classes (legacy with and without EIP-155, EIP-2930, EIP-1559,
EIP-4844), the serialisation must hash to the transaction's hash (the node reported what was
signed), and `Account.recover_transaction` must return the sender.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import rlp
from eth_account import Account
from eth_account._utils.legacy_transactions import Transaction
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from p2penergy.audit.cache import RawTx
from p2penergy.audit.checks import Findings

SIGNATURES = "signatures"

_TYPED_FIELDS = {
    1: ("chainId", "nonce", "gasPrice", "gas", "to", "value", "accessList"),
    2: (
        "chainId",
        "nonce",
        "maxPriorityFeePerGas",
        "maxFeePerGas",
        "gas",
        "to",
        "value",
        "accessList",
    ),
    3: (
        "chainId",
        "nonce",
        "maxPriorityFeePerGas",
        "maxFeePerGas",
        "gas",
        "to",
        "value",
        "accessList",
        "maxFeePerBlobGas",
        "blobVersionedHashes",
    ),
}


def serialise(tx: RawTx) -> bytes:
    """The signed transaction's canonical encoding, rebuilt from the node's fields."""
    fields: dict[str, Any] = json.loads(tx.signed)
    kind = _int(fields.get("type", 0))
    data = bytes.fromhex(tx.input[2:])
    if kind == 0:
        signed = Transaction(
            nonce=_int(fields["nonce"]),
            gasPrice=_int(fields["gasPrice"]),
            gas=_int(fields["gas"]),
            to=bytes.fromhex(tx.target[2:]) if tx.target else b"",
            value=_int(fields["value"]),
            data=data,
            v=_int(fields["v"]),
            r=_int(fields["r"]),
            s=_int(fields["s"]),
        )
        return bytes(rlp.encode(signed))
    if kind not in _TYPED_FIELDS:
        raise ValueError(f"transaction type {kind}")
    body: dict[str, Any] = {"type": kind, "data": data}
    for name in _TYPED_FIELDS[kind]:
        value = fields.get(name)
        if name == "to":
            body["to"] = to_checksum_address(tx.target) if tx.target else b""
        elif name == "accessList":
            body[name] = [
                {"address": to_checksum_address(e["address"]), "storageKeys": e["storageKeys"]}
                for e in value or []
            ]
        elif name == "blobVersionedHashes":
            body[name] = value
        else:
            body[name] = _int(value)
    parity = fields.get("yParity", fields.get("v"))
    body.update(v=_int(parity), r=_int(fields["r"]), s=_int(fields["s"]))
    return TypedTransaction.from_dict(body).encode()


def _int(value: Any) -> int:
    if isinstance(value, str):
        return int(value, 16)
    return int(value)


def check_signatures(transactions: Iterable[RawTx], out: Findings) -> None:
    """One failure per transaction whose signature does not recover to its sender."""
    count = 0
    for tx in transactions:
        count += 1
        where = {"party": tx.sender, "block": tx.block}
        try:
            raw = serialise(tx)
        except Exception as exc:  # fields missing or malformed: the check could not run
            out.could_not_check(SIGNATURES, f"the signature of transaction {tx.hash}", exc, **where)
            continue
        if "0x" + keccak(raw).hex() != tx.hash:
            out.add(
                SIGNATURES,
                False,
                f"transaction {tx.hash} from {tx.sender}: its signed fields hash to "
                f"0x{keccak(raw).hex()}, not to its hash",
                **where,
            )
            continue
        try:
            signer = str(Account.recover_transaction(raw)).lower()
        except Exception:  # an invalid signature recovers to no one
            signer = "no one"
        if signer != tx.sender:
            out.add(
                SIGNATURES,
                False,
                f"transaction {tx.hash} from {tx.sender} is signed by {signer}",
                **where,
            )
    out.add(SIGNATURES, True, f"{count} transactions checked against their senders' signatures")
