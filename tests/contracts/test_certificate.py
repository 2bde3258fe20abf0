"""EnergyCertificate: minted by readings, moved by the market only, retired by holders."""

from __future__ import annotations

import pytest

from p2penergy.chain.tx import events, transact
from p2penergy.exceptions import CertificateError

from ..conftest import Deployed

SLOT = 42


def _balance(d: Deployed, account: str, slot: int = SLOT) -> int:
    return int(d.system.certificate.functions.balanceOf(account, slot).call())


def _mint(d: Deployed, account: str, wh: int, slot: int = SLOT) -> None:
    transact(d.chain, d.actors.readings, d.system.certificate.functions.mint(account, slot, wh))


def test_market_move_pools_sellers_certificates_and_hands_them_to_buyers(deployed: Deployed):
    a, cert = deployed.actors, deployed.system.certificate
    _mint(deployed, a.prosumer.address, 1_000)
    _mint(deployed, a.operator.address, 500)  # any holder can be a seller in the pool
    receipt = transact(
        deployed.chain,
        a.market,
        cert.functions.marketMove(
            SLOT,
            [a.prosumer.address, a.operator.address],
            [700, 300],
            [a.consumer.address, a.keeper.address],
            [600, 400],
        ),
    )
    assert events(cert, "CertificatesSettled", receipt)[0]["args"]["energyWh"] == 1_000
    assert [
        _balance(deployed, x.address) for x in (a.prosumer, a.operator, a.consumer, a.keeper)
    ] == [300, 200, 600, 400]


def test_market_move_must_balance_and_cannot_take_more_than_a_seller_holds(deployed: Deployed):
    a, cert = deployed.actors, deployed.system.certificate
    _mint(deployed, a.prosumer.address, 100)
    with pytest.raises(CertificateError, match=r"CertificateMoveUnbalanced\(outWh=100, inWh=99\)"):
        transact(
            deployed.chain,
            a.market,
            cert.functions.marketMove(
                SLOT, [a.prosumer.address], [100], [a.consumer.address], [99]
            ),
        )
    with pytest.raises(CertificateError, match="ERC1155InsufficientBalance"):
        transact(
            deployed.chain,
            a.market,
            cert.functions.marketMove(
                SLOT, [a.prosumer.address], [101], [a.consumer.address], [101]
            ),
        )
    with pytest.raises(CertificateError, match="CertificateLengthMismatch"):
        transact(
            deployed.chain,
            a.market,
            cert.functions.marketMove(SLOT, [a.prosumer.address], [], [], []),
        )
    assert _balance(deployed, a.prosumer.address) == 100


def test_holder_retires_certificates_and_cannot_retire_more_than_held(deployed: Deployed):
    a, cert = deployed.actors, deployed.system.certificate
    _mint(deployed, a.consumer.address, 250)
    receipt = transact(deployed.chain, a.consumer, cert.functions.retire(SLOT, 200))
    assert dict(events(cert, "CertificateRetired", receipt)[0]["args"]) == {
        "holder": a.consumer.address,
        "slot": SLOT,
        "energyWh": 200,
    }
    assert _balance(deployed, a.consumer.address) == 50
    with pytest.raises(CertificateError, match="ERC1155InsufficientBalance"):
        transact(deployed.chain, a.consumer, cert.functions.retire(SLOT, 51))
    with pytest.raises(CertificateError, match="CertificateZeroAmount"):
        transact(deployed.chain, a.consumer, cert.functions.retire(SLOT, 0))


def test_holders_cannot_transfer_or_approve_certificates(deployed: Deployed):
    a, cert = deployed.actors, deployed.system.certificate
    _mint(deployed, a.prosumer.address, 10)
    for fn in (
        cert.functions.safeTransferFrom(a.prosumer.address, a.consumer.address, SLOT, 10, b""),
        cert.functions.setApprovalForAll(a.consumer.address, True),
    ):
        with pytest.raises(CertificateError, match="CertificateNonTransferable"):
            transact(deployed.chain, a.prosumer, fn)
    assert _balance(deployed, a.prosumer.address) == 10


def test_mint_emits_a_transfer_from_zero_per_slot(deployed: Deployed):
    a, cert = deployed.actors, deployed.system.certificate
    receipt = transact(deployed.chain, a.readings, cert.functions.mint(a.prosumer.address, 7, 321))
    (event,) = events(cert, "TransferSingle", receipt)
    assert (
        event["args"]["from"],
        event["args"]["to"],
        event["args"]["id"],
        event["args"]["value"],
    ) == (
        "0x0000000000000000000000000000000000000000",
        a.prosumer.address,
        7,
        321,
    )
