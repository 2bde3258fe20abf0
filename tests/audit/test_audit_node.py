"""A dishonest node operator, on a Hardhat node of our own (free port): storage written behind
the contracts' back and transactions sent "as" a household are caught by the audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_utils.crypto import keccak

from p2penergy.audit import Report, audit
from p2penergy.chain.connect import rpc
from p2penergy.chain.node import HardhatNode, start_hardhat
from p2penergy.cli.main import cli

from .conftest import Day, deploy_embedded, new_day, trade_slots

BALANCES_SLOT = 0  # OZ 5 ERC20 (not upgradeable): `_balances` is the first state variable


@pytest.fixture(scope="module")
def node() -> Iterator[HardhatNode]:
    with start_hardhat() as running:
        yield running


@pytest.fixture(scope="module")
def node_day_base(node: HardhatNode) -> Day:
    day = new_day(deploy_embedded(chain=rpc(node.url)), sellers=1, buyers=2)
    trade_slots(day, 1)
    return day


@pytest.fixture
def node_day(node_day_base: Day) -> Iterator[Day]:
    chain = node_day_base.d.chain
    snapshot = chain.snapshot()
    yield node_day_base
    chain.revert(snapshot)


def rpc_call(day: Day, method: str, *params: object) -> object:
    response = day.d.chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in response, response
    return response.get("result")


def balance_slot(account: str) -> int:
    key = bytes.fromhex(account[2:].rjust(64, "0")) + BALANCES_SLOT.to_bytes(32, "big")
    return int.from_bytes(keccak(key), "big")


def failures(report: Report, check: str) -> list[object]:
    return [f for f in report.failures if f.check == check]


def test_a_credit_balance_written_into_storage_fails_naming_the_account_and_amount(
    node_day: Day,
) -> None:
    system = node_day.d.system
    credit = system.credit
    buyer = node_day.buyers[0].account.address
    before = credit.functions.balanceOf(buyer).call()
    slot = balance_slot(buyer)
    stored = rpc_call(node_day, "eth_getStorageAt", credit.address, hex(slot), "latest")
    assert int(str(stored), 16) == before  # the slot really is the buyer's balance
    forged = before + 10**12
    rpc_call(node_day, "hardhat_setStorageAt", credit.address, hex(slot), "0x" + f"{forged:064x}")
    assert credit.functions.balanceOf(buyer).call() == forged

    report = audit(system)

    assert not report.passed
    account, total = failures(report, "balances")
    assert (account.party, account.amount) == (buyer.lower(), 10**12)  # type: ignore[attr-defined]
    assert "without an event" in account.message  # type: ignore[attr-defined]
    assert total.amount == -(10**12) and "totalSupply" in total.message  # type: ignore[attr-defined]


def test_a_transaction_sent_as_a_household_without_its_key_fails_the_signature_check(
    node_day: Day,
) -> None:
    system = node_day.d.system
    w3 = system.chain.w3
    household = node_day.buyers[0].account.address
    seller = node_day.sellers[0].account.address
    rpc_call(node_day, "hardhat_impersonateAccount", household)
    try:
        data = system.credit.functions.transfer(seller, 1_000_000)._encode_transaction_data()
        tx_hash = w3.eth.send_transaction(
            {"from": household, "to": system.credit.address, "data": data, "gas": 200_000}
        )
        assert w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
    finally:
        rpc_call(node_day, "hardhat_stopImpersonatingAccount", household)

    report = audit(system)

    [forged] = report.failures
    assert (forged.check, forged.party) == ("signatures", household.lower())  # type: ignore[attr-defined]
    assert "0x" + bytes(tx_hash).hex() in forged.message


@pytest.fixture
def second_node(node_day: Day) -> Iterator[HardhatNode]:
    """Another node of the same chain: a Hardhat node forked from the first at its head."""
    url = node_day.d.chain.url
    assert url is not None
    with start_hardhat(fork=url) as running:
        yield running


def test_compare_rpc_names_the_node_that_rewrote_its_state(
    node_day: Day, second_node: HardhatNode, tmp_path: Path
) -> None:
    system = node_day.d.system
    other = rpc(second_node.url)
    honest = audit(system, compare_rpc=other)
    assert honest.passed, [f.message for f in honest.failures]
    assert [f.ok for f in honest.findings if f.check == "nodes"] == [True, True]

    buyer = node_day.buyers[0].account.address
    before = system.credit.functions.balanceOf(buyer).call()
    response = other.w3.provider.make_request(  # type: ignore[arg-type]
        "hardhat_setStorageAt",
        [system.credit.address, hex(balance_slot(buyer)), "0x" + f"{before + 777:064x}"],
    )
    assert "error" not in response

    report = audit(system, compare_rpc=other)

    nodes = [f for f in report.failures if f.check == "nodes"]
    assert nodes, [f.message for f in report.failures]
    assert {f.party for f in nodes} == {second_node.url}
    [account] = [f for f in nodes if buyer.lower() in f.message]
    assert account.amount == 777 and "rewrote its state" in account.message
    assert not [f for f in report.failures if f.check != "nodes"]  # the audited node is honest
    system.deployment.save(tmp_path / "deployments")
    url = node_day.d.chain.url
    assert url is not None
    result = CliRunner().invoke(
        cli,
        [
            "audit",
            "--rpc", url,
            "--deployments", str(tmp_path / "deployments"),
            "--cache", str(tmp_path / "cache.sqlite"),
            "--compare-rpc", second_node.url,
            "--json", str(tmp_path / "report.json"),
        ],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["summary"]["nodes"]["failed"] == 1
    assert [f["party"] for f in data["findings"] if not f["ok"]] == [second_node.url]
