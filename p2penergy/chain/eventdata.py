"""Event arguments decoded as web3's `get_event_data` decodes them, without its per-log work.

web3 works the event's indexed and data inputs, their decoding types and names out of the ABI
on every log, then walks the decoded values through `map_abi_data` (its normalizers) and
`named_tree`: for the simulation's receipts (a readings batch: two events per reading; a
settlement: one per order) that walk was most of the time spent on events. `EventLayout`
works the ABI out once; for an event whose arguments are all elementary (no arrays, no
tuples: every event of our contracts) the normalizers come down to checksumming the `address`
values and the tree to one dict, so `args` does exactly that. Any other event goes through
web3's own functions, so the arguments are `get_event_data`'s in every case (a unit test
compares them on every event of the shipped ABIs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import default_codec
from eth_utils.abi import event_abi_to_log_topic, get_abi_input_names
from eth_utils.address import to_checksum_address
from web3._utils.abi import (
    exclude_indexed_event_inputs,
    get_indexed_event_inputs,
    map_abi_data,
    named_tree,
    normalize_event_input_types,
)
from web3._utils.events import get_event_abi_types_for_decoding
from web3._utils.normalizers import BASE_RETURN_NORMALIZERS


def _elementary(kind: str) -> bool:
    return "[" not in kind and not kind.startswith("(") and not kind.startswith("tuple")


@dataclass(frozen=True)
class EventLayout:
    """One event's ABI worked out once: its topic, the indexed and data inputs' decoding types
    and names; `args` decodes a log's topics (after the first, for a non-anonymous event) and
    data into the arguments `get_event_data` gives."""

    abi: dict[str, Any]
    topic: bytes | None  # None for an anonymous event
    topic_types: tuple[str, ...]
    topic_names: tuple[str, ...]
    data_types: tuple[str, ...]
    data_names: tuple[str, ...]
    data_inputs: tuple[Any, ...]
    elementary: bool  # every decoding type is elementary: the fast path applies
    topic_addresses: tuple[bool, ...]  # which indexed values are addresses
    data_addresses: tuple[bool, ...]

    @classmethod
    def of(cls, abi: dict[str, Any]) -> EventLayout:
        topic_abi = get_indexed_event_inputs(abi)  # type: ignore[arg-type]
        data_abi = exclude_indexed_event_inputs(abi)  # type: ignore[arg-type]
        topic_inputs = normalize_event_input_types(topic_abi)
        data_inputs = normalize_event_input_types(data_abi)
        topic_names = get_abi_input_names(
            {"name": abi["name"], "type": "event", "inputs": topic_abi}
        )
        data_names = get_abi_input_names({"name": abi["name"], "type": "event", "inputs": data_abi})
        if set(topic_names) & set(data_names):  # web3 refuses such an ABI on every log
            raise ValueError(f"event {abi['name']}: an argument name is both indexed and not")
        topic_types = tuple(get_event_abi_types_for_decoding(topic_inputs))
        data_types = tuple(get_event_abi_types_for_decoding(data_inputs))
        anonymous = bool(abi.get("anonymous", False))
        return cls(
            abi=abi,
            topic=None if anonymous else bytes(event_abi_to_log_topic(abi)),  # type: ignore[arg-type]
            topic_types=topic_types,
            topic_names=tuple(str(n) for n in topic_names),
            data_types=data_types,
            data_names=tuple(str(n) for n in data_names),
            data_inputs=tuple(data_inputs),
            elementary=all(_elementary(t) for t in (*topic_types, *data_types)),
            topic_addresses=tuple(t == "address" for t in topic_types),
            data_addresses=tuple(t == "address" for t in data_types),
        )

    def args(
        self, topics: Sequence[bytes], data: bytes, *, checksum: bool = True
    ) -> dict[str, Any] | None:
        """The arguments as `get_event_data` gives them, from the indexed topics (the event's
        own topic left out) and the data; None where web3 raises `LogTopicError` (another
        number of indexed arguments). Decoding errors are eth-abi's, as in web3. With
        `checksum=False` an elementary event's `address` arguments stay as eth-abi decodes them,
        in lower case (for callers that lower-case them anyway)."""
        if len(topics) != len(self.topic_types):
            return None
        if not self.elementary:
            return self._web3_args(topics, data)
        if not checksum:
            values = default_codec.decode(self.data_types, data)
            indexed = [
                default_codec.decode((kind,), topic)[0]
                for kind, topic in zip(self.topic_types, topics, strict=True)
            ]
            return dict(
                zip((*self.topic_names, *self.data_names), (*indexed, *values), strict=True)
            )
        values = default_codec.decode(self.data_types, data)
        args: dict[str, Any] = {}
        for name, kind, is_address, topic in zip(
            self.topic_names, self.topic_types, self.topic_addresses, topics, strict=True
        ):
            value = default_codec.decode((kind,), topic)[0]
            args[name] = to_checksum_address(value) if is_address else value
        for name, is_address, value in zip(
            self.data_names, self.data_addresses, values, strict=True
        ):
            args[name] = to_checksum_address(value) if is_address else value
        return args

    def _web3_args(self, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
        """web3's own steps (`get_event_data`'s), for events with arrays or tuples."""
        values = default_codec.decode(self.data_types, data)
        named = named_tree(
            list(self.data_inputs),
            map_abi_data(BASE_RETURN_NORMALIZERS, list(self.data_types), values),
        )
        indexed = [
            default_codec.decode([kind], topic)[0]
            for kind, topic in zip(self.topic_types, topics, strict=True)
        ]
        normalized = map_abi_data(BASE_RETURN_NORMALIZERS, list(self.topic_types), indexed)
        args: dict[str, Any] = dict(zip(self.topic_names, normalized, strict=True))
        args.update(named)
        return args
