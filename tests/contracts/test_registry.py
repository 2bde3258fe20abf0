"""ParticipantRegistry: participants, meters, key rotation, Besu's transactionAllowed rule."""

from __future__ import annotations

import pytest
from eth_account import Account

from p2penergy.chain.tx import events, transact
from p2penergy.exceptions import RegistryError

from ..conftest import CONSUMER, PROSUMER, SERVICE, Deployed, govern


def _allowed(d: Deployed, sender: str) -> bool:
    fn = d.system.registry.functions.transactionAllowed(
        sender, d.system.registry.address, 0, 0, 21_000, b""
    )
    return bool(fn.call())


def test_transaction_allowed_is_true_exactly_for_active_participants_and_staff(deployed: Deployed):
    a = deployed.actors
    expected = {
        "admin": True,
        "operator": True,
        "auditor": True,
        "keeper": True,
        "prosumer": True,
        "consumer": True,
        "suspended": False,
        "stranger": False,
        # the timelock's guardian holds GOVERNOR_ROLE: it must be able to send its cancel
        "guardian": True,
        # system roles belong to contracts, which never send transactions
        "market": False,
    }
    assert {
        name: _allowed(deployed, acct.address) for name, acct in a.by_name().items()
    } == expected


def test_transaction_allowed_follows_suspension_and_reinstatement(deployed: Deployed):
    a, registry = deployed.actors, deployed.system.registry.functions
    transact(deployed.chain, a.operator, registry.suspendParticipant(a.prosumer.address))
    assert not _allowed(deployed, a.prosumer.address)
    transact(deployed.chain, a.operator, registry.reinstateParticipant(a.prosumer.address))
    assert _allowed(deployed, a.prosumer.address)


def test_transaction_allowed_has_besus_exact_selector(deployed: Deployed):
    fn = deployed.system.registry.get_function_by_name("transactionAllowed")
    assert fn.signature == "transactionAllowed(address,address,uint256,uint256,uint256,bytes)"


def test_register_participant_records_kind_and_critical_flag_and_emits(deployed: Deployed):
    a, registry = deployed.actors, deployed.system.registry
    clinic = Account.create().address
    receipt = transact(
        deployed.chain, a.operator, registry.functions.registerParticipant(clinic, CONSUMER, True)
    )
    (event,) = events(registry, "ParticipantRegistered", receipt)
    assert dict(event["args"]) == {"account": clinic, "kind": CONSUMER, "criticalLoad": True}
    kind, active, critical, number = registry.functions.participant(clinic).call()
    assert (kind, active, critical) == (CONSUMER, True, True)
    assert number > 0


@pytest.mark.parametrize(
    ("account_of", "kind", "error"),
    [
        (lambda d: d.actors.prosumer.address, CONSUMER, "RegistryParticipantExists"),
        (lambda d: "0x" + "00" * 20, CONSUMER, "RegistryZeroAddress"),
        (lambda d: Account.create().address, 0, "RegistryInvalidKind"),
    ],
)
def test_register_participant_rejects_bad_input_by_name(
    deployed: Deployed, account_of, kind, error
):
    with pytest.raises(RegistryError) as info:
        transact(
            deployed.chain,
            deployed.actors.operator,
            deployed.system.registry.functions.registerParticipant(
                account_of(deployed), kind, False
            ),
        )
    assert info.value.name == error


def test_suspending_twice_names_the_unchanged_state(deployed: Deployed):
    with pytest.raises(
        RegistryError, match=r"RegistryParticipantUnchanged\(account=0x[0-9a-fA-F]+, active=False\)"
    ):
        transact(
            deployed.chain,
            deployed.actors.operator,
            deployed.system.registry.functions.suspendParticipant(
                deployed.actors.suspended.address
            ),
        )
    with pytest.raises(RegistryError, match="RegistryUnknownParticipant"):
        transact(
            deployed.chain,
            deployed.actors.operator,
            deployed.system.registry.functions.suspendParticipant(deployed.actors.stranger.address),
        )


def test_register_meter_assigns_sequential_ids_and_checks_owner_capacity_and_device(
    deployed: Deployed,
):
    a, registry = deployed.actors, deployed.system.registry
    device = Account.create().address
    before = registry.functions.meterCount().call()
    receipt = transact(
        deployed.chain,
        a.operator,
        registry.functions.registerMeter(device, a.prosumer.address, 7_000),
    )
    meter_id = events(registry, "MeterRegistered", receipt)[0]["args"]["meterId"]
    assert meter_id == before + 1
    assert tuple(registry.functions.meter(meter_id).call()) == (
        device,
        a.prosumer.address,
        7_000,
        True,
    )
    assert registry.functions.meterIdOf(device).call() == meter_id
    cases = [
        ((device, a.consumer.address, 1_000), "RegistryDeviceInUse"),
        ((Account.create().address, a.stranger.address, 1_000), "RegistryMeterOwnerInvalid"),
        ((Account.create().address, a.consumer.address, 0), "RegistryZeroCapacity"),
    ]
    for args, error in cases:
        with pytest.raises(RegistryError) as info:
            transact(deployed.chain, a.operator, registry.functions.registerMeter(*args))
        assert info.value.name == error


def test_register_meter_bounds_capacity_and_meters_per_owner(deployed: Deployed):
    # The bounds let MeterReadings pack an owner's energy per slot in 30-bit fields.
    a, registry = deployed.actors, deployed.system.registry.functions
    max_w, max_meters = registry.MAX_CAPACITY_W().call(), registry.MAX_METERS_PER_OWNER().call()
    assert (max_w, max_meters) == (50_000_000, 15)
    assert max_meters * max_w * 3600 // 3600 < 2**30  # an hour-long slot at full capacity
    with pytest.raises(
        RegistryError, match=rf"RegistryCapacityTooLarge\(capacityW={max_w + 1}, maxW={max_w}\)"
    ):
        transact(
            deployed.chain,
            a.operator,
            registry.registerMeter(Account.create().address, a.prosumer.address, max_w + 1),
        )
    consumer_owned = registry.meterCountOf(a.consumer.address).call()
    owned = registry.meterCountOf(a.prosumer.address).call()
    for _ in range(max_meters - owned):
        transact(
            deployed.chain,
            a.operator,
            registry.registerMeter(Account.create().address, a.prosumer.address, max_w),
        )
    assert registry.meterCountOf(a.prosumer.address).call() == max_meters
    with pytest.raises(RegistryError) as info:
        transact(
            deployed.chain,
            a.operator,
            registry.registerMeter(Account.create().address, a.prosumer.address, 1_000),
        )
    assert info.value.name == "RegistryTooManyMeters"
    assert info.value.error_args == {"owner": a.prosumer.address.lower(), "max": max_meters}
    assert registry.meterCountOf(a.consumer.address).call() == consumer_owned


def test_service_accounts_cannot_own_meters(deployed: Deployed):
    a, registry = deployed.actors, deployed.system.registry.functions
    fee_account = Account.create().address
    transact(deployed.chain, a.operator, registry.registerParticipant(fee_account, SERVICE, False))
    with pytest.raises(RegistryError, match="RegistryMeterOwnerInvalid"):
        transact(
            deployed.chain,
            a.operator,
            registry.registerMeter(Account.create().address, fee_account, 1),
        )


def test_rotating_a_meter_key_keeps_the_meter_and_retires_the_old_key_for_good(deployed: Deployed):
    a, registry = deployed.actors, deployed.system.registry
    old, new = Account.create().address, Account.create().address
    receipt = transact(
        deployed.chain, a.operator, registry.functions.registerMeter(old, a.prosumer.address, 5_000)
    )
    meter_id = events(registry, "MeterRegistered", receipt)[0]["args"]["meterId"]
    receipt = govern(deployed, registry.functions.rotateMeterKey(meter_id, new))
    assert dict(events(registry, "MeterKeyRotated", receipt)[0]["args"]) == {
        "meterId": meter_id,
        "oldDevice": old,
        "newDevice": new,
    }
    assert registry.functions.meter(meter_id).call()[0] == new
    assert registry.functions.meterIdOf(new).call() == meter_id
    # the retired key can never sign for a meter again
    with pytest.raises(RegistryError, match="RegistryDeviceInUse"):
        transact(
            deployed.chain,
            a.operator,
            registry.functions.registerMeter(old, a.consumer.address, 1_000),
        )
    with pytest.raises(RegistryError, match="RegistryUnknownMeter"):
        govern(deployed, registry.functions.rotateMeterKey(10_000, Account.create().address))


def test_meter_activation_toggles_and_rejects_no_ops(deployed: Deployed):
    a, registry = deployed.actors, deployed.system.registry.functions
    transact(
        deployed.chain,
        a.operator,
        registry.registerMeter(Account.create().address, a.consumer.address, 3_000),
    )
    meter_id = registry.meterCount().call()
    govern(deployed, registry.setMeterActive(meter_id, False))
    assert registry.meter(meter_id).call()[3] is False
    with pytest.raises(RegistryError, match="RegistryMeterUnchanged"):
        govern(deployed, registry.setMeterActive(meter_id, False))
    govern(deployed, registry.setMeterActive(meter_id, True))
    assert registry.meter(meter_id).call()[3] is True


def test_critical_load_flag_can_be_changed_for_registered_accounts_only(deployed: Deployed):
    a, registry = deployed.actors, deployed.system.registry.functions
    govern(deployed, registry.setCriticalLoad(a.consumer.address, True))
    assert registry.participant(a.consumer.address).call()[2] is True
    with pytest.raises(RegistryError, match="RegistryUnknownParticipant"):
        govern(deployed, registry.setCriticalLoad(a.stranger.address, True))


def test_prosumer_kind_is_reported(deployed: Deployed):
    assert (
        deployed.system.registry.functions.participant(deployed.actors.prosumer.address).call()[0]
        == PROSUMER
    )
