"""Developer and first-run commands: compile, toolchain, demo."""

from __future__ import annotations

import dataclasses

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
@click.option("--port", type=int, default=8545, show_default=True, help="Port on 127.0.0.1.")
@handle_errors
def node_command(port: int) -> None:
    """Run a local Hardhat (EDR) JSON-RPC node on 127.0.0.1 until Ctrl-C.

    Wallets, the oracle, the keeper and the auditor can then run as separate processes against
    it (`--rpc http://127.0.0.1:PORT`). Chain id 31337, hardfork cancun, as the embedded chain.
    """
    import signal
    import threading

    from p2penergy.chain.node import start_hardhat

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with start_hardhat(port) as node:
        console.print(f"hardhat node on {node.url} (chain 31337); Ctrl-C stops it")
        while not stop.wait(0.5):
            if node.process.poll() is not None:
                raise click.ClickException(f"the node exited with code {node.process.returncode}")
    console.print("node stopped")
