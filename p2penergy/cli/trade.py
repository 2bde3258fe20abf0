"""Trading commands: balance, deposit, withdraw, offer, bid, cancel, orders, trades,
certificates, retire, redeem.

Thin on purpose: parsing and checks live in p2penergy.wallet.trading; these commands read
options, show what will be signed, ask for confirmation and the password, and print results.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_utils.address import is_address, is_checksum_address, to_checksum_address
from rich.table import Table

from p2penergy.cli._options import (
    account_options,
    connection_options,
    handle_errors,
    open_system,
    pick_account,
    unlock,
    yes_option,
)
from p2penergy.cli._utils import console, err_console, json_option, print_json
from p2penergy.cli.forecast import forecast_day_options
from p2penergy.contracts.credit import payment_ref
from p2penergy.domain.orders import OrderInput
from p2penergy.exceptions import KeystoreError
from p2penergy.market import Side
from p2penergy.units import decimal_credits, decimal_kwh, format_credits, format_wh, parse_credits
from p2penergy.wallet.errors import FarAheadNotConfirmed, WalletError
from p2penergy.wallet.keystore import Keystore
from p2penergy.wallet.timeslots import zone
from p2penergy.wallet.trading import (
    CONFIRM_HORIZON_DAYS,
    OrderPlan,
    Wallet,
    energy_wh,
    price_per_kwh,
    read_schedule,
)

F = TypeVar("F", bound=Callable[..., Any])

tz_option = click.option(
    "--tz",
    "tz_name",
    default=None,
    envvar="P2PENERGY_TZ",
    help="Time zone of the times you type and see (IANA name; default: the system's).",
)


def slot_options(func: F) -> F:
    slot_range = click.IntRange(0, 2**64 - 1)
    func = click.option(
        "--slot", type=slot_range, default=None, help="Slot number instead of --at."
    )(func)
    return click.option(
        "--at",
        "at",
        default=None,
        help='Local start of the slot, e.g. "2026-11-22 14:15" (in --tz).',
    )(func)


def _address(keystore_dir: Path | None, account: str | None) -> str:
    """The account to read: a keystore name/address, or any address (no password needed)."""
    if account and is_address(account):
        digits = account[2:]
        mixed = digits not in (digits.lower(), digits.upper())
        if mixed and not is_checksum_address(account):
            raise WalletError(f"address {account!r} has a wrong EIP-55 checksum (mixed case)")
        return str(to_checksum_address(account))
    keystore = Keystore(keystore_dir)
    return keystore.find(pick_account(keystore, account)).address


def _slot(wallet: Wallet, at: str | None, slot: int | None, tz: tzinfo) -> int:
    if (at is None) == (slot is None):
        raise WalletError('give the slot with --at "YYYY-MM-DD HH:MM" or --slot N (one of them)')
    return slot if slot is not None else wallet.slot_at(str(at), tz)


def _confirm(yes: bool, question: str = "Sign and send?") -> None:
    if not yes and not click.confirm(question, default=False, err=True):
        raise click.Abort()


def _confirm_far_ahead(wallet: Wallet, orders: list[OrderInput], yes: bool) -> None:
    """A slot beyond the horizon is confirmed on its own: asked on a terminal, refused without
    one unless --yes (a script must say it means it)."""
    slot = wallet.far_ahead(orders)
    if slot is None or yes:
        return
    days = (wallet.clock.start(slot) - wallet.system.chain.now()) // 86_400
    if not sys.stdin.isatty():
        raise FarAheadNotConfirmed(slot, days, CONFIRM_HORIZON_DAYS)
    _confirm(
        False,
        f"slot {slot} starts {days} days from now (more than {CONFIRM_HORIZON_DAYS}): "
        "is that the slot you mean?",
    )


def _show_plan(wallet: Wallet, plan: OrderPlan, tz: tzinfo) -> None:
    table = Table(title=f"Orders to sign from {plan.account}")
    for column in ("slot", "side", "energy", "limit per kWh"):
        table.add_column(column)
    for o in plan.orders:
        table.add_row(
            wallet.clock.describe(o.slot, tz),
            o.side.name.lower(),
            format_wh(o.energy_wh),
            format_credits(o.limit_price),
        )
    err_console.print(table)
    if plan.escrow:
        err_console.print(
            f"escrow locked now: {format_credits(plan.escrow)} credits (including the network "
            f"fee {format_credits(plan.fee_per_kwh)}/kWh), of {format_credits(plan.balance)} "
            f"available ({format_credits(plan.top_up)} moved from the wallet into the market); "
            "the unused part is refunded to your market balance at settlement",
            highlight=False,
        )
    else:
        err_console.print(
            "offers lock no escrow: you are paid for energy your meter proves delivered",
            highlight=False,
        )
    if plan.seller_fee_per_kwh and any(o.side == Side.OFFER for o in plan.orders):
        err_console.print(
            f"seller fee: {format_credits(plan.seller_fee_per_kwh)}/kWh of the energy you are "
            "paid for comes out of your receipt (fixed now, for these offers)",
            highlight=False,
        )


def _place(
    side: Side,
    at: str | None,
    slot: int | None,
    kwh: str | None,
    price: str | None,
    schedule: Path | None,
    forecast: Path | None,
    date: str | None,
    cloud_cover: float | None,
    min_kwh: str | None,
    tz_name: str | None,
    account: str | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
    yes: bool,
    as_json: bool,
) -> None:
    tz = zone(tz_name)
    if forecast is not None and (schedule is not None or at or slot is not None or kwh):
        raise WalletError("--forecast replaces --at/--slot/--kwh/--schedule: give one or the other")
    if forecast is None and (date or cloud_cover is not None or min_kwh is not None):
        raise WalletError("--date, --cloud-cover and --min-kwh go with --forecast")
    system = open_system(rpc, deployments, chain_id)
    wallet = Wallet(system, _address(keystore_dir, account))
    if forecast is not None:
        orders = _forecast_orders(wallet, side, forecast, date, price, cloud_cover, min_kwh)
    elif schedule is not None:
        if at is not None or slot is not None or kwh is not None or price is not None:
            raise WalletError(
                "--schedule replaces --at/--slot/--kwh/--price: give one or the other"
            )
        orders = [
            OrderInput(wallet.slot_at(r.start, tz), side, energy_wh(r.kwh), price_per_kwh(r.price))
            for r in read_schedule(schedule)
        ]
    else:
        if kwh is None or price is None:
            raise WalletError("give --kwh and --price (or a --schedule CSV)")
        orders = [
            OrderInput(_slot(wallet, at, slot, tz), side, energy_wh(kwh), price_per_kwh(price))
        ]
    plan = wallet.plan(orders, tz)
    _confirm_far_ahead(wallet, orders, yes)
    _show_plan(wallet, plan, tz)
    _confirm(yes)
    signer = unlock(keystore_dir, account, password_file)
    if signer.address != wallet.address:
        raise KeystoreError(f"the key does not belong to {wallet.address}")
    ids = wallet.place(signer, plan)
    if as_json:
        print_json({**plan.as_json(wallet.clock), "order_ids": ids})
        return
    for oid, o in zip(ids, plan.orders, strict=True):
        console.print(
            f"placed order {oid}: {o.side.name.lower()} {format_wh(o.energy_wh)} at up to "
            f"{format_credits(o.limit_price)}/kWh for {wallet.clock.describe(o.slot, tz)}",
            highlight=False,
        )


def _forecast_orders(
    wallet: Wallet,
    side: Side,
    path: Path,
    date: str | None,
    price: str | None,
    cloud_cover: float | None,
    min_kwh: str | None,
) -> list[OrderInput]:
    """The day-ahead orders the household's forecast asks for (one per slot with energy)."""
    from p2penergy.wallet import forecast as fc

    day, planned = fc.plan_day(
        path,
        side,
        wallet.clock,
        wallet.system.chain.now(),
        date=date,
        price=price,
        cloud_cover=cloud_cover,
        min_kwh=min_kwh,
    )
    notes = []
    if planned.gate_closed:
        notes.append(f"{planned.gate_closed} slots whose gate has closed")
    if planned.too_small:
        notes.append(f"{planned.too_small} slots under {format_wh(planned.min_wh)}")
    if notes:
        err_console.print(f"left out: {'; '.join(notes)}", highlight=False)
    if not planned.orders:
        what = "deficit to bid for" if side == Side.BID else "surplus to offer"
        raise WalletError(f"the forecast for {day} has no {what} in slots still open")
    return planned.orders


def _order_command(side: Side) -> click.Command:
    verb = "bid" if side == Side.BID else "offer"
    doc = (
        "Buy energy for a slot (or a day: a CSV schedule or your forecast), locking escrow."
        if side == Side.BID
        else "Sell energy for a slot (or a day: a CSV schedule or your forecast); prosumers only."
    )

    @click.command(verb, help=doc + _ORDER_HELP)
    @slot_options
    @click.option("--kwh", default=None, help="Energy in kWh, e.g. 1.5 (exact to the Wh).")
    @click.option("--price", default=None, help="Limit price in credits per kWh, e.g. 0.25.")
    @click.option(
        "--schedule",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help="CSV with the header start,kwh,price: one order per row (day-ahead).",
    )
    @click.option(
        "--forecast",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help="Household profile (YAML): one order per slot of the day from its forecast "
        + ("deficit" if side == Side.BID else "surplus")
        + " (see `p2penergy forecast`).",
    )
    @forecast_day_options
    @click.option(
        "--min-kwh",
        default=None,
        help="Leave out slots with less than this, in kWh (default 0.01).",
    )
    @tz_option
    @account_options
    @connection_options
    @yes_option
    @json_option
    @handle_errors
    def command(**kwargs: Any) -> None:
        _place(side, **kwargs)

    return command


_ORDER_HELP = """

    The command shows the orders and the escrow they lock, asks for confirmation (skip with
    --yes) and the keystore password, then signs one transaction. Bids lock
    ceil(kWh x price) + ceil(kWh x network fee) credits through an EIP-2612 permit.
    """

bid_command = _order_command(Side.BID)
offer_command = _order_command(Side.OFFER)


@click.command("cancel")
@click.argument("order_id", type=int)
@tz_option
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def cancel_command(
    order_id: int,
    tz_name: str | None,
    account: str | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Cancel ORDER_ID before its gate closes; a bid gets its escrow back."""
    tz = zone(tz_name)
    who = _address(keystore_dir, account)  # checked before connecting
    wallet = Wallet(open_system(rpc, deployments, chain_id), who)
    view = wallet.cancel_refund(order_id, tz)
    err_console.print(
        f"cancel order {order_id}: {view.side} {format_wh(view.energy_wh)} for "
        f"{wallet.clock.describe(view.slot, tz)}; refund {format_credits(view.escrow)} credits",
        highlight=False,
    )
    _confirm(yes)
    signer = unlock(keystore_dir, account, password_file)
    refund = wallet.cancel(signer, order_id)
    if as_json:
        print_json({"order_id": order_id, "refund": refund})
        return
    console.print(f"cancelled order {order_id}; refunded {format_credits(refund)} credits")


@click.command("balance")
@account_options
@connection_options
@json_option
@handle_errors
def balance_command(
    account: str | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
    as_json: bool,
) -> None:
    """Credits (in your wallet, free in the market, locked in bids), certificates and gas money.

    The market keeps its own ledger: bids lock escrow out of your market balance (topped up from
    the wallet when it falls short), refunds and sales come back to it; `withdraw` moves it to
    the wallet (needed before `redeem`)."""
    who = _address(keystore_dir, account)  # checked before connecting
    wallet = Wallet(open_system(rpc, deployments, chain_id), who)
    b = wallet.balance()
    status = b.participant.kind + ("" if b.participant.active else " (suspended)")
    if as_json:
        print_json(
            {
                "account": b.account,
                "status": status,
                "credits": b.credits,
                "credits_decimal": decimal_credits(b.credits),
                "market": b.market,
                "market_decimal": decimal_credits(b.market),
                "locked_in_bids": b.locked,
                "locked_in_bids_decimal": decimal_credits(b.locked),
                "certificates_wh": b.certificates_wh,
                "certificates_kwh": decimal_kwh(b.certificates_wh),
                "gas_wei": b.gas_wei,
                "currency": wallet.system.deployment.currency,
            }
        )
        return
    money = wallet.system.deployment.money.money
    from decimal import Decimal

    table = Table(title="Balance", show_header=False)
    table.add_column("what")
    table.add_column("amount", justify="right")
    table.add_row("account", b.account)
    table.add_row("status", status)
    table.add_row("credits in wallet", f"{money(b.credits)} ({format_credits(b.credits)})")
    table.add_row("credits in market", f"{money(b.market)} ({format_credits(b.market)})")
    table.add_row("locked in open bids", f"{money(b.locked)} ({format_credits(b.locked)})")
    table.add_row("certificates held", format_wh(b.certificates_wh))
    table.add_row("gas money", f"{Decimal(b.gas_wei).scaleb(-18).normalize():f} ETH")
    console.print(table)


@click.command("orders")
@tz_option
@account_options
@connection_options
@json_option
@handle_errors
def orders_command(
    tz_name: str | None,
    account: str | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
    as_json: bool,
) -> None:
    """Your orders and where each stands (open, cancelled, cleared, settled)."""
    tz = zone(tz_name)
    who = _address(keystore_dir, account)  # checked before connecting
    wallet = Wallet(open_system(rpc, deployments, chain_id), who)
    rows = wallet.orders()
    if as_json:
        print_json([vars(r) for r in rows])
        return
    table = Table(title=f"Orders of {wallet.address}")
    for column in ("id", "slot", "side", "energy", "limit/kWh", "escrow", "status"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r.order_id),
            wallet.clock.describe(r.slot, tz),
            r.side,
            format_wh(r.energy_wh),
            format_credits(r.limit_price),
            format_credits(r.escrow) if r.side == "bid" else "",
            r.status,
        )
    console.print(table)


@click.command("trades")
@tz_option
@account_options
@connection_options
@json_option
@handle_errors
def trades_command(
    tz_name: str | None,
    account: str | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
    as_json: bool,
) -> None:
    """Your settled trades: clearing price, energy cleared and metered, paid/received, refunds."""
    tz = zone(tz_name)
    who = _address(keystore_dir, account)  # checked before connecting
    wallet = Wallet(open_system(rpc, deployments, chain_id), who)
    rows = wallet.trades()
    currency = wallet.system.deployment.money
    if as_json:
        print_json([_trade_json(vars(r)) for r in rows])
        return
    if not rows:
        console.print("no settled trades yet: see `p2penergy orders` for open ones")
        return
    table = Table(title=f"Settled trades of {wallet.address}")
    columns = ("slot", "side", "price", "cleared", "metered", "traded", "received", "paid", "fee")
    for column in (*columns, "refund"):
        table.add_column(column)
    money = currency.money
    for r in rows:
        table.add_row(
            wallet.clock.describe(r.slot, tz) + (" expired" if r.expired else ""),
            r.side,
            currency.price(r.price),
            format_wh(r.filled_wh),
            format_wh(r.metered_wh),
            format_wh(r.certificate_wh),
            money(r.amount) if r.side == "offer" else "",
            money(r.amount) if r.side == "bid" else "",
            money(r.fee),
            money(r.refund) if r.side == "bid" else "",
        )
    console.print(table)
    console.print(
        "traded: the energy paid for (sellers) or charged (buyers) and carried by certificates. "
        "When the buyers absorbed less than the sellers delivered (or the other way round), "
        "the traded energy is shared pro rata; a seller's metered rest went to the grid at "
        "the feed-in tariff. fee: the network fee (buyers) or the seller fee, which comes out "
        "of what a seller received. `p2penergy statement` adds it all up against the grid "
        "tariffs."
    )


_MONEY_FIELDS = ("price", "amount", "fee", "refund")


def _trade_json(row: dict[str, Any]) -> dict[str, Any]:
    """A trade for scripts: amounts in base units with their exact decimal string beside."""
    out = dict(row)
    for key in _MONEY_FIELDS:
        if isinstance(row.get(key), int):
            out[key + "_decimal"] = decimal_credits(row[key])
    return out


@click.command("certificates")
@tz_option
@account_options
@connection_options
@json_option
@handle_errors
def certificates_command(
    tz_name: str | None,
    account: str | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
    as_json: bool,
) -> None:
    """Your renewable-energy certificates per slot (held and retired)."""
    tz = zone(tz_name)
    who = _address(keystore_dir, account)  # checked before connecting
    wallet = Wallet(open_system(rpc, deployments, chain_id), who)
    held = wallet.certificates.holdings(wallet.address)
    retired = wallet.certificates.retired(wallet.address)
    slots = sorted(set(held) | set(retired))
    if as_json:
        print_json(
            [{"slot": s, "held_wh": held.get(s, 0), "retired_wh": retired.get(s, 0)} for s in slots]
        )
        return
    table = Table(title=f"Certificates of {wallet.address}")
    for column in ("slot", "held", "retired"):
        table.add_column(column)
    for s in slots:
        table.add_row(
            wallet.clock.describe(s, tz), format_wh(held.get(s, 0)), format_wh(retired.get(s, 0))
        )
    console.print(table)


@click.command("retire")
@slot_options
@click.option("--kwh", required=True, help="Energy to retire in kWh.")
@tz_option
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def retire_command(
    at: str | None,
    slot: int | None,
    kwh: str,
    tz_name: str | None,
    account: str | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Retire certificates of a slot (claim the renewable energy; cannot be undone)."""
    tz = zone(tz_name)
    who = _address(keystore_dir, account)  # checked before connecting
    wallet = Wallet(open_system(rpc, deployments, chain_id), who)
    target = _slot(wallet, at, slot, tz)
    wh = energy_wh(kwh)
    held = wallet.certificates.balance(wallet.address, target)
    err_console.print(
        f"retire {format_wh(wh)} of certificates for {wallet.clock.describe(target, tz)} "
        f"(held {format_wh(held)})",
        highlight=False,
    )
    wallet.retire_check(target, wh, tz)
    _confirm(yes)
    signer = unlock(keystore_dir, account, password_file)
    wallet.retire(signer, target, wh, tz)
    if as_json:
        print_json({"slot": target, "retired_wh": wh})
        return
    console.print(f"retired {format_wh(wh)} for {wallet.clock.describe(target, tz)}")


def _amount(amount: str) -> int:
    try:
        value = parse_credits(amount)
    except ValueError as exc:
        raise WalletError(f"{exc}: write amounts in credits, e.g. 12.50") from None
    if value <= 0:
        raise WalletError(f"amount {amount} must be above 0")
    return value


@click.command("deposit")
@click.option("--amount", required=True, help="Credits to move into the market, e.g. 25.")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def deposit_command(
    amount: str,
    account: str | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Move AMOUNT credits from your wallet into your market balance (one transaction).

    Bids lock escrow out of the market balance, so a deposit once a week saves a token transfer
    per bid; a bid tops the balance up by itself when it falls short.
    """
    value = _amount(amount)
    who = _address(keystore_dir, account)  # checked before connecting
    wallet = Wallet(open_system(rpc, deployments, chain_id), who)
    wallet.deposit_check(value)
    err_console.print(f"deposit {format_credits(value)} credits into the market", highlight=False)
    _confirm(yes)
    signer = unlock(keystore_dir, account, password_file)
    balance = wallet.deposit(signer, value)
    if as_json:
        print_json({"account": wallet.address, "deposited": value, "market": balance})
        return
    console.print(f"deposited {format_credits(value)}; market balance {format_credits(balance)}")


@click.command("withdraw")
@click.option("--amount", required=True, help="Credits to take back to your wallet, e.g. 25.")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def withdraw_command(
    amount: str,
    account: str | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Move AMOUNT credits from your market balance back to your wallet.

    Only free credits (not those locked in open bids) can be withdrawn; works while suspended.
    """
    value = _amount(amount)
    who = _address(keystore_dir, account)  # checked before connecting
    wallet = Wallet(open_system(rpc, deployments, chain_id), who)
    wallet.withdraw_check(value)
    err_console.print(f"withdraw {format_credits(value)} credits to the wallet", highlight=False)
    _confirm(yes)
    signer = unlock(keystore_dir, account, password_file)
    balance = wallet.withdraw(signer, value)
    if as_json:
        print_json({"account": wallet.address, "withdrawn": value, "wallet": balance})
        return
    console.print(f"withdrew {format_credits(value)}; wallet balance {format_credits(balance)}")


@click.command("redeem")
@click.option("--amount", required=True, help="Credits to withdraw to your bank, e.g. 12.50.")
@click.option(
    "--ref",
    required=True,
    help="Payment reference of the withdrawal (the operator's payout id, up to 32 bytes); "
    "each reference can be used once.",
)
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def redeem_command(
    amount: str,
    ref: str,
    account: str | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    rpc: str | None,
    deployments: Path | None,
    chain_id: int | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Withdraw credits to fiat: burns AMOUNT of your own credits under the payment reference.

    Only you can do this (the operator cannot burn your credits); the operator pays the same
    amount out to your bank account against the reference. Works while suspended too.
    """
    try:
        value = parse_credits(amount)
        reference = payment_ref(ref)
    except ValueError as exc:
        raise WalletError(f"{exc}: write amounts in credits, e.g. 12.50") from None
    if value <= 0:
        raise WalletError(f"amount {amount} must be above 0")
    who = _address(keystore_dir, account)  # checked before connecting
    wallet = Wallet(open_system(rpc, deployments, chain_id), who)
    wallet.redeem_check(value, reference)
    err_console.print(
        f"redeem {format_credits(value)} credits of {wallet.address} (ref {ref}): they are burned "
        "and paid out by the operator",
        highlight=False,
    )
    _confirm(yes)
    signer = unlock(keystore_dir, account, password_file)
    balance = wallet.redeem(signer, value, reference)
    if as_json:
        print_json({"account": wallet.address, "redeemed": value, "ref": ref, "balance": balance})
        return
    console.print(f"redeemed {format_credits(value)}; balance {format_credits(balance)}")


TRADE_COMMANDS = (
    balance_command,
    deposit_command,
    withdraw_command,
    offer_command,
    bid_command,
    cancel_command,
    orders_command,
    trades_command,
    certificates_command,
    retire_command,
    redeem_command,
)

__all__ = ["TRADE_COMMANDS"]
