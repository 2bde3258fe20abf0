"""The gateway's reading of transactions: what `transactionAllowed` is asked about."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from p2penergy.chain.gateway import (
    AddressBook,
    UndecodableTransaction,
    decode_raw_transaction,
    request_from_call,
)

KEY = Account.from_key(b"\x11" * 32)
TARGET = "0x00000000000000000000000000000000DeaDBeef"
BASE = {"nonce": 3, "gas": 90_000, "value": 12_345, "data": "0xc0ffee", "chainId": 31337}


@pytest.mark.parametrize(
    ("fees", "price"),
    [
        ({"gasPrice": 7}, 7),  # legacy (EIP-155)
        ({"gasPrice": 8, "accessList": [], "type": 1}, 8),  # EIP-2930
        ({"maxFeePerGas": 9, "maxPriorityFeePerGas": 1}, 9),  # EIP-1559: the fee cap
    ],
)
def test_a_signed_transaction_yields_sender_target_value_price_limit_and_data(
    fees: dict[str, int], price: int
):
    raw = KEY.sign_transaction({**BASE, "to": TARGET, **fees}).raw_transaction
    tx = decode_raw_transaction(bytes(raw))
    assert (tx.sender, tx.to, tx.value, tx.gas_price, tx.gas_limit, tx.data) == (
        KEY.address,
        TARGET,
        12_345,
        price,
        90_000,
        bytes.fromhex("c0ffee"),
    )


def test_a_deployment_targets_the_zero_address():
    raw = KEY.sign_transaction({**BASE, "to": b"", "gasPrice": 0}).raw_transaction
    assert decode_raw_transaction(bytes(raw)).to == "0x" + "00" * 20


@pytest.mark.parametrize("raw", [b"", b"\x07\xc0", b"\xc3\x01\x02\x03", b"\x02\xc0"])
def test_garbage_is_refused_as_undecodable(raw: bytes):
    with pytest.raises(UndecodableTransaction):
        decode_raw_transaction(raw)


def test_eth_send_transaction_is_read_by_its_from():
    tx = request_from_call(
        {
            "from": KEY.address.lower(),
            "to": TARGET,
            "value": "0x10",
            "gas": "0x5208",
            "input": "0x01",
        }
    )
    assert (tx.sender, tx.to, tx.value, tx.gas_price, tx.gas_limit, tx.data) == (
        KEY.address,
        TARGET,
        16,
        0,
        21_000,
        b"\x01",
    )
    with pytest.raises(UndecodableTransaction):
        request_from_call({"to": TARGET})


def test_the_address_book_is_reread_when_it_changes(tmp_path: Path):
    book = AddressBook(tmp_path)
    assert book.registry() is None  # no deployment yet: bootstrap
    path = tmp_path / "31337.json"
    path.write_text(json.dumps({"addresses": {"ParticipantRegistry": TARGET.lower()}}))
    assert book.registry() == TARGET
    other = "0x000000000000000000000000000000000000bEEF"
    path.write_text(json.dumps({"addresses": {"ParticipantRegistry": other, "x": 1}}))
    assert book.registry() == other
    path.write_text("{not json")
    assert book.registry() is None
