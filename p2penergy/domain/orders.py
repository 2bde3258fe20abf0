"""Orders as the contract numbers and packs them (contracts/libraries/UniformPriceClearing.sol).

An order id is `slot << ORDER_INDEX_BITS | index`, index = the order's place in time within its
slot. An order word packs the owner and the order's terms into one uint256, field by field as
below; only this module shifts and masks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

ORDER_INDEX_BITS = 16
ORDER_INDEX_MASK = (1 << ORDER_INDEX_BITS) - 1

# The order word: bit offsets and widths of its fields.
OWNER_BITS = 160
ENERGY_SHIFT, ENERGY_BITS = 160, 32
LIMIT_PRICE_SHIFT, LIMIT_PRICE_BITS = 192, 32
FEE_SHIFT, FEE_BITS = 224, 24
# The most a fee (network or seller, base units per kWh) may be: the word's fee field
# (UniformPriceClearing.MAX_FEE).
MAX_FEE_PER_KWH = (1 << FEE_BITS) - 1
SIDE_BIT = 248
CANCELLED_BIT = 249
CRITICAL_BIT = 250


class Side(enum.IntEnum):
    """Which side of the book an order is on (values match the contract's enum)."""

    BID = 0
    OFFER = 1


def order_id(slot: int, index: int) -> int:
    """The id of the `index`-th order placed for `slot`."""
    return (slot << ORDER_INDEX_BITS) | index


def slot_of(order_id_: int) -> int:
    """The slot an order id belongs to."""
    return order_id_ >> ORDER_INDEX_BITS


def index_of(order_id_: int) -> int:
    """The order's place in time within its slot."""
    return order_id_ & ORDER_INDEX_MASK


@dataclass(frozen=True)
class OrderWord:
    """The fields of one packed order word (the owner as a 160-bit integer)."""

    owner: int
    side: Side
    energy_wh: int
    limit_price: int
    fee_per_kwh: int
    cancelled: bool = False
    critical: bool = False

    def pack(self) -> int:
        word = self.owner & _mask(OWNER_BITS)
        word |= self.energy_wh << ENERGY_SHIFT
        word |= self.limit_price << LIMIT_PRICE_SHIFT
        word |= self.fee_per_kwh << FEE_SHIFT
        word |= int(self.side) << SIDE_BIT | int(self.cancelled) << CANCELLED_BIT
        return word | int(self.critical) << CRITICAL_BIT

    @classmethod
    def unpack(cls, word: int) -> OrderWord:
        return cls(
            owner=word & _mask(OWNER_BITS),
            side=Side(word >> SIDE_BIT & 1),
            energy_wh=word >> ENERGY_SHIFT & _mask(ENERGY_BITS),
            limit_price=word >> LIMIT_PRICE_SHIFT & _mask(LIMIT_PRICE_BITS),
            fee_per_kwh=word >> FEE_SHIFT & _mask(FEE_BITS),
            cancelled=bool(word >> CANCELLED_BIT & 1),
            critical=bool(word >> CRITICAL_BIT & 1),
        )


def _mask(bits: int) -> int:
    return (1 << bits) - 1


@dataclass(frozen=True)
class OrderInput:
    """One order to place (the contract's `OrderInput`)."""

    slot: int
    side: Side
    energy_wh: int
    limit_price: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.slot, int(self.side), self.energy_wh, self.limit_price)
