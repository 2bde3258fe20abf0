"""Governance is reviewed: every privileged action is a finding with a severity, a policy turns a
departure into a failure, and a meter change after a slot's gate voids none of its readings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account

from p2penergy.audit import Report, audit
from p2penergy.audit.governance import Policy
from p2penergy.chain.deploy import System, role_id
from p2penergy.chain.tx import events, transact
from p2penergy.cli import audit as audit_cli
from p2penergy.cli.main import cli
from p2penergy.domain.readings import Reading
from p2penergy.oracle.reading import sign_reading

from ..conftest import govern, topup_ref
from ..contracts.test_market import cleared_pair, open_slot
from .conftest import Day, rolled_back

STRANGER = Account.create()
SELLER_FEE = 7_777
NEW_KEY = Account.create()


def governed(day: Day) -> int:
    """Through the timelock, the operator does what the issue's abuses did directly: deactivates
    a seller's meter after delivery, rotates a household's key, makes a stranger operator,
    changes tariffs, declares an outage; and it redeems credits a household let it redeem.
    A seller fee is in force for the slot traded first (the audit rebuilds its settlement).
    Returns the slot traded before the deactivation."""
    d, market = day.d, day.market
    seller, buyer = day.sellers[0], day.buyers[0]
    registry = d.system.registry.functions
    govern(d, d.system.market.functions.setSellerFee(SELLER_FEE))
    slot = cleared_pair(d, market, seller, buyer, energy_wh=800)
    # After delivery the seller's meter is deactivated: its reading still counts, because a
    # reading verifies against the meter as it stood when its slot's gate closed.
    govern(d, registry.setMeterActive(seller.meter_id, False))
    batch = []
    for trader, (imp, exp) in ((seller, (0, 800)), (buyer, (800, 0))):
        trader.registers[0] += imp
        trader.registers[1] += exp
        reading = Reading(trader.meter_id, slot, imp, exp, *trader.registers)
        batch.append(
            sign_reading(
                trader.device.key, reading, d.chain.chain_id, d.system.readings.address
            ).as_tuple()
        )
    receipt = transact(d.chain, d.actors.keeper, d.system.readings.functions.submit(batch))
    assert events(d.system.readings, "ReadingSkipped", receipt) == []
    market.settle_slot(d.actors.keeper, slot)
    govern(d, registry.rotateMeterKey(day.buyers[1].meter_id, NEW_KEY.address))
    victim = day.buyers[2].account
    credit = d.system.credit.functions
    transact(d.chain, victim, credit.approve(d.actors.operator.address, 1_000_000))
    transact(d.chain, d.actors.operator, credit.redeemFrom(victim.address, 1_000_000, topup_ref()))
    govern(d, registry.grantRole(role_id("OPERATOR_ROLE"), STRANGER.address))
    govern(d, d.system.market.functions.setTariffs(80_000, 450_000, 30_000))
    later = open_slot(d, ahead=8)
    govern(d, d.system.market.functions.declareOutage(later, later, 200_000))
    return slot


def governance(report: Report) -> dict[str, str]:
    return {f.message: str(f.severity) for f in report.findings if f.severity is not None}


@dataclass(frozen=True)
class Reviewed:
    """The audits of one governed day (computed once, then rolled back): with the policy before
    the governance actions, then without and with it after them."""

    slot: int
    clean: Report
    plain: Report
    policy: Report


@pytest.fixture(scope="module")
def reviewed(day_base: Day, tmp_path_factory: pytest.TempPathFactory) -> Reviewed:
    """The governance actions and the three audits run once for both tests that read them (a
    quarter of a minute each); the day is rolled back before any test runs."""
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    with rolled_back(day_base) as day:
        clean = audit(day.d.system, policy=write_policy(day, path))
        slot = governed(day)
        plain = audit(day.d.system)
        policy = audit(day.d.system, policy=write_policy(day, path))
    return Reviewed(slot, clean, plain, policy)


def test_governance_actions_are_findings_with_severities_and_a_delivered_reading_stands(
    reviewed: Reviewed, day_base: Day
) -> None:
    day, slot, report = day_base, reviewed.slot, reviewed.plain
    seller = day.sellers[0].account.address.lower()
    operator = day.d.actors.operator.address.lower()

    assert [f for f in report.failures if f.check in ("governance", "readings")] == []
    delivered = [f for f in report.findings if f.check == "readings" and f.slot == slot]
    assert any(f.party == seller and f.amount == 800 for f in delivered)
    found = governance(report)

    def severity(*parts: str) -> str:
        [match] = [s for m, s in found.items() if all(p in m for p in parts)]
        return match

    assert severity(f"meter {day.sellers[0].meter_id} of {seller} deactivated") == "warning"
    assert severity("key", NEW_KEY.address.lower()) == "warning"
    victim = day.buyers[2].account.address.lower()
    assert severity("CreditRedeemed", victim, f"by {operator}", "not the holder") == "warning"
    assert severity("OPERATOR_ROLE granted to", STRANGER.address.lower()) == "info"
    assert severity("retail 450000") == "info"
    assert severity("outage declared") == "info"
    assert severity(f"seller fee set: {SELLER_FEE} per kWh") == "info"
    # the seller fee was snapshotted, paid out of the receipt and rebuilt to the base unit
    assert [f for f in report.failures if f.check in ("settlement", "escrow")] == []
    settled = [f for f in report.findings if f.check == "settlement" and f.slot == slot]
    assert settled and all(f.ok for f in settled)
    # 800 Wh sold at 0.15: receipt 120000, seller fee floor(800 * 7777 / 1000) = 6221
    assert [f.message.split(": ", 1)[1] for f in settled if f.party == seller] == [
        "amount 120000, fee 6221, refund 0"
    ]


def write_policy(day: Day, path: Path) -> Path:
    actors = day.d.actors
    path.write_text(
        "roles:\n"
        f"  OPERATOR_ROLE: [{actors.admin.address}, {actors.operator.address}]\n"
        "  MARKET_ROLE: [EnergyMarket]\n"
        "meters:\n"
        f"  {day.buyers[1].meter_id}: {day.buyers[1].device.address}\n"
        "tariffs:\n"
        "  retail_per_kwh: [250000, 350000]\n"
        "  seller_fee_per_kwh: [0, 5000]\n"
    )
    return path


def test_a_policy_departure_is_a_failure_naming_the_account_meter_or_tariff(
    reviewed: Reviewed, day_base: Day
) -> None:
    assert not [f for f in reviewed.clean.failures if f.check == "policy"]

    policy = [f for f in reviewed.policy.failures if f.check == "policy"]
    stranger = [f for f in policy if f.party == STRANGER.address.lower()]
    assert stranger and "OPERATOR_ROLE" in stranger[0].message
    rotated = [f for f in policy if NEW_KEY.address.lower() in f.message]
    assert rotated and rotated[0].party == day_base.buyers[1].account.address.lower()
    assert [f.amount for f in policy if "retailPerKWh" in f.message] == [450_000]
    assert [f.amount for f in policy if "sellerFeePerKWh" in f.message] == [SELLER_FEE]


@pytest.fixture
def cli_on_embedded(day: Day, monkeypatch: pytest.MonkeyPatch) -> System:
    monkeypatch.setattr(audit_cli, "connect_system", lambda settings: day.d.system)
    return day.d.system


def test_cli_policy_departure_exits_1_and_a_malformed_policy_exits_2(
    cli_on_embedded: System, day: Day, tmp_path: Path
) -> None:
    govern(
        day.d, day.d.system.registry.functions.grantRole(role_id("OPERATOR_ROLE"), STRANGER.address)
    )
    args = ["audit", "--cache", str(tmp_path / "c.sqlite"), "--policy"]
    result = CliRunner().invoke(cli, [*args, str(write_policy(day, tmp_path / "p.yaml"))])
    assert result.exit_code == 1, result.output
    assert "policy" in result.output and "Governance" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("roles:\n  OPERATOR_ROLE: [0x123]\n")
    result = CliRunner().invoke(cli, [*args, str(bad)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "0x123" in result.output


def test_a_policy_names_address_book_contracts(day: Day, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("roles:\n  MARKET_ROLE: [EnergyMarket]\n")
    policy = Policy.load(path, day.d.system.deployment.addresses)
    [holders] = policy.roles.values()
    assert holders == {day.d.system.deployment.addresses["EnergyMarket"].lower()}
