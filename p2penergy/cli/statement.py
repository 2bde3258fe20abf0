"""`p2penergy statement`: one household's local trade, grid value and saving over a period."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
from rich.table import Table

from p2penergy.audit.ledger import read_statement, slot_grid
from p2penergy.cli._options import connection_options, handle_errors, open_system
from p2penergy.cli._utils import console, json_option, print_json
from p2penergy.domain.slots import SlotGrid
from p2penergy.exceptions import P2PEnergyError
from p2penergy.ledger import Entry, Statement
from p2penergy.units import Currency, energy_json, format_wh, money_json


class StatementInputError(P2PEnergyError, ValueError):
    """A statement option is malformed: `--account` not an address, or a `--from`/`--to`
    bound neither a slot number nor an ISO date or date-time."""


_ENERGY = ("imported_wh", "exported_wh", "bought_local_wh", "sold_local_wh")
_ENERGY_DERIVED = ("grid_import_wh", "grid_export_wh", "certificates_in_wh", "certificates_out_wh")


def parse_bound(text: str, grid: SlotGrid, *, end: bool) -> int:
    """A slot number, or the first (`end`: last) slot of an ISO date or UTC date-time."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        if len(text) == 10:
            day = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
            moment = day + timedelta(days=1) if end else day
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        raise StatementInputError(
            f"{text!r} is not a slot number, an ISO date (2026-06-21) or date-time"
        ) from None
    offset = int(moment.timestamp()) - grid.epoch
    if end:  # the last slot that starts before the moment
        return max(-1, (offset - 1) // grid.slot_length)
    return max(0, -(-offset // grid.slot_length))


def statement_json(stmt: Statement, currency: Currency, grid: SlotGrid) -> dict[str, object]:
    """The statement for scripts: every amount as base units and exact decimal side by side."""

    def entry(e: Entry) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, value in e.as_dict().items():
            out[name] = energy_json(value) if name.endswith("_wh") else money_json(value)
        return out

    return {
        "account": stmt.account,
        "currency": {"code": currency.code, "displayDecimals": currency.decimals},
        "slots": [
            {"slot": row.slot, "start": _iso(grid.start(row.slot)), **entry(row.entry)}
            for row in stmt.slots
        ],
        "total": entry(stmt.total),
    }


def statement_csv(stmt: Statement, grid: SlotGrid) -> str:
    """One row per slot and a `total` row; amounts in base units, energy in Wh (exact)."""
    names = list(Entry().as_dict())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["slot", "start", *names])
    for row in stmt.slots:
        values = row.entry.as_dict()
        writer.writerow([row.slot, _iso(grid.start(row.slot)), *(values[n] for n in names)])
    values = stmt.total.as_dict()
    writer.writerow(["total", "", *(values[n] for n in names)])
    return buffer.getvalue()


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def render(stmt: Statement, currency: Currency, grid: SlotGrid, per_slot: bool) -> None:
    """The statement for people: what was traded, what it was worth at the grid, the saving."""
    t, money = stmt.total, currency.money
    first = _iso(grid.start(stmt.slots[0].slot)) if stmt.slots else "-"
    last = _iso(grid.start(stmt.slots[-1].slot + 1)) if stmt.slots else "-"
    console.print(f"Statement of {stmt.account}: {len(stmt.slots)} slots, {first} to {last}")
    lines = [
        (
            "bought from neighbours",
            f"{format_wh(t.bought_local_wh)} for {money(t.charges)} + fees {money(t.fees)}",
            f"at retail: {money(t.retail_value)}",
        ),
        (
            "sold to neighbours",
            f"{format_wh(t.sold_local_wh)} for {money(t.receipts)}"
            + (f" - seller fees {money(t.seller_fees)}" if t.seller_fees else ""),
            f"at feed-in: {money(t.feed_in_value)}",
        ),
        (
            "from / to the grid",
            f"{format_wh(t.grid_import_wh)} in, {format_wh(t.grid_export_wh)} out",
            f"utility bill: {money(t.utility_bill)}",
        ),
        ("bill", money(t.bill), f"grid only: {money(t.baseline_bill)}"),
        ("saving", money(t.saving), f"escrow refunded: {money(t.refunds)}"),
    ]
    table = Table(show_header=False)
    for cells in lines:
        table.add_row(*cells)
    console.print(table)
    if per_slot and stmt.slots:
        slots = Table("slot", "start", "bought", "paid", "sold", "received", "bill", "saving")
        for row in stmt.slots:
            e = row.entry
            slots.add_row(
                str(row.slot),
                _iso(grid.start(row.slot)),
                format_wh(e.bought_local_wh),
                money(e.paid),
                format_wh(e.sold_local_wh),
                money(e.net_receipts),  # credited: the receipt less any seller fee
                money(e.bill),
                money(e.saving),
            )
        console.print(slots)


@click.command("statement")
@click.option("--account", "account", required=True, help="The household's address.")
@click.option("--from", "start", default=None, help="First slot, ISO date or UTC date-time.")
@click.option("--to", "end", default=None, help="Last slot, ISO date (inclusive) or date-time.")
@click.option("--per-slot", is_flag=True, help="Add one line per slot.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (base units and Wh, exact).")
@json_option
@connection_options
@handle_errors
def statement_command(
    account: str,
    start: str | None,
    end: str | None,
    per_slot: bool,
    as_csv: bool,
    as_json: bool,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
) -> None:
    """A household's statement over a period, read from the chain alone.

    Energy bought and sold locally, what was paid and received, what the same energy would have
    cost at retail or earned at feed-in, network and seller fees, refunds, the grid bill and the
    saving against buying and selling everything at the grid tariffs (docs/simulation.md,
    "Accounting"). Amounts are exact: --json gives base units and a decimal string side by
    side, --csv base units and Wh. --from/--to take slot numbers or ISO dates (UTC).
    """
    from eth_utils.address import is_hex_address

    if not is_hex_address(account):
        raise StatementInputError(f"--account {account}: not an address (0x + 40 hex digits)")
    system = open_system(rpc, deployments, chain_id)
    grid = slot_grid(system)
    first = None if start is None else parse_bound(start, grid, end=False)
    last = None if end is None else parse_bound(end, grid, end=True)
    stmt = read_statement(system, account, first, last)
    currency = system.deployment.money
    if as_json:
        print_json(statement_json(stmt, currency, grid))
    elif as_csv:
        click.echo(statement_csv(stmt, grid), nl=False)
    else:
        render(stmt, currency, grid, per_slot)
