"""EnergyCertificate: minted lazily for verified export, moved by the market, retired by holders.

Certificates here come from real signed readings through the system's MeterReadings (`certify`).
"""

from __future__ import annotations

from collections import Counter

import pytest

from p2penergy.chain import artifacts
from p2penergy.chain.deploy import create_address
from p2penergy.chain.tx import deploy, events, transact
from p2penergy.exceptions import CertificateError
from p2penergy.oracle import Reading, sign_reading

from ..conftest import Deployed, certify, recent_slot

ZERO = "0x0000000000000000000000000000000000000000"


def _balance(d: Deployed, account: str, slot: int) -> int:
    return int(d.system.certificate.functions.balanceOf(account, slot).call())


def test_market_move_pools_sellers_certificates_and_hands_them_to_buyers(deployed: Deployed):
    a, cert = deployed.actors, deployed.system.certificate
    slot = recent_slot(deployed)
    certify(deployed, a.prosumer.address, 1_000, slot)
    certify(deployed, a.operator.address, 500, slot)  # any holder can be a seller in the pool
    receipt = transact(
        deployed.chain,
        a.market,
        cert.functions.marketMove(
            slot,
            [a.prosumer.address, a.operator.address],
            [700, 300],
            [a.consumer.address, a.keeper.address],
            [600, 400],
        ),
    )
    assert events(cert, "CertificatesSettled", receipt)[0]["args"]["energyWh"] == 1_000
    moves = [
        (e["args"]["operator"], e["args"]["from"], e["args"]["to"], e["args"]["value"])
        for e in events(cert, "TransferSingle", receipt)
    ]
    assert moves == [
        (a.market.address, a.prosumer.address, ZERO, 700),
        (a.market.address, a.operator.address, ZERO, 300),
        (a.market.address, ZERO, a.consumer.address, 600),
        (a.market.address, ZERO, a.keeper.address, 400),
    ]
    assert [
        _balance(deployed, x.address, slot) for x in (a.prosumer, a.operator, a.consumer, a.keeper)
    ] == [300, 200, 600, 400]


def test_market_move_must_balance_and_cannot_take_more_than_a_seller_holds(deployed: Deployed):
    a, cert = deployed.actors, deployed.system.certificate
    slot = recent_slot(deployed)
    certify(deployed, a.prosumer.address, 100, slot)
    with pytest.raises(CertificateError, match=r"CertificateMoveUnbalanced\(outWh=100, inWh=99\)"):
        transact(
            deployed.chain,
            a.market,
            cert.functions.marketMove(
                slot, [a.prosumer.address], [100], [a.consumer.address], [99]
            ),
        )
    with pytest.raises(CertificateError) as info:
        transact(
            deployed.chain,
            a.market,
            cert.functions.marketMove(
                slot, [a.prosumer.address], [101], [a.consumer.address], [101]
            ),
        )
    assert info.value.name == "ERC1155InsufficientBalance"
    assert info.value.error_args == {
        "sender": a.prosumer.address.lower(),
        "balance": 100,
        "needed": 101,
        "tokenId": slot,
    }
    with pytest.raises(CertificateError, match="CertificateLengthMismatch"):
        transact(
            deployed.chain,
            a.market,
            cert.functions.marketMove(slot, [a.prosumer.address], [], [], []),
        )
    assert _balance(deployed, a.prosumer.address, slot) == 100


def test_holder_retires_certificates_and_cannot_retire_more_than_held(deployed: Deployed):
    a, cert = deployed.actors, deployed.system.certificate
    slot = recent_slot(deployed)
    certify(deployed, a.consumer.address, 250, slot)
    receipt = transact(deployed.chain, a.consumer, cert.functions.retire(slot, 200))
    assert dict(events(cert, "CertificateRetired", receipt)[0]["args"]) == {
        "holder": a.consumer.address,
        "slot": slot,
        "energyWh": 200,
    }
    (burn,) = events(cert, "TransferSingle", receipt)
    assert (burn["args"]["from"], burn["args"]["to"], burn["args"]["value"]) == (
        a.consumer.address,
        ZERO,
        200,
    )
    assert _balance(deployed, a.consumer.address, slot) == 50
    with pytest.raises(CertificateError, match="ERC1155InsufficientBalance"):
        transact(deployed.chain, a.consumer, cert.functions.retire(slot, 51))
    with pytest.raises(CertificateError, match="CertificateZeroAmount"):
        transact(deployed.chain, a.consumer, cert.functions.retire(slot, 0))


def test_holders_cannot_transfer_or_approve_certificates(deployed: Deployed):
    a, cert = deployed.actors, deployed.system.certificate
    slot = recent_slot(deployed)
    certify(deployed, a.prosumer.address, 10, slot)
    for fn in (
        cert.functions.safeTransferFrom(a.prosumer.address, a.consumer.address, slot, 10, b""),
        cert.functions.setApprovalForAll(a.consumer.address, True),
    ):
        with pytest.raises(CertificateError, match="CertificateNonTransferable"):
            transact(deployed.chain, a.prosumer, fn)
    assert _balance(deployed, a.prosumer.address, slot) == 10


def test_a_verified_export_reading_mints_with_a_transfer_from_zero(deployed: Deployed):
    a, system = deployed.actors, deployed.system
    slot = recent_slot(deployed)
    # a meter registered with the session deployment, before this slot's gate closed
    meter_id, device = deployed.certify_meters[a.prosumer.address][0]
    reading = Reading(meter_id, slot, 5, 321, 5, 321)
    signed = sign_reading(device.key, reading, deployed.chain.chain_id, system.readings.address)
    receipt = transact(
        deployed.chain, a.keeper, system.readings.functions.submitOne(signed.as_tuple())
    )
    (event,) = events(system.certificate, "TransferSingle", receipt)
    assert dict(event["args"]) == {
        "operator": system.readings.address,
        "from": ZERO,
        "to": a.prosumer.address,
        "id": slot,
        "value": 321,
    }
    assert _balance(deployed, a.prosumer.address, slot) == 321
    assert _balance(deployed, a.prosumer.address, slot + 1) == 0


@pytest.mark.parametrize("caller", ["admin", "operator", "market", "prosumer", "stranger"])
def test_only_the_readings_contract_mints(deployed: Deployed, caller: str):
    account = getattr(deployed.actors, caller)
    mint = deployed.system.certificate.functions.mint(deployed.actors.prosumer.address, 3, 500)
    with pytest.raises(CertificateError) as info:
        transact(deployed.chain, account, mint)
    assert info.value.name == "CertificateUnauthorizedMinter"
    assert info.value.error_args == {"caller": account.address.lower()}


def test_balances_are_export_plus_received_minus_given_and_retired_as_the_logs_say(
    deployed: Deployed,
):
    a, cert = deployed.actors, deployed.system.certificate
    slot = recent_slot(deployed)
    start = deployed.chain.w3.eth.block_number + 1
    certify(deployed, a.prosumer.address, 900, slot)
    certify(deployed, a.prosumer.address, 100, slot)  # a second meter of the same owner
    certify(deployed, a.consumer.address, 40, slot)
    move = cert.functions.marketMove(
        slot,
        [a.prosumer.address, a.consumer.address],
        [600, 40],
        [a.consumer.address, a.market.address],
        [500, 140],
    )
    transact(deployed.chain, a.market, move)
    transact(deployed.chain, a.consumer, cert.functions.retire(slot, 480))
    holders = [a.prosumer.address, a.consumer.address, a.market.address]
    balances = [_balance(deployed, h, slot) for h in holders]
    assert balances == [400, 20, 140]
    assert cert.functions.balanceOfBatch(holders, [slot] * 3).call() == balances
    exports = [deployed.system.readings.functions.energyOf(h, slot).call()[1] for h in holders]
    assert sum(balances) == sum(exports) - 480  # certificates minted == verified export
    replayed: Counter[str] = Counter()
    for log in cert.events.TransferSingle.get_logs(from_block=start):
        assert log["args"]["id"] == slot
        replayed[log["args"]["to"]] += log["args"]["value"]
        replayed[log["args"]["from"]] -= log["args"]["value"]
    assert [replayed[h] for h in holders] == balances


def test_deployment_binds_the_certificate_and_the_readings_contract(deployed: Deployed):
    system = deployed.system
    assert system.certificate.functions.readings().call() == system.readings.address
    assert system.certificate.functions.registry().call() == system.registry.address
    assert system.readings.functions.dependencies().call()[1] == system.certificate.address


def test_create_address_predicts_the_next_deployment(deployed: Deployed):
    admin, art = deployed.actors.admin, artifacts.load("EnergyCertificate")
    nonce = deployed.chain.w3.eth.get_transaction_count(admin.address, "pending")
    predicted = create_address(admin.address, nonce)
    args = (deployed.system.registry.address, deployed.system.readings.address)
    address, _ = deploy(deployed.chain, admin, art["abi"], art["bytecode"], *args)
    assert address == predicted


@pytest.mark.parametrize("zero", ["registry", "readings"])
def test_deployment_rejects_a_zero_registry_or_readings(deployed: Deployed, zero: str):
    art = artifacts.load("EnergyCertificate")
    args = [deployed.system.registry.address, deployed.system.readings.address]
    args[0 if zero == "registry" else 1] = ZERO
    with pytest.raises(CertificateError, match="CertificateInvalidConfig"):
        deploy(deployed.chain, deployed.actors.admin, art["abi"], art["bytecode"], *args)
