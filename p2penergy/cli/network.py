"""`p2penergy network`: generate a Besu QBFT network; keep its nodes' allowlists = the registry.

Exit codes (besides 0): `init` 2 invalid argument or members file, 6 --out not empty (no
--force), 7 --out not writable; `sync-permissions` 3 a node unreachable, 8 PERM API or account
allowlist not enabled on a node, 9 the address book does not match the chain, 10 a node refused
a change. Details in docs/besu.md.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from p2penergy.cli._utils import err_console, exit_code_for, json_option, print_json
from p2penergy.exceptions import P2PEnergyError
from p2penergy.network.errors import InvalidNetworkInput, NetworkError

F = TypeVar("F", bound=Callable[..., Any])


def _one_line(func: F) -> F:
    """Network errors become one line on stderr and their documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from p2penergy._retry import is_transient

        try:
            return func(*args, **kwargs)
        except NetworkError as exc:
            _fail(str(exc), exc.exit_code)
        except P2PEnergyError as exc:
            _fail(str(exc), exit_code_for(exc))
        except Exception as exc:
            if not is_transient(exc):
                raise
            _fail(f"the node stopped answering ({type(exc).__name__}): check it is running", 3)

    return wrapper  # type: ignore[return-value]


def _fail(message: str, code: int) -> None:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)


@click.group("network")
def network_group() -> None:
    """The production network: Hyperledger Besu with QBFT consensus (see docs/besu.md)."""


@network_group.command("init")
@click.option(
    "--validators", type=int, required=True, help="Number of QBFT validators (4 = 1 fault)."
)
@click.option("--chain-id", type=int, required=True, help="Chain id (1 .. 2^64-1), unique to you.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder to write (must be empty, or pass --force).",
)
@click.option("--block-period", type=int, default=2, show_default=True, help="Seconds per block.")
@click.option("--gas-limit", type=int, default=None, help="Block gas limit (default: 50,000,000).")
@click.option(
    "--operator",
    default=None,
    help="The operator's account (deploys the contracts): funded and allowlisted at genesis.",
)
@click.option(
    "--operator-host",
    default="127.0.0.1",
    show_default=True,
    help="Address every node's JSON-RPC (with PERM) listens on: the operator's interface.",
)
@click.option(
    "--p2p-hosts",
    default=None,
    metavar="H1,H2,...",
    help="Each validator's P2P address, in node order (default: 127.0.0.1 for all).",
)
@click.option(
    "--members",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File of accounts allowlisted from genesis, one address per line (# comments).",
)
@click.option("--force", is_flag=True, help="Write into a folder that already holds files.")
@json_option
@_one_line
def init_command(
    validators: int,
    chain_id: int,
    out: Path,
    block_period: int,
    gas_limit: int | None,
    operator: str | None,
    operator_host: str,
    p2p_hosts: str | None,
    members: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Write a QBFT genesis, validator keys and one Besu config per node to --out.

    Private keys go to node-N/data/key (mode 0600) and are never printed.

    Exit codes: 2 invalid argument or members file, 6 --out not empty (use --force),
    7 --out not writable.
    """
    from p2penergy.network.genesis import DEFAULT_GAS_LIMIT
    from p2penergy.network.layout import NetworkPlan, check_address, read_members, write_network

    hosts = tuple(h.strip() for h in p2p_hosts.split(",")) if p2p_hosts else ()
    if any(not h for h in hosts):
        raise InvalidNetworkInput(f"--p2p-hosts {p2p_hosts!r}: an empty host")
    plan = NetworkPlan(
        validators=validators,
        chain_id=chain_id,
        block_period=block_period,
        gas_limit=DEFAULT_GAS_LIMIT if gas_limit is None else gas_limit,
        operator=check_address(operator, "--operator") if operator else None,
        members=read_members(members) if members else (),
        operator_host=operator_host,
        p2p_hosts=hosts,
    )
    summary = write_network(plan, out, force=force)
    if plan.operator is None:
        err_console.print(
            "warning: no --operator: the accounts allowlist holds only the members, so nobody "
            "can deploy; re-run with --operator ADDRESS",
            soft_wrap=True,
        )
    if len(summary.nodes) < 4:
        err_console.print(
            f"warning: {len(summary.nodes)} validator(s) tolerate no faulty validator; "
            "QBFT needs 4 to survive one",
            soft_wrap=True,
        )
    if as_json:
        print_json(summary.as_dict())
        return
    click.echo(
        f"QBFT network for chain {summary.chain_id}: {len(summary.nodes)} validator(s), "
        f"{summary.block_period} s blocks, gas limit {summary.gas_limit:,}, written to {out}"
    )
    for node in summary.nodes:
        click.echo(
            f"  {node.name}: validator {node.address}, p2p :{node.p2p_port}, "
            f"rpc {node.rpc_url} (ETH,NET,QBFT,WEB3,TXPOOL,PERM)"
        )
    click.echo(f"  accounts allowlist: {len(summary.accounts_allowlist)} account(s)")
    click.echo(
        "Start each node from its folder: (cd NODE && besu --config-file=config.toml); "
        "then see docs/besu.md"
    )


@network_group.command("sync-permissions")
@click.option("--rpc", default=None, help="JSON-RPC URL of a node ($P2PENERGY_RPC, config, :8545).")
@click.option(
    "--perm-rpc",
    "perm_rpcs",
    multiple=True,
    help="PERM endpoint of a node whose allowlist to keep (repeat; default: --rpc).",
)
@click.option(
    "--deployments",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Address-book folder ($P2PENERGY_DEPLOYMENTS, config, ./deployments).",
)
@click.option("--chain-id", type=int, default=None, help="Refuse to talk to any other chain.")
@click.option(
    "--keep",
    "keep",
    multiple=True,
    help="Account never removed from the allowlists (repeat); the deployment admin always is.",
)
@click.option("--daemon", is_flag=True, help="Keep following new blocks until SIGINT/SIGTERM.")
@click.option(
    "--interval", type=float, default=5.0, show_default=True, help="Seconds between polls."
)
@json_option
@_one_line
def sync_permissions_command(
    rpc: str | None,
    perm_rpcs: tuple[str, ...],
    deployments: Path | None,
    chain_id: int | None,
    keep: tuple[str, ...],
    daemon: bool,
    interval: float,
    as_json: bool,
) -> None:
    """Make every node's accounts allowlist equal to the accounts the registry allows.

    Allowed = active participants + DEFAULT_ADMIN/OPERATOR/AUDITOR/KEEPER role holders, exactly
    as `transactionAllowed`. Prints one line per change; a run with nothing to do prints none.

    Exit codes: 3 a node unreachable or on another chain, 8 PERM API or account allowlist not
    enabled, 9 the address book does not match the chain, 10 a node refused a change.
    """
    from p2penergy.chain.config import resolve
    from p2penergy.network.layout import check_address
    from p2penergy.network.perm import PermNode
    from p2penergy.network.sync import (
        Change,
        PermissionSync,
        connect_registry,
        follow,
        wait_for,
    )

    if interval <= 0:
        raise InvalidNetworkInput(f"--interval {interval}: use a positive number of seconds")
    kept = {check_address(a, "--keep") for a in keep}
    settings = resolve(rpc, deployments, chain_id)
    nodes = [PermNode(url) for url in (perm_rpcs or (settings.rpc,))]

    def connect() -> PermissionSync:
        system = connect_registry(settings.rpc, settings.deployments, settings.chain_id)
        return PermissionSync(system, nodes, kept)

    def report(changes: list[Change]) -> None:
        for change in changes:  # daemon --json: one JSON object per line
            click.echo(json.dumps(vars(change)) if as_json else change.line())

    if not daemon:
        changes = connect().run_once()
        if as_json:
            print_json([vars(change) for change in changes])
        else:
            report(changes)
        return

    from p2penergy.cli._service import stop_on_signals

    def fault(exc: BaseException, delay: float) -> None:
        err_console.print(
            f"sync-permissions: {exc if isinstance(exc, P2PEnergyError) else type(exc).__name__}; "
            f"retrying in {delay:.0f} s",
            markup=False,
            highlight=False,
        )

    stop = stop_on_signals()
    err_console.print(
        f"sync-permissions: following {settings.rpc} for {len(nodes)} node(s); SIGTERM stops",
        markup=False,
        highlight=False,
    )
    sync = wait_for(connect, interval=interval, stop=stop, on_fault=fault)
    if sync is not None:
        follow(sync, interval=interval, stop=stop, on_changes=report, on_fault=fault)
    err_console.print("sync-permissions: stopped", markup=False, highlight=False)
