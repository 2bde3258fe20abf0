"""Small integer and ordering helpers shared by clearing and settlement."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from p2penergy.market.models import MarketInputError, Order


def in_id_order(orders: Iterable[Order]) -> list[Order]:
    """The orders sorted by id (the contract's storage order); ids must be unique."""
    ordered = sorted(orders, key=lambda o: o.order_id)
    for previous, current in itertools.pairwise(ordered):
        if previous.order_id == current.order_id:
            raise MarketInputError(f"duplicate order id {current.order_id}")
    return ordered


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounded up (both operands non-negative, denominator > 0)."""
    return -(-numerator // denominator)
