"""EnergyCertificate: minted lazily for verified export, moved by the market, retired by holders.

Certificates here come from real signed readings through the system's MeterReadings (`certify`).
Only the market contract the certificate was bound to at deployment moves them; `marketMove`
(events only) is exercised on a second certificate contract bound to a test account
(`bound_to_eoa`). Balances derived from real settlements (received, given, retired, against the
logs) are in tests/contracts/test_market.py.
"""

from __future__ import annotations

import pytest
from web3.contract import Contract

from p2penergy.chain import artifacts
from p2penergy.chain.deploy import create_address
from p2penergy.chain.tx import deploy, events, transact
from p2penergy.domain.readings import Reading
from p2penergy.exceptions import CertificateError
from p2penergy.oracle import sign_reading
from p2penergy.oracle.recorded import RecordedReading

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


def test_market_move_only_emits_the_moves_and_stores_nothing(
    deployed: Deployed, bound_to_eoa: Contract
):
    a, cert = deployed.actors, bound_to_eoa
    slot = recent_slot(deployed)
    receipt = transact(
        deployed.chain,
        a.market,
        cert.functions.marketMove(
            slot,
            [a.prosumer.address, a.consumer.address],
            [700, 0],
            [a.operator.address, a.keeper.address],
            [600, 100],
        ),
    )
    moves = [
        (e["args"]["operator"], e["args"]["from"], e["args"]["to"], e["args"]["value"])
        for e in events(cert, "TransferSingle", receipt)
    ]
    # a zero entry is skipped; sellers give into the market's pool, the pool hands out to the
    # buyers (their mints, then the pool's burn)
    assert moves == [
        (a.market.address, a.prosumer.address, ZERO, 700),
        (a.market.address, ZERO, a.market.address, 700),
        (a.market.address, ZERO, a.operator.address, 600),
        (a.market.address, ZERO, a.keeper.address, 100),
        (a.market.address, a.market.address, ZERO, 700),
    ]
    # a call need not balance (a chunked settlement pools in one call, hands out in a later one)
    receipt = transact(
        deployed.chain,
        a.market,
        cert.functions.marketMove(slot, [a.prosumer.address], [300], [], []),
    )
    assert [
        (e["args"]["from"], e["args"]["to"]) for e in events(cert, "TransferSingle", receipt)
    ] == [
        (a.prosumer.address, ZERO),
        (ZERO, a.market.address),
    ]
    # no SSTORE: only the 21,000 base, calldata, the events and the loop (a stored lane alone
    # would cost 20,000 more)
    assert receipt["gasUsed"] < 40_000
    with pytest.raises(CertificateError, match="CertificateLengthMismatch"):
        transact(
            deployed.chain,
            a.market,
            cert.functions.marketMove(slot, [a.prosumer.address], [], [], []),
        )


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
    record = RecordedReading(1, 3, deployed.actors.prosumer.address, 0, 500).packed()
    mint = deployed.system.certificate.functions.mintBatch(record)
    with pytest.raises(CertificateError) as info:
        transact(deployed.chain, account, mint)
    assert info.value.name == "CertificateUnauthorizedMinter"
    assert info.value.error_args == {"caller": account.address.lower()}


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
