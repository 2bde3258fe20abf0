"""`p2penergy simulate`: a community trading day on the embedded chain (or a throwaway anvil),
end to end."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from p2penergy.cli._utils import console, handle_errors, json_option, print_json
from p2penergy.domain.slots import ALLOWED_SLOT_SECONDS
from p2penergy.units import format_credits


def _kwh(wh: int) -> str:
    return f"{wh / 1000:,.1f}"


def _money(base_units: int) -> str:
    """Credits with 2 decimals for tables (the JSON keeps exact base units)."""
    return f"{base_units / 1_000_000:,.2f}"


@click.command("simulate")
@click.option(
    "--scenario",
    "scenario_name",
    default="suburban-summer",
    show_default=True,
    help="A scenario YAML path or a shipped name: suburban-summer, suburban-winter, island-outage, "
    "berlin-june-measured.",
)
@click.option("--households", type=click.IntRange(min=1), help="Override the number of households.")
@click.option("--days", type=click.IntRange(min=1), help="Override the number of days.")
@click.option(
    "--slot",
    "slot_seconds",
    type=click.Choice([str(s) for s in ALLOWED_SLOT_SECONDS]),
    help="Slot length in seconds.",
)
@click.option("--seed", type=int, help="Override the scenario's seed (same seed, same report).")
@click.option(
    "--chain",
    "chain_kind",
    type=click.Choice(["embedded", "anvil"]),
    default="embedded",
    show_default=True,
    help="Where the contracts run: the embedded chain (py-evm, in this process) or a throwaway "
    "in-memory anvil with the local node's settings (the day over JSON-RPC against a real node).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("simulation-report"),
    show_default=True,
    help="Folder for report.json, the PNG plots and report.html.",
)
@json_option
@handle_errors
def simulate_command(
    scenario_name: str,
    households: int | None,
    days: int | None,
    slot_seconds: str | None,
    seed: int | None,
    chain_kind: str,
    out_dir: Path,
    as_json: bool,
) -> None:
    """Simulate a community trading day through the real contracts on the embedded chain.

    Households with PV (pvlib) and standard load profiles (BDEW H0) place day-ahead orders; for
    every slot the keeper clears at gate closure, meters sign readings that go through the
    oracle's outbox (a temporary SQLite file) and relayer in a batch, and the keeper settles.
    The auditor checks the whole run at the end. The report compares every bill with the
    grid-only baseline. `--chain anvil` runs the same day on a throwaway anvil (the same
    contracts, rules and report; gas differs only by calldata bytes: addresses and signatures
    differ between the chains).
    """
    from p2penergy.energy import scenario as scenarios
    from p2penergy.sim.report import build_report, check_writable, write
    from p2penergy.sim.runner import SlotOutcome, simulate

    scenario = scenarios.load(scenario_name).with_overrides(
        households=households,
        days=days,
        slot_seconds=None if slot_seconds is None else int(slot_seconds),
        seed=seed,
    )
    if scenario.weather.file is not None:
        from p2penergy.energy.weather import slot_weather

        slot_weather(scenario)  # a bad weather file is refused before anything is written
    check_writable(out_dir)  # before minutes of simulating, not after
    total = len(scenario.slots)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
        transient=False,
    ) as bar:
        task = bar.add_task(f"{scenario.name}", total=total, detail="deploying, registering")

        def on_slot(outcome: SlotOutcome) -> None:
            price = f"{format_credits(outcome.price)}/kWh" if outcome.cleared_wh else "no trade"
            flag = " ISLAND" if outcome.outage else ""
            bar.update(
                task,
                advance=1,
                detail=f"slot {outcome.slot}{flag}: {outcome.orders} orders, "
                f"{_kwh(outcome.traded_wh)} kWh at {price}",
            )
            if outcome.slot == scenario.slots[-1]:
                bar.update(task, detail="auditing the run")

        with ExitStack() as stack:
            chain = None  # the embedded chain
            if chain_kind == "anvil":
                from p2penergy.chain.connect import rpc
                from p2penergy.chain.node import start_anvil

                chain = rpc(stack.enter_context(start_anvil()).url)
            # the outbox in a temporary folder
            result = simulate(scenario, chain=chain, progress=on_slot)
    report = build_report(result)
    paths = write(report, out_dir)
    if as_json:
        print_json(report)
        return
    _print_tables(report)
    console.print(f"report written: {', '.join(str(p) for p in paths)}")


def _print_tables(report: dict[str, Any]) -> None:
    c, p = report["community"], report["prices"]
    s = report["scenario"]
    summary = Table(title=f"{s['name']} (seed {s['seed']}): the community")
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    vwap = p["volume_weighted_clearing_price"]
    split = "seller_fee" in p  # the community splits the fee between buyers and sellers
    fees = ("feed_in", "retail", "network_fee", *(["seller_fee"] if split else []))
    for name, value in (
        (
            "households / prosumers / batteries",
            f"{s['households']} / {s['prosumers']} / {s['batteries']}",
        ),
        ("demand, kWh", _kwh(c["demand_wh"])),
        ("PV generation, kWh", _kwh(c["generation_wh"])),
        ("traded locally, kWh", _kwh(c["traded_local_wh"])),
        (
            "prosumers' export sold locally (to the grid, kWh)",
            f"{c['local_sale_share']:.1%} ({_kwh(c['export_to_grid_wh'])})",
        ),
        (
            "top seller's share of local sales",
            f"{c['top_seller_share']:.1%} ({c['prosumers_without_sales']} prosumers sold nothing)",
        ),
        (
            "self-sufficiency (without market)",
            f"{c['self_sufficiency']:.1%} ({c['self_sufficiency_without_market']:.1%})",
        ),
        (
            "self-consumption (without market)",
            f"{c['self_consumption']:.1%} ({c['self_consumption_without_market']:.1%})",
        ),
        ("grid import avoided, kWh", _kwh(c["grid_import_avoided_wh"])),
        (
            f"CO2 avoided at {s['emission_factor_g_per_kwh']} g/kWh, kg",
            f"{c['co2_avoided_g'] / 1000:,.1f}",
        ),
        ("clearing price, volume-weighted", "n/a" if vwap is None else format_credits(vwap)),
        (
            " / ".join(k.replace("_", "-" if k == "feed_in" else " ") for k in fees),
            " / ".join(format_credits(p[k]) for k in fees),
        ),
        ("community saving vs grid only, credits", format_credits(c["saving"])),
        (
            (
                "fees to the DSO (buyers' network + sellers' fees), credits",
                f"{format_credits(c['fee_account_received'])} "
                f"({format_credits(c['network_fees'])} + {format_credits(c['seller_fees'])})",
            )
            if split
            else ("network fees to the DSO, credits", format_credits(c["fee_account_received"]))
        ),
    ):
        summary.add_row(name, value)
    console.print(summary)
    homes = Table(title="households: bill vs grid-only baseline (credits; kWh)")
    columns = ["household", "kind", "demand", "PV", "bought", "sold", "grid only", "bill"]
    if split:
        columns.insert(6, "seller fee")
    for column in columns:
        if column == "household":
            homes.add_column(column, no_wrap=True, min_width=10)
        else:
            homes.add_column(column, justify="right")
    homes.add_column("saving", justify="right", style="bold")
    for h in report["households"]:
        e, m = h["energy"], h["money"]
        kind = "critical" if h["critical"] else ("PV" if h["kind"] == "prosumer" else "")
        if h["battery_kwh"]:
            kind += "+bat"
        homes.add_row(
            h["name"],
            kind,
            _kwh(e["demand_wh"]),
            _kwh(e["generation_wh"]),
            _kwh(e["bought_local_wh"]),
            _kwh(e["sold_local_wh"]),
            *([_money(m["seller_fees"])] if split else []),
            _money(m["baseline_bill"]),
            _money(m["bill"]),
            _money(m["saving"]),
        )
    console.print(homes)
    if len(report["tariff_bands"]) > 1:
        bands = Table(title="grid tariffs by time of day (credits; kWh)")
        for column in ("band", "retail", "feed-in", "slots", "grid in", "grid out", "bill"):
            bands.add_column(column, justify="right")
        bands.add_column("saving", justify="right", style="bold")
        for b in report["tariff_bands"]:
            bands.add_row(
                "flat" if b["start"] is None else f"{b['start']}-{b['end']}",
                format_credits(b["retail"]),
                format_credits(b["feed_in"]),
                str(b["slots"]),
                _kwh(b["grid_import_wh"]),
                _kwh(b["grid_export_wh"]),
                _money(b["bill"]),
                _money(b["saving"]),
            )
        console.print(bands)
    if report["island"]:
        info = report["island"]
        island = Table(
            title=f"island mode: {info['outage_slots']} outage slots, price cap "
            f"{format_credits(info['price_cap'])}/kWh"
        )
        for column in (
            "class",
            "households",
            "needed kWh",
            "served kWh",
            "unserved kWh",
            "served",
            "bid >= cap kWh",
            "filled kWh",
        ):
            island.add_column(column, justify="right")
        for name, cls in info["classes"].items():
            island.add_row(
                name,
                str(cls["households"]),
                _kwh(cls["needed_wh"]),
                _kwh(cls["served_wh"]),
                _kwh(cls["unserved_wh"]),
                f"{cls['served_share']:.1%}",
                _kwh(cls["eligible_bid_wh"]),
                _kwh(cls["filled_wh"]),
            )
        console.print(island)
        console.print(info["rule"])
    verdict = report.get("audit")
    if verdict is not None:
        _print_audit(verdict)
    gas = Table(title="gas per operation")
    for column in ("operation", "count", "mean", "total"):
        gas.add_column(column, justify="right")
    for op, g in report["gas"].items():
        gas.add_row(op, str(g["count"]), f"{g['mean']:,}", f"{g['total']:,}")
    console.print(gas)


def _print_audit(verdict: dict[str, Any]) -> None:
    word = "[green]PASS[/green]" if verdict["passed"] else "[red]FAIL[/red]"
    table = Table(
        title=f"audit (p2penergy audit on the run's chain): {verdict['checks']} checks, "
        f"{verdict['failed']} failed"
    )
    for column in ("check", "passed", "failed"):
        table.add_column(column, justify="right")
    for name, counts in verdict["by_check"].items():
        table.add_row(name, str(counts["passed"]), str(counts["failed"]))
    console.print(table)
    for failure in verdict["failures"][:10]:
        where = "" if failure["slot"] is None else f" slot {failure['slot']}"
        console.print(f"  {failure['check']}{where}: {failure['message']}", markup=False)
    if len(verdict["failures"]) > 10:
        console.print(f"  … and {len(verdict['failures']) - 10} more (report.json, report.html)")
    console.print(f"audit verdict: {word}")
