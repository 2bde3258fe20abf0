"""`p2penergy market`, `market book` and `prices` on the audit tests' traded day (chain only)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from p2penergy.chain.deploy import System
from p2penergy.cli import market as market_cli
from p2penergy.cli.main import cli
from p2penergy.domain.orders import Side
from p2penergy.wallet import market_view

from .conftest import Day


def test_slot_summary_depth_and_prices_agree_with_the_book_and_the_clearing(day: Day) -> None:
    system = day.d.system
    slot = day.slots[0]
    live = day.market.slot_orders(slot)
    summary = market_view.slot_summary(day.market, slot, system.chain.now())
    assert summary.status == "settled"
    assert (summary.bids, summary.offers) == (len(day.buyers), len(day.sellers))
    assert summary.price == day.market.clearing(slot).price
    assert summary.bid_wh == sum(o.energy_wh for o in live if o.side == Side.BID)

    book = market_view.depth(system, slot)
    bid_prices = [level.price for level in book.bids]
    assert bid_prices == sorted(bid_prices, reverse=True)
    assert [level.price for level in book.offers] == sorted(level.price for level in book.offers)
    assert book.bids[-1].cumulative_wh == summary.bid_wh
    assert book.offers[-1].cumulative_wh == summary.offer_wh

    stats = market_view.prices(system, day.slots[0], day.slots[-1])
    assert [p.slot for p in stats.points] == day.slots
    assert [p.price for p in stats.points] == [day.market.clearing(s).price for s in day.slots]
    assert stats.minimum is not None and stats.median is not None and stats.maximum is not None
    assert stats.minimum <= stats.median <= stats.maximum
    assert stats.median in [p.price for p in stats.points]
    assert market_view.prices(system, day.slots[-1] + 1, day.slots[-1] + 9).points == ()


@pytest.fixture
def on_embedded(day: Day, monkeypatch: pytest.MonkeyPatch) -> System:
    monkeypatch.setattr(market_cli, "open_system", lambda *args: day.d.system)
    return day.d.system


def test_cli_market_book_and_prices_name_no_trader(on_embedded: System, day: Day) -> None:
    slot = day.slots[1]
    book = CliRunner().invoke(cli, ["market", "book", str(slot), "--json"])
    assert book.exit_code == 0, book.output
    traders = [t.account.address.lower() for t in day.sellers + day.buyers]
    assert not any(address in book.output.lower() for address in traders)
    data = json.loads(book.output)
    top = data["bids"][0]["price"]
    assert top["decimal"] == f"{top['baseUnits'] / 10**6:.6f}"
    rows = CliRunner().invoke(cli, ["market", "--json", "--before", "1", "--after", "1"])
    assert rows.exit_code == 0, rows.output
    assert len(json.loads(rows.output)) >= 2
    span = ["--from", str(day.slots[0]), "--to", str(day.slots[-1])]
    prices = CliRunner().invoke(cli, ["prices", *span, "--json"])
    assert prices.exit_code == 0, prices.output
    assert len(json.loads(prices.output)["slots"]) == len(day.slots)
    human = CliRunner().invoke(cli, ["prices", *span])
    assert "median" in human.output and "EUR/kWh" in human.output
