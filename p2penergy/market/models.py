"""Market data models: orders and the clearing that fills them (integers only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from p2penergy.domain.orders import Side
from p2penergy.exceptions import P2PEnergyError

__all__ = ["Clearing", "MarketInputError", "Order", "Side"]


class MarketInputError(P2PEnergyError, ValueError):
    """The orders, clearing or readings handed to the market maths are malformed."""


@dataclass(frozen=True, slots=True)
class Order:
    """One order of a slot, as the contract stores it.

    `limit_price` and `fee_per_kwh` are credit base units per kWh; `fee_per_kwh` is the fee
    snapshotted at placement: a bid's network fee (so a later tariff change never breaks its
    escrow), an offer's seller fee (taken out of its receipt at settlement).
    """

    order_id: int
    owner: str
    side: Side
    energy_wh: int
    limit_price: int
    fee_per_kwh: int = 0
    critical: bool = False

    def __post_init__(self) -> None:
        try:
            side = Side(self.side)
        except ValueError:
            raise MarketInputError(f"order {self.order_id}: unknown side {self.side!r}") from None
        object.__setattr__(self, "side", side)
        if self.order_id < 0:
            raise MarketInputError(f"order id must be >= 0, got {self.order_id}")
        if self.energy_wh <= 0:
            raise MarketInputError(f"order {self.order_id}: energy must be > 0 Wh")
        if self.limit_price < 0 or self.fee_per_kwh < 0:
            raise MarketInputError(f"order {self.order_id}: prices must be >= 0")


@dataclass(frozen=True, slots=True)
class Clearing:
    """The outcome of clearing a slot: its description, price and every order's fill.

    The description `(marginal_bid, marginal_offer, bid_marginal_wh, offer_marginal_wh)` is what
    the keeper submits on chain; `(0, 0, 0, 0)` describes a slot that trades nothing.
    """

    volume_wh: int
    price: int
    marginal_bid: int
    marginal_offer: int
    bid_marginal_wh: int
    offer_marginal_wh: int
    fills: Mapping[int, int]

    @property
    def description(self) -> tuple[int, int, int, int]:
        """The four integers submitted on chain, in `verify` argument order."""
        return (
            self.marginal_bid,
            self.marginal_offer,
            self.bid_marginal_wh,
            self.offer_marginal_wh,
        )
