"""`p2penergy audit`: verify the whole history from chain data alone."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import Progress

from p2penergy.audit import AuditFilterError, audit
from p2penergy.audit.governance import PolicyError
from p2penergy.audit.report import print_summary, write_html, write_json
from p2penergy.chain.config import connect_system, resolve, user_data_dir
from p2penergy.chain.connect import rpc
from p2penergy.cli._utils import EXIT_ERROR, console, err_console, handle_errors

# Exit codes (docs/audit.md): 0 every check passed; 1 a check failed or could not run;
# 2 a filter or the policy file is malformed or a filter matches nothing; 3 node unreachable or
# address book wrong.
EXIT_FILTER = 2


@click.command("audit")
@click.option("--rpc", "rpc_url", help="JSON-RPC URL of a node (default: settings, env, config).")
@click.option(
    "--deployments",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of address books (<chainId>.json).",
)
@click.option("--from-block", type=int, help="Report only findings from this block on.")
@click.option("--to-block", type=int, help="Audit the state as of this block (default: head).")
@click.option("--slot", type=int, help="Report only this slot.")
@click.option("--participant", help="Report only findings and the bill of this address.")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write JSON here."
)
@click.option(
    "--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write HTML here."
)
@click.option(
    "--topups",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Top-up ledger CSV (payment_ref[,account,amount]): flags mints missing from it.",
)
@click.option(
    "--policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Governance policy YAML (roles, meter keys, tariff ranges): a departure fails.",
)
@click.option(
    "--compare-rpc",
    help="JSON-RPC URL of a second node (another validator): blocks and balances must agree.",
)
@click.option(
    "--cache",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite cache of raw chain data (default: <data dir>/audit-<chainId>.sqlite).",
)
@handle_errors
def audit_command(
    rpc_url: str | None,
    deployments: Path | None,
    from_block: int | None,
    to_block: int | None,
    slot: int | None,
    participant: str | None,
    json_path: Path | None,
    html_path: Path | None,
    topups: Path | None,
    policy: Path | None,
    compare_rpc: str | None,
    cache: Path | None,
) -> None:
    """Re-check every clearing, reading, settlement and balance from chain data alone.

    Reads every event and the calldata of clearing and reading transactions from the deployment
    blocks to the head (only new blocks after the first run: raw data is cached in SQLite),
    recomputes clearing and settlement with p2penergy.market, recovers every reading's signer,
    checks credit and certificate conservation and compares on-chain code with the shipped
    artifacts. Exit code 0 only when every check passes, 1 when one fails or could not run,
    2 when --participant, --slot or --policy is malformed or a filter matches nothing, 3 when
    the node or the address book is wrong. Governance actions (role changes, meter key
    rotations and deactivations, burns, outages, tariffs, timelock calls) are listed with a
    severity; --policy turns a departure into a failure.
    """
    system = connect_system(resolve(rpc_url, deployments))
    other = None
    if compare_rpc is not None:
        other = rpc(compare_rpc, expected_chain_id=system.chain.chain_id)
    path = cache or user_data_dir() / f"audit-{system.chain.chain_id}.sqlite"
    try:
        with Progress(transient=True, console=console) as bar:
            task = bar.add_task("reading blocks", total=None)
            report = audit(
                system,
                cache=path,
                from_block=from_block,
                to_block=to_block,
                slot=slot,
                participant=participant,
                topups=topups,
                policy=policy,
                compare_rpc=other,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except (AuditFilterError, PolicyError) as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_FILTER)
    print_summary(report, console)
    if json_path is not None:
        write_json(report, json_path)
        console.print(f"JSON report: {json_path}")
    if html_path is not None:
        write_html(report, html_path)
        console.print(f"HTML report: {html_path}")
    if not report.passed:
        sys.exit(EXIT_ERROR)
