"""Developer and first-run commands: compile, toolchain, demo."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
from rich.table import Table

from p2penergy.cli._utils import console, handle_errors, json_option, print_json
from p2penergy.units import format_credits


@click.command("compile")
@click.option(
    "--check", is_flag=True, help="Fail (exit 1) if the shipped artifacts are out of date."
)
@handle_errors
def compile_command(check: bool) -> None:
    """Compile contracts/ with the pinned solc and write the shipped artifacts."""
    from p2penergy.chain.artifacts import ARTIFACTS_DIR
    from p2penergy.chain.compile import compile_contracts, render, write_artifacts

    artifacts = compile_contracts()
    if check:
        stale = [
            name
            for name, artifact in sorted(artifacts.items())
            if not (ARTIFACTS_DIR / f"{name}.json").is_file()
            or (ARTIFACTS_DIR / f"{name}.json").read_text() != render(artifact)
        ]
        if stale:
            raise click.ClickException(f"artifacts out of date: {', '.join(stale)}")
        console.print(f"{len(artifacts)} artifacts are up to date")
        return
    written = write_artifacts(artifacts)
    console.print(f"compiled {len(written)} contracts into {ARTIFACTS_DIR}")


@click.group("toolchain")
def toolchain_group() -> None:
    """Manage the pinned Solidity compiler."""


@toolchain_group.command("install")
@handle_errors
def toolchain_install() -> None:
    """Install the solcjs facade as py-solc-x's solc (unless a native one is installed)."""
    from p2penergy.chain import toolchain

    binary = toolchain.install_facade()
    kind = "solcjs facade" if toolchain.is_facade(binary) else "native solc"
    console.print(f"solc {toolchain.check_version(binary)} ({kind}) at {binary}")


@click.command("demo")
@json_option
@handle_errors
def demo_command(as_json: bool) -> None:
    """Deploy the system on an embedded chain, register a small community and print it."""
    from p2penergy.chain.connect import embedded
    from p2penergy.sim.community import build_community, members

    chain = embedded()
    community = build_community(chain)
    rows = members(community)
    deployment = community.system.deployment
    if as_json:
        print_json(
            {
                "chain_id": deployment.chain_id,
                "contracts": deployment.addresses,
                "deployment_gas": deployment.gas_used,
                "members": [dataclasses.asdict(m) for m in rows],
            }
        )
        return
    contracts = Table(title=f"p2penergy deployed on the embedded chain (id {deployment.chain_id})")
    for column in ("contract", "address", "deployment gas"):
        contracts.add_column(column)
    for name, address in deployment.addresses.items():
        contracts.add_row(name, address, f"{deployment.gas_used[name]:,}")
    console.print(contracts)
    table = Table(title="Registered community")
    for column in ("household", "account", "kind", "critical", "meter", "capacity", "credits"):
        table.add_column(column)
    for m in rows:
        table.add_row(
            m.name,
            m.address,
            m.kind + ("" if m.active else " (suspended)"),
            "yes" if m.critical_load else "",
            f"#{m.meter_id}",
            f"{m.meter_capacity_w / 1000:g} kW",
            format_credits(m.balance),
        )
    console.print(table)


@click.command("node")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the chain is kept [default: ~/.local/share/p2penergy/node].",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8545,
    show_default=True,
    help="Port on 127.0.0.1 for clients.",
)
@click.option(
    "--block-time",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between blocks when no transaction arrives (chain time follows the clock).",
)
@click.option(
    "--state-interval",
    type=click.FloatRange(min=0.1),
    default=300.0,
    show_default=True,
    help="Seconds between state writes while only empty blocks are made "
    "(blocks with transactions are written at once).",
)
@click.option(
    "--deployments",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Address book folder the gateway reads the registry from [default: DATA_DIR/deployments].",
)
@click.option(
    "--no-gateway",
    is_flag=True,
    help="Serve anvil itself on --port: no permission checks, receipts before they are on disk.",
)
@handle_errors
def node_command(
    data_dir: Path | None,
    port: int,
    block_time: float,
    state_interval: float,
    deployments: Path | None,
    no_gateway: bool,
) -> None:
    """Run the local chain on 127.0.0.1 until Ctrl-C: anvil keeping its state in DATA_DIR,
    behind the permissioning gateway.

    Restarting with the same --data-dir resumes the chain (balances, orders, readings, the
    address book in DATA_DIR/deployments); a receipt is only handed out once its block is on
    disk, so a kill loses nothing that was acknowledged (docs/node.md). Chain id 31337, hardfork
    cancun, base fee 0, as the embedded chain. The gateway refuses transactions from senders the
    registry refuses (Besu's error -32007) once a registry is deployed.
    """
    from p2penergy.chain.node import default_data_dir
    from p2penergy.chain.supervisor import NodeConfig, run

    config = NodeConfig(
        data_dir=(data_dir or default_data_dir()).resolve(),
        port=port,
        block_time=block_time,
        state_interval=state_interval,
        gateway=not no_gateway,
        deployments=deployments.resolve() if deployments else None,
    )

    def announce(info: dict[str, object]) -> None:
        behind = "" if no_gateway else f" (gateway; anvil on {info['node_url']})"
        console.print(
            f"node on {info['url']}{behind}, chain {info['chain_id']}, block {info['block']}; "
            f"data in {config.data_dir}, address book in {config.address_book}; Ctrl-C stops it",
            highlight=False,
            soft_wrap=True,
        )

    run(config, announce)
    console.print("node stopped (state written)")
