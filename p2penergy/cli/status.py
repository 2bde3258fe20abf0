"""`p2penergy status`: the operator's first look at a running deployment."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from p2penergy.cli._options import handle_errors
from p2penergy.cli._service import connection_options, parse_ether, warn_balance_option
from p2penergy.cli._utils import console, json_option, print_json


@click.command("status")
@click.option(
    "--outbox",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The oracle's SQLite outbox: show its backlog (pending and failed readings).",
)
@click.option(
    "--keeper",
    "keepers",
    multiple=True,
    metavar="ADDRESS|KEYFILE",
    help="The keeper's account: an address, its keystore (no password needed) or key file.",
)
@click.option(
    "--relayer",
    "relayers",
    multiple=True,
    metavar="ADDRESS|KEYFILE",
    help="The oracle relayer's account, as --keeper.",
)
@warn_balance_option
@json_option
@connection_options
@handle_errors
def status_command(
    outbox: Path | None,
    keepers: tuple[str, ...],
    relayers: tuple[str, ...],
    warn_balance: str,
    as_json: bool,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
) -> None:
    """Show the chain head and its age, the last cleared and settled slot, the current slot and
    the next gate closure, the oracle outbox's backlog and each service account's gas money
    (marked LOW below --warn-balance).

    Exits 3 with one line when the node is unreachable; 0 otherwise (a LOW account or a stale
    head is shown, not an error: scripts read the --json fields).
    """
    from p2penergy.cli._options import open_system
    from p2penergy.oracle.identity import address_of
    from p2penergy.status import read_status

    warn_below = parse_ether(warn_balance)
    accounts = [("keeper", address_of(k)) for k in keepers]
    accounts += [("relayer", address_of(r)) for r in relayers]
    system = open_system(rpc, deployments, chain_id)
    status = read_status(system, accounts=accounts, warn_below_wei=warn_below, outbox=outbox)
    if as_json:
        print_json(status.as_dict())
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("node", f"{status.rpc} (chain {status.chain_id})")
    table.add_row("head", f"block {status.head_block}, {status.head_age_s} s old")
    table.add_row("last cleared slot", _opt(status.last_cleared_slot))
    table.add_row("last settled slot", _opt(status.last_settled_slot))
    if status.current_slot is not None:
        table.add_row(
            "current slot",
            f"{status.current_slot} (started {status.current_slot_starts_at}, "
            f"gate {status.current_slot_gate_closes_at})",
        )
    table.add_row("next gate", f"slot {status.next_gate_slot} at {status.next_gate_closes_at}")
    if status.outbox is not None:
        o = status.outbox
        table.add_row("outbox", f"{o['pending']} pending, {o['failed']} failed ({o['path']})")
    for account in status.accounts:
        mark = " [red]LOW[/red]" if account.low else ""
        table.add_row(
            account.role, f"{account.address} {account.balance_wei / 10**18:.6f} ETH{mark}"
        )
    console.print(table)


def _opt(value: int | None) -> str:
    return "none yet" if value is None else str(value)
