"""Entry point of the `p2penergy` command."""

from __future__ import annotations

import click

from p2penergy import __version__
from p2penergy.cli.admin import admin_group
from p2penergy.cli.audit import audit_command
from p2penergy.cli.dev import compile_command, demo_command, node_command, toolchain_group
from p2penergy.cli.forecast import forecast_command
from p2penergy.cli.keeper import keeper_group
from p2penergy.cli.market import market_group, prices_command
from p2penergy.cli.network import network_group
from p2penergy.cli.oracle import meter_group, oracle_group
from p2penergy.cli.simulate import simulate_command
from p2penergy.cli.statement import statement_command
from p2penergy.cli.status import status_command
from p2penergy.cli.trade import TRADE_COMMANDS
from p2penergy.cli.wallet import wallet_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="p2penergy")
def cli() -> None:
    """p2penergy: neighbours trade electricity peer to peer on a permissioned EVM chain.

    Start with `p2penergy demo`, which deploys the system on an embedded chain and registers a
    small community. Every command takes --help.
    """


cli.add_command(compile_command)
cli.add_command(toolchain_group)
cli.add_command(demo_command)
cli.add_command(node_command)
cli.add_command(wallet_group)
for _command in TRADE_COMMANDS:
    cli.add_command(_command)
cli.add_command(forecast_command)
cli.add_command(admin_group)
cli.add_command(meter_group)
cli.add_command(oracle_group)
cli.add_command(keeper_group)
cli.add_command(audit_command)
cli.add_command(simulate_command)
cli.add_command(network_group)
cli.add_command(status_command)
cli.add_command(statement_command)
cli.add_command(market_group)
cli.add_command(prices_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="p2penergy")
