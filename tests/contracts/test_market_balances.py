"""Market balances are packed four to a storage word (64-bit lanes; a participant's lane is its
registry number + 1, the fee and rounding accounts have lanes 0 and 1): accounts
sharing a word never disturb each other, a balance may reach the largest amount the market may
hold, and deposits or top-ups above that holding cap are refused by name.

One embedded chain for the module (the packing is the contract's, the same on every chain), with
a mint limit above 2^64 so that one mint can reach the cap.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from p2penergy.chain.connect import Chain, embedded
from p2penergy.chain.deploy import MarketConfig, System, deploy_system
from p2penergy.chain.tx import transact
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.exceptions import MarketError

from ..conftest import CONSUMER, GAS_MONEY, topup_ref

CAP = 2**64 - 1  # the most base units the market may hold (IEnergyMarket.MarketHoldingCapExceeded)


@dataclass
class Market:
    chain: Chain
    system: System
    client: MarketClient
    admin: LocalAccount


@pytest.fixture(scope="module")
def fresh() -> Market:
    chain = embedded()
    admin = chain.faucet[0]
    config = MarketConfig.starting_today(chain.now(), mint_limit=2**65)
    system = deploy_system(chain, admin, config=config)
    return Market(chain, system, MarketClient(system), admin)


@pytest.fixture
def market(fresh: Market) -> Iterator[Market]:
    snapshot = fresh.chain.snapshot()
    yield fresh
    fresh.chain.revert(snapshot)


def consumer(m: Market, credits: int) -> LocalAccount:
    """A registered consumer holding `credits` base units, with the market approved."""
    account = Account.create()
    m.chain.fund(account.address, GAS_MONEY)
    registry = m.system.registry.functions
    transact(m.chain, m.admin, registry.registerParticipant(account.address, CONSUMER, False))
    transact(
        m.chain, m.admin, m.system.credit.functions.mint(account.address, credits, topup_ref())
    )
    m.client.approve_escrow(account)
    return account


def open_slot(m: Market) -> int:
    epoch, length, _ = m.system.readings.functions.timing().call()
    return (m.chain.now() - epoch) // length + 4


def refusal(info: pytest.ExceptionInfo[MarketError]) -> tuple[str, dict[str, object]]:
    return info.value.name, dict(info.value.error_args)


def test_accounts_sharing_a_word_never_disturb_each_other(market: Market):
    # A participant's lane is its registry number + 1 and numbers follow registration: five
    # newcomers span two words, so at least two of them share one.
    amounts = [1, 2**40 + 3, 7_000_000, 2**63, 5]
    accounts = [consumer(market, a) for a in amounts]
    registry = market.system.registry.functions
    numbers = [registry.participant(a.address).call()[3] for a in accounts]
    assert numbers == list(range(numbers[0], numbers[0] + 5))
    for account, amount in zip(accounts, amounts, strict=True):
        market.client.deposit(account, amount)
    assert [market.client.balance(a.address) for a in accounts] == amounts

    def expect(changes: dict[int, int]) -> None:
        for i, account in enumerate(accounts):
            assert market.client.balance(account.address) == changes.get(i, amounts[i])

    # a lane emptied (withdraw all), refilled, and emptied into escrow by a bid
    market.client.withdraw(accounts[1], amounts[1])
    expect({1: 0})
    market.client.deposit(accounts[1], 9)
    expect({1: 9})
    escrow = market.client.escrow_for([OrderInput(open_slot(market), Side.BID, 2, 200_000)])
    market.client.place(accounts[2], [OrderInput(open_slot(market), Side.BID, 2, 200_000)])
    expect({1: 9, 2: amounts[2] - escrow})
    # a cancelled bid's refund lands in its owner's lane only
    (order_id,) = market.client.place(
        accounts[2], [OrderInput(open_slot(market) + 1, Side.BID, 1, 100_000)]
    )
    market.client.cancel(accounts[2], order_id)
    expect({1: 9, 2: amounts[2] - escrow})
    # an overdraft is refused with the lane's own balance
    with pytest.raises(MarketError) as info:
        market.client.withdraw(accounts[4], 6)
    assert refusal(info) == (
        "MarketInsufficientBalance",
        {"account": accounts[4].address.lower(), "balance": 5, "needed": 6},
    )
    assert market.client.balance(Account.create().address) == 0


def test_a_balance_reaches_the_holding_cap_and_nothing_goes_above_it(market: Market):
    neighbour = consumer(market, 10)
    whale = consumer(market, 2**64)
    market.client.deposit(neighbour, 10)
    market.client.deposit(whale, CAP - 10)
    held = market.system.credit.functions.balanceOf(market.system.market.address).call()
    assert held == CAP
    assert market.client.balance(whale.address) == CAP - 10
    assert market.client.balance(neighbour.address) == 10

    with pytest.raises(MarketError) as info:
        market.client.deposit(whale, 1)
    assert refusal(info) == ("MarketHoldingCapExceeded", {"held": CAP + 1, "cap": CAP})
    # an amount above the cap on its own is refused before it reaches a lane
    with pytest.raises(MarketError) as info:
        market.client.deposit(neighbour, 2**64)
    assert refusal(info) == ("MarketHoldingCapExceeded", {"held": 2**64, "cap": CAP})
    # a placement's top-up pull is bounded the same way
    newcomer = consumer(market, 10**9)
    with pytest.raises(MarketError) as info:
        market.client.place(newcomer, [OrderInput(open_slot(market), Side.BID, 1, 100_000)])
    assert refusal(info)[0] == "MarketHoldingCapExceeded"

    # the largest balance empties and refills without touching the neighbour's lane
    market.client.withdraw(neighbour, 10)
    market.client.deposit(whale, 10)
    assert market.client.balance(whale.address) == CAP
    assert market.client.balance(neighbour.address) == 0
    market.client.withdraw(whale, CAP)
    assert market.client.balance(whale.address) == 0
    held = market.system.credit.functions.balanceOf(market.system.market.address).call()
    assert held == 0
