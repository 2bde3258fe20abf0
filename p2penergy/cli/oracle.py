"""`p2penergy meter …` and `p2penergy oracle …`: device keys, signing and relaying readings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from p2penergy.cli._service import (
    EXIT_ROWS_REJECTED,
    EXIT_SOURCE_UNREADABLE,
    connection_options,
    health_check,
    parse_ether,
    password_for,
    password_option,
    retry_printer,
    service_errors,
    stop_on_signals,
    warn_balance_option,
)
from p2penergy.cli._utils import console, err_console, handle_errors, json_option, print_json
from p2penergy.exceptions import OracleError

if TYPE_CHECKING:
    from p2penergy.oracle.wiring import SourceSpec


def _default_outbox() -> Path:
    from p2penergy.chain.config import user_data_dir

    return user_data_dir() / "oracle" / "outbox.sqlite"


outbox_option = click.option(
    "--outbox",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The SQLite outbox (default: <user data dir>/p2penergy/oracle/outbox.sqlite).",
)


# ───────────────────────────── meter ─────────────────────────────


@click.group("meter")
def meter_group() -> None:
    """Meter device keys: each meter signs its readings with its own key."""


@meter_group.command("new")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Key file to write (default: <user data dir>/p2penergy/meters/<address>.json|.key).",
)
@click.option(
    "--raw", is_flag=True, help="Write a plain hex key file (mode 0600) instead of a keystore."
)
@password_option
@json_option
@handle_errors
def meter_new(out: Path | None, raw: bool, password_file: Path | None, as_json: bool) -> None:
    """Create a meter device key and print the address the operator registers.

    By default the key is a Web3 Secret Storage keystore encrypted with a password typed at a
    hidden prompt (twice) or read from --password-file; the password is never a command-line
    argument. --raw writes an unencrypted 0600 key file for devices without a keyboard.
    """
    from eth_account import Account

    from p2penergy.chain.config import user_data_dir
    from p2penergy.chain.keyfile import read_password_file
    from p2penergy.oracle.identity import new_key_file, new_keystore

    account = Account.create()
    path = out or user_data_dir() / "meters" / f"{account.address}{'.key' if raw else '.json'}"
    if raw:
        new_key_file(path, account)
    else:
        if password_file is not None:
            password = read_password_file(password_file)
        else:
            password = click.prompt("Keystore password", hide_input=True, confirmation_prompt=True)
        new_keystore(path, password, account)
    if as_json:
        print_json({"address": account.address, "path": str(path), "keystore": not raw})
        return
    console.print(f"meter key written to {path}")
    console.print(
        f"device address (register it with the operator): {account.address}", soft_wrap=True
    )


# ───────────────────────────── oracle ─────────────────────────────


@click.group("oracle")
def oracle_group() -> None:
    """Sign meter readings onto the chain: sources → signed outbox → relayer."""


def _parse_source(spec: str) -> SourceSpec:
    from p2penergy.oracle.wiring import SourceSpec

    kind, _, path = spec.partition(":")
    if kind not in ("csv", "folder") or not path:
        raise click.BadParameter(f"{spec!r}: use csv:PATH or folder:PATH", param_hint="--source")
    return SourceSpec("csv" if kind == "csv" else "folder", Path(path))


@oracle_group.command("run")
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="csv:PATH|folder:PATH",
    help="A CSV export, or a folder whose new *.csv files are picked up (repeatable).",
)
@click.option(
    "--meter-keys",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="Folder of meter keys (*.json keystores, *.key files) this oracle signs with.",
)
@click.option(
    "--relayer-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Key of the account that pays gas to submit (any registered participant or staff).",
)
@password_option
@outbox_option
@click.option("--batch-size", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds per pass.")
@click.option("--once", is_flag=True, help="Take the sources, relay what is due, then exit.")
@warn_balance_option
@connection_options
@service_errors
def oracle_run(
    sources: tuple[str, ...],
    meter_keys: Path,
    relayer_key: Path,
    password_file: Path | None,
    outbox: Path | None,
    batch_size: int,
    interval: float,
    once: bool,
    warn_balance: str,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
) -> None:
    """Read, sign, store and relay meter readings until Ctrl-C (or once, with --once).

    Every reading is signed and committed to the outbox before it is submitted; a reading is
    marked submitted only from a confirmed receipt. While the node is unreachable the relayer
    backs off and retries; a restart resumes from the outbox. Bad input rows are reported as
    FILE:LINE: REASON and skipped, the rest of the file is taken.

    With --once the exit code tells cron whether readings are flowing: 10 when an input could
    not be read at all (missing file, wrong header), 11 when a row was not taken or the contract
    rejected a reading; a continuous run logs these and keeps going. A chain that is not the
    one it started on, or a relayer that cannot pay gas, stops it with 12, 13 or 14
    (docs/oracle.md).
    """
    from p2penergy._retry import Backoff, GasWatch
    from p2penergy.chain.config import resolve
    from p2penergy.exceptions import Stopped
    from p2penergy.oracle.identity import load_key
    from p2penergy.oracle.relayer import RelayResult
    from p2penergy.oracle.service import IntakeResult
    from p2penergy.oracle.sources import Batch
    from p2penergy.oracle.wiring import OracleConnection, meter_key_paths

    warn_below = parse_ether(warn_balance)
    specs = [_parse_source(s) for s in sources]
    key_paths = meter_key_paths(meter_keys)
    password = password_for([*key_paths, relayer_key], password_file)
    keys = [load_key(p, password) for p in key_paths]
    relayer_account = load_key(relayer_key, password)

    stop = stop_on_signals()
    backoff = Backoff(give_up_after=120.0 if once else None)
    settings = resolve(rpc, deployments, chain_id)
    try:
        connection = OracleConnection.connect(
            settings, keys, stop, backoff, retry_printer("oracle")
        )
    except Stopped:
        console.print("stopped before the node answered")
        return
    meters = connection.meters
    with connection.open(
        outbox or _default_outbox(), relayer_account, specs, batch_size=batch_size
    ) as running:
        store = running.outbox
        console.print(
            f"oracle: {len(meters)} meter(s) {sorted(meters)}, relaying as "
            f"{relayer_account.address} to {settings.rpc}; outbox {store.path} "
            f"{_counts_line(store.counts())}"
        )

        def on_intake(batch: Batch, result: IntakeResult) -> None:
            for problem in result.problems:
                err_console.print(
                    f"skipped {problem}", markup=False, highlight=False, soft_wrap=True
                )
            console.print(
                f"{batch.origin}: {result.added} signed, {result.already} already in the outbox, "
                f"{len(result.problems)} problem(s)",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

        def on_relay(result: RelayResult) -> None:
            reasons = ", ".join(f"{k}: {n}" for k, n in sorted(result.reasons.items()))
            console.print(
                f"relayed: {result.submitted} submitted, {result.rejected} rejected"
                + (f" ({reasons})" if reasons else "")
                + f"; outbox {_counts_line(store.counts())}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

        watch = GasWatch(
            connection.system.chain, relayer_account.address, warn_below, running.gas_reserve
        )
        summary = running.oracle.run(
            running.sources,
            stop=stop,
            once=once,
            interval=interval,
            backoff=backoff,
            on_intake=on_intake,
            on_relay=on_relay,
            on_retry=retry_printer("relayer"),
            health=health_check("relayer", connection.system, connection.anchor, watch),
        )
        console.print(f"oracle stopped; outbox {_counts_line(store.counts())}")
    if once and summary.sources_unreadable:
        err_console.print(
            f"error: {summary.sources_unreadable} input(s) could not be read",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(EXIT_SOURCE_UNREADABLE)
    if once and (summary.rows_rejected or summary.readings_rejected):
        err_console.print(
            f"error: {summary.rows_rejected} row(s) not taken, "
            f"{summary.readings_rejected} reading(s) rejected by the contract",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(EXIT_ROWS_REJECTED)


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in counts.items())


@oracle_group.command("status")
@outbox_option
@click.option("--limit", type=int, default=20, show_default=True, help="Rejected rows to list.")
@json_option
@handle_errors
def oracle_status(outbox: Path | None, limit: int, as_json: bool) -> None:
    """Show the outbox: pending, submitted and rejected counts, and why readings were rejected."""
    from p2penergy.oracle.outbox import REJECTED, Outbox

    path = outbox or _default_outbox()
    if not path.is_file():
        raise OracleError(f"no outbox at {path}: run `p2penergy oracle run` first or pass --outbox")
    with Outbox(path) as store:
        counts = store.counts()
        rejected = store.entries(REJECTED)
        bound = store.binding()
    rows = [
        {
            "meter_id": e.signed.reading.meter_id,
            "slot": e.signed.reading.slot,
            "reason": e.reason,
            "origin": e.origin,
            "tx_hash": e.tx_hash,
        }
        for e in rejected
    ]
    if as_json:
        print_json(
            {
                "outbox": str(path),
                "chain_id": bound.chain_id,
                "contract": bound.contract,
                "counts": counts,
                "rejected": rows,
            }
        )
        return
    console.print(f"outbox {path} (chain {bound.chain_id or '?'}, {bound.contract or '?'})")
    table = Table()
    for state in counts:
        table.add_column(state, justify="right")
    table.add_row(*(str(n) for n in counts.values()))
    console.print(table)
    if rows:
        listed = Table(title=f"rejected readings (first {min(limit, len(rows))} of {len(rows)})")
        for column in ("meter", "slot", "reason", "from"):
            listed.add_column(column)
        for row in rows[:limit]:
            listed.add_row(*(str(row[k]) for k in ("meter_id", "slot", "reason", "origin")))
        console.print(listed)
