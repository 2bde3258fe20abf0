"""The simulation's accounting: typed per-household, community, slot and island figures from
what the chain did.

The money and the local energy come from the household ledger (`p2penergy.ledger`), fed with the
run's `OrderSettled` events and the meter readings the oracle submitted, exactly as the audit and
`p2penergy statement` feed it from the chain. Rendering (JSON, plots, HTML) is `sim.report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import TypeVar

from p2penergy.domain.orders import Side, slot_of
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


@dataclass(frozen=True, slots=True)
class HouseholdMoney:
    """One household's money over the run (base units), from its ledger statement."""

    local_receipts: int
    local_charges: int
    network_fees: int
    seller_fees: int  # taken out of `local_receipts` (the gross receipts) for the fee account
    local_refunds: int
    retail_value_of_local_purchases: int
    feed_in_value_of_local_sales: int
    utility_bill: int
    bill: int
    baseline_bill: int
    saving: int
    credits_moved: int

    @classmethod
    def of(cls, account: HouseholdAccount) -> HouseholdMoney:
        total = account.statement.total
        return cls(
            local_receipts=total.receipts,
            local_charges=total.charges,
            network_fees=total.fees,
            seller_fees=total.seller_fees,
            local_refunds=total.refunds,
            retail_value_of_local_purchases=total.retail_value,
            feed_in_value_of_local_sales=total.feed_in_value,
            utility_bill=total.utility_bill,
            bill=total.bill,
            baseline_bill=total.baseline_bill,
            saving=total.saving,
            credits_moved=account.credits_moved,
        )


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


@dataclass(frozen=True, slots=True)
class TariffBand:
    """One grid tariff band over the run, with what it priced: the band's local times (None for
    the flat tariffs outside every band), its tariffs (base units per kWh), the slots it
    covered, and the community's energy and bills in those slots (Wh, base units), summed from
    the households' ledger entries."""

    start: str | None
    end: str | None
    retail: int
    feed_in: int
    slots: int
    grid_import_wh: int
    grid_export_wh: int
    bought_local_wh: int
    sold_local_wh: int
    utility_bill: int
    bill: int
    baseline_bill: int
    saving: int


def tariff_bands(result: RunResult) -> list[TariffBand]:
    """The grid tariff bands that applied, in the scenario's order, then the flat tariffs when
    some slots fell outside every band; bands that covered no simulated slot are left out."""
    scenario = result.community.scenario
    tariffs = scenario.tariffs
    totals: dict[int | None, tuple[int, Entry]] = {}
    for k, slot_input in enumerate(slot_inputs(result)):
        band = scenario.tariff_band(result.community.slots[k])
        count, entry = totals.get(band, (0, Entry()))
        for e in slot_entries(slot_input).values():
            entry += e
        totals[band] = (count + 1, entry)
    order = [k for k in range(len(tariffs.time_of_use)) if k in totals]
    out = []
    for band in [*order, *([None] if None in totals else [])]:
        count, e = totals[band]
        feed_in, retail = tariffs.band_tariffs(band)
        times = None if band is None else tariffs.time_of_use[band]
        out.append(
            TariffBand(
                start=None if times is None else times.start,
                end=None if times is None else times.end,
                retail=retail,
                feed_in=feed_in,
                slots=count,
                grid_import_wh=e.grid_import_wh,
                grid_export_wh=e.grid_export_wh,
                bought_local_wh=e.bought_local_wh,
                sold_local_wh=e.sold_local_wh,
                utility_bill=e.utility_bill,
                bill=e.bill,
                baseline_bill=e.baseline_bill,
                saving=e.saving,
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


def ratio(numerator: int, denominator: int) -> float:
    """A share rounded to 4 decimals (0.0 for an empty denominator)."""
    return round(numerator / denominator, 4) if denominator else 0.0


@dataclass(frozen=True, slots=True)
class KindSaving:
    """What the households of one kind (consumer, prosumer) saved and bought locally."""

    households: int
    saving: int
    bought_wh: int


@dataclass(frozen=True, slots=True)
class CommunityTotals:
    """The community over the run: the households' energy and money summed, the shares a
    community manager reads first, and what the fee, rounding and escrow accounts were left."""

    energy: HouseholdEnergy  # every household's figures summed
    money: HouseholdMoney  # every household's figures summed
    traded_local_wh: int
    self_sufficiency: float
    self_sufficiency_without_market: float
    self_consumption: float
    self_consumption_without_market: float
    grid_import_avoided_wh: int
    co2_avoided_g: int
    fee_account_received: int
    rounding_account_received: int
    market_escrow_left: int
    # share of the prosumers' metered export sold to neighbours (the rest went to the grid or,
    # in an outage, to neighbours outside the market)
    local_sale_share: float
    export_to_grid_wh: int
    fee_income: int  # the fee account's: buyers' network fees + sellers' seller fees
    saving_by_kind: dict[str, KindSaving]  # by kind, in name order
    top_seller_share: float
    sellers: int
    prosumers_without_sales: int
    why_no_sales: dict[str, int]  # prosumers per reason, in reason order
    # what buyers paid per local kWh, energy and network fee (base units per kWh, floor)
    buyers_all_in_price: int | None


_Summable = TypeVar("_Summable", HouseholdEnergy, HouseholdMoney)


def _summed(kind: type[_Summable], items: Sequence[_Summable]) -> _Summable:
    return kind(**{f.name: sum(getattr(i, f.name) for i in items) for f in fields(kind)})


def no_sales_reasons(result: RunResult, homes: Sequence[HouseholdAccount]) -> list[str | None]:
    """Per household: why it sold nothing locally (None when it sold, or is a consumer)."""
    return [
        None if home.energy.sold_local_wh else why_no_sales(result, home.index) for home in homes
    ]


def community_totals(
    result: RunResult, homes: Sequence[HouseholdAccount], reasons: Sequence[str | None]
) -> CommunityTotals:
    """The community's figures from its households' accounts (`households(result)`) and their
    no-sales reasons (`no_sales_reasons`)."""
    scenario = result.community.scenario
    energy = _summed(HouseholdEnergy, [h.energy for h in homes])
    money = _summed(HouseholdMoney, [HouseholdMoney.of(h) for h in homes])
    demand, generation = energy.demand_wh, energy.generation_wh
    served_locally = demand - energy.bought_grid_wh - energy.unserved_wh
    served_without_market = demand - energy.grid_import_without_market_wh - energy.unserved_wh
    kept = generation - energy.exported_grid_wh - energy.curtailed_wh
    kept_without_market = generation - energy.grid_export_without_market_wh - energy.curtailed_wh
    sold = [h.energy.sold_local_wh for h in homes]
    by_kind: dict[str, KindSaving] = {}
    for h in homes:
        k = by_kind.get(h.kind, KindSaving(0, 0, 0))
        by_kind[h.kind] = KindSaving(
            k.households + 1,
            k.saving + h.statement.total.saving,
            k.bought_wh + h.energy.bought_local_wh,
        )
    prosumers = [
        (h, reason) for h, reason in zip(homes, reasons, strict=True) if h.kind == "prosumer"
    ]
    bought = energy.bought_local_wh
    paid = money.local_charges + money.network_fees
    return CommunityTotals(
        energy=energy,
        money=money,
        traded_local_wh=sum(o.traded_wh for o in result.outcomes),
        self_sufficiency=ratio(served_locally, demand),
        self_sufficiency_without_market=ratio(served_without_market, demand),
        self_consumption=ratio(kept, generation),
        self_consumption_without_market=ratio(kept_without_market, generation),
        grid_import_avoided_wh=bought,
        co2_avoided_g=bought * scenario.emission_factor_g_per_kwh // 1000,
        fee_account_received=_delta(result, result.actors.fee_account),
        rounding_account_received=_delta(result, result.actors.rounding_account),
        market_escrow_left=result.balances_after[result.system.market.address],
        local_sale_share=ratio(energy.sold_local_wh, energy.export_wh),
        export_to_grid_wh=energy.exported_grid_wh,
        fee_income=money.network_fees + money.seller_fees,
        saving_by_kind={kind: by_kind[kind] for kind in sorted(by_kind)},
        top_seller_share=ratio(max(sold, default=0), sum(sold)),
        sellers=sum(1 for wh in sold if wh > 0),
        prosumers_without_sales=sum(1 for h, _ in prosumers if h.energy.sold_local_wh == 0),
        why_no_sales={
            reason: sum(1 for _, r in prosumers if r == reason)
            for reason in sorted({r for _, r in prosumers if r})
        },
        buyers_all_in_price=paid * 1000 // bought if bought else None,
    )


def _delta(result: RunResult, account: str) -> int:
    return result.balances_after[account] - result.balances_before[account]


@dataclass(frozen=True, slots=True)
class SlotFigures:
    """One simulated slot for the whole community: its market, energy and weather."""

    slot: int
    time: str  # `d<day> HH:MM` from the scenario's first day
    outage: bool
    orders: int
    cleared_wh: int
    price: int | None  # None when nothing cleared
    traded_wh: int
    demand_wh: int
    generation_wh: int
    grid_import_wh: int  # 0 in an outage slot: no grid
    grid_export_wh: int
    unserved_wh: int
    cloud_cover: float


def slot_time(slot_seconds: int, slot: int) -> str:
    """`d<day> HH:MM`: a slot's start, counted from day 0 of the slot numbering."""
    seconds = slot * slot_seconds
    day, rest = divmod(seconds, 86_400)
    return f"d{day} {rest // 3600:02d}:{rest % 3600 // 60:02d}"


def slot_figures(result: RunResult, books: Sequence[HouseholdLedger]) -> list[SlotFigures]:
    """Every simulated slot's figures; `books` are the households' ledgers (`ledgers(result)`)."""
    community = result.community
    out = []
    for k, outcome in enumerate(result.outcomes):
        out.append(
            SlotFigures(
                slot=outcome.slot,
                time=slot_time(community.scenario.slot_seconds, outcome.slot),
                outage=outcome.outage,
                orders=outcome.orders,
                cleared_wh=outcome.cleared_wh,
                price=outcome.price if outcome.cleared_wh else None,
                traded_wh=outcome.traded_wh,
                demand_wh=sum(f.demand[k] for f in community.actual),
                generation_wh=sum(f.generation[k] for f in community.actual),
                grid_import_wh=0
                if community.outage[k]
                else sum(f.import_wh[k] for f in community.actual)
                - sum(b.bought_local[k] for b in books),
                grid_export_wh=0
                if community.outage[k]
                else sum(f.export_wh[k] for f in community.actual)
                - sum(b.sold_local[k] for b in books),
                unserved_wh=sum(f.unserved[k] for f in community.actual),
                cloud_cover=community.cloud_cover[k],
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One simulated day (a long run's report covers every day, not only totals)."""

    day: int
    date: str  # ISO date
    slots: int
    slots_settled: int
    slots_with_trade: int
    traded_wh: int
    demand_wh: int
    generation_wh: int
    unserved_wh: int


def day_figures(result: RunResult, slots: Sequence[SlotFigures]) -> list[DayFigures]:
    """One entry per simulated day, in day order, from the slots' figures."""
    spd = result.community.scenario.slots_per_day
    days: dict[int, DayFigures] = {}
    for entry in slots:
        day = entry.slot // spd
        d = days.get(day)
        if d is None:
            d = DayFigures(
                day=day,
                date=(result.community.scenario.date + timedelta(days=len(days))).isoformat(),
                slots=0,
                slots_settled=0,
                slots_with_trade=0,
                traded_wh=0,
                demand_wh=0,
                generation_wh=0,
                unserved_wh=0,
            )
        days[day] = replace(
            d,
            slots=d.slots + 1,
            slots_settled=d.slots_settled + (entry.slot in result.slot_settled),
            slots_with_trade=d.slots_with_trade + (entry.price is not None),
            traded_wh=d.traded_wh + entry.traded_wh,
            demand_wh=d.demand_wh + entry.demand_wh,
            generation_wh=d.generation_wh + entry.generation_wh,
            unserved_wh=d.unserved_wh + entry.unserved_wh,
        )
    return [days[day] for day in sorted(days)]


@dataclass(frozen=True, slots=True)
class IslandClass:
    """Island mode for one class of households (critical loads or the others) over the outage
    slots. Physical: what the island had to supply (`needed_wh`), what it served, what stayed
    unserved. Market: energy bid, the part bid at or above the price cap (`eligible_bid_wh`, the
    only bids island mode admits) and the part filled."""

    households: int = 0
    needed_wh: int = 0
    served_wh: int = 0
    bid_wh: int = 0
    eligible_bid_wh: int = 0
    filled_wh: int = 0

    @property
    def unserved_wh(self) -> int:
        return self.needed_wh - self.served_wh

    @property
    def served_share(self) -> float:
        return ratio(self.served_wh, self.needed_wh)

    @property
    def filled_share(self) -> float:
        return ratio(self.filled_wh, self.eligible_bid_wh)


ISLAND_RULE = (
    "market: only bids >= cap and offers <= cap take part, all at the cap, critical-load "
    "bids filled before the others; delivery: critical loads served first, then the "
    "others pro rata, surplus curtailed"
)


@dataclass(frozen=True, slots=True)
class IslandService:
    """Island mode over the run's outage slots, per class (`critical`, `other`)."""

    outage_slots: int
    price_cap: int
    classes: dict[str, IslandClass]  # in class-name order
    rule: str = ISLAND_RULE


def island_class_name(critical: bool) -> str:
    return "critical" if critical else "other"


def island_service(result: RunResult) -> IslandService | None:
    """Island mode over the outage slots (None for a run without an outage), from the meters
    and the chain's orders and `OrderSettled` fills."""
    community = result.community
    if not any(community.outage):
        return None
    cap = community.scenario.tariffs.outage_cap
    down_slots = {s for s, down in zip(community.slots, community.outage, strict=True) if down}
    classes: dict[str, IslandClass] = {}
    for home, flows in zip(community.homes, community.actual, strict=True):
        name = island_class_name(home.critical)
        c = classes.get(name, IslandClass())
        down = [k for k, is_down in enumerate(community.outage) if is_down]
        needed = sum(flows.import_wh[k] + flows.unserved[k] for k in down)
        served = sum(flows.import_wh[k] for k in down)
        classes[name] = IslandClass(
            c.households + 1, c.needed_wh + needed, c.served_wh + served, 0, 0, 0
        )
    for oid, (home_index, order) in sorted(result.orders.items()):
        if order.side != Side.BID or slot_of(oid) not in down_slots:
            continue
        name = island_class_name(community.homes[home_index].critical)
        c = classes[name]
        classes[name] = IslandClass(
            c.households,
            c.needed_wh,
            c.served_wh,
            c.bid_wh + order.energy_wh,
            c.eligible_bid_wh + (order.energy_wh if order.limit_price >= cap else 0),
            c.filled_wh + result.settled.get(oid, {}).get("filledWh", 0),
        )
    return IslandService(
        outage_slots=len(down_slots),
        price_cap=cap,
        classes={name: classes[name] for name in sorted(classes)},
    )
