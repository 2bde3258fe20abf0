"""The seller fee: set through governance, snapshotted into offers, paid out of the receipt.

Worked by hand: a seller fee of 0.09 per kWh on a 1,500 Wh delivery sold at 0.15 per kWh takes
floor(1500 · 90000 / 1000) = 135,000 of the 225,000 receipt to the fee account.
"""

from __future__ import annotations

import pytest

from p2penergy.chain.tx import events
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.exceptions import MarketError
from p2penergy.market import settle
from p2penergy.wallet.errors import PreflightError
from p2penergy.wallet.trading import Wallet

from ..conftest import CONSUMER, PROSUMER, Deployed, govern
from .test_market import (
    CREDITS,
    _conservation,
    balances,
    new_trader,
    open_slot,
    report,
    to_gate_close,
    to_slot_end,
)

MAX_FEE = 2**24 - 1  # the order word's fee field


@pytest.fixture
def market(deployed: Deployed) -> MarketClient:
    return MarketClient(deployed.system)


def test_the_seller_fee_is_governed_bounded_and_announced(deployed: Deployed):
    d = deployed
    fn = d.system.market.functions
    assert fn.sellerFee().call() == 0
    receipt = govern(d, fn.setSellerFee(MAX_FEE))
    assert [
        e["args"]["sellerFeePerKWh"] for e in events(d.system.market, "SellerFeeSet", receipt)
    ] == [MAX_FEE]
    assert fn.sellerFee().call() == MAX_FEE
    with pytest.raises(MarketError) as info:
        govern(d, fn.setSellerFee(MAX_FEE + 1))
    assert info.value.name == "MarketInvalidSellerFee"
    assert fn.sellerFee().call() == MAX_FEE


def test_an_offer_snapshots_the_seller_fee_and_pays_it_out_of_its_receipt(
    deployed: Deployed, market: MarketClient
):
    d = deployed
    seller, buyer = new_trader(d, PROSUMER), new_trader(d, CONSUMER)
    govern(d, d.system.market.functions.setSellerFee(90_000))  # above feed-in (80,000)
    slot = open_slot(d)
    # a limit below the fee would make the seller pay to sell: refused by name, nothing placed
    with pytest.raises(MarketError) as info:
        market.place(seller.account, [OrderInput(slot, Side.OFFER, 2_000, 89_999)])
    assert info.value.name == "MarketLimitBelowFee"
    [offer_id] = market.place(seller.account, [OrderInput(slot, Side.OFFER, 2_000, 100_000)])
    market.place(buyer.account, [OrderInput(slot, Side.BID, 2_000, 200_000)])
    # a later change applies to later offers only
    govern(d, d.system.market.functions.setSellerFee(1))
    assert d.system.market.functions.order(offer_id).call()[6] == 90_000
    fee_account, rounding = d.fee_account, d.rounding_account
    to_gate_close(d, market, slot)
    orders = market.slot_orders(slot)
    result = market.clear_slot(d.actors.keeper, slot)  # price (100000 + 200000) / 2 = 150000
    to_slot_end(d, market, slot)
    report(d, slot, {seller: (0, 1_500), buyer: (2_500, 0)})
    before = balances(d, [fee_account, rounding])
    receipts = market.settle_slot(d.actors.keeper, slot)
    # T = 1500: receipt 225000, seller fee floor(1500 * 90000 / 1000) = 135000, paid 90000;
    # buyer charge 225000 + network fee 45000.
    (offer_line,) = [
        e["args"]
        for r in receipts
        for e in events(d.system.market, "OrderSettled", r)
        if e["args"]["orderId"] == offer_id
    ]
    assert (offer_line["amount"], offer_line["fee"], offer_line["refund"]) == (225_000, 135_000, 0)
    assert balances(d, [seller.account.address, buyer.account.address]) == [
        CREDITS + 90_000,
        CREDITS - 270_000,
    ]
    assert [b - a for a, b in zip(before, balances(d, [fee_account, rounding]), strict=True)] == [
        135_000 + 45_000,
        0,
    ]
    expected = settle(
        orders, result, {seller.account.address: (0, 1_500), buyer.account.address: (2_500, 0)}
    )
    assert (expected.seller_fees_total, expected.fees_total) == (135_000, 180_000)
    assert balances(d, [d.system.market.address]) == [0]
    _conservation(d, market, slot, receipts)


def test_the_wallet_shows_the_seller_fee_and_refuses_an_offer_below_it_before_signing(
    deployed: Deployed,
):
    d = deployed
    seller = new_trader(d, PROSUMER)
    govern(d, d.system.market.functions.setSellerFee(90_000))
    wallet = Wallet(d.system, seller.account.address)
    slot = open_slot(d)
    with pytest.raises(PreflightError) as info:
        wallet.plan([OrderInput(slot, Side.OFFER, 1_000, 85_000)], None, {})
    assert "below the seller fee of 0.090000 per kWh" in str(info.value)
    plan = wallet.plan([OrderInput(slot, Side.OFFER, 1_000, 100_000)], None, {})
    assert (plan.escrow, plan.seller_fee_per_kwh) == (0, 90_000)
    assert plan.as_json(wallet.clock)["seller_fee_per_kwh"] == 90_000
