"""Small integer and ordering helpers shared by clearing and settlement."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from operator import attrgetter

from p2penergy.market.models import MarketInputError, Order


def in_id_order(orders: Iterable[Order]) -> list[Order]:
    """The orders sorted by id (the contract's storage order); ids must be unique."""
    ordered = sorted(orders, key=ORDER_ID)
    ids = [order.order_id for order in ordered]
    if len(set(ids)) != len(ids):
        duplicate = next(a for a, b in itertools.pairwise(ids) if a == b)
        raise MarketInputError(f"duplicate order id {duplicate}")
    return ordered


ORDER_ID = attrgetter("order_id")
LIMIT_PRICE = attrgetter("limit_price")


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounded up (both operands non-negative, denominator > 0)."""
    return -(-numerator // denominator)
