"""Governance: every governed change is scheduled in the timelock, public, delayed, cancellable by
the guardian alone; nobody (admin, operator) makes such a change directly.

Raw transactions on the deployed system, on both chains (the `chain` fixture).
"""

from __future__ import annotations

import pytest
from eth_account import Account

from p2penergy.chain.deploy import role_id
from p2penergy.chain.tx import events, transact
from p2penergy.contracts.governance import GovernanceClient
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.readings import Reading
from p2penergy.exceptions import (
    AccessDenied,
    GovernanceRevert,
    MarketError,
    ReadingsError,
    RegistryError,
)
from p2penergy.oracle.reading import sign_reading

from ..conftest import CONSUMER, GAS_MONEY, GOVERNANCE_DELAY, PROSUMER, Deployed, govern
from .test_market import (
    Trader,
    balances,
    cleared_pair,
    new_trader,
    open_slot,
    report,
    to_slot_end,
)


def _client(d: Deployed) -> GovernanceClient:
    return GovernanceClient(d.system)


def test_the_deployment_hands_every_governed_power_to_a_self_administered_timelock(
    deployed: Deployed,
):
    a, timelock, registry = deployed.actors, deployed.system.governance, deployed.system.registry
    t = timelock.functions
    assert registry.functions.governance().call() == timelock.address
    assert registry.functions.defaultAdmin().call() == timelock.address
    assert t.getMinDelay().call() == GOVERNANCE_DELAY
    admin_role, proposer, canceller, executor = (
        t.DEFAULT_ADMIN_ROLE().call(),
        t.PROPOSER_ROLE().call(),
        t.CANCELLER_ROLE().call(),
        t.EXECUTOR_ROLE().call(),
    )
    assert t.hasRole(admin_role, timelock.address).call()
    for who in (a.admin, a.operator):
        assert not t.hasRole(admin_role, who.address).call()
        assert t.hasRole(proposer, who.address).call()
        assert t.hasRole(executor, who.address).call()
        # proposers cannot cancel: only the guardian can
        assert not t.hasRole(canceller, who.address).call()
    assert t.hasRole(canceller, a.guardian.address).call()
    assert not t.hasRole(proposer, a.guardian.address).call()
    assert not registry.functions.hasRole(bytes(32), a.admin.address).call()


def test_the_initial_staff_is_granted_in_the_registrys_deployment_block(deployed: Deployed):
    d = deployed
    block = d.system.deployment.blocks["ParticipantRegistry"]
    grants = d.system.registry.events.RoleGranted().get_logs(from_block=block, to_block=block)
    granted = {(bytes(e["args"]["role"]), e["args"]["account"]) for e in grants}
    assert (bytes(32), d.system.governance.address) in granted
    assert (role_id("OPERATOR_ROLE"), d.actors.operator.address) in granted
    assert (role_id("KEEPER_ROLE"), d.actors.keeper.address) in granted
    assert (role_id("AUDITOR_ROLE"), d.actors.auditor.address) in granted
    assert (role_id("GOVERNOR_ROLE"), d.actors.guardian.address) in granted
    # The market is bound into credit and certificate at construction: no role to grant.
    assert all(role != role_id("MARKET_ROLE") for role, _ in granted)


def test_a_scheduled_change_is_public_and_runs_only_after_the_delay(deployed: Deployed):
    d, gov = deployed, _client(deployed)
    fn = d.system.market.functions.setTariffs(70_000, 310_000, 25_000)
    scheduled = gov.schedule(d.actors.operator, fn)
    (event,) = events(d.system.governance, "CallScheduled", scheduled.receipt)
    assert "0x" + bytes(event["args"]["id"]).hex() == scheduled.operation_id
    assert event["args"]["target"] == d.system.market.address
    assert event["args"]["delay"] == GOVERNANCE_DELAY
    assert scheduled.ready_at == d.chain.now() + GOVERNANCE_DELAY
    [pending] = gov.pending()
    assert pending.operation_id == scheduled.operation_id
    assert pending.description == "EnergyMarket.setTariffs(70000, 310000, 25000)"
    assert pending.state == "waiting"

    with pytest.raises(GovernanceRevert) as early:
        gov.execute(d.actors.operator, scheduled.operation_id)
    assert early.value.name == "TimelockUnexpectedOperationState"
    assert tuple(d.system.market.functions.tariffs().call()) == (80_000, 300_000, 30_000)

    d.chain.set_time(scheduled.ready_at)
    receipt = gov.execute(d.actors.admin, scheduled.operation_id)
    assert events(d.system.governance, "CallExecuted", receipt)
    assert tuple(d.system.market.functions.tariffs().call()) == (70_000, 310_000, 25_000)
    assert gov.pending() == []
    assert gov.operation(scheduled.operation_id).state == "done"
    with pytest.raises(GovernanceRevert, match="TimelockUnexpectedOperationState"):
        gov.execute(d.actors.operator, scheduled.operation_id)


def test_a_scheduled_change_can_be_cancelled_by_the_guardian_and_by_nobody_else(
    deployed: Deployed,
):
    d, gov = deployed, _client(deployed)
    scheduled = gov.schedule(d.actors.admin, d.system.market.functions.setTariffs(0, 1, 0))
    for who in (d.actors.admin, d.actors.operator, d.actors.stranger):
        with pytest.raises(AccessDenied) as info:
            gov.cancel(who, scheduled.operation_id)
        assert info.value.name == "AccessControlUnauthorizedAccount"
    receipt = gov.cancel(d.actors.guardian, scheduled.operation_id)
    assert events(d.system.governance, "Cancelled", receipt)
    assert gov.operation(scheduled.operation_id).state == "cancelled"
    d.chain.set_time(scheduled.ready_at + 1)
    with pytest.raises(GovernanceRevert, match="TimelockUnexpectedOperationState"):
        gov.execute(d.actors.operator, scheduled.operation_id)


def test_a_stranger_made_operator_only_by_a_public_delayed_grant_which_the_guardian_cancels(
    deployed: Deployed,
):
    d = deployed
    registry = d.system.registry.functions
    grant = registry.grantRole(role_id("OPERATOR_ROLE"), d.actors.stranger.address)
    for who in (d.actors.admin, d.actors.operator):
        with pytest.raises(AccessDenied) as info:
            transact(d.chain, who, grant)
        assert info.value.name == "AccessControlUnauthorizedAccount"
        assert info.value.error_args["neededRole"] == bytes(32)
    gov = _client(d)
    scheduled = gov.schedule(d.actors.admin, grant)
    [pending] = gov.pending()
    assert pending.description.startswith("ParticipantRegistry.grantRole(")
    assert d.actors.stranger.address in pending.description
    gov.cancel(d.actors.guardian, scheduled.operation_id)
    d.chain.set_time(scheduled.ready_at + 1)
    with pytest.raises(GovernanceRevert, match="TimelockUnexpectedOperationState"):
        gov.execute(d.actors.admin, scheduled.operation_id)
    assert not registry.hasRole(role_id("OPERATOR_ROLE"), d.actors.stranger.address).call()
    assert gov.pending() == []


def test_the_operator_cannot_rotate_a_meter_key_or_switch_a_meter_off_directly(
    deployed: Deployed,
):
    d = deployed
    registry = d.system.registry.functions
    device = Account.create().address
    receipt = transact(
        d.chain, d.actors.operator, registry.registerMeter(device, d.actors.prosumer.address, 5_000)
    )
    meter_id = events(d.system.registry, "MeterRegistered", receipt)[0]["args"]["meterId"]
    for call in (
        registry.rotateMeterKey(meter_id, d.actors.operator.address),
        registry.setMeterActive(meter_id, False),
        registry.setCriticalLoad(d.actors.consumer.address, True),
    ):
        for who in (d.actors.operator, d.actors.admin):
            with pytest.raises(AccessDenied, match="AccessControlUnauthorizedAccount"):
                transact(d.chain, who, call)
    assert tuple(registry.meter(meter_id).call())[0::3] == (device, True)


def test_an_outage_with_a_price_cap_of_zero_is_refused_by_name(deployed: Deployed):
    d = deployed
    market = d.system.market.functions
    epoch, length, _ = d.system.readings.functions.timing().call()
    slot = (d.chain.now() - epoch) // length + 8
    # with a feed-in tariff of 0, a cap of 0 would lie inside [feedIn, retail]
    govern(d, market.setTariffs(0, 300_000, 30_000))
    with pytest.raises(MarketError) as info:
        govern(d, market.declareOutage(slot, slot, 0))
    assert info.value.name == "MarketOutageCapZero"
    assert market.outageCap(slot).call() == 0
    govern(d, market.declareOutage(slot, slot, 1))
    assert market.outageCap(slot).call() == 1


def test_handing_over_the_registry_admin_is_two_step_and_delayed(deployed: Deployed):
    d = deployed
    registry = d.system.registry.functions
    successor = Account.create()
    d.chain.fund(successor.address, GAS_MONEY)
    with pytest.raises(AccessDenied, match="AccessControlUnauthorizedAccount"):
        transact(d.chain, d.actors.admin, registry.beginDefaultAdminTransfer(successor.address))
    govern(d, registry.beginDefaultAdminTransfer(successor.address))
    pending_admin, accept_after = registry.pendingDefaultAdmin().call()
    assert pending_admin == successor.address
    assert accept_after == d.chain.now() + GOVERNANCE_DELAY
    # the timelock is still the admin, and the successor must wait the admin delay
    assert registry.governance().call() == d.system.governance.address
    with pytest.raises(AccessDenied) as early:
        transact(d.chain, successor, registry.acceptDefaultAdminTransfer())
    assert early.value.name == "AccessControlEnforcedDefaultAdminDelay"
    with pytest.raises(AccessDenied, match="AccessControlInvalidDefaultAdmin"):
        transact(d.chain, d.actors.stranger, registry.acceptDefaultAdminTransfer())
    d.chain.set_time(accept_after + 1)
    transact(d.chain, successor, registry.acceptDefaultAdminTransfer())
    assert registry.governance().call() == successor.address
    # the old timelock lost every governed power
    with pytest.raises(AccessDenied, match="AccessControlUnauthorizedAccount"):
        govern(d, d.system.market.functions.setTariffs(70_000, 310_000, 25_000))


def test_granting_the_default_admin_role_directly_is_refused_even_through_the_timelock(
    deployed: Deployed,
):
    d = deployed
    grant = d.system.registry.functions.grantRole(bytes(32), d.actors.admin.address)
    with pytest.raises(AccessDenied) as info:
        govern(d, grant)
    assert info.value.name == "AccessControlEnforcedDefaultAdminRules"


def test_operation_id_is_the_timelocks_hash_of_the_call(deployed: Deployed):
    d, gov = deployed, _client(deployed)
    fn = d.system.market.functions.setTariffs(70_000, 310_000, 25_000)
    salt = bytes(range(32))
    expected = gov.operation_id(fn, salt)
    assert gov.schedule(d.actors.operator, fn, salt=salt).operation_id == expected


# ───────────────────────────── what was delivered stays delivered ─────────────────────────────


def _cleared_trade(d: Deployed) -> tuple[MarketClient, Trader, Trader, int, int]:
    """A seller's 1 kWh offer and a buyer's bid, cleared; chain time at the slot's end."""
    market = MarketClient(d.system)
    seller, buyer = new_trader(d, PROSUMER), new_trader(d, CONSUMER)
    slot = cleared_pair(d, market, seller, buyer)
    return market, seller, buyer, slot, market.clearing(slot).price


def test_a_key_rotation_cannot_reach_back_into_slots_whose_gate_had_closed(deployed: Deployed):
    d = deployed
    market, seller, buyer, slot, price = _cleared_trade(d)
    operator_key = Account.create()
    rotate = d.system.registry.functions.rotateMeterKey(seller.meter_id, operator_key.address)
    with pytest.raises(AccessDenied, match="AccessControlUnauthorizedAccount"):
        transact(d.chain, d.actors.operator, rotate)
    govern(d, rotate)  # public and delayed, but it goes through
    assert d.system.registry.functions.meter(seller.meter_id).call()[0] == operator_key.address
    # the operator's key cannot sign the seller's delivery in a slot whose gate had closed
    invented = Reading(seller.meter_id, slot, 0, 1_000, 0, 1_000)
    forged = sign_reading(operator_key.key, invented, d.chain.chain_id, d.system.readings.address)
    with pytest.raises(ReadingsError) as info:
        transact(d.chain, d.actors.keeper, d.system.readings.functions.submitOne(forged.as_tuple()))
    assert info.value.name == "ReadingsWrongSigner"
    assert info.value.error_args["signer"] == operator_key.address.lower()
    # the meter's own (old) key still signs it, and the seller is paid for it
    report(d, slot, {seller: (0, 1_000), buyer: (1_000, 0)})
    before = balances(d, [seller.account.address])[0]
    market.settle_slot(d.actors.keeper, slot)
    assert balances(d, [seller.account.address])[0] == before + price


def test_deactivating_a_sellers_meter_after_delivery_does_not_cost_the_seller_its_pay(
    deployed: Deployed,
):
    d = deployed
    market, seller, buyer, slot, price = _cleared_trade(d)
    switch_off = d.system.registry.functions.setMeterActive(seller.meter_id, False)
    with pytest.raises(AccessDenied, match="AccessControlUnauthorizedAccount"):
        transact(d.chain, d.actors.operator, switch_off)
    govern(d, switch_off)
    assert d.system.registry.functions.meter(seller.meter_id).call()[3] is False
    at_gate = d.system.readings.functions.meterKeyTime(slot).call()
    assert d.system.registry.functions.meterAt(seller.meter_id, at_gate).call()[3] is True
    report(d, slot, {seller: (0, 1_000), buyer: (1_000, 0)})  # every reading recorded
    before = balances(d, [seller.account.address])[0]
    market.settle_slot(d.actors.keeper, slot)
    assert balances(d, [seller.account.address])[0] == before + price
    # from the next gate on, the switched-off meter no longer reports
    later = open_slot(d, ahead=1)
    to_slot_end(d, market, later)
    reading = Reading(seller.meter_id, later, 0, 10, 0, 1_010)
    signed = sign_reading(seller.device.key, reading, d.chain.chain_id, d.system.readings.address)
    with pytest.raises(ReadingsError, match="ReadingsInactiveMeter"):
        transact(d.chain, d.actors.keeper, d.system.readings.functions.submitOne(signed.as_tuple()))


def test_the_registry_keeps_every_meter_change_as_history(deployed: Deployed):
    d = deployed
    registry = d.system.registry.functions
    first = Account.create().address
    receipt = transact(
        d.chain, d.actors.operator, registry.registerMeter(first, d.actors.prosumer.address, 5_000)
    )
    meter_id = events(d.system.registry, "MeterRegistered", receipt)[0]["args"]["meterId"]
    registered_at = d.chain.now()
    second = Account.create().address
    govern(d, registry.rotateMeterKey(meter_id, second))
    rotated_at = d.chain.now()
    govern(d, registry.setMeterActive(meter_id, False))
    off_at = d.chain.now()

    def at(t: int) -> tuple[str, bool]:
        meter = registry.meterAt(meter_id, t).call()
        return meter[0], meter[3]

    assert at(registered_at - 1) == ("0x" + "00" * 20, False)
    assert at(registered_at) == (first, True)
    assert at(rotated_at - 1) == (first, True)
    assert at(rotated_at) == (second, True)
    assert at(off_at) == (second, False)
    assert at(2**64) == (second, False)
    # owner and capacity come with every answer: from history (before the latest change) and
    # from the meter's own record (at or after it)
    owner = d.actors.prosumer.address
    for t in (registered_at, rotated_at, off_at, 2**64):
        assert tuple(registry.meterAt(meter_id, t).call()[1:3]) == (owner, 5_000)
    # a retired key can never be registered again
    with pytest.raises(RegistryError, match="RegistryDeviceInUse"):
        transact(
            d.chain, d.actors.operator, registry.registerMeter(first, d.actors.consumer.address, 1)
        )
