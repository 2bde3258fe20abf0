"""End to end over JSON-RPC: a node of our own (free port), the real `p2penergy audit` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from p2penergy.chain.connect import rpc
from p2penergy.cli.main import cli

from ..conftest import Deployed
from .conftest import Day, deploy_embedded, new_day, trade_slots


@pytest.fixture(scope="module")
def node_day(hardhat_node: str) -> Day:
    chain = rpc(hardhat_node)
    d: Deployed = deploy_embedded(chain=chain)
    day = new_day(d, sellers=1, buyers=2)
    trade_slots(day, 1)
    return day


def test_audit_command_over_json_rpc_passes_and_reads_only_new_blocks(
    node_day: Day, hardhat_node: str, tmp_path: Path
) -> None:
    node_day.d.system.deployment.save(tmp_path / "deployments")
    args = [
        "audit",
        "--rpc", hardhat_node,
        "--deployments", str(tmp_path / "deployments"),
        "--cache", str(tmp_path / "cache.sqlite"),
    ]  # fmt: skip
    first = CliRunner().invoke(cli, [*args, "--json", str(tmp_path / "1.json")])
    assert first.exit_code == 0, first.output
    trade_slots(node_day, 1)
    second = CliRunner().invoke(cli, [*args, "--json", str(tmp_path / "2.json")])
    assert second.exit_code == 0, second.output
    report = json.loads((tmp_path / "2.json").read_text())
    assert report["passed"] and len(report["slots"]) == 2
    assert report["summary"]["readings"]["failed"] == 0
