"""Pure market maths: uniform-price clearing and min-of-two settlement (no chain code).

The exact rules are in docs/market-rules.md; `EnergyMarket.sol` enforces the same integers.
"""

from p2penergy.market.clearing import (
    BUDGET_UNUSED,
    MARGINAL_INVALID,
    NOT_MAXIMAL,
    UNBALANCED,
    ClearingRejected,
    ClearingRule,
    IslandRule,
    NormalRule,
    bid_rank,
    clear,
    clear_island,
    escrow_for,
    fills_for,
    island_eligible,
    offer_rank,
    rule_for,
    verify,
    verify_island,
)
from p2penergy.market.models import Clearing, MarketInputError, Order, Side
from p2penergy.market.settlement import Settlement, SettlementLine, settle

__all__ = [
    "BUDGET_UNUSED",
    "MARGINAL_INVALID",
    "NOT_MAXIMAL",
    "UNBALANCED",
    "Clearing",
    "ClearingRejected",
    "ClearingRule",
    "IslandRule",
    "MarketInputError",
    "NormalRule",
    "Order",
    "Settlement",
    "SettlementLine",
    "Side",
    "bid_rank",
    "clear",
    "clear_island",
    "escrow_for",
    "fills_for",
    "island_eligible",
    "offer_rank",
    "rule_for",
    "settle",
    "verify",
    "verify_island",
]
