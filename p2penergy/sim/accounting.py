"""The simulation's accounting: typed per-household figures from what the chain did.

The money and the local energy come from the household ledger (`p2penergy.ledger`), fed with the
run's `OrderSettled` events and the meter readings the oracle submitted, exactly as the audit and
`p2penergy statement` feed it from the chain. Rendering (JSON, plots, HTML) is `sim.report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from p2penergy.ledger import (
    Entry,
    Fill,
    SlotEntry,
    SlotInput,
    Statement,
    Tariffs,
    slot_entries,
    statement,
)
from p2penergy.market import Side
from p2penergy.sim.runner import RunResult


@dataclass(frozen=True, slots=True)
class HouseholdLedger:
    """One household's per-slot local trade (integer Wh), from the settlement events."""

    bought_local: list[int]
    sold_local: list[int]


@dataclass(frozen=True, slots=True)
class HouseholdEnergy:
    """One household's energy over the run (Wh)."""

    demand_wh: int
    generation_wh: int
    self_consumed_wh: int
    battery_charge_wh: int
    battery_discharge_wh: int
    import_wh: int
    export_wh: int
    bought_local_wh: int
    sold_local_wh: int
    unserved_wh: int
    curtailed_wh: int
    # In outage slots there is no grid: what a meter measured beyond its local trade came from
    # (or went to) neighbours outside the market; the utility still settles it.
    island_untraded_in_wh: int
    island_untraded_out_wh: int
    bought_grid_wh: int
    exported_grid_wh: int
    grid_import_without_market_wh: int
    grid_export_without_market_wh: int


@dataclass(frozen=True, slots=True)
class HouseholdAccount:
    """A household: who it is, its energy, its ledger statement and its chain balance change."""

    index: int
    name: str
    kind: str
    critical: bool
    account: str
    energy: HouseholdEnergy
    statement: Statement
    credits_moved: int  # balance after - balance before, read from the chain


def slot_inputs(result: RunResult) -> list[SlotInput]:
    """The ledger's input per simulated slot: the grid's tariffs, traded energy, fills and
    meters."""
    community = result.community
    scenario = community.scenario
    accounts: list[str] = [a.address for a in result.actors.households]
    fills: dict[int, list[Fill]] = {}
    for oid, args in sorted(result.settled.items()):
        home, order = result.orders[oid]
        fills.setdefault(oid >> 16, []).append(
            Fill(
                order_id=oid,
                owner=accounts[home],
                side=order.side,
                metered_wh=args["meteredWh"],
                certificate_wh=args["certificateWh"],
                amount=args["amount"],
                fee=args["fee"],
                refund=args["refund"],
            )
        )
    out = []
    for k, outcome in enumerate(result.outcomes):
        meters: dict[str, tuple[int, int]] = {
            accounts[i]: (flows.import_wh[k], flows.export_wh[k])
            for i, flows in enumerate(community.actual)
        }
        out.append(
            SlotInput(
                slot=outcome.slot,
                # the grid's tariffs in force for the slot (time-of-use bands, else flat)
                tariffs=Tariffs(*scenario.grid_tariffs(community.slots[k])),
                traded_wh=outcome.traded_wh,
                fills=tuple(fills.get(outcome.slot, [])),
                meters=meters,
            )
        )
    return out


def ledgers(result: RunResult) -> list[HouseholdLedger]:
    """Each household's local energy per slot (the ledger's exact split of each slot's T)."""
    accounts = [a.address.lower() for a in result.actors.households]
    n = len(result.community.slots)
    out = [HouseholdLedger([0] * n, [0] * n) for _ in accounts]
    for k, slot in enumerate(slot_inputs(result)):
        entries = slot_entries(slot)
        for book, account in zip(out, accounts, strict=True):
            entry = entries.get(account)
            if entry is not None:
                book.bought_local[k] = entry.bought_local_wh
                book.sold_local[k] = entry.sold_local_wh
    return out


def households(result: RunResult) -> list[HouseholdAccount]:
    """Every household's typed accounts over the run."""
    community = result.community
    accounts = [a.address for a in result.actors.households]
    per_slot = [slot_entries(slot) for slot in slot_inputs(result)]
    down = community.outage
    out = []
    for home, flows, account in zip(community.homes, community.actual, accounts, strict=True):
        key = account.lower()
        mine = [entries.get(key, Entry()) for entries in per_slot]
        stmt = statement(
            key,
            (
                SlotEntry(slot, entry)
                for slot, entries, entry in zip(community.slots, per_slot, mine, strict=True)
                if key in entries
            ),
        )
        bought = [e.bought_local_wh for e in mine]
        sold = [e.sold_local_wh for e in mine]
        island_in = sum(flows.import_wh[k] - bought[k] for k in range(len(down)) if down[k])
        island_out = sum(flows.export_wh[k] - sold[k] for k in range(len(down)) if down[k])
        total = stmt.total
        energy = HouseholdEnergy(
            demand_wh=sum(flows.demand),
            generation_wh=sum(flows.generation),
            self_consumed_wh=sum(flows.self_consumed),
            battery_charge_wh=sum(flows.charge),
            battery_discharge_wh=sum(flows.discharge),
            import_wh=sum(flows.import_wh),
            export_wh=sum(flows.export_wh),
            bought_local_wh=total.bought_local_wh,
            sold_local_wh=total.sold_local_wh,
            unserved_wh=sum(flows.unserved),
            curtailed_wh=sum(flows.curtailed),
            island_untraded_in_wh=island_in,
            island_untraded_out_wh=island_out,
            bought_grid_wh=sum(flows.import_wh) - total.bought_local_wh - island_in,
            exported_grid_wh=sum(flows.export_wh) - total.sold_local_wh - island_out,
            grid_import_without_market_wh=sum(
                flows.import_wh[k] for k in range(len(down)) if not down[k]
            ),
            grid_export_without_market_wh=sum(
                flows.export_wh[k] for k in range(len(down)) if not down[k]
            ),
        )
        out.append(
            HouseholdAccount(
                index=home.index,
                name=home.name,
                kind=home.kind,
                critical=home.critical,
                account=account,
                energy=energy,
                statement=stmt,
                credits_moved=result.balances_after[account] - result.balances_before[account],
            )
        )
    return out


NO_OFFER = "no forecast surplus: placed no offer"
NOT_MATCHED = "offers not matched: asked more than any buyer bid"
NOTHING_DELIVERED = "matched, but its meter exported nothing"
NOTHING_ABSORBED = "matched, but the buyers' meters absorbed nothing"


def why_no_sales(result: RunResult, home_index: int) -> str | None:
    """Why a prosumer sold nothing locally (None for a consumer)."""
    if result.community.homes[home_index].kind != "prosumer":
        return None
    return no_sales_reason(
        [
            result.settled.get(oid)
            for oid, (owner, order) in sorted(result.orders.items())
            if owner == home_index and order.side == Side.OFFER
        ]
    )


def no_sales_reason(offers: Sequence[Mapping[str, int] | None]) -> str | None:
    """The reason a seller sold nothing, from its offers' `OrderSettled` arguments (None for an
    offer not settled yet); None when one of them did sell."""
    if not offers:
        return NO_OFFER
    settled = [s for s in offers if s is not None]
    if any(s["certificateWh"] > 0 for s in settled):
        return None
    filled = [s for s in settled if s["filledWh"] > 0]
    if not filled:
        return NOT_MATCHED
    if all(s["meteredWh"] == 0 for s in filled):
        return NOTHING_DELIVERED
    return NOTHING_ABSORBED
