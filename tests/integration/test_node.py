"""The local profile: our own Hardhat node, and `p2penergy node` (anvil keeping its state in a
data directory, behind the permissioning gateway) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount

from p2penergy.chain.config import Settings, connect_system
from p2penergy.chain.connect import Chain, embedded, rpc
from p2penergy.chain.deploy import MarketConfig, System, deploy_system
from p2penergy.chain.node import LocalNode, free_port, start_hardhat, start_node
from p2penergy.chain.supervisor import HEAD_FILE, recorded_head
from p2penergy.chain.tx import send_value, transact
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.domain.readings import Reading
from p2penergy.exceptions import ChainError, SenderNotAuthorized
from p2penergy.oracle import sign_reading

from .oracle_helpers import CONSUMER, PROSUMER, Trader, current_slot, new_trader


def test_started_node_serves_chain_31337_with_dev_keys(hardhat_node: str):
    chain = rpc(hardhat_node, expected_chain_id=31337)
    assert chain.url is not None and chain.url.startswith("http://127.0.0.1:")
    assert len(chain.faucet) == 10
    assert chain.w3.eth.get_balance(chain.faucet[0].address) > 0


def test_a_wrong_chain_id_is_refused_with_a_clear_error(hardhat_node: str):
    with pytest.raises(ChainError, match="serves chain id 31337, expected 1"):
        rpc(hardhat_node, expected_chain_id=1)


def test_an_unreachable_node_is_reported_as_such():
    with pytest.raises(ChainError, match="unreachable"):
        rpc("http://127.0.0.1:9", timeout=2)


def test_a_busy_port_is_reported(hardhat_node: str):
    port = int(hardhat_node.rsplit(":", 1)[1])
    with pytest.raises(ChainError, match="port"):
        start_hardhat(port, timeout=30)


# ─────────────────────── `p2penergy node`: anvil behind the gateway ───────────────────────

BLOCK_TIME = 1.0
NOT_AUTHORIZED = {"code": -32007, "message": "Sender account not authorized to send transactions"}
GAS_MONEY = 10**20


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., LocalNode]]:
    """Starts nodes on one data directory (and cleans up whatever is still running)."""
    started: list[LocalNode] = []

    def _launch(**options: Any) -> LocalNode:
        node = start_node(tmp_path / "node", block_time=BLOCK_TIME, **options)
        started.append(node)
        return node

    yield _launch
    for node in started:
        if node.process.poll() is None:
            node.kill()


def _deploy(chain: Chain, node: LocalNode) -> System:
    """The whole system, its address book saved where the gateway reads it."""
    config = MarketConfig.starting_today(chain.now() - 86_400)  # slot numbers well above 0
    system = deploy_system(chain, chain.faucet[0], config=config)
    system.deployment.save(node.deployments)
    return system


def _reconnect(node: LocalNode) -> System:
    """Connects as every command does: the address book must still match the chain."""
    return connect_system(Settings(rpc=node.url, deployments=node.deployments, chain_id=31337))


def _raw_send(chain: Chain, account: LocalAccount, to: str, value: int = 1) -> dict[str, Any]:
    """The node's JSON-RPC answer to a signed value transfer (no exception on an error)."""
    tx = {
        "to": to,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "chainId": chain.chain_id,
        "nonce": chain.w3.eth.get_transaction_count(account.address, "pending"),
    }
    raw = account.sign_transaction(tx).raw_transaction
    return dict(chain.w3.provider.make_request("eth_sendRawTransaction", ["0x" + raw.hex()]))  # type: ignore[arg-type]


def _market_state(system: System, traders: list[Trader], slot: int, reading_slot: int) -> object:
    """Balances, the order books of `slot` and the next one, the recorded readings: what must
    survive."""
    credit, readings = system.credit.functions, system.readings.functions
    market = MarketClient(system)
    return (
        [int(credit.balanceOf(t.account.address).call()) for t in traders],
        [int(credit.balanceOf(system.market.address).call())],
        [market.slot_orders(slot), market.slot_orders(slot + 1)],
        [tuple(readings.energyOf(t.account.address, reading_slot).call()) for t in traders],
        [bool(readings.isRecorded(t.meter_id, reading_slot).call()) for t in traders],
    )


def test_the_market_survives_a_clean_stop_and_a_sigkill(launch: Callable[..., LocalNode]):
    port = free_port()
    node = launch(port=port)
    chain = rpc(node.url)
    system = _deploy(chain, node)
    operator = chain.faucet[0]
    seller = new_trader(chain, system, operator, PROSUMER)
    buyer = new_trader(chain, system, operator, CONSUMER)
    # A reading verifies against the meter as it stood at its slot's gate: move past the gates
    # of the slots after the meters were registered.
    chain.set_time(chain.now() + 3 * system.readings.functions.timing().call()[1])
    slot = current_slot(chain, system) + 4
    reading_slot = current_slot(chain, system) - 1
    market = MarketClient(system)
    market.place(buyer.account, [OrderInput(slot, Side.BID, 1_000, 150_000)])
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 800, 90_000)])
    reading = Reading(seller.meter_id, reading_slot, 0, 500, 0, 500)
    signed = sign_reading(seller.device.key, reading, chain.chain_id, system.readings.address)
    transact(chain, operator, system.readings.functions.submitOne(signed.as_tuple()))
    traders = [seller, buyer]
    before = _market_state(system, traders, slot, reading_slot)
    head = chain.w3.eth.block_number

    node.stop()
    node = launch(port=port)
    system = _reconnect(node)
    assert _market_state(system, traders, slot, reading_slot) == before
    assert system.chain.w3.eth.block_number >= head  # a clean stop keeps even empty blocks

    # acknowledged = the receipt came back; SIGKILL right after it
    MarketClient(system).place(buyer.account, [OrderInput(slot + 1, Side.BID, 200, 160_000)])
    after = _market_state(system, traders, slot, reading_slot)
    assert after != before
    node.kill()
    node = launch(port=port)
    system = _reconnect(node)
    assert _market_state(system, traders, slot, reading_slot) == after
    assert system.registry.functions.isActiveParticipant(buyer.account.address).call()


def test_every_acknowledged_transaction_survives_a_sigkill_mid_stream(
    launch: Callable[..., LocalNode],
):
    port = free_port()
    node = launch(port=port)
    chain = rpc(node.url)
    sink = Account.create().address
    acknowledged: list[tuple[bytes, int]] = []
    stop = threading.Event()

    def sender() -> None:
        with contextlib.suppress(Exception):  # the node dies under it
            while not stop.is_set():
                value = len(acknowledged) + 1
                receipt = send_value(chain, chain.faucet[1], sink, value)
                acknowledged.append((bytes(receipt["transactionHash"]), value))

    thread = threading.Thread(target=sender)
    thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    node.kill()
    stop.set()
    thread.join(timeout=150)
    assert len(acknowledged) >= 12

    node = launch(port=port)
    chain = rpc(node.url)
    for tx_hash, _ in acknowledged:
        assert chain.w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
    assert chain.w3.eth.get_balance(sink) >= sum(value for _, value in acknowledged)


def test_a_kill_loses_only_empty_blocks_and_never_reuses_their_numbers(
    launch: Callable[..., LocalNode],
):
    port = free_port()
    node = launch(port=port)  # empty blocks are written every 300 s only
    chain = rpc(node.url)
    time.sleep(4 * BLOCK_TIME)
    served = chain.w3.eth.get_block("latest")
    assert served["number"] >= 3
    # the file is ahead of what was served however far the keeper's bookkeeping lags (a kill
    # right after a read is the race this guards: the keeper writes some time after each block)
    assert recorded_head(node.data_dir / HEAD_FILE) > served["number"]
    node.kill()
    node = launch(port=port)
    head = chain.w3.eth.get_block("latest")
    assert (
        head["number"] > served["number"]
    )  # a log scanner that stopped at `served` misses nothing
    assert head["timestamp"] >= served["timestamp"]


@pytest.fixture(scope="module")
def bare_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """A node behind its gateway with nothing deployed (bootstrap)."""
    with start_node(tmp_path_factory.mktemp("bare"), block_time=BLOCK_TIME) as node:
        yield node


def test_chain_time_follows_the_clock_without_transactions(bare_node: LocalNode):
    chain = rpc(bare_node.url)
    first = chain.w3.eth.get_block("latest")
    time.sleep(3 * BLOCK_TIME)
    latest = chain.w3.eth.get_block("latest")
    assert latest["number"] > first["number"]
    assert latest["timestamp"] >= first["timestamp"] + 2
    assert abs(latest["timestamp"] - time.time()) <= 2 * BLOCK_TIME + 1


def test_a_reverted_transaction_is_mined_with_status_0_and_the_send_succeeds(
    bare_node: LocalNode,
):
    chain = rpc(bare_node.url)
    stranger = Account.create()  # no registry yet: everyone may send
    chain.fund(stranger.address, GAS_MONEY)
    tx = {
        "data": "0x60006000fd",  # init code: REVERT(0, 0)
        "gas": 100_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "chainId": chain.chain_id,
        "nonce": 0,
    }
    raw = stranger.sign_transaction(tx).raw_transaction
    tx_hash = chain.w3.eth.send_raw_transaction(raw)  # no RPC error
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 0
    assert chain.w3.eth.get_transaction_count(stranger.address) == 1


def test_a_busy_data_directory_is_refused(bare_node: LocalNode):
    with pytest.raises(ChainError, match="another p2penergy node is running"):
        start_node(bare_node.data_dir, timeout=30)


def test_a_busy_port_is_refused_with_one_line(bare_node: LocalNode, tmp_path: Path):
    port = int(bare_node.url.rsplit(":", 1)[1])
    with pytest.raises(ChainError, match=f"port {port} on 127.0.0.1 is already in use"):
        start_node(tmp_path / "other", port=port, timeout=30)
    assert "Traceback" not in (tmp_path / "other" / "node.log").read_text()


@dataclass
class Permissioned:
    node: LocalNode
    chain: Chain
    system: System
    member: Trader


@pytest.fixture(scope="module")
def permissioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Permissioned]:
    """A node whose gateway enforces a deployed registry, with one registered member."""
    with start_node(tmp_path_factory.mktemp("permissioned"), block_time=BLOCK_TIME) as node:
        chain = rpc(node.url)
        system = _deploy(chain, node)
        member = new_trader(chain, system, chain.faucet[0], CONSUMER)
        yield Permissioned(node, chain, system, member)


def test_an_unregistered_sender_is_refused_with_besus_error(permissioned: Permissioned):
    chain = permissioned.chain
    stranger = Account.create()
    chain.fund(stranger.address, GAS_MONEY)  # the admin may send
    answer = _raw_send(chain, stranger, permissioned.member.account.address)
    assert answer["error"] == NOT_AUTHORIZED
    assert "result" not in answer
    with pytest.raises(SenderNotAuthorized) as refused:  # what callers of p2penergy see
        send_value(chain, stranger, permissioned.member.account.address, 1)
    assert refused.value.error_args == {"sender": stranger.address}
    assert chain.w3.eth.get_transaction_count(stranger.address, "pending") == 0


def test_a_registered_sender_passes(permissioned: Permissioned):
    chain, member = permissioned.chain, permissioned.member
    receipt = send_value(chain, member.account, chain.faucet[3].address, 7)
    assert receipt["status"] == 1


def test_a_suspension_takes_effect_on_the_next_transaction(permissioned: Permissioned):
    chain, system = permissioned.chain, permissioned.system
    operator = chain.faucet[0]
    member = new_trader(chain, system, operator, PROSUMER)
    registry = system.registry.functions
    assert "result" in _raw_send(chain, member.account, operator.address)
    transact(chain, operator, registry.suspendParticipant(member.account.address))
    assert _raw_send(chain, member.account, operator.address)["error"] == NOT_AUTHORIZED
    transact(chain, operator, registry.reinstateParticipant(member.account.address))
    assert "result" in _raw_send(chain, member.account, operator.address)


def test_reads_and_batches_pass_the_gateway_untouched(permissioned: Permissioned):
    chain, system, node = permissioned.chain, permissioned.system, permissioned.node
    member = permissioned.member.account.address
    direct = rpc(node.node_url)
    registry = system.registry.functions
    assert (
        registry.participant(member).call()
        == direct.w3.eth.contract(address=system.registry.address, abi=system.registry.abi)
        .functions.participant(member)
        .call()
    )
    assert chain.w3.eth.get_balance(member) == direct.w3.eth.get_balance(member)

    stranger = Account.create()
    chain.fund(stranger.address, GAS_MONEY)
    raw = stranger.sign_transaction(
        {"to": member, "value": 1, "gas": 21_000, "gasPrice": 0, "chainId": 31337, "nonce": 0}
    ).raw_transaction
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [member, "latest"]},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction", "params": [raw.hex()]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_chainId", "params": []},
    ]
    answers = requests.post(node.url, json=batch, timeout=30).json()
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert int(answers[0]["result"], 16) == chain.w3.eth.get_balance(member)
    assert answers[1]["error"] == NOT_AUTHORIZED
    assert answers[2]["result"] == "0x7a69"


def test_eth_send_transaction_is_checked_by_its_from(permissioned: Permissioned):
    chain = permissioned.chain
    outsider = chain.faucet[5].address  # an unlocked dev account the registry does not know
    admin = chain.faucet[0].address
    call = {"to": admin, "value": hex(1), "gas": hex(21_000), "gasPrice": "0x0"}
    refused = chain.w3.provider.make_request("eth_sendTransaction", [{**call, "from": outsider}])  # type: ignore[arg-type]
    assert refused["error"] == NOT_AUTHORIZED
    passed = chain.w3.provider.make_request("eth_sendTransaction", [{**call, "from": admin}])  # type: ignore[arg-type]
    receipt = chain.w3.eth.wait_for_transaction_receipt(passed["result"], timeout=30)
    assert receipt["status"] == 1


def test_a_bid_costs_the_same_gas_on_anvil_as_on_the_embedded_chain(permissioned: Permissioned):
    def bid_gas(chain: Chain, system: System, slot: int) -> int:
        buyer = new_trader(chain, system, chain.faucet[0], CONSUMER)
        fn = system.market.functions.placeOrders([(slot, int(Side.BID), 1_250, 123_456)])
        return int(transact(chain, buyer.account, fn)["gasUsed"])

    local = embedded()
    local_system = deploy_system(
        local, local.faucet[0], config=MarketConfig.starting_today(int(time.time()) - 86_400)
    )
    epoch, length, _ = permissioned.system.readings.functions.timing().call()
    assert local_system.readings.functions.timing().call()[0] == epoch
    slot = (int(time.time()) - epoch) // length + 6
    assert bid_gas(permissioned.chain, permissioned.system, slot) == bid_gas(
        local, local_system, slot
    )
