"""Escrow belongs to the market contract, fixed at deployment: no role can take it or freeze it.

Raw transactions on the deployed system, as each role would send them; refusals are asserted by
custom-error name.
"""

from __future__ import annotations

import pytest

from p2penergy.chain import artifacts
from p2penergy.chain.tx import deploy, events, transact
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.exceptions import ContractRevert, MarketError

from ..conftest import CONSUMER, PROSUMER, Deployed, govern, topup_ref
from .test_market import (
    CREDITS,
    balances,
    new_trader,
    open_slot,
    report,
    to_gate_close,
    to_slot_end,
)

OTHERS = ["admin", "operator", "auditor", "keeper", "market", "prosumer", "consumer", "stranger"]


@pytest.fixture
def market(deployed: Deployed) -> MarketClient:
    return MarketClient(deployed.system)


def test_deployment_binds_credit_and_certificate_to_the_market_without_a_role(
    deployed: Deployed,
):
    system = deployed.system
    assert system.credit.functions.market().call() == system.market.address
    assert system.certificate.functions.market().call() == system.market.address
    market_role = system.role("MARKET_ROLE")
    assert not system.registry.functions.hasRole(market_role, system.market.address).call()


def test_a_market_deployed_against_a_credit_bound_elsewhere_is_refused(deployed: Deployed):
    system, art = deployed.system, artifacts.load("EnergyMarket")
    args = (
        system.registry.address,
        system.credit.address,
        system.certificate.address,
        system.readings.address,
        300,
        1_000,
        deployed.fee_account,
        deployed.rounding_account,
        (80_000, 300_000, 30_000),
    )
    with pytest.raises(MarketError) as info:
        deploy(deployed.chain, deployed.actors.admin, art["abi"], art["bytecode"], *args)
    assert (info.value.name, info.value.error_args) == (
        "MarketNotBound",
        {"token": system.credit.address.lower(), "boundMarket": system.market.address.lower()},
    )


@pytest.mark.parametrize("caller", OTHERS)
def test_nobody_can_take_escrow_out_of_the_market(
    deployed: Deployed, market: MarketClient, caller: str
):
    buyer = new_trader(deployed, CONSUMER)
    market.place(buyer.account, [OrderInput(open_slot(deployed), Side.BID, 1_000, 200_000)])
    held = balances(deployed, [deployed.system.market.address])[0]
    assert held == 230_000
    signer, credit = getattr(deployed.actors, caller), deployed.system.credit.functions
    escrow = deployed.system.market.address
    for fn in (
        credit.transferFrom(escrow, signer.address, held),
        credit.redeemFrom(escrow, held, topup_ref()),
    ):
        with pytest.raises(ContractRevert) as info:
            transact(deployed.chain, signer, fn)
        assert info.value.name == "ERC20InsufficientAllowance"
    assert balances(deployed, [escrow]) == [held]


def test_revoking_keepers_and_suspending_traders_cannot_stop_the_market_paying_out(
    deployed: Deployed, market: MarketClient
):
    d, operator = deployed, deployed.actors.operator
    seller, buyer, idle = (new_trader(d, kind) for kind in (PROSUMER, CONSUMER, CONSUMER))
    slot, expired = open_slot(d), open_slot(d, ahead=5)
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 1_000, 100_000)])
    market.place(buyer.account, [OrderInput(slot, Side.BID, 1_000, 200_000)])
    market.place(idle.account, [OrderInput(expired, Side.BID, 500, 200_000)])
    to_gate_close(d, market, slot)
    market.clear_slot(d.actors.keeper, slot)
    to_slot_end(d, market, slot)
    report(d, slot, {seller: (0, 1_000), buyer: (1_000, 0)})

    # Governance and the operator try to freeze everything: no keeper, no active trader.
    registry = d.system.registry.functions
    keeper_role = d.system.role("KEEPER_ROLE")
    govern(d, registry.revokeRole(keeper_role, d.actors.keeper.address))
    for trader in (seller, buyer, idle):
        transact(d.chain, operator, registry.suspendParticipant(trader.account.address))
    with pytest.raises(MarketError, match="MarketNotAllowed"):
        market.settle_slot(d.actors.keeper, slot)

    # A suspended seller still settles its slot and is paid; the buyer gets its change.
    receipts = market.settle_slot(seller.account, slot)
    settled = {
        e["args"]["owner"]: e["args"] for e in events(d.system.market, "OrderSettled", receipts[0])
    }
    assert settled[seller.account.address]["amount"] == 150_000  # 1 kWh at 0.15
    assert balances(d, [seller.account.address, buyer.account.address]) == [
        CREDITS + 150_000,
        CREDITS - 150_000 - 30_000,
    ]
    # A suspended buyer whose slot was never cleared gets all its escrow back at the deadline.
    d.chain.set_time(market.slot_times(expired)[2])
    market.settle_slot(idle.account, expired)
    assert balances(d, [idle.account.address, d.system.market.address]) == [CREDITS, 0]
    # ... and every suspended trader takes its market balance back to its wallet.
    for trader in (seller, buyer, idle):
        address = trader.account.address
        market.withdraw(trader.account, market.balance(address))
        assert market.balance(address) == 0
    credit = d.system.credit.functions
    assert [credit.balanceOf(t.account.address).call() for t in (seller, buyer, idle)] == [
        CREDITS + 150_000,
        CREDITS - 150_000 - 30_000,
        CREDITS,
    ]


def test_a_deposit_and_a_withdrawal_move_credits_between_wallet_and_market_balance(
    deployed: Deployed, market: MarketClient
):
    d = deployed
    buyer = new_trader(d, CONSUMER)
    credit = d.system.credit.functions
    receipt = market.deposit(buyer.account, 1_000_000)
    [deposited] = events(d.system.market, "CreditsDeposited", receipt)
    assert deposited["args"]["amount"] == 1_000_000
    assert market.balance(buyer.account.address) == 1_000_000
    assert credit.balanceOf(buyer.account.address).call() == CREDITS - 1_000_000
    # the bid locks its escrow out of the market balance: no token moves
    slot = open_slot(d)
    token_before = credit.balanceOf(d.system.market.address).call()
    [order] = market.place(buyer.account, [OrderInput(slot, Side.BID, 1_000, 200_000)])
    assert credit.balanceOf(d.system.market.address).call() == token_before
    assert market.balance(buyer.account.address) == 1_000_000 - 230_000
    # escrow is not free: only the balance can be withdrawn
    with pytest.raises(MarketError, match="MarketInsufficientBalance"):
        market.withdraw(buyer.account, 1_000_000)
    market.cancel(buyer.account, order)
    receipt = market.withdraw(buyer.account, 1_000_000)
    [withdrawn] = events(d.system.market, "CreditsWithdrawn", receipt)
    assert withdrawn["args"]["amount"] == 1_000_000
    assert credit.balanceOf(buyer.account.address).call() == CREDITS
    assert market.balance(buyer.account.address) == 0


def test_a_bid_beyond_the_market_balance_tops_it_up_by_the_shortfall_only(
    deployed: Deployed, market: MarketClient
):
    d = deployed
    buyer = new_trader(d, CONSUMER)
    market.deposit(buyer.account, 100_000)
    receipt = transact(
        d.chain,
        buyer.account,
        d.system.market.functions.placeOrders(
            [OrderInput(open_slot(d), Side.BID, 1_000, 200_000).as_tuple()]
        ),
    )
    [top_up] = events(d.system.market, "CreditsDeposited", receipt)
    assert (top_up["args"]["account"], top_up["args"]["amount"]) == (
        buyer.account.address,
        130_000,
    )
    assert market.balance(buyer.account.address) == 0
    assert d.system.credit.functions.balanceOf(buyer.account.address).call() == CREDITS - 230_000


def test_a_suspended_account_withdraws_its_own_but_may_not_deposit(
    deployed: Deployed, market: MarketClient
):
    d = deployed
    buyer = new_trader(d, CONSUMER)
    market.deposit(buyer.account, 500_000)
    transact(
        d.chain,
        d.actors.operator,
        d.system.registry.functions.suspendParticipant(buyer.account.address),
    )
    with pytest.raises(MarketError, match="MarketNotAllowed"):
        market.deposit(buyer.account, 1)
    with pytest.raises(MarketError, match="MarketZeroAmount"):
        market.withdraw(buyer.account, 0)
    market.withdraw(buyer.account, 500_000)
    assert d.system.credit.functions.balanceOf(buyer.account.address).call() == CREDITS
