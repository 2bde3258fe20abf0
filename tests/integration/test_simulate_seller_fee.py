"""A community that splits the fee between buyers and sellers (`tariffs.seller_fee`), simulated
end to end on the embedded chain: 6 households, 4 midday slots of the summer day."""

from __future__ import annotations

import dataclasses

import pytest

from p2penergy.audit.ledger import account_statement, read_history
from p2penergy.domain.orders import Side
from p2penergy.energy import scenario as scenarios
from p2penergy.sim.report import build_report, to_html
from p2penergy.sim.runner import RunResult, simulate

SELLER_FEE = 20_000  # 0.02 per kWh, beside the buyers' 0.03 network fee


def split_fee() -> scenarios.Scenario:
    base = scenarios.load("suburban-summer").with_overrides(
        households=6, first_slot=48, slot_count=4
    )
    return dataclasses.replace(
        base, tariffs=dataclasses.replace(base.tariffs, seller_fee=SELLER_FEE)
    )


@pytest.fixture(scope="module")
def run() -> RunResult:
    return simulate(split_fee())


def test_the_seller_fee_is_set_through_governance_and_every_offer_snapshots_it(run: RunResult):
    market = run.system.market.functions
    assert int(market.sellerFee().call()) == SELLER_FEE
    assert len(run.gas["setSellerFee"]) == len(run.gas["schedule (governance)"]) == 1
    t = run.community.scenario.tariffs
    offers = [order for _, order in run.orders.values() if order.side == Side.OFFER]
    bids = [order for _, order in run.orders.values() if order.side == Side.BID]
    assert offers and bids
    assert {o.fee_per_kwh for o in offers} == {SELLER_FEE}
    assert {b.fee_per_kwh for b in bids} == {t.network_fee}
    # the strategy asks at least what nets the feed-in tariff after the fee
    assert min(o.limit_price for o in offers) >= t.feed_in + SELLER_FEE


def test_statements_reconcile_and_fee_income_is_buyer_plus_seller_fees(run: RunResult):
    """Each household's statement, read from the chain alone, is its credit movement to the
    base unit; the fee account received exactly the buyers' network fees plus the sellers'
    seller fees, and the report says so."""
    assert run.audit is not None and run.audit.passed, run.audit.failures
    history = read_history(run.system)
    report = build_report(run)
    paid_fees = {"network": 0, "seller": 0}
    for account, home in zip(run.actors.households, report["households"], strict=True):
        stmt = account_statement(history, account.address)
        moved = run.balances_after[account.address] - run.balances_before[account.address]
        t, m = stmt.total, home["money"]
        assert t.credits_moved == moved == m["credits_moved"]
        assert moved == t.receipts - t.seller_fees - t.charges - t.fees
        assert t.saving == t.retail_value - t.paid + t.net_receipts - t.feed_in_value
        assert (m["seller_fees"], m["network_fees"]) == (t.seller_fees, t.fees)
        paid_fees["network"] += t.fees
        paid_fees["seller"] += t.seller_fees
        if home["kind"] == "consumer":
            assert t.seller_fees == 0
    # each settled offer paid min(floor(d·T·fee / (D·1000)), receipt), rebuilt by the audit
    offer_fees = [
        args["fee"] for oid, args in run.settled.items() if run.orders[oid][1].side == Side.OFFER
    ]
    assert sum(offer_fees) == paid_fees["seller"] > 0
    c = report["community"]
    assert c["fee_account_received"] == c["fee_income"] == sum(paid_fees.values())
    assert (c["network_fees"], c["seller_fees"]) == (paid_fees["network"], paid_fees["seller"])
    assert c["credits_moved"] + c["fee_account_received"] + c["rounding_account_received"] == 0
    assert c["market_escrow_left"] == 0
    assert report["prices"]["seller_fee"] == SELLER_FEE
    assert report["scenario"]["tariffs_per_kwh"]["seller_fee"] == SELLER_FEE
    page = to_html(report, {})
    assert "<th>fee income</th>" in page and "seller fee paid" in page
    assert "from buyers + seller fees" in page


def test_a_report_without_a_seller_fee_carries_no_seller_fee_figures(run: RunResult):
    """Seller fee 0 (every shipped scenario): the report reads exactly as before the split."""
    t = run.community.scenario.tariffs
    unsplit = dataclasses.replace(t, seller_fee=0)
    scenario = dataclasses.replace(run.community.scenario, tariffs=unsplit)
    plain = dataclasses.replace(
        run, community=dataclasses.replace(run.community, scenario=scenario)
    )
    report = build_report(plain)
    assert "seller_fee" not in report["prices"]
    assert "seller_fees" not in report["community"]
    assert all("seller_fees" not in h["money"] for h in report["households"])
    page = to_html(report, {})
    assert "seller fee" not in page and "<th>network fee income</th>" in page
