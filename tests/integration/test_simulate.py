"""`p2penergy simulate` end to end on the embedded chain, on a small window of the island day.

6 households, 8 slots from 13:00: four normal slots and the first four of the outage.
"""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import Side
from p2penergy.energy import scenario as scenarios
from p2penergy.ledger import Tariffs, grid_charge, grid_credit
from p2penergy.oracle.outbox import Outbox
from p2penergy.sim.accounting import households, slot_inputs
from p2penergy.sim.report import build_report, ledgers, plots, to_html, to_json
from p2penergy.sim.runner import RunResult, simulate


def small() -> scenarios.Scenario:
    return scenarios.load("island-outage").with_overrides(households=6, first_slot=52, slot_count=8)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("simulation")


@pytest.fixture(scope="module")
def run(workdir: Path) -> RunResult:
    return simulate(small(), workdir=workdir)


def test_the_same_seed_gives_the_same_report_byte_for_byte(run: RunResult):
    first = build_report(run)
    again = build_report(simulate(small()))
    assert to_json(first) == to_json(again)
    assert to_html(first, plots(first)) == to_html(again, plots(again))


def test_settling_in_chunks_after_the_window_pays_exactly_what_one_call_pays(run: RunResult):
    """A large community settles each slot in chunks once its reading window closes (the market
    settles an open window's slot in one call); the same community settled two orders per
    transaction pays every order, fee and rounding dust exactly as the one-call run did."""
    chunked = simulate(small(), settle_chunk=2)
    assert chunked.settled == run.settled
    assert chunked.slot_settled == run.slot_settled
    assert chunked.balances_after == run.balances_after
    assert len(chunked.gas["settle"]) > len(run.gas["settle"]) == len(run.community.slots)
    assert chunked.audit is not None and chunked.audit.passed, chunked.audit.failures


def test_time_of_use_bands_price_the_grid_side_of_every_households_bill(run: RunResult):
    """The run's first hour (13:00-14:00) in a dearer band: the grid-only baseline and the
    utility bill use the band's tariffs there, the flat ones after; local money is untouched."""
    flat = run.community.scenario
    priced = with_evening_band(run)
    grid = [s.tariffs for s in slot_inputs(priced)]
    assert (
        grid
        == [Tariffs(50_000, 400_000)] * 4 + [Tariffs(flat.tariffs.feed_in, flat.tariffs.retail)] * 4
    )
    for before, after, flows in zip(
        households(run), households(priced), run.community.actual, strict=True
    ):
        baseline = sum(
            grid_charge(imp, t.retail) - grid_credit(exp, t.feed_in)
            for imp, exp, t in zip(flows.import_wh, flows.export_wh, grid, strict=True)
        )
        assert after.statement.total.baseline_bill == baseline
        assert after.statement.total.receipts == before.statement.total.receipts
        assert after.statement.total.charges == before.statement.total.charges
    assert any(
        a.statement.total.baseline_bill != b.statement.total.baseline_bill
        for a, b in zip(households(run), households(priced), strict=True)
    )


def with_evening_band(run: RunResult) -> RunResult:
    """The run with its first hour (13:00-14:00) in a dearer time-of-use band."""
    flat = run.community.scenario
    band = scenarios.TimeOfUse("13:00", "14:00", retail=400_000, feed_in=50_000)
    tou = replace(flat, tariffs=replace(flat.tariffs, time_of_use=(band,)))
    return replace(run, community=replace(run.community, scenario=tou))


def test_the_report_shows_each_tariff_band_and_what_it_priced(run: RunResult):
    priced = with_evening_band(run)
    report = build_report(priced)
    t = run.community.scenario.tariffs
    rows = report["tariff_bands"]
    assert [(r["start"], r["end"], r["retail"], r["feed_in"], r["slots"]) for r in rows] == [
        ("13:00", "14:00", 400_000, 50_000, 4),
        (None, None, t.retail, t.feed_in, 4),
    ]
    # the band's utility bill, from the meters and the ledger's local energy
    book = ledgers(priced)
    for row, ks in zip(rows, (range(4), range(4, 8)), strict=True):
        grid_in = [
            f.import_wh[k] - b.bought_local[k]
            for f, b in zip(run.community.actual, book, strict=True)
            for k in ks
        ]
        grid_out = [
            f.export_wh[k] - b.sold_local[k]
            for f, b in zip(run.community.actual, book, strict=True)
            for k in ks
        ]
        assert row["grid_import_wh"] == sum(grid_in)
        assert row["grid_export_wh"] == sum(grid_out)
        per_slot = [
            grid_charge(f.import_wh[k] - b.bought_local[k], row["retail"])
            - grid_credit(f.export_wh[k] - b.sold_local[k], row["feed_in"])
            for f, b in zip(run.community.actual, book, strict=True)
            for k in ks
        ]
        assert row["utility_bill"] == sum(per_slot)
    # the bands together are the households' statements
    for key in ("utility_bill", "bill", "baseline_bill", "saving"):
        assert sum(r[key] for r in rows) == sum(h["money"][key] for h in report["households"])
    for key in ("bought_local_wh", "sold_local_wh"):
        assert sum(r[key] for r in rows) == sum(h["energy"][key] for h in report["households"])
    flat_rows = build_report(run)["tariff_bands"]
    assert [(r["start"], r["slots"]) for r in flat_rows] == [(None, 8)]


def test_energy_balances_per_household_and_slot(run: RunResult):
    books = ledgers(run)
    for flows, book in zip(run.community.actual, books, strict=True):
        for k in range(len(run.community.slots)):
            # outside the market: the grid, or in an outage the island's untraded flow
            bought_grid = flows.import_wh[k] - book.bought_local[k]
            exported_grid = flows.export_wh[k] - book.sold_local[k]
            assert bought_grid >= 0 and exported_grid >= 0
            assert flows.demand[k] == (
                flows.self_consumed[k]
                + book.bought_local[k]
                + bought_grid
                + flows.discharge[k]
                + flows.unserved[k]
            )
            assert flows.generation[k] == (
                flows.self_consumed[k]
                + book.sold_local[k]
                + exported_grid
                + flows.charge[k]
                + flows.curtailed[k]
            )
    for k, outcome in enumerate(run.outcomes):
        assert sum(b.bought_local[k] for b in books) == outcome.traded_wh
        assert sum(b.sold_local[k] for b in books) == outcome.traded_wh
        if outcome.outage:  # an island: everything imported was exported by a neighbour
            assert sum(f.import_wh[k] for f in run.community.actual) == sum(
                f.export_wh[k] for f in run.community.actual
            )
    assert sum(o.traded_wh for o in run.outcomes) > 0
    for home in build_report(run)["households"]:
        e = home["energy"]
        assert e["import_wh"] == (
            e["bought_local_wh"] + e["bought_grid_wh"] + e["island_untraded_in_wh"]
        )
        assert e["export_wh"] == (
            e["sold_local_wh"] + e["exported_grid_wh"] + e["island_untraded_out_wh"]
        )


def test_money_balances_and_no_trade_settles_beyond_its_limit(run: RunResult):
    report = build_report(run)
    for home in report["households"]:
        m = home["money"]
        assert m["credits_moved"] == m["local_receipts"] - m["local_charges"] - m["network_fees"]
        assert m["bill"] - m["utility_bill"] == -m["credits_moved"]
    c = report["community"]
    # credits only move between households, the DSO's fee account and the rounding account
    assert c["credits_moved"] + c["fee_account_received"] + c["rounding_account_received"] == 0
    assert c["fee_account_received"] == c["network_fees"]
    assert c["market_escrow_left"] == 0
    for oid, args in run.settled.items():
        order = run.orders[oid][1]
        slot = next(o for o in run.outcomes if o.slot == oid >> 16)
        price = slot.price
        if args["filledWh"] == 0:
            assert args["amount"] == 0
            continue
        if order.side == Side.BID:
            assert price <= order.limit_price
            assert args["refund"] >= 0
        else:
            assert price >= order.limit_price
    for home in report["households"]:
        bought = home["energy"]["bought_local_wh"]
        if bought:  # the all-in local price (energy + fee) never exceeds retail
            paid = home["money"]["local_charges"] + home["money"]["network_fees"]
            assert Fraction(paid * 1000, bought) <= report["prices"]["retail"] + 1000


def test_island_reports_served_and_unserved_energy_of_critical_loads(run: RunResult):
    island = build_report(run)["island"]
    assert island is not None and island["outage_slots"] == 4
    critical, other = island["classes"]["critical"], island["classes"]["other"]
    assert critical["households"] == 2
    assert critical["needed_wh"] == critical["served_wh"] + critical["unserved_wh"] > 0
    assert other["needed_wh"] == other["served_wh"] + other["unserved_wh"]
    # served first: critical loads are never worse served than the others
    assert critical["served_share"] >= other["served_share"]
    homes, flows = run.community.homes, run.community.actual
    for k, down in enumerate(run.community.outage):
        if not down:
            assert all(f.unserved[k] == 0 for f in flows)
            continue
        others_served = sum(
            f.import_wh[k] for h, f in zip(homes, flows, strict=True) if not h.critical
        )
        if others_served > 0:  # in a slot, others get energy only once critical loads are whole
            assert all(f.unserved[k] == 0 for h, f in zip(homes, flows, strict=True) if h.critical)


def test_island_market_fills_critical_bids_first_at_the_cap(run: RunResult):
    """From the chain: in every outage slot no non-critical bid is filled while an eligible
    critical bid is short, and everything trades at the declared cap."""
    market = MarketClient(run.system)
    cap = run.community.scenario.tariffs.outage_cap
    outage = [o for o in run.outcomes if o.outage]
    assert len(outage) == 4
    critical_filled = other_filled = 0
    for outcome in outage:
        assert market.outage_cap(outcome.slot) == cap
        bids = [
            (order, run.settled[oid]["filledWh"])
            for oid, (_, order) in sorted(run.orders.items())
            if oid >> 16 == outcome.slot and order.side == Side.BID
        ]
        assert bids and all(order.limit_price >= cap for order, _ in bids)  # the strategy
        offers = [o for oid, (_, o) in run.orders.items() if oid >> 16 == outcome.slot]
        assert all(o.limit_price <= cap for o in offers if o.side == Side.OFFER)
        short = [o for o, filled in bids if o.critical and filled < o.energy_wh]
        others = sum(filled for o, filled in bids if not o.critical)
        assert not (short and others), f"slot {outcome.slot}: others filled before critical"
        if outcome.traded_wh:
            assert market.clearing(outcome.slot).price == cap
        critical_filled += sum(filled for o, filled in bids if o.critical)
        other_filled += others
    assert critical_filled > 0  # the window does exercise the rule
    island = build_report(run)["island"]
    assert island["price_cap"] == cap
    assert island["classes"]["critical"]["filled_wh"] == critical_filled
    assert island["classes"]["other"]["filled_wh"] == other_filled
    assert "market_rule_note" not in island


def test_a_clean_simulated_day_audits_green():
    scenario = scenarios.load("suburban-summer").with_overrides(
        households=6, first_slot=48, slot_count=6
    )
    run = simulate(scenario)
    assert run.audit is not None and run.audit.passed, run.audit and run.audit.failures
    verdict = build_report(run)["audit"]
    assert verdict["passed"] is True and verdict["failed"] == 0 and verdict["failures"] == []
    assert verdict["checks"] == len(run.audit.findings) > 0
    # every check ran, the top-up ledger included, and each counted something
    assert set(verdict["by_check"]) >= {"clearing", "readings", "settlement", "topups"}
    assert all(v["passed"] > 0 for v in verdict["by_check"].values())
    page = to_html(build_report(run), {})
    assert "Audit: PASS" in page


def test_the_island_day_audits_green_with_its_outage_slots_rechecked(run: RunResult):
    verdict = build_report(run)["audit"]
    assert verdict["checks"] == sum(v["passed"] for v in verdict["by_check"].values()) > 0
    assert verdict["failures"] == [] and verdict["passed"] is True
    assert any(o.outage for o in run.outcomes)  # the run really had outage slots


def test_readings_went_through_the_oracle_outbox_and_slots_through_the_keeper(
    run: RunResult, workdir: Path
):
    """Every signed reading passed the SQLite outbox and the relayer, which marked it submitted
    from the receipt; the keeper cleared each slot once and settled it."""
    slots = len(run.community.slots)
    with Outbox(workdir / "outbox.sqlite") as outbox:
        assert outbox.counts() == {"pending": 0, "submitted": 6 * slots, "rejected": 0}
    assert len(run.gas["clear"]) == slots
    assert len(run.gas["settle"]) == slots == len(run.slot_settled)
    assert sum(o.readings_accepted for o in run.outcomes) == 6 * slots


def test_cli_writes_json_plots_and_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from p2penergy.cli.main import cli

    path = tmp_path / "tiny.yaml"
    path.write_text(
        Path(scenarios.resolve("suburban-summer")).read_text().replace("count: 30", "count: 3")
        + "first_slot: 48\nslot_count: 2\n"
    )
    out = tmp_path / "out"
    args = ["simulate", "--scenario", str(path), "--out", str(out)]
    result = CliRunner().invoke(cli, args)  # the outbox lives in a temporary folder, not in out
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "bills.png",
        "energy.png",
        "prices.png",
        "report.html",
        "report.json",
    ]
    assert "bill vs grid-only baseline" in result.output
    assert "audit verdict: PASS" in result.output


def test_the_window_on_a_throwaway_anvil_reports_what_the_embedded_chain_reports(
    run: RunResult, tmp_path: Path
):
    """`--chain anvil` runs the same contracts on a native EVM: every figure of the report is
    the embedded run's, the audit passes, and each transaction's gas differs at most by its
    calldata (addresses and signatures differ between the chains: 12 gas for each byte that
    is zero on one and not on the other)."""
    from p2penergy.cli.main import cli

    path = tmp_path / "window.yaml"
    path.write_text(
        Path(scenarios.resolve("island-outage")).read_text().replace("count: 30", "count: 6")
        + "first_slot: 52\nslot_count: 8\n"
    )
    args = ["simulate", "--scenario", str(path), "--chain", "anvil", "--json"]
    args += ["--out", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    on_anvil = json.loads(result.output)
    embedded = json.loads(to_json(build_report(run)))
    assert on_anvil["audit"]["passed"] and on_anvil["audit"]["failed"] == 0
    assert {k: v for k, v in on_anvil.items() if k != "gas"} == {
        k: v for k, v in embedded.items() if k != "gas"
    }
    assert on_anvil["gas"].keys() == embedded["gas"].keys()
    for op, figures in embedded["gas"].items():
        assert on_anvil["gas"][op]["count"] == figures["count"], op
        difference = on_anvil["gas"][op]["total"] - figures["total"]
        assert difference % 12 == 0 and abs(difference) <= 12 * 8 * figures["count"], op


def test_a_run_across_midnight_places_the_next_days_batch_in_time():
    scenario = scenarios.load("suburban-winter").with_overrides(
        households=3, days=2, slot_seconds=3600, first_slot=22, slot_count=4
    )
    run = simulate(scenario)
    assert [o.slot for o in run.outcomes] == [22, 23, 24, 25]
    batches = sum(len(run.gas.get(op, [])) for op in ("placeOrders", "placeOrdersWithPermit"))
    assert batches == 6  # one batch per household and day, through its wallet
    assert all(o.orders > 0 for o in run.outcomes)
    assert build_report(run)["community"]["market_escrow_left"] == 0


def test_the_report_renders_in_headless_chromium_with_the_key_figures_visible(
    run: RunResult, tmp_path: Path
):
    """Debian's `chromium` renders the page; the manager's headline figures are in its text."""
    import shutil
    import subprocess

    from p2penergy.units import Currency, format_wh

    browser = shutil.which("chromium")
    assert browser, "Debian's chromium package is needed: apt-get install chromium"
    report = build_report(with_evening_band(run))
    page = tmp_path / "report.html"
    page.write_text(to_html(report, plots(report)))
    rendered = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    c = report["community"]
    for text in (
        "local sale share",
        f"{c['local_sale_share']:.1%} of the prosumers' export sold to neighbours",
        "self-sufficiency",
        f"{c['self_sufficiency']:.1%}",
        "network fee income",
        "sales concentration",
        "saving by kind",
        "Appendix",
    ):
        assert text in rendered, text
    assert sum(c["why_no_sales"].values()) <= c["prosumers_without_sales"]
    # the top seller's statement line: what it sold, for how much, and the same at feed-in
    top = max(report["households"], key=lambda h: h["energy"]["sold_local_wh"])
    eur = Currency()  # the deployment's default currency
    line = (
        f"{format_wh(top['energy']['sold_local_wh'])} for "
        f"{eur.money(top['money']['local_receipts'])} (feed-in "
        f"{eur.money(top['money']['feed_in_value_of_local_sales'])})"
    )
    assert line in rendered
    # the headline comes before the appendix, and the gas table sits in the appendix
    assert rendered.index("local sale share") < rendered.index("Appendix")
    assert rendered.index("Appendix") < rendered.index("Gas per operation")
    assert rendered.count("data:image/png;base64,") == 3
    # the time-of-use bands, their tariffs and the bills they priced, before the appendix
    eur_price = Currency().price
    for band in report["tariff_bands"]:
        when = "flat (outside the bands)" if band["start"] is None else "13:00-14:00"
        row = "".join(
            f"<td>{v}</td>"
            for v in (when, eur_price(band["retail"]), eur_price(band["feed_in"]), band["slots"])
        )
        assert row in rendered, row
        assert f"<td>{eur.money(band['bill'])}</td>" in rendered
    assert rendered.index("Grid tariffs by time of day") < rendered.index("Appendix")
