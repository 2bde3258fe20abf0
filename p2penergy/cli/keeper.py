"""`p2penergy keeper run`: clear, settle and expire slots when they are due."""

from __future__ import annotations

from pathlib import Path

import click

from p2penergy.cli._service import (
    connection_options,
    load_one_key,
    password_option,
    retry_printer,
    stop_on_signals,
)
from p2penergy.cli._utils import console, err_console, handle_errors


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
@connection_options
@handle_errors
def keeper_run(
    key: Path,
    password_file: Path | None,
    slots: str | None,
    chunk: int,
    interval: float,
    once: bool,
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
    """
    from p2penergy._retry import Backoff, Stopped, connect_system_retrying
    from p2penergy.chain.config import resolve
    from p2penergy.keeper.keeper import REFUSED, RETRYING, Action, Keeper

    account = load_one_key(key, password_file)
    watch = _slot_range(slots)
    stop = stop_on_signals()
    backoff = Backoff(give_up_after=120.0 if once else None)
    settings = resolve(rpc, deployments, chain_id)
    try:
        _, keeper = connect_system_retrying(
            settings,
            stop,
            backoff,
            retry_printer("keeper"),
            lambda system: Keeper(system, account, chunk=chunk, slots=watch),
        )
    except Stopped:
        console.print("stopped before the node answered")
        return
    assert keeper is not None
    console.print(f"keeper {account.address} on {settings.rpc}")

    def on_action(action: Action) -> None:
        detail = f" ({action.detail})" if action.detail else ""
        out = err_console if action.outcome in (REFUSED, RETRYING) else console
        out.print(f"slot {action.slot}: {action.outcome}{detail}", markup=False, highlight=False)

    keeper.run(
        stop=stop,
        once=once,
        interval=interval,
        backoff=backoff,
        on_action=on_action,
        on_retry=retry_printer("keeper"),
    )
    console.print(f"keeper stopped; {len(keeper.watched)} slot(s) still open")
