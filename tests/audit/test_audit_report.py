"""The report: JSON, self-contained HTML with plots, filters, and the CLI's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from p2penergy.audit import audit
from p2penergy.audit.report import render_html
from p2penergy.chain.deploy import System
from p2penergy.cli import audit as audit_cli
from p2penergy.cli.main import cli

from .conftest import Day, ledger_csv, mint


def test_html_report_is_self_contained_with_three_plots(day: Day) -> None:
    html = render_html(audit(day.d.system))
    assert html.count("<svg") == 3
    assert "Clearing price vs tariffs per slot" in html
    assert "Bill per household vs grid-only baseline" in html
    assert "<script" not in html and "src=" not in html and "href=" not in html


def test_slot_and_participant_filters_narrow_the_view(day: Day) -> None:
    slot = day.slots[1]
    buyer = day.buyers[0].account.address.lower()
    report = audit(day.d.system, slot=slot, participant=buyer)
    assert report.findings and {(f.slot, f.party) for f in report.findings} == {(slot, buyer)}
    assert [s.slot for s in report.slots] == [slot]
    assert [h.account for h in report.households] == [buyer]
    # Local trading saved this buyer money against buying everything at retail.
    assert report.households[0].bill < report.households[0].baseline


@pytest.fixture
def cli_on_embedded(day: Day, monkeypatch: pytest.MonkeyPatch) -> System:
    monkeypatch.setattr(audit_cli, "connect_system", lambda settings: day.d.system)
    return day.d.system


def test_cli_exits_0_and_writes_json_and_html_when_everything_checks(
    cli_on_embedded: System, tmp_path: Path
) -> None:
    ledger = tmp_path / "topups.csv"
    ledger.write_text(ledger_csv())
    result = CliRunner().invoke(
        cli,
        [
            "audit",
            "--cache", str(tmp_path / "c.sqlite"),
            "--json", str(tmp_path / "r.json"),
            "--html", str(tmp_path / "r.html"),
            "--topups", str(ledger),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["passed"] is True and data["summary"]["settlement"]["failed"] == 0
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")


def test_cli_exits_1_and_names_the_unrecorded_mint(
    cli_on_embedded: System, day: Day, tmp_path: Path
) -> None:
    buyer = day.buyers[1].account.address
    mint(day.d, buyer, 5_000_000, b"no-such-payment".ljust(32, b"\0"))
    ledger = tmp_path / "topups.csv"
    ledger.write_text(ledger_csv())
    result = CliRunner().invoke(
        cli, ["audit", "--cache", str(tmp_path / "c.sqlite"), "--topups", str(ledger)]
    )
    assert result.exit_code == 1
    assert "FAIL" in result.output and "5000000" in result.output
