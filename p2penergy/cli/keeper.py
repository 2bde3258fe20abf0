"""`p2penergy keeper run`: clear, settle and expire slots when they are due."""

from __future__ import annotations

from pathlib import Path

import click

from p2penergy.cli._service import (
    connection_options,
    health_check,
    load_one_key,
    parse_ether,
    password_option,
    retry_printer,
    service_errors,
    stop_on_signals,
    warn_balance_option,
)
from p2penergy.cli._utils import console, err_console

# The gas money the keeper keeps in reserve: its costliest transaction, a settlement of a full
# chunk (benchmarks: ~85,000 gas per filled order; 100 orders plus overhead).
KEEPER_RESERVE_GAS = 10_000_000


def _slot_range(spec: str | None) -> list[int] | None:
    if spec is None:
        return None
    first, sep, last = spec.partition("-")
    try:
        lo = int(first)
        hi = int(last) if sep else lo
    except ValueError:
        raise click.BadParameter(f"{spec!r}: use N or FIRST-LAST", param_hint="--slots") from None
    if hi < lo:
        raise click.BadParameter(f"{spec!r}: empty range", param_hint="--slots")
    return list(range(lo, hi + 1))


@click.group("keeper")
def keeper_group() -> None:
    """Trigger matching and payment on time: clearing, settlement, expiry."""


@keeper_group.command("run")
@click.option(
    "--key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Key of the keeper account (KEEPER_ROLE or any active participant).",
)
@password_option
@click.option(
    "--slots",
    default=None,
    metavar="N|FIRST-LAST",
    help="Watch these slots only (default: every slot with orders since deployment).",
)
@click.option(
    "--chunk",
    type=click.IntRange(0),
    default=100,
    show_default=True,
    help="Orders settled per transaction once the reading window closed (0 = all at once).",
)
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds per pass.")
@click.option("--once", is_flag=True, help="One pass over the slots, then exit (for cron).")
@warn_balance_option
@connection_options
@service_errors
def keeper_run(
    key: Path,
    password_file: Path | None,
    slots: str | None,
    chunk: int,
    interval: float,
    once: bool,
    warn_balance: str,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
) -> None:
    """Watch the market's slots and act when due, until Ctrl-C (or once, with --once).

    After gate closure it reads the slot's orders, computes the uniform-price clearing and
    submits it (the contract verifies it); once delivery is over and every filled trader's meter
    has reported, or the reading window has closed, it settles; a slot nobody cleared by its
    deadline is expired (every bid refunded). Another keeper doing the same is harmless: a slot
    it already handled is reported as done.

    Unattended: a node that is down or restarting is waited for (one line, back-off up to
    30 s); a chain that is not the one it started on (reset, empty, another chain id) or an
    account that cannot pay gas stops it with exit 12, 13 or 14 (docs/oracle.md).
    """
    from p2penergy._retry import Backoff, GasWatch, connect_system_retrying
    from p2penergy.chain.config import resolve
    from p2penergy.exceptions import Stopped
    from p2penergy.keeper.keeper import Action, Keeper, Outcome

    warn_below = parse_ether(warn_balance)
    account = load_one_key(key, password_file)
    watch_slots = _slot_range(slots)
    stop = stop_on_signals()
    backoff = Backoff(give_up_after=120.0 if once else None)
    settings = resolve(rpc, deployments, chain_id)
    try:
        system, anchor, keeper = connect_system_retrying(
            settings,
            stop,
            backoff,
            retry_printer("keeper"),
            lambda system: Keeper(system, account, chunk=chunk, slots=watch_slots),
        )
    except Stopped:
        console.print("stopped before the node answered")
        return
    console.print(f"keeper {account.address} on {settings.rpc}")
    gas_watch = GasWatch(system.chain, account.address, warn_below, KEEPER_RESERVE_GAS)

    def on_action(action: Action) -> None:
        detail = f" ({action.detail})" if action.detail else ""
        out = err_console if action.outcome in (Outcome.REFUSED, Outcome.RETRYING) else console
        out.print(
            f"slot {action.slot}: {action.outcome}{detail}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    keeper.run(
        stop=stop,
        once=once,
        interval=interval,
        backoff=backoff,
        on_action=on_action,
        on_retry=retry_printer("keeper"),
        health=health_check("keeper", system, anchor, gas_watch),
    )
    console.print(f"keeper stopped; {len(keeper.watched)} slot(s) still open")
