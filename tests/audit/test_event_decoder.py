"""The audit's event decoder gives exactly web3's `get_event_data` arguments on a real day."""

from __future__ import annotations

from typing import Any

from eth_abi.abi import default_codec
from eth_utils.address import is_address
from web3._utils.events import get_event_data
from web3.exceptions import LogTopicError

from p2penergy.audit.cache import AuditCache
from p2penergy.audit.history import GOVERNANCE_ABI, _event_table, decode_log
from p2penergy.chain import artifacts

from .conftest import Day


def _web3(abi: dict[str, Any], topics: tuple[str, ...], data: str) -> dict[str, Any] | None:
    entry = {
        "topics": [bytes.fromhex(t[2:]) for t in topics],
        "data": bytes.fromhex(data[2:]),
        "logIndex": 0,
        "transactionIndex": 0,
        "transactionHash": "0x",
        "address": "0x" + "00" * 20,
        "blockHash": None,
        "blockNumber": 0,
    }
    try:
        return dict(get_event_data(default_codec, abi, entry)["args"])  # type: ignore[arg-type]
    except LogTopicError:
        return None


def test_every_log_of_a_traded_day_decodes_as_web3_decodes_it(day: Day) -> None:
    system = day.d.system
    cache = AuditCache()
    identity = {"chainId": system.chain.chain_id}
    head = int(system.chain.w3.eth.block_number)
    cache.sync(system.chain, min(system.deployment.blocks.values()), head, identity)
    table = _event_table(GOVERNANCE_ABI)
    for name in system.deployment.addresses:
        table |= _event_table(artifacts.load(name)["abi"])
    names: set[str] = set()
    for log in cache.logs(head):
        decoder = table.get(log.topics[0]) if log.topics else None
        if decoder is None:
            continue
        expected = _web3(decoder.abi, log.topics, log.data)
        decoded = decode_log(table, log)
        if expected is None:
            assert decoded is None
            continue
        assert decoded is not None
        name, args = decoded
        names.add(name)
        lowered = {
            k: v.lower() if isinstance(v, str) and is_address(v) else v for k, v in expected.items()
        }
        assert args == lowered, (name, args, expected)
        assert [type(v) for v in args.values()] == [type(v) for v in lowered.values()]
    # the day's traffic: orders, clearing, readings, settlement, credits, certificates
    assert {"OrderPlaced", "SlotCleared", "ReadingsRecorded", "OrderSettled"} <= names, names
    cache.close()
