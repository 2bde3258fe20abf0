"""`p2penergy statement`: the household ledger read from the chain reconciles to the base unit."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from p2penergy.audit.ledger import account_statement, read_history
from p2penergy.chain.deploy import System
from p2penergy.cli import statement as statement_cli
from p2penergy.cli.main import cli

from ..contracts.test_market import CREDITS
from .conftest import Day


def test_statements_reconcile_to_credit_and_certificate_movements(day: Day) -> None:
    system = day.d.system
    credit, certificate = system.credit.functions, system.certificate.functions
    market = system.market.functions

    def owned(address: str) -> int:
        """Credits an account owns: its wallet plus its balance in the market's ledger."""
        return int(credit.balanceOf(address).call()) + int(market.balanceOf(address).call())

    traders = day.sellers + day.buyers
    history = read_history(system)
    moved = 0
    bought: dict[int, int] = {}
    sold: dict[int, int] = {}
    for trader in traders:
        address = trader.account.address
        stmt = account_statement(history, address)
        assert [row.slot for row in stmt.slots] == day.slots
        # credits: what the account holds is its top-up plus its net market movement, exactly
        assert owned(address) - CREDITS == stmt.total.credits_moved
        moved += stmt.total.credits_moved
        for row in stmt.slots:
            e = row.entry
            # certificates of a slot: minted for verified export, moved at settlement
            held = certificate.balanceOf(address, row.slot).call()
            assert held == e.exported_wh - e.certificates_out_wh + e.certificates_in_wh
            assert e.saving == e.baseline_bill - e.bill
            assert e.saving == e.retail_value - e.paid + e.receipts - e.feed_in_value
            bought[row.slot] = bought.get(row.slot, 0) + e.bought_local_wh
            sold[row.slot] = sold.get(row.slot, 0) + e.sold_local_wh
    fee_account, rounding_account = market.accounts().call()
    # every credit that left the households went to the fee or the rounding account
    assert moved + owned(fee_account) + owned(rounding_account) == 0
    # every slot's traded energy is split exactly over its buyers and its sellers
    started = system.market.events.SettlementStarted().get_logs(from_block=0)
    traded = {int(e["args"]["slot"]): int(e["args"]["tradedWh"]) for e in started}
    assert bought == sold == traded
    assert all(wh > 0 for wh in traded.values())
    # a sub-period is the sum of its slots: statements add up
    first = account_statement(history, traders[0].account.address, last=day.slots[0])
    rest = account_statement(history, traders[0].account.address, first=day.slots[1])
    whole = account_statement(history, traders[0].account.address)
    assert first.total + rest.total == whole.total


@pytest.fixture
def on_embedded(day: Day, monkeypatch: pytest.MonkeyPatch) -> System:
    monkeypatch.setattr(statement_cli, "open_system", lambda *args: day.d.system)
    return day.d.system


def test_cli_statement_json_carries_base_units_and_decimals_and_csv_adds_up(
    on_embedded: System, day: Day
) -> None:
    seller = day.sellers[0].account.address
    args = ["statement", "--account", seller, "--from", str(day.slots[0])]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    receipts = data["total"]["receipts"]
    assert receipts["decimal"] == f"{receipts['baseUnits'] / 10**6:.6f}"
    assert data["currency"] == {"code": "EUR", "displayDecimals": 2}
    rows = list(csv.DictReader(io.StringIO(CliRunner().invoke(cli, [*args, "--csv"]).output)))
    assert rows[-1]["slot"] == "total" and len(rows) - 1 == len(data["slots"]) == len(day.slots)
    assert sum(int(r["receipts"]) for r in rows[:-1]) == int(rows[-1]["receipts"])
    assert int(rows[-1]["receipts"]) == receipts["baseUnits"] > 0
    assert int(rows[-1]["sold_local_wh"]) == data["total"]["sold_local_wh"]["wh"] > 0
    human = CliRunner().invoke(cli, [*args, "--per-slot"])
    assert human.exit_code == 0 and "sold to neighbours" in human.output
    assert "EUR" in human.output


def test_cli_statement_refuses_a_bad_period_in_one_line(on_embedded: System) -> None:
    result = CliRunner().invoke(
        cli, ["statement", "--account", "0x" + "11" * 20, "--from", "last tuesday"]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: 'last tuesday' is not a slot number, an ISO date (2026-06-21) or date-time"
    ]
