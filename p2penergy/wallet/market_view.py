"""What anyone may see of the market, from the chain alone: slots, depth, price history.

No identities: the depth curve aggregates orders per price level, the overview counts orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from p2penergy.chain.deploy import System
from p2penergy.contracts.market import MarketClient
from p2penergy.market import Order, Side


@dataclass(frozen=True, slots=True)
class SlotSummary:
    """One slot's public state: times, status, clearing and the size of each side."""

    slot: int
    starts_at: int
    gate_closes_at: int
    status: str  # open, gate closed, cleared, settling, settled
    price: int | None  # clearing price per kWh (None before clearing or without trade)
    volume_wh: int
    bids: int
    offers: int
    bid_wh: int
    offer_wh: int
    outage_cap: int  # 0 when the grid is up


@dataclass(frozen=True, slots=True)
class Level:
    """One price level of a depth curve: energy at this price and the running total."""

    price: int
    energy_wh: int
    cumulative_wh: int


@dataclass(frozen=True, slots=True)
class Depth:
    """A slot's aggregated book: bids from the highest price down, offers from the lowest up."""

    slot: int
    bids: tuple[Level, ...]
    offers: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class PricePoint:
    """A cleared slot's price and volume."""

    slot: int
    price: int
    volume_wh: int


@dataclass(frozen=True, slots=True)
class PriceStats:
    """Clearing prices over a period (slots with trade only); None when nothing traded."""

    points: tuple[PricePoint, ...]
    minimum: int | None
    median: int | None  # the lower median (an integer price that did clear)
    maximum: int | None
    volume_wh: int


def current_slot(system: System) -> int:
    """The slot running at the chain's current time (0 before the epoch)."""
    epoch, length, _ = system.readings.functions.timing().call()
    return max(0, (system.chain.now() - int(epoch)) // int(length))


def slot_summary(client: MarketClient, slot: int, now: int) -> SlotSummary:
    """The public state of `slot` at time `now`."""
    orders = client.slot_orders(slot)
    clearing = client.clearing(slot)
    starts, gate, _deadline = client.slot_times(slot)
    status = clearing.status
    if status == "open" and now >= gate:
        status = "gate closed"
    bids = [o for o in orders if o.side == Side.BID]
    offers = [o for o in orders if o.side == Side.OFFER]
    cleared = clearing.status != "open" and clearing.volume_wh > 0
    return SlotSummary(
        slot=slot,
        starts_at=starts,
        gate_closes_at=gate,
        status=status,
        price=clearing.price if cleared else None,
        volume_wh=clearing.volume_wh,
        bids=len(bids),
        offers=len(offers),
        bid_wh=sum(o.energy_wh for o in bids),
        offer_wh=sum(o.energy_wh for o in offers),
        outage_cap=client.outage_cap(slot),
    )


def overview(system: System, before: int = 2, after: int = 4) -> list[SlotSummary]:
    """The slots around now: `before` past slots, the current one and `after` coming ones."""
    client = MarketClient(system)
    now = system.chain.now()
    here = current_slot(system)
    first = max(0, here - before)
    return [slot_summary(client, s, now) for s in range(first, here + after + 1)]


def depth(system: System, slot: int) -> Depth:
    """The slot's live orders aggregated per limit price (no owners, no order ids)."""
    orders = MarketClient(system).slot_orders(slot)
    return Depth(
        slot,
        _levels([o for o in orders if o.side == Side.BID], descending=True),
        _levels([o for o in orders if o.side == Side.OFFER], descending=False),
    )


def _levels(orders: Sequence[Order], *, descending: bool) -> tuple[Level, ...]:
    energy: dict[int, int] = {}
    for o in orders:
        energy[o.limit_price] = energy.get(o.limit_price, 0) + o.energy_wh
    out, running = [], 0
    for price in sorted(energy, reverse=descending):
        running += energy[price]
        out.append(Level(price, energy[price], running))
    return tuple(out)


def prices(system: System, first: int, last: int) -> PriceStats:
    """Clearing prices of the slots in [first, last] that traded (`SlotCleared` logs)."""
    start = system.deployment.blocks.get("EnergyMarket", 0)
    logs = system.market.events.SlotCleared().get_logs(from_block=start)
    points = sorted(
        (
            PricePoint(int(e["args"]["slot"]), int(e["args"]["price"]), int(e["args"]["volumeWh"]))
            for e in logs
            if first <= int(e["args"]["slot"]) <= last and int(e["args"]["volumeWh"]) > 0
        ),
        key=lambda p: p.slot,
    )
    ordered = sorted(p.price for p in points)
    return PriceStats(
        points=tuple(points),
        minimum=ordered[0] if ordered else None,
        median=ordered[(len(ordered) - 1) // 2] if ordered else None,
        maximum=ordered[-1] if ordered else None,
        volume_wh=sum(p.volume_wh for p in points),
    )
