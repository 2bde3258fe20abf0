"""The services unattended, as real processes against nodes of our own: the oracle's --once exit
codes tell cron whether readings flow, a node that came back empty or serves another chain stops
the keeper and the oracle with their documented exit codes (never a traceback), a service whose
account cannot pay for gas warns and stops, and `p2penergy status` reports what an operator
needs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from p2penergy.chain.node import HardhatNode, free_port, start_hardhat, start_node
from p2penergy.cli._service import (
    EXIT_DEPLOYMENT_GONE,
    EXIT_GAS_LOW,
    EXIT_ROWS_REJECTED,
    EXIT_SOURCE_UNREADABLE,
    EXIT_WRONG_CHAIN,
)
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.oracle.outbox import Outbox
from p2penergy.oracle.sources import CSV_COLUMNS

from .oracle_helpers import CONSUMER, PROSUMER, advance_to, current_slot, new_trader
from .oracle_helpers import slot_start_iso as iso
from .process_helpers import Site, cli, env, new_site, spawn, wait_for


def run(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, env=env(), timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def own_node() -> Iterator[HardhatNode]:
    """A node for this module alone: its base fee and mining mode are changed here."""
    with start_hardhat() as node:
        yield node


@pytest.fixture
def site(own_node: HardhatNode, tmp_path: Path) -> Site:
    return new_site(own_node.url, tmp_path)


def _oracle(site: Site, url: str, *extra: str) -> list[str]:
    relayer = site.write_key(site.keepers[1], site.folder / "relayer.key")
    return cli(
        "oracle", "run", "--meter-keys", str(site.folder / "meters"),
        "--relayer-key", str(relayer), "--outbox", str(site.folder / "outbox.sqlite"),
        "--interval", "0.2", *extra, rpc_url=url, site=site,
    )  # fmt: skip


def _keeper(site: Site, url: str, *extra: str) -> list[str]:
    key = site.write_key(site.keepers[0], site.folder / "keeper.key")
    return cli("keeper", "run", "--key", str(key), "--interval", "0.2", *extra,
               rpc_url=url, site=site)  # fmt: skip


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


# ───────────────────────────── oracle --once ─────────────────────────────


def test_oracle_once_exits_10_for_an_unreadable_source_11_for_a_rejected_row_else_0(
    site: Site, own_node: HardhatNode, tmp_path: Path
):
    trader = new_trader(site.chain, site.system, site.admin, PROSUMER)
    site.meter_keys([trader])
    # +2: the next slot's gate may have closed before this meter was registered (the time of
    # day decides), and a reading verifies against the meters in force at its slot's gate.
    slot = current_slot(site.chain, site.system) + 2
    url = own_node.url
    header = ",".join(CSV_COLUMNS)
    good = f"{trader.meter_id},{iso(site.system, slot)},0,100,0,100\n"

    missing = run(_oracle(site, url, "--source", f"csv:{tmp_path / 'nope.csv'}", "--once"))
    assert missing.returncode == EXIT_SOURCE_UNREADABLE, missing.stderr
    assert "nope.csv:0: unreadable" in missing.stderr
    _no_traceback(missing.stderr)

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("meter,start,import,export\n" + good)
    result = run(_oracle(site, url, "--source", f"csv:{wrong}", "--once"))
    assert result.returncode == EXIT_SOURCE_UNREADABLE, result.stderr
    assert "header lacks column(s)" in result.stderr

    bad_row = tmp_path / "bad-row.csv"
    bad_row.write_text(f"{header}\n{good}{trader.meter_id},not-a-time,0,1,0,101\n")
    result = run(_oracle(site, url, "--source", f"csv:{bad_row}", "--once"))
    assert result.returncode == EXIT_ROWS_REJECTED, result.stderr
    assert "bad-row.csv:3: slot_start is not an ISO 8601 timestamp" in result.stderr

    folder = tmp_path / "no-such-folder"
    result = run(_oracle(site, url, "--source", f"folder:{folder}", "--once"))
    assert result.returncode == EXIT_SOURCE_UNREADABLE and "is not a folder" in result.stderr

    clean = tmp_path / "clean.csv"
    clean.write_text(f"{header}\n{good}")
    result = run(_oracle(site, url, "--source", f"csv:{clean}", "--once"))
    assert result.returncode == 0, result.stderr


# ───────────────────────────── a chain that changed ─────────────────────────────


def test_a_node_that_comes_back_empty_stops_keeper_and_oracle_with_exit_12(tmp_path: Path):
    node = start_node(tmp_path / "chain", block_time=1.0, gateway=False)
    try:
        site = new_site(node.url, tmp_path)
        site.meter_keys([new_trader(site.chain, site.system, site.admin, PROSUMER)])
        keeper_log, oracle_log = tmp_path / "keeper.log", tmp_path / "oracle.log"
        keeper = spawn(_keeper(site, node.url), keeper_log)
        oracle = spawn(_oracle(site, node.url), oracle_log)
        wait_for(lambda: "keeper 0x" in keeper_log.read_text(), 60, "the keeper to start")
        wait_for(lambda: "oracle: 1 meter" in oracle_log.read_text(), 60, "the oracle to start")
        port = int(node.url.rsplit(":", 1)[1])
        node.kill()
        # Same URL, a new data directory: a fresh chain, and the address book is stale.
        node = start_node(tmp_path / "new-chain", port=port, block_time=1.0, gateway=False)
        assert keeper.wait(timeout=90) == EXIT_DEPLOYMENT_GONE, keeper_log.read_text()
        assert oracle.wait(timeout=90) == EXIT_DEPLOYMENT_GONE, oracle_log.read_text()
        for log in (keeper_log, oracle_log):
            text = log.read_text()
            _no_traceback(text)
            assert "redeploy" in text, text
        # Restarted by hand (systemd would not): it stops at once, with one line.
        again = run(_keeper(site, node.url))
        assert again.returncode == EXIT_DEPLOYMENT_GONE, again.stderr
        assert len(again.stderr.strip().splitlines()) == 1 and "has no code" in again.stderr
    finally:
        node.stop()


def test_a_keeper_told_another_chain_id_stops_with_exit_13(site: Site, own_node: HardhatNode):
    result = run(_keeper(site, own_node.url, "--chain-id", "1", "--once"))
    assert result.returncode == EXIT_WRONG_CHAIN, result.stderr
    assert "serves chain id 31337, expected 1" in result.stderr
    _no_traceback(result.stderr)


# ───────────────────────────── gas money ─────────────────────────────


def test_a_keeper_warns_below_its_threshold_and_stops_before_it_cannot_pay(
    site: Site, own_node: HardhatNode
):
    w3 = site.chain.w3
    # The local node has a zero base fee (nothing to pay); give it one for this test.
    w3.provider.make_request("hardhat_setNextBlockBaseFeePerGas", [hex(100 * 10**9)])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    try:
        poor, modest = Account.create(), Account.create()
        for account in (poor, modest):
            transact_role(site, account.address)
        site.chain.fund(poor.address, 10**17)  # 0.1 ETH: less than one settlement's gas
        site.chain.fund(modest.address, 3 * 10**18)  # enough to pay, below a 10 ETH warning
        key = site.write_key(poor, site.folder / "poor.key")
        result = run(cli("keeper", "run", "--key", str(key), "--once",
                         rpc_url=own_node.url, site=site))  # fmt: skip
        assert result.returncode == EXIT_GAS_LOW, result.stderr
        assert f"account {poor.address} holds" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        _no_traceback(result.stderr)

        key = site.write_key(modest, site.folder / "modest.key")
        result = run(cli("keeper", "run", "--key", str(key), "--once", "--warn-balance", "10",
                         rpc_url=own_node.url, site=site))  # fmt: skip
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if "below the warning" in line]
        assert len(warnings) == 1 and modest.address in warnings[0]
    finally:
        w3.provider.make_request("hardhat_setNextBlockBaseFeePerGas", ["0x0"])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def transact_role(site: Site, address: str) -> None:
    from p2penergy.chain.deploy import role_id
    from p2penergy.contracts.governance import GovernanceClient

    grant = site.system.registry.functions.grantRole(role_id("KEEPER_ROLE"), address)
    GovernanceClient(site.system).enact(site.admin, grant)


# ───────────────────────────── status ─────────────────────────────


def test_status_reports_head_slots_backlog_and_gas_as_json(
    site: Site, own_node: HardhatNode, tmp_path: Path
):
    chain, system = site.chain, site.system
    market = MarketClient(system)
    seller = new_trader(chain, system, site.admin, PROSUMER)
    buyer = new_trader(chain, system, site.admin, CONSUMER)
    slot = current_slot(chain, system) + 2
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 500, 90_000)])
    market.place(buyer.account, [OrderInput(slot, Side.BID, 500, 200_000)])
    advance_to(chain, market.slot_times(slot)[1])
    market.clear_slot(site.keepers[0], slot)
    outbox = tmp_path / "status-outbox.sqlite"
    Outbox(outbox, chain.chain_id, system.readings.address).close()
    keeper_key = site.write_key(site.keepers[0], tmp_path / "k.key")
    poor = Account.create()
    chain.fund(poor.address, 10**15)

    result = run(cli("status", "--json", "--outbox", str(outbox), "--keeper", str(keeper_key),
                     "--relayer", poor.address, "--warn-balance", "0.01",
                     rpc_url=own_node.url, site=site))  # fmt: skip
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    head = chain.w3.eth.get_block("latest")
    assert status["chain_id"] == 31337
    assert status["head_block"] == head["number"]
    assert status["head_timestamp"] == head["timestamp"]
    assert status["last_cleared_slot"] == slot
    assert status["last_settled_slot"] is None
    start, gate, _ = market.slot_times(status["current_slot"])
    assert start <= head["timestamp"] < start + 900
    assert status["current_slot_gate_closes_at"] == gate
    assert status["next_gate_closes_at"] > head["timestamp"]
    assert status["outbox"]["pending"] == 0 and status["outbox"]["failed"] == 0
    accounts = {a["role"]: a for a in status["accounts"]}
    assert accounts["keeper"]["address"] == site.keepers[0].address
    assert accounts["keeper"]["balance_wei"] == chain.w3.eth.get_balance(site.keepers[0].address)
    assert accounts["keeper"]["low"] is False
    assert accounts["relayer"] == {
        "role": "relayer",
        "address": poor.address,
        "balance_wei": 10**15,
        "low": True,
    }

    dead = f"http://127.0.0.1:{free_port()}"
    result = run(cli("status", rpc_url=dead, site=site))
    assert result.returncode == 3
    assert len(result.stderr.strip().splitlines()) == 1 and "unreachable" in result.stderr


# ───────────────────────────── an idle chain ─────────────────────────────

BLOCK_TIME_S = 1


def test_the_keeper_clears_a_slot_on_an_idle_chain_within_two_blocks_of_its_gate(tmp_path: Path):
    from p2penergy.chain.connect import rpc
    from p2penergy.chain.deploy import MarketConfig, deploy_system

    with start_hardhat() as node:
        chain = rpc(node.url)
        admin, keeper = chain.faucet[0], Account.create()
        chain.fund(keeper.address, 10**20)
        now = chain.now()
        config = MarketConfig(epoch=now - now % 300 - 3000, slot_length=300, gate_closure=300)
        system = deploy_system(chain, admin, config=config, keepers=(keeper.address,))
        system.deployment.save(tmp_path / "deployments")
        site = Site(chain, system, admin, [keeper], tmp_path)
        market = MarketClient(system)
        seller = new_trader(chain, system, admin, PROSUMER)
        buyer = new_trader(chain, system, admin, CONSUMER)
        slot = current_slot(chain, system) + 3  # its gate is 5-10 min away
        market.place(seller.account, [OrderInput(slot, Side.OFFER, 500, 90_000)])
        market.place(buyer.account, [OrderInput(slot, Side.BID, 500, 200_000)])
        gate = market.slot_times(slot)[1]
        # From here on no transaction but the keeper's: blocks every second, as on a real
        # network, and chain time 15 s before the gate.
        w3 = chain.w3
        w3.provider.make_request("evm_setNextBlockTimestamp", [gate - 15])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
        w3.provider.make_request("evm_setIntervalMining", [BLOCK_TIME_S * 1000])  # type: ignore[arg-type]
        log = tmp_path / "keeper.log"
        proc = spawn(_keeper(site, node.url, "--interval", "0.25"), log)
        try:
            wait_for(lambda: f"slot {slot}: cleared" in log.read_text(), 90, "the clearing")
        finally:
            proc.terminate()
            assert proc.wait(timeout=30) == 0, log.read_text()
        [cleared] = system.market.events.SlotCleared.get_logs(from_block=0)
        mined_at = int(w3.eth.get_block(cleared["blockNumber"])["timestamp"])
        assert gate <= mined_at <= gate + 2 * BLOCK_TIME_S, (gate, mined_at, log.read_text())
