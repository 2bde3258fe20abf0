"""EnergyCertificate: minted lazily for verified export, moved by the market, retired by holders.

Certificates here come from real signed readings through the system's MeterReadings (`certify`).
Only the market contract the certificate was bound to at deployment moves them; the pooling rules
of `marketMove` are exercised on a second certificate contract bound to a test account
(`bound_to_eoa`), reading the same MeterReadings.
"""

from __future__ import annotations

from collections import Counter

import pytest
from web3.contract import Contract

from p2penergy.chain import artifacts
from p2penergy.chain.deploy import create_address
from p2penergy.chain.tx import deploy, events, transact
from p2penergy.domain.readings import Reading
from p2penergy.exceptions import CertificateError
from p2penergy.oracle import sign_reading

from ..conftest import Deployed, certify, recent_slot

ZERO = "0x0000000000000000000000000000000000000000"


def _balance(d: Deployed, account: str, slot: int, cert: Contract | None = None) -> int:
    cert = cert if cert is not None else d.system.certificate
    return int(cert.functions.balanceOf(account, slot).call())


@pytest.fixture
def bound_to_eoa(deployed: Deployed) -> Contract:
    """An EnergyCertificate over the system's readings whose market is the `market` test key."""
    art = artifacts.load("EnergyCertificate")
    args = (deployed.system.registry.address, deployed.system.readings.address)
    address, _ = deploy(
        deployed.chain, deployed.actors.admin, art["abi"], art["bytecode"], *args,
        deployed.actors.market.address,
    )  # fmt: skip
    return deployed.chain.w3.eth.contract(address=address, abi=art["abi"])


@pytest.mark.parametrize(
    "caller", ["admin", "operator", "keeper", "market", "prosumer", "consumer", "stranger"]
)
def test_only_the_bound_market_contract_moves_certificates(deployed: Deployed, caller: str):
    a, cert = deployed.actors, deployed.system.certificate
    slot = recent_slot(deployed)
    certify(deployed, a.prosumer.address, 300, slot)
    assert cert.functions.market().call() == deployed.system.market.address
    account = getattr(a, caller)  # `market` holds the registry's MARKET_ROLE: it moves nothing
    move = cert.functions.marketMove(slot, [a.prosumer.address], [300], [account.address], [300])
    with pytest.raises(CertificateError) as info:
        transact(deployed.chain, account, move)
    assert (info.value.name, info.value.error_args) == (
        "CertificateUnauthorizedMover",
        {"caller": account.address.lower()},
    )
    assert _balance(deployed, a.prosumer.address, slot) == 300


def test_market_move_pools_sellers_certificates_and_hands_them_to_buyers(
    deployed: Deployed, bound_to_eoa: Contract
):
    a, cert = deployed.actors, bound_to_eoa
    slot = recent_slot(deployed)
    certify(deployed, a.prosumer.address, 1_000, slot)
    certify(deployed, a.consumer.address, 500, slot)  # any holder can be a seller in the pool
    receipt = transact(
        deployed.chain,
        a.market,
        cert.functions.marketMove(
            slot,
            [a.prosumer.address, a.consumer.address],
            [700, 300],
            [a.operator.address, a.keeper.address],
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
        (a.market.address, a.consumer.address, ZERO, 300),
        (a.market.address, ZERO, a.operator.address, 600),
        (a.market.address, ZERO, a.keeper.address, 400),
    ]
    holders = (a.prosumer, a.consumer, a.operator, a.keeper)
    assert [_balance(deployed, x.address, slot, cert) for x in holders] == [300, 200, 600, 400]


def test_market_move_must_balance_and_cannot_take_more_than_a_seller_holds(
    deployed: Deployed, bound_to_eoa: Contract
):
    a, cert = deployed.actors, bound_to_eoa
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
    assert _balance(deployed, a.prosumer.address, slot, cert) == 100


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
    deployed: Deployed, bound_to_eoa: Contract
):
    a, cert = deployed.actors, bound_to_eoa
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
    balances = [_balance(deployed, h, slot, cert) for h in holders]
    assert balances == [400, 20, 140]
    assert cert.functions.balanceOfBatch(holders, [slot] * 3).call() == balances
    exports = [deployed.system.readings.functions.energyOf(h, slot).call()[1] for h in holders]
    assert sum(balances) == sum(exports) - 480  # certificates minted == verified export
    replayed: Counter[str] = Counter()
    # The readings mint on the system's certificate (the export both read); moves and
    # retirements are on this one.
    mints = deployed.system.certificate.events.TransferSingle.get_logs(from_block=start)
    for log in [*mints, *cert.events.TransferSingle.get_logs(from_block=start)]:
        assert log["args"]["id"] == slot
        replayed[log["args"]["to"]] += log["args"]["value"]
        replayed[log["args"]["from"]] -= log["args"]["value"]
    assert [replayed[h] for h in holders] == balances


def test_deployment_binds_the_certificate_and_the_readings_contract(deployed: Deployed):
    system = deployed.system
    assert system.certificate.functions.readings().call() == system.readings.address
    assert system.certificate.functions.registry().call() == system.registry.address
    assert system.certificate.functions.market().call() == system.market.address
    assert system.credit.functions.market().call() == system.market.address
    assert system.readings.functions.dependencies().call()[1] == system.certificate.address


def test_create_address_predicts_the_next_deployment(deployed: Deployed):
    admin, art = deployed.actors.admin, artifacts.load("EnergyCertificate")
    nonce = deployed.chain.w3.eth.get_transaction_count(admin.address, "pending")
    predicted = create_address(admin.address, nonce)
    args = (
        deployed.system.registry.address,
        deployed.system.readings.address,
        deployed.system.market.address,
    )
    address, _ = deploy(deployed.chain, admin, art["abi"], art["bytecode"], *args)
    assert address == predicted


@pytest.mark.parametrize("zero", [0, 1, 2])
def test_deployment_rejects_a_zero_registry_readings_or_market(deployed: Deployed, zero: int):
    art = artifacts.load("EnergyCertificate")
    args = [
        deployed.system.registry.address,
        deployed.system.readings.address,
        deployed.system.market.address,
    ]
    args[zero] = ZERO
    with pytest.raises(CertificateError, match="CertificateInvalidConfig"):
        deploy(deployed.chain, deployed.actors.admin, art["abi"], art["bytecode"], *args)
