"""`p2penergy market` and `p2penergy prices`: the public market, read from the chain alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.table import Table

from p2penergy.audit.ledger import slot_grid
from p2penergy.cli._options import connection_options, handle_errors, open_system
from p2penergy.cli._utils import console, json_option, print_json
from p2penergy.cli.statement import parse_bound
from p2penergy.units import Currency, energy_json, format_wh, money_json
from p2penergy.wallet import market_view


def _time(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")


def _level_json(level: market_view.Level) -> dict[str, object]:
    return {
        "price": money_json(level.price),
        "energy": energy_json(level.energy_wh),
        "cumulative": energy_json(level.cumulative_wh),
    }


def _price_json(price: int | None) -> dict[str, int | str] | None:
    return None if price is None else money_json(price)


@click.group("market", invoke_without_command=True)
@click.option(
    "--before", type=click.IntRange(0, 96), default=2, show_default=True, help="Past slots."
)
@click.option(
    "--after", type=click.IntRange(0, 96), default=4, show_default=True, help="Coming slots."
)
@json_option
@connection_options
@click.pass_context
@handle_errors
def market_group(
    ctx: click.Context,
    before: int,
    after: int,
    as_json: bool,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
) -> None:
    """The slots around now: gate times, status, clearing price, volume, orders per side.

    Status is open (orders accepted), gate closed (waiting for clearing), cleared, settling or
    settled. `p2penergy market book SLOT` shows a slot's aggregated depth.
    """
    if ctx.invoked_subcommand is not None:
        return
    system = open_system(rpc, deployments, chain_id)
    currency = system.deployment.money
    rows = market_view.overview(system, before, after)
    if as_json:
        print_json(
            [
                {
                    "slot": r.slot,
                    "startsAt": r.starts_at,
                    "gateClosesAt": r.gate_closes_at,
                    "status": r.status,
                    "price": _price_json(r.price),
                    "volume": energy_json(r.volume_wh),
                    "bids": r.bids,
                    "offers": r.offers,
                    "bidEnergy": energy_json(r.bid_wh),
                    "offerEnergy": energy_json(r.offer_wh),
                    "outageCap": r.outage_cap,
                }
                for r in rows
            ]
        )
        return
    table = Table(title="Market (UTC)")
    for column in ("slot", "starts", "gate closes", "status", "price", "volume", "bids", "offers"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r.slot),
            _time(r.starts_at),
            _time(r.gate_closes_at),
            r.status + (" (island)" if r.outage_cap else ""),
            "" if r.price is None else currency.price(r.price),
            format_wh(r.volume_wh),
            f"{r.bids} / {format_wh(r.bid_wh)}",
            f"{r.offers} / {format_wh(r.offer_wh)}",
        )
    console.print(table)


@market_group.command("book")
@click.argument("slot", type=click.IntRange(min=0))
@json_option
@connection_options
@handle_errors
def book_command(
    slot: int, as_json: bool, rpc: str | None, deployments: Path | None, chain_id: int | None
) -> None:
    """A slot's depth: energy per limit price and cumulative, bids and offers (no identities)."""
    system = open_system(rpc, deployments, chain_id)
    book = market_view.depth(system, slot)
    if as_json:
        print_json(
            {
                "slot": slot,
                "bids": [_level_json(level) for level in book.bids],
                "offers": [_level_json(level) for level in book.offers],
            }
        )
        return
    currency = system.deployment.money
    for title, levels in (("Bids (highest first)", book.bids), ("Offers", book.offers)):
        table = Table(title=f"{title}, slot {slot}")
        for column in ("price", "energy", "cumulative"):
            table.add_column(column, justify="right")
        for level in levels:
            table.add_row(
                currency.price(level.price),
                format_wh(level.energy_wh),
                format_wh(level.cumulative_wh),
            )
        console.print(table)


@click.command("prices")
@click.option("--from", "start", required=True, help="First slot, ISO date or UTC date-time.")
@click.option("--to", "end", required=True, help="Last slot, ISO date (inclusive) or date-time.")
@json_option
@connection_options
@handle_errors
def prices_command(
    start: str,
    end: str,
    as_json: bool,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
) -> None:
    """Clearing prices over a period: every traded slot and the min / median / max."""
    system = open_system(rpc, deployments, chain_id)
    grid = slot_grid(system)
    stats = market_view.prices(
        system, parse_bound(start, grid, end=False), parse_bound(end, grid, end=True)
    )
    if as_json:
        print_json(
            {
                "slots": [
                    {
                        "slot": p.slot,
                        "price": money_json(p.price),
                        "volume": energy_json(p.volume_wh),
                    }
                    for p in stats.points
                ],
                "min": _price_json(stats.minimum),
                "median": _price_json(stats.median),
                "max": _price_json(stats.maximum),
                "volume": energy_json(stats.volume_wh),
            }
        )
        return
    currency: Currency = system.deployment.money
    table = Table(title="Clearing prices (UTC)")
    for column in ("slot", "starts", "price", "volume"):
        table.add_column(column)
    for p in stats.points:
        table.add_row(
            str(p.slot), _time(grid.start(p.slot)), currency.price(p.price), format_wh(p.volume_wh)
        )
    console.print(table)
    if stats.points:
        low, mid, high = (
            currency.price(x or 0) for x in (stats.minimum, stats.median, stats.maximum)
        )
        console.print(f"min {low}, median {mid}, max {high}; {format_wh(stats.volume_wh)} traded")
    else:
        console.print("no slot traded in this period")
