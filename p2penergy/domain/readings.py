"""A meter reading: what one meter measured in one slot (integer Wh), checked on creation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from p2penergy.exceptions import P2PEnergyError

# Field names and Solidity types in struct order: they define the EIP-712 type hash.
READING_TYPE: tuple[tuple[str, str], ...] = (
    ("meterId", "uint64"),
    ("slot", "uint64"),
    ("importWh", "uint64"),
    ("exportWh", "uint64"),
    ("importRegisterWh", "uint64"),
    ("exportRegisterWh", "uint64"),
)

_UINT64_END = 2**64


class InvalidReading(P2PEnergyError, ValueError):
    """A reading, signature or signing domain is malformed (out of range, wrong type)."""


def check_uint(name: str, value: object, end: int) -> None:
    # bool is an int subclass; a True meter id is a bug, not a value.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidReading(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value < end:
        raise InvalidReading(f"{name} must be in [0, 2**{end.bit_length() - 1}), got {value}")


@dataclass(frozen=True, slots=True)
class Reading:
    """What one meter measured in one slot (Wh; registers are cumulative at the slot's end)."""

    meter_id: int
    slot: int
    import_wh: int
    export_wh: int
    import_register_wh: int
    export_register_wh: int

    def __post_init__(self) -> None:
        for field in fields(self):
            check_uint(field.name, getattr(self, field.name), _UINT64_END)

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        """The ABI tuple of the Solidity struct, fields in `READING_TYPE` order."""
        return (
            self.meter_id,
            self.slot,
            self.import_wh,
            self.export_wh,
            self.import_register_wh,
            self.export_register_wh,
        )

    def as_message(self) -> dict[str, int]:
        """The EIP-712 `message` object, keyed by the Solidity field names."""
        return {name: value for (name, _), value in zip(READING_TYPE, self.as_tuple(), strict=True)}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Reading:
        """The reading in an EIP-712 `message` object (decimal strings are accepted, as JS sends
        uint64 values that do not fit a double)."""
        values: list[Any] = []
        for name, _ in READING_TYPE:
            if name not in message:
                raise InvalidReading(f"message lacks {name}")
            value = message[name]
            if isinstance(value, str):
                try:
                    value = int(value, 10)
                except ValueError:
                    raise InvalidReading(f"{name} is not a decimal integer: {value!r}") from None
            values.append(value)
        extra = set(message) - {name for name, _ in READING_TYPE}
        if extra:
            raise InvalidReading(f"message has unknown fields: {sorted(extra)}")
        return cls(*values)
