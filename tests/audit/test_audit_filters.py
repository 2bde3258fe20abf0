"""Filters that match nothing are one-line errors with exit code 2; a read that fails is a
failure "could not check", never a pass."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account

from p2penergy.audit import AuditFilterError, audit
from p2penergy.chain.deploy import System
from p2penergy.cli import audit as audit_cli
from p2penergy.cli.main import cli

from .conftest import Day


@pytest.fixture
def cli_on_embedded(day: Day, monkeypatch: pytest.MonkeyPatch) -> System:
    monkeypatch.setattr(audit_cli, "connect_system", lambda settings: day.d.system)
    return day.d.system


# A fixed address (never registered): parameter ids must be the same in every pytest-xdist worker.
STRANGER = "0x000000000000000000000000000000000000dEaD"


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--participant", "0x123", "not an address"),
        ("--participant", STRANGER, "not a registered participant"),
        # Slot 7 of the day is 01:45 UTC: a suite started near 01:00 traded it (open_slot is 4
        # slots ahead of the chain's time). A slot 10 years on has surely seen nothing.
        ("--slot", "350000", "no order, clearing or settlement"),
    ],
)
def test_a_filter_matching_nothing_is_one_line_and_exit_code_2(
    cli_on_embedded: System, tmp_path: Path, option: str, value: str, named: str
) -> None:
    result = CliRunner().invoke(
        cli, ["audit", "--cache", str(tmp_path / "c.sqlite"), option, value]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0]
    assert "PASS" not in result.output


def test_a_known_participant_filter_runs_and_an_unknown_one_raises(day: Day) -> None:
    buyer = day.buyers[0].account.address
    assert audit(day.d.system, participant=buyer.upper().replace("0X", "0x")).findings
    with pytest.raises(AuditFilterError) as info:
        audit(day.d.system, participant=Account.create().address)
    assert info.value.option == "--participant"


def test_a_balance_read_that_fails_is_a_could_not_check_failure_not_a_pass(day: Day) -> None:
    # The address book points the credit token at an address with no code: every call to it
    # fails on the node, as a wrong or pruned contract would.
    system = day.d.system
    book = system.deployment
    nowhere = Account.create().address
    broken = replace(book, addresses={**book.addresses, "CommunityCredit": nowhere})

    report = audit(system.chain, broken)

    assert not report.passed
    unread = [f for f in report.failures if f.message.startswith("could not check totalSupply")]
    assert [f.check for f in unread] == ["credit-supply"]
    assert "BadFunctionCallOutput" in unread[0].message
    assert not [f for f in report.findings if f.check == "credit-supply" and f.ok]
    market = [f for f in report.failures if "the market's balance" in f.message]
    assert market and market[0].party == book.addresses["EnergyMarket"].lower()
