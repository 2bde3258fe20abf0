"""The keeper on the embedded chain, end to end with the oracle: orders, readings, clearing,
settlement; balances and certificates match `p2penergy.market.settle` exactly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from p2penergy.chain.deploy import System
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.keeper.keeper import Action, Keeper, Outcome
from p2penergy.market import settle
from p2penergy.oracle.outbox import SUBMITTED, Outbox
from p2penergy.oracle.relayer import Relayer
from p2penergy.oracle.service import Oracle
from p2penergy.oracle.sources import SimulatedMeters
from p2penergy.units import Currency, format_wh

from ..conftest import Deployed
from .oracle_helpers import CONSUMER, PROSUMER, advance_to, current_slot, new_trader, to_slot_end


def balances(d: Deployed, accounts: list[str]) -> list[int]:
    """Credits each account owns: its wallet plus its balance in the market's ledger."""
    credit, market = d.system.credit.functions, d.system.market.functions
    return [int(credit.balanceOf(a).call()) + int(market.balanceOf(a).call()) for a in accounts]


def certificates(d: Deployed, accounts: list[str], slot: int) -> list[int]:
    return [int(d.system.certificate.functions.balanceOf(a, slot).call()) for a in accounts]


def crossing_slot(d: Deployed) -> tuple[MarketClient, int, str]:
    """A new seller and buyer whose orders for a slot four ahead cross (1 kWh each); returns
    the market, the slot and the buyer's address."""
    market = MarketClient(d.system)
    seller = new_trader(d.chain, d.system, d.actors.operator, PROSUMER)
    buyer = new_trader(d.chain, d.system, d.actors.operator, CONSUMER)
    slot = current_slot(d.chain, d.system) + 4
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 1_000, 100_000)])
    market.place(buyer.account, [OrderInput(slot, Side.BID, 1_000, 200_000)])
    return market, slot, buyer.account.address


def test_orders_readings_clearing_and_settlement_match_the_python_engine(
    deployed: Deployed, tmp_path: Path
):
    d = deployed
    market = MarketClient(d.system)
    sellers = [new_trader(d.chain, d.system, d.actors.operator, PROSUMER) for _ in range(2)]
    buyers = [new_trader(d.chain, d.system, d.actors.operator, CONSUMER) for _ in range(3)]
    slot = current_slot(d.chain, d.system) + 4
    for trader, (energy, limit) in zip(sellers, [(900, 95_001), (1_333, 120_007)], strict=True):
        market.place(trader.account, [OrderInput(slot, Side.OFFER, energy, limit)])
    for trader, (energy, limit) in zip(
        buyers, [(1_001, 250_009), (703, 199_999), (600, 110_001)], strict=True
    ):
        market.place(trader.account, [OrderInput(slot, Side.BID, energy, limit)])
    # a deployment in Swiss francs with 3 display decimals: the keeper's log says so
    chf = System(d.chain, replace(d.system.deployment, currency="CHF", currency_decimals=3))
    keeper = Keeper(chf, d.actors.keeper, chunk=2)
    assert keeper.run_once() and keeper.watched == {slot}  # found from OrderPlaced, waiting
    assert market.clearing(slot).status == "open"

    advance_to(d.chain, market.slot_times(slot)[1])
    orders = market.slot_orders(slot)
    [action] = keeper.run_once()
    assert action.outcome == Outcome.CLEARED
    cleared = market.clearing(slot)
    price = Currency("CHF", 3).price(cleared.price)
    assert action.detail == f"{format_wh(cleared.volume_wh)} at {price}"
    assert price.endswith(" CHF/kWh") and "Wh at " in action.detail
    assert keeper.run_once()[0].outcome == "waiting"  # delivery not over

    meters = SimulatedMeters()
    usage = {
        sellers[0]: (0, 850),
        sellers[1]: (3, 1_400),
        buyers[0]: (990, 0),
        buyers[1]: (703, 0),
        buyers[2]: (17, 0),
    }
    for trader, (imp, exp) in usage.items():
        meters.record(trader.meter_id, slot, imp, exp)
    outbox = Outbox(tmp_path / "o.sqlite", d.chain.chain_id, d.system.readings.address)
    relayer = Relayer(d.system, sellers[0].account, outbox)  # any participant relays
    devices = [t.device for t in usage]
    oracle = Oracle(d.system, Oracle.meters_for(d.system, devices), outbox, relayer)
    oracle.ingest(meters.poll()[0])
    to_slot_end(d.chain, d.system, slot)
    assert relayer.relay().submitted == len(usage)
    assert outbox.counts()[SUBMITTED] == len(usage)

    everyone = [t.account.address for t in sellers + buyers] + [d.fee_account, d.rounding_account]
    before = balances(d, everyone)
    # every filled trader reported: settlement need not wait for the reading window
    [action] = keeper.run_once()
    assert action.outcome == Outcome.SETTLED
    assert keeper.watched == set()
    expected = settle(
        orders, market.compute_clearing(slot), {t.account.address: usage[t] for t in usage}
    )
    delta = dict.fromkeys(everyone, 0)
    for line in expected.lines:
        delta[line.owner] += line.amount if line.side == Side.OFFER else line.refund
    delta[d.fee_account] += expected.fees_total
    delta[d.rounding_account] += expected.dust
    assert balances(d, everyone) == [b + delta[a] for a, b in zip(everyone, before, strict=True)]
    assert certificates(d, [t.account.address for t in buyers], slot) == [
        line.energy_wh for line in expected.lines if line.side == Side.BID
    ]
    assert expected.traded_wh > 0
    # no escrow left: the market's tokens are exactly its accounts' free balances
    in_market = sum(int(d.system.market.functions.balanceOf(a).call()) for a in everyone)
    assert int(d.system.credit.functions.balanceOf(d.system.market.address).call()) == in_market


def test_a_stale_uncleared_slot_is_expired_and_refunded(deployed: Deployed):
    d = deployed
    market, slot, buyer = crossing_slot(d)
    advance_to(d.chain, market.slot_times(slot)[2])  # the clearing deadline passed
    [action] = Keeper(d.system, d.actors.keeper).run_once()
    assert action.outcome == Outcome.EXPIRED
    assert balances(d, [buyer]) == [50_000_000]


def test_a_second_keeper_sees_slots_the_first_handled_as_done(deployed: Deployed):
    d = deployed
    other = d.actors.market  # any funded account with a role may keep
    from p2penergy.chain.deploy import role_id

    from ..conftest import govern

    govern(d, d.system.registry.functions.grantRole(role_id("KEEPER_ROLE"), other.address))
    market, slot, _ = crossing_slot(d)
    first, second = Keeper(d.system, d.actors.keeper), Keeper(d.system, other)
    advance_to(d.chain, market.slot_times(slot)[1])
    # both computed the clearing; the first submits, the second's submission is refused by
    # status and reported as done, never as a failure
    result = second.market.compute_clearing(slot)
    assert first.run_once()[0].outcome == Outcome.CLEARED
    action = second._guarded(
        slot,
        "open",
        lambda s: (second.market.submit_clearing(other, s, result), None)[1],  # type: ignore[arg-type, return-value]
    )
    assert action.outcome == Outcome.DONE_BY_OTHER
    advance_to(d.chain, d.system.readings.functions.readingWindow(slot).call()[1])
    assert first.run_once()[0].outcome == Outcome.SETTLED
    assert second.run_once()[0].outcome == Outcome.FINISHED
    assert market.clearing(slot).status == "settled"


def test_a_slot_the_contract_refuses_is_reported_and_the_keeper_carries_on(deployed: Deployed):
    d = deployed
    market, slot, _ = crossing_slot(d)
    advance_to(d.chain, market.slot_times(slot)[1])
    [action] = Keeper(d.system, d.actors.stranger).run_once()  # not allowed to clear
    assert (action.outcome, action.detail) == (
        Outcome.REFUSED,
        f"MarketNotAllowed(account={d.actors.stranger.address})",
    )
    assert market.clearing(slot).status == "open"
    assert Keeper(d.system, d.actors.keeper).run_once()[0].outcome == Outcome.CLEARED


def test_with_a_fixed_gas_limit_refusals_and_lost_races_are_still_named(deployed: Deployed):
    """No pre-flight call: a reverting transaction is mined as a failure (the embedded chain
    also returns its revert data; on Hardhat the keeper asks why by calling again), so a
    refusal is still reported by name and a clearing another keeper landed first as done by
    it."""
    d = deployed
    market, slot, _ = crossing_slot(d)
    advance_to(d.chain, market.slot_times(slot)[1])
    stranger = Keeper(d.system, d.actors.stranger, gas_limit=2_000_000)
    block = d.chain.w3.eth.block_number
    [action] = stranger.run_once()
    assert (action.outcome, action.detail) == (
        Outcome.REFUSED,
        f"MarketNotAllowed(account={d.actors.stranger.address})",
    )
    assert d.chain.w3.eth.block_number == block + 1  # the failed transaction, nothing else
    assert market.clearing(slot).status == "open"
    keeper = Keeper(d.system, d.actors.keeper, gas_limit=2_000_000)
    result = keeper.market.compute_clearing(slot)
    assert keeper.run_once()[0].outcome == Outcome.CLEARED

    def late(s: int) -> Action:
        keeper._send(d.system.market.functions.clear(s, *result.description))
        raise AssertionError("a second clearing of the slot was accepted")

    action = keeper._guarded(slot, "open", late)
    assert (action.outcome, action.detail) == (
        Outcome.DONE_BY_OTHER,
        "MarketWrongSlotStatus; slot is cleared",
    )
    advance_to(d.chain, d.system.readings.functions.readingWindow(slot).call()[1])
    assert keeper.run_once()[0].outcome == Outcome.SETTLED
