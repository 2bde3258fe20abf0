"""`p2penergy admin ...`: the community operator's console (thin; logic in wallet.operator)."""

from __future__ import annotations

from typing import Any

import click
from eth_utils.address import is_address, is_checksum_address, to_checksum_address

from p2penergy.cli._options import (
    account_options,
    connection_options,
    handle_errors,
    open_chain,
    open_system,
    unlock,
    yes_option,
)
from p2penergy.cli._utils import console, err_console, json_option, print_json
from p2penergy.contracts.credit import payment_ref
from p2penergy.contracts.governance import Operation, Scheduled
from p2penergy.domain.participants import HOUSEHOLD_KINDS, KINDS
from p2penergy.domain.slots import ALLOWED_SLOT_SECONDS, SlotGrid, epoch_at_midnight
from p2penergy.units import (
    CREDIT_DECIMALS,
    DEFAULT_CURRENCY,
    DEFAULT_CURRENCY_DECIMALS,
    Currency,
    format_credits,
)
from p2penergy.wallet.errors import WalletError
from p2penergy.wallet.operator import Operator, check_address_book_free, deploy
from p2penergy.wallet.timeslots import parse_local_time, zone
from p2penergy.wallet.trading import price_per_kwh

# The registry's MAX_CAPACITY_W (50 MW) in kW.
MAX_CAPACITY_KW = 50_000
# Slots are uint64 on chain.
SLOT_RANGE = click.IntRange(0, 2**64 - 1)


def _addr(value: str, what: str) -> str:
    if not is_address(value):
        raise WalletError(f"{what} {value!r} is not an address (0x + 40 hex digits)")
    if not _checksum_ok(value):
        raise WalletError(f"{what} {value!r} has a wrong EIP-55 checksum (mixed case): mistyped?")
    return str(to_checksum_address(value))


def _checksum_ok(value: str) -> bool:
    """All-lowercase and all-uppercase hex carry no checksum; mixed case must be EIP-55."""
    digits = value.removeprefix("0x").removeprefix("0X")
    return digits.lower() == digits or digits.upper() == digits or is_checksum_address(value)


def _credits(text: str) -> int:
    from p2penergy.units import parse_credits

    try:
        amount = parse_credits(text)
    except ValueError as exc:
        raise WalletError(f"{exc}: write amounts in credits, e.g. 25.50") from None
    if amount <= 0:
        raise WalletError(f"amount {text} must be above 0")
    return amount


def _currency(code: str, decimals: int) -> Currency:
    try:
        return Currency(code, decimals)
    except ValueError as exc:
        raise WalletError(f"{exc}: pass --currency CODE --currency-decimals N") from None


def _ref(text: str) -> bytes:
    try:
        return payment_ref(text)
    except ValueError as exc:
        raise WalletError(str(exc)) from None


def _announce(text: str, yes: bool) -> None:
    err_console.print(text, highlight=False)
    if not yes and not click.confirm("Sign and send?", default=False, err=True):
        raise click.Abort()


def _operator(kw: dict[str, Any]) -> Operator:
    system = open_system(kw["rpc"], kw["deployments"], kw["chain_id"])
    signer = unlock(kw["keystore_dir"], kw["account"], kw["password_file"])
    return Operator(system, signer)


def _scheduled(as_json: bool, what: str, data: dict[str, Any], op: Scheduled) -> None:
    """Reports a governed change: scheduled, with its operation id and when it may run."""
    from datetime import UTC, datetime

    eta = datetime.fromtimestamp(op.ready_at, UTC).isoformat()
    _done(
        as_json,
        {**data, "operation_id": op.operation_id, "ready_at": op.ready_at, "eta": eta},
        f"scheduled in the governance timelock: {what}\n  operation {op.operation_id}\n"
        f"  executable from {eta} (`p2penergy admin execute {op.operation_id}`); "
        "the guardian may cancel it until then",
    )


def _operation_data(op: Operation) -> dict[str, Any]:
    return {
        "operation_id": op.operation_id,
        "call": op.description,
        "state": op.state,
        "ready_at": op.ready_at,
    }


def _done(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        print_json(data)
    else:
        console.print(text, highlight=False)


@click.group("admin")
def admin_group() -> None:
    """The community operator's console: deploy, register households and meters, tariffs, credits.

    Commands sign with a keystore account (--account) that holds the needed role; each shows
    what it will sign and asks for confirmation (skip with --yes). Governed changes (roles, meter
    keys and status, tariffs, the seller fee, outages) are scheduled in the governance timelock:
    they print an operation id and run with `admin execute` once the delay has passed; the
    guardian may `admin cancel` them meanwhile; `admin pending` lists them.
    """


@admin_group.command("deploy")
@click.option(
    "--slot-length",
    type=click.Choice([str(s) for s in ALLOWED_SLOT_SECONDS]),
    default="900",
    show_default=True,
    help="Slot length in seconds.",
)
@click.option(
    "--gate-closure",
    type=int,
    default=300,
    show_default=True,
    help="Seconds before a slot starts when its orders close.",
)
@click.option(
    "--reading-window",
    type=int,
    default=4 * 3600,
    show_default=True,
    help="Seconds after a slot ends during which meters may report.",
)
@click.option(
    "--epoch",
    default=None,
    help='Start of slot 0 as local time "YYYY-MM-DD HH:MM" (default: UTC midnight '
    "before the chain's time).",
)
@click.option("--tz", "tz_name", default=None, help="Time zone of --epoch (default: system).")
@click.option("--feed-in", default="0.08", show_default=True, help="Feed-in tariff per kWh.")
@click.option("--retail", default="0.30", show_default=True, help="Retail tariff per kWh.")
@click.option("--network-fee", default="0.03", show_default=True, help="Network fee per kWh.")
@click.option(
    "--mint-limit",
    default="10000",
    show_default=True,
    help="Most credits one top-up mint may create (fixed at deployment).",
)
@click.option(
    "--currency",
    "currency_code",
    default=DEFAULT_CURRENCY,
    show_default=True,
    help="The community's currency (ISO 4217 code): one credit is one unit of it.",
)
@click.option(
    "--currency-decimals",
    type=int,
    default=DEFAULT_CURRENCY_DECIMALS,
    show_default=True,
    help=f"Decimals money is shown with to people (0 to {CREDIT_DECIMALS}; amounts stay exact).",
)
@click.option("--operator", default=None, help="Operator account (default: the deployer).")
@click.option("--fee-account", default=None, help="Network fee account (default: deployer).")
@click.option("--rounding-account", default=None, help="Rounding account (default: deployer).")
@click.option("--keeper", multiple=True, help="Grant KEEPER_ROLE (repeatable).")
@click.option("--auditor", multiple=True, help="Grant AUDITOR_ROLE (repeatable).")
@click.option(
    "--guardian",
    default=None,
    help="Account that may cancel scheduled changes (default: deployer).",
)
@click.option(
    "--governance-delay",
    type=click.IntRange(min=1),
    default=86_400,
    show_default=True,
    help="Seconds every governed change waits in the timelock before it may run.",
)
@click.option("--force", is_flag=True, help="Replace an address book that points at live code.")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_deploy(**kw: Any) -> None:
    """Deploy the whole system and write the address book (<deployments>/<chainId>.json)."""
    from p2penergy.chain.config import resolve
    from p2penergy.chain.deploy import MarketConfig

    settings = resolve(kw["rpc"], kw["deployments"], kw["chain_id"])
    chain = open_chain(settings)
    if kw["epoch"]:
        epoch = parse_local_time(kw["epoch"], zone(kw["tz_name"]))
    else:
        epoch = epoch_at_midnight(chain.now())
    config = MarketConfig(
        epoch=epoch,
        slot_length=int(kw["slot_length"]),
        reading_window=kw["reading_window"],
        gate_closure=kw["gate_closure"],
        feed_in_per_kwh=price_per_kwh(kw["feed_in"]),
        retail_per_kwh=price_per_kwh(kw["retail"]),
        network_fee_per_kwh=price_per_kwh(kw["network_fee"]),
        mint_limit=_credits(kw["mint_limit"]),
        governance_delay=kw["governance_delay"],
    )
    currency = _currency(kw["currency_code"], kw["currency_decimals"])
    if not kw["force"]:
        check_address_book_free(chain, settings.deployments)
    clock = SlotGrid(config.epoch, config.slot_length, config.gate_closure)
    _announce(
        f"deploy p2penergy to chain {chain.chain_id} at {settings.rpc}: slot 0 = "
        f"{clock.describe(0, zone(kw['tz_name']))}, {config.slot_length // 60}-min slots, gate "
        f"closes {config.gate_closure} s before; tariffs {kw['feed_in']}/{kw['retail']} per kWh, "
        f"network fee {kw['network_fee']}; money in {currency.code} shown with "
        f"{currency.decimals} decimals; address book {settings.deployments}",
        kw["yes"],
    )
    admin = unlock(kw["keystore_dir"], kw["account"], kw["password_file"])
    roles = ("operator", "fee_account", "rounding_account", "guardian")
    opt = {k: _addr(kw[k], k) if kw[k] else None for k in roles}
    system, path = deploy(
        chain,
        admin,
        settings.deployments,
        config,
        operator=opt["operator"],
        fee_account=opt["fee_account"],
        rounding_account=opt["rounding_account"],
        keepers=tuple(_addr(k, "keeper") for k in kw["keeper"]),
        auditors=tuple(_addr(a, "auditor") for a in kw["auditor"]),
        force=kw["force"],
        guardian=opt["guardian"],
        currency=currency,
    )
    d = system.deployment
    _done(
        kw["as_json"],
        {
            "chain_id": d.chain_id,
            "contracts": {name: to_checksum_address(a) for name, a in d.addresses.items()},
            "currency": {"code": d.currency, "decimals": d.currency_decimals},
            "address_book": str(path),
        },
        f"deployed on chain {d.chain_id}; money in {d.currency}; address book written to {path}\n"
        + "\n".join(f"  {name:<20} {address}" for name, address in d.addresses.items()),
    )


@admin_group.command("register")
@click.argument("household")
@click.option("--kind", type=click.Choice(HOUSEHOLD_KINDS), required=True)
@click.option("--critical-load", is_flag=True, help="Critical load (priority in island mode).")
@click.option(
    "--gas-money",
    default="0",
    show_default=True,
    help="ETH to send the household for transaction fees.",
)
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_register(
    household: str, kind: str, critical_load: bool, gas_money: str, **kw: Any
) -> None:
    """Register HOUSEHOLD (an address) as a consumer or prosumer."""
    from decimal import Decimal, InvalidOperation

    account = _addr(household, "household")
    try:
        wei = int(Decimal(gas_money) * 10**18)
    except InvalidOperation:
        raise WalletError(f"--gas-money {gas_money!r} is not a number of ETH") from None
    if kind not in KINDS:
        raise WalletError(f"--kind {kind!r} is not one of {', '.join(KINDS)}")
    _announce(
        f"register {account} as a {kind}{' with critical load' if critical_load else ''}"
        + (f" and send it {gas_money} ETH for gas" if wei else ""),
        kw["yes"],
    )
    _operator(kw).register(account, kind, critical_load, wei)
    _done(
        kw["as_json"],
        {"account": account, "kind": kind, "critical_load": critical_load},
        f"registered {account} as a {kind}",
    )


@admin_group.command("suspend")
@click.argument("household")
@click.option("--reinstate", is_flag=True, help="Reinstate a suspended household instead.")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_suspend(household: str, reinstate: bool, **kw: Any) -> None:
    """Suspend HOUSEHOLD (it can no longer trade or receive credits), or --reinstate it."""
    account = _addr(household, "household")
    verb = "reinstate" if reinstate else "suspend"
    _announce(f"{verb} {account}", kw["yes"])
    _operator(kw).suspend(account, reinstate)
    _done(kw["as_json"], {"account": account, "active": reinstate}, f"{verb}d {account}")


@admin_group.command("register-meter")
@click.argument("device")
@click.option("--owner", required=True, help="The household the meter belongs to.")
@click.option("--capacity-kw", required=True, help="Export capacity in kW, e.g. 6.5.")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_register_meter(device: str, owner: str, capacity_kw: str, **kw: Any) -> None:
    """Register a meter whose signing key has address DEVICE for a household."""
    from p2penergy.units import parse_kwh

    device_addr, owner_addr = _addr(device, "device"), _addr(owner, "owner")
    try:
        capacity_w = parse_kwh(capacity_kw)  # kW -> W has the same 3 decimals as kWh -> Wh
    except ValueError:
        raise WalletError(f"capacity {capacity_kw!r} is not a number of kW (3 decimals)") from None
    if not 0 < capacity_w <= MAX_CAPACITY_KW * 1000:
        raise WalletError(
            f"capacity {capacity_kw!r} kW must be above 0 and at most {MAX_CAPACITY_KW:,}"
        )
    _announce(f"register meter {device_addr} of {owner_addr}, {capacity_kw} kW", kw["yes"])
    meter_id = _operator(kw).register_meter(device_addr, owner_addr, capacity_w)
    _done(
        kw["as_json"],
        {"meter_id": meter_id, "device": device_addr, "owner": owner_addr},
        f"registered meter #{meter_id}",
    )


@admin_group.command("rotate-meter-key")
@click.argument("meter_id", type=int)
@click.argument("new_device")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_rotate_meter_key(meter_id: int, new_device: str, **kw: Any) -> None:
    """Schedule replacing the signing key of meter METER_ID by NEW_DEVICE (governed, delayed).

    Readings of slots whose gate closed before the change still verify with the old key.
    """
    device = _addr(new_device, "new device")
    _announce(f"schedule rotating the key of meter #{meter_id} to {device}", kw["yes"])
    old, op = _operator(kw).rotate_meter_key(meter_id, device)
    data = {"meter_id": meter_id, "old_device": old, "new_device": device}
    _scheduled(kw["as_json"], f"meter #{meter_id} signs with {device} (was {old})", data, op)


@admin_group.command("set-meter-active")
@click.argument("meter_id", type=int)
@click.option("--inactive", is_flag=True, help="Deactivate the meter instead of activating it.")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_set_meter_active(meter_id: int, inactive: bool, **kw: Any) -> None:
    """Schedule activating (or, with --inactive, deactivating) meter METER_ID (governed)."""
    state = "inactive" if inactive else "active"
    _announce(f"schedule making meter #{meter_id} {state}", kw["yes"])
    op = _operator(kw).set_meter_active(meter_id, not inactive)
    _scheduled(
        kw["as_json"],
        f"meter #{meter_id} {state}",
        {"meter_id": meter_id, "active": not inactive},
        op,
    )


@admin_group.command("grant-role")
@click.argument("role", type=click.Choice(["operator", "keeper", "auditor", "governor"]))
# Not named "account": that is --account, the signer (the same name would overwrite it).
@click.argument("grantee", metavar="ACCOUNT")
@click.option("--revoke", is_flag=True, help="Revoke the role instead of granting it.")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_grant_role(role: str, grantee: str, revoke: bool, **kw: Any) -> None:
    """Schedule granting (or, with --revoke, revoking) ROLE to ACCOUNT (governed, delayed)."""
    address = _addr(grantee, "account")
    verb = "revoke" if revoke else "grant"
    role_name = f"{role.upper()}_ROLE"
    _announce(f"schedule: {verb} {role_name} {'from' if revoke else 'to'} {address}", kw["yes"])
    op = _operator(kw).grant_role(role_name, address, revoke=revoke)
    data = {"role": role_name, "account": address, "revoke": revoke}
    _scheduled(kw["as_json"], f"{verb} {role_name} for {address}", data, op)


@admin_group.command("execute")
@click.argument("operation_id")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_execute(operation_id: str, **kw: Any) -> None:
    """Execute the scheduled governed change OPERATION_ID once its delay has passed."""
    _announce(f"execute governance operation {operation_id}", kw["yes"])
    op = _operator(kw).execute(operation_id)
    _done(kw["as_json"], {**_operation_data(op), "state": "done"}, f"executed {op.description}")


@admin_group.command("cancel")
@click.argument("operation_id")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_cancel(operation_id: str, **kw: Any) -> None:
    """Cancel the pending governed change OPERATION_ID (the guardian's account)."""
    _announce(f"cancel governance operation {operation_id}", kw["yes"])
    op = _operator(kw).cancel(operation_id)
    data = {**_operation_data(op), "state": "cancelled"}
    _done(kw["as_json"], data, f"cancelled {op.description}")


@admin_group.command("pending")
@connection_options
@json_option
@handle_errors
def admin_pending(**kw: Any) -> None:
    """List governed changes scheduled and neither executed nor cancelled (no key needed)."""
    from datetime import UTC, datetime

    from p2penergy.contracts.governance import GovernanceClient

    system = open_system(kw["rpc"], kw["deployments"], kw["chain_id"])
    ops = GovernanceClient(system).pending()
    if kw["as_json"]:
        print_json([_operation_data(op) for op in ops])
        return
    if not ops:
        console.print("no pending governance operations")
        return
    for op in ops:
        eta = datetime.fromtimestamp(op.ready_at, UTC).isoformat()
        console.print(
            f"{op.operation_id}  {op.state:<7}  from {eta}  {op.description}", highlight=False
        )


@admin_group.command("set-tariffs")
@click.option("--feed-in", required=True, help="Feed-in tariff per kWh (lowest limit price).")
@click.option("--retail", required=True, help="Retail tariff per kWh (highest limit price).")
@click.option("--network-fee", required=True, help="Network fee per kWh paid by buyers.")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_set_tariffs(feed_in: str, retail: str, network_fee: str, **kw: Any) -> None:
    """Schedule new tariffs (governed): they apply to orders placed after execution."""
    values = price_per_kwh(feed_in), price_per_kwh(retail), price_per_kwh(network_fee)
    text = (
        f"feed-in {format_credits(values[0])}, retail {format_credits(values[1])}, "
        f"network fee {format_credits(values[2])} per kWh"
    )
    _announce(f"schedule tariffs: {text}", kw["yes"])
    op = _operator(kw).set_tariffs(*values)
    data = dict(zip(("feed_in", "retail", "network_fee"), values, strict=True))
    _scheduled(kw["as_json"], f"tariffs {text}", data, op)


@admin_group.command("set-seller-fee")
@click.option(
    "--fee",
    required=True,
    help="Seller fee per kWh in the currency, e.g. 0.01 (0 ends the split).",
)
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_set_seller_fee(fee: str, **kw: Any) -> None:
    """Schedule a seller fee per kWh (governed): a fee split between buyers and sellers.

    Sellers pay it on the energy they are paid for, out of their receipt and never more than
    it, to the fee account, beside the network fee buyers pay. Offers placed after execution
    snapshot it; their limit must cover it. At most 16.777215 per kWh (2^24 - 1 base units).
    """
    value = price_per_kwh(fee)
    text = f"seller fee {format_credits(value)} per kWh"
    _announce(f"schedule {text} (offers placed after execution pay it)", kw["yes"])
    op = _operator(kw).set_seller_fee(value)
    _scheduled(kw["as_json"], text, {"seller_fee": value}, op)


@admin_group.command("declare-outage")
@click.option("--from-slot", "first", type=SLOT_RANGE, required=True, help="First outage slot.")
@click.option("--to-slot", "last", type=SLOT_RANGE, required=True, help="Last outage slot.")
@click.option("--cap", required=True, help="Price cap per kWh (between feed-in and retail).")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_declare_outage(first: int, last: int, cap: str, **kw: Any) -> None:
    """Schedule a grid outage (governed): island mode for slots FROM..TO.

    It must be executed before the first slot's gate closes: schedule it at least the
    governance delay ahead. In those slots critical loads are served first and all local
    trades happen at the cap; only bids of at least the cap and offers of at most the cap take
    part.
    """
    value = price_per_kwh(cap)
    what = (
        f"outage for slots {first}..{last}: island mode at {format_credits(value)} per kWh, "
        "critical loads first"
    )
    _announce(f"schedule an {what}", kw["yes"])
    op = _operator(kw).declare_outage(first, last, value)
    _scheduled(kw["as_json"], what, {"from_slot": first, "to_slot": last, "cap": value}, op)


@admin_group.command("mint-credit")
@click.argument("household")
@click.argument("amount")
@click.option("--ref", required=True, help="Payment reference (bank transfer id, up to 32 bytes).")
@account_options
@connection_options
@yes_option
@json_option
@handle_errors
def admin_mint_credit(household: str, amount: str, ref: str, **kw: Any) -> None:
    """Mint AMOUNT credits to HOUSEHOLD against a received payment (needs a reference).

    Each payment reference can be used once, and one mint may not exceed the deployment's
    per-mint limit (split a larger top-up).
    """
    account, value, reference = _addr(household, "household"), _credits(amount), _ref(ref)
    _announce(f"mint {format_credits(value)} credits for {account} (ref {ref})", kw["yes"])
    operator = _operator(kw)
    operator.mint(account, value, reference)
    balance = operator.credit.balance(account)
    _done(
        kw["as_json"],
        {"account": account, "mint": value, "balance": balance},
        f"minted {format_credits(value)}; balance {format_credits(balance)}",
    )


@admin_group.command("burn-credit", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@handle_errors
def admin_burn_credit(args: tuple[str, ...]) -> None:
    """Removed: the operator cannot burn a household's credits (see `p2penergy redeem`)."""
    raise WalletError(
        "the operator cannot burn a household's credits: the household withdraws its own with "
        "`p2penergy redeem --amount AMOUNT --ref REF`"
    )
