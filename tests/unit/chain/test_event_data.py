"""`chain.eventdata.EventLayout` and `chain.tx.events` give exactly web3's event data
(`get_event_data`, `process_receipt(errors=DISCARD)`) for every event of the shipped ABIs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from eth_abi.abi import default_codec
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3._utils.events import get_event_data
from web3.datastructures import AttributeDict
from web3.logs import DISCARD

from p2penergy.chain import artifacts
from p2penergy.chain.deploy import SYSTEM
from p2penergy.chain.eventdata import EventLayout
from p2penergy.chain.tx import events

ADDRESS = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"  # a checksummed address


def _value(kind: str, seed: int) -> Any:
    """A value of ABI type `kind` that differs with `seed`."""
    if kind.endswith("]"):
        inner = kind[: kind.rindex("[")]
        size = kind[kind.rindex("[") + 1 : -1]
        return [_value(inner, seed + i) for i in range(int(size) if size else 2)]
    if kind.startswith("("):  # a tuple of elementary types (the test's own event)
        return tuple(_value(part, seed + i) for i, part in enumerate(kind[1:-1].split(",")))
    if kind == "address":
        return Web3.to_checksum_address(keccak(seed.to_bytes(32, "big"))[12:])
    if kind == "bool":
        return seed % 2 == 1
    if kind == "string":
        return f"text {seed}"
    if kind == "bytes":
        return bytes([seed % 256]) * 3
    if match := re.fullmatch(r"bytes(\d+)", kind):
        return bytes([seed % 256]) * int(match.group(1))
    if match := re.fullmatch(r"uint(\d+)", kind):
        return (seed * 7919 + 3) % 2 ** int(match.group(1))
    if match := re.fullmatch(r"int(\d+)", kind):
        return -((seed * 7919 + 3) % 2 ** (int(match.group(1)) - 1))
    raise AssertionError(f"no sample value for {kind}")


def _kind(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_kind(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])


def _log(abi: dict[str, Any], seed: int, index: int) -> AttributeDict[str, Any]:
    """A receipt log of the event `abi` with sample arguments, as web3 gives receipts' logs."""
    topics = [HexBytes(event_abi_to_log_topic(abi))]  # type: ignore[arg-type]
    data_types, data_values = [], []
    for i, item in enumerate(abi["inputs"]):
        kind = _kind(item)
        value = _value(kind, seed + i)
        if item.get("indexed"):
            dynamic = kind in ("string", "bytes") or kind.endswith("]") or "(" in kind
            word = keccak(b"indexed") if dynamic else default_codec.encode([kind], [value])
            topics.append(HexBytes(word))
        else:
            data_types.append(kind)
            data_values.append(value)
    return AttributeDict(
        {
            "address": ADDRESS,
            "topics": topics,
            "data": HexBytes(default_codec.encode(data_types, data_values)),
            "logIndex": index,
            "transactionIndex": 0,
            "transactionHash": HexBytes(b"\x01" * 32),
            "blockHash": HexBytes(b"\x02" * 32),
            "blockNumber": 7,
        }
    )


def _shipped_events() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, item)
        for name in SYSTEM
        for item in artifacts.load(name)["abi"]
        if item.get("type") == "event"
    ]


@pytest.mark.parametrize(
    ("contract", "abi"), _shipped_events(), ids=lambda v: v if isinstance(v, str) else v["name"]
)
def test_layout_gives_web3_s_arguments_for_every_shipped_event(
    contract: str, abi: dict[str, Any]
) -> None:
    event_abi = {"anonymous": False, **abi}
    layout = EventLayout.of(event_abi)
    for seed in (1, 2, 1000):
        log = _log(event_abi, seed, 0)
        expected = get_event_data(default_codec, event_abi, log)
        got = layout.args([bytes(t) for t in log["topics"][1:]], bytes(log["data"]))
        want = dict(expected["args"])  # ("values" is an argument name: no attribute access)
        assert got == want
        assert list(got) == list(want)  # the same order of arguments
        assert [type(v) for v in got.values()] == [type(v) for v in want.values()]
        if layout.elementary:  # checksum=False: addresses as eth-abi gives them, lower case
            lower = layout.args(
                [bytes(t) for t in log["topics"][1:]], bytes(log["data"]), checksum=False
            )
            assert lower == {k: v.lower() if isinstance(v, str) and v.startswith("0x") else v
                             for k, v in want.items()}  # fmt: skip


def test_layout_takes_web3_s_path_for_arrays_and_tuples() -> None:
    abi = {
        "anonymous": False,
        "name": "Mixed",
        "type": "event",
        "inputs": [
            {"name": "who", "type": "address", "indexed": True},
            {"name": "many", "type": "address[]", "indexed": False},
            {
                "name": "pair",
                "type": "tuple",
                "indexed": False,
                "components": [
                    {"name": "owner", "type": "address"},
                    {"name": "amount", "type": "uint256"},
                ],
            },
        ],
    }
    layout = EventLayout.of(abi)
    assert not layout.elementary
    log = _log(abi, 5, 0)
    expected = get_event_data(default_codec, abi, log)
    got = layout.args([bytes(t) for t in log["topics"][1:]], bytes(log["data"]))
    assert got == dict(expected["args"])


def test_events_equal_process_receipt_on_a_receipt_of_mixed_logs() -> None:
    w3 = Web3()
    for name in SYSTEM:
        abi = artifacts.load(name)["abi"]
        contract = w3.eth.contract(address=Web3.to_checksum_address(ADDRESS), abi=abi)
        logs = [
            _log({"anonymous": False, **item}, seed, index)
            for index, (seed, item) in enumerate(
                (seed, item) for seed in (3, 4) for item in abi if item.get("type") == "event"
            )
        ]
        # a log with too few topics for its signature, and one without topics
        if logs and len(logs[0]["topics"]) > 1:
            short = dict(logs[0])
            short["topics"] = logs[0]["topics"][:1]
            logs.append(AttributeDict(short))
        if logs:
            logs.append(AttributeDict({**dict(logs[0]), "topics": []}))
        receipt = AttributeDict({"logs": logs})
        for item in abi:
            if item.get("type") != "event":
                continue
            event = getattr(contract.events, item["name"])()
            expected = list(event.process_receipt(receipt, errors=DISCARD))
            assert events(contract, item["name"], receipt) == expected  # type: ignore[arg-type]
