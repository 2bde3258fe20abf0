"""Tampering is caught: every case fails a check that names the slot, the party and the amount."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account

from p2penergy.audit import Report, audit
from p2penergy.chain import artifacts as shipped
from p2penergy.chain import deploy as deploy_module
from p2penergy.chain.deploy import role_id
from p2penergy.chain.tx import deploy, transact
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.domain.readings import Reading
from p2penergy.exceptions import ContractRevert
from p2penergy.oracle.reading import sign_reading

from ..conftest import govern
from ..contracts.test_market import open_slot, to_gate_close, to_slot_end
from .conftest import LEDGER, Day, deploy_embedded, ledger_csv, mint, new_day, trade_slots


def failures(report: Report, check: str) -> list[Any]:
    return [f for f in report.failures if f.check == check]


def test_a_rogue_contract_granted_the_market_role_cannot_move_credits_or_certificates(
    day: Day,
) -> None:
    d = day.d
    artifact = shipped.load("ForgedMarket")
    rogue, _ = deploy(d.chain, d.actors.admin, artifact["abi"], artifact["bytecode"])
    govern(d, d.system.registry.functions.grantRole(role_id("MARKET_ROLE"), rogue))
    forged = d.chain.w3.eth.contract(address=rogue, abi=artifact["abi"]).functions
    credit, certificate = d.system.credit.address, d.system.certificate.address
    seller, buyer = day.sellers[0].account.address, day.buyers[0].account.address
    held = d.system.certificate.functions.balanceOf(seller, day.slots[0]).call()
    assert held > 0
    supply = d.system.credit.functions.totalSupply().call()
    attempts = [
        (lambda: mint(d, rogue, 1_000_000), "CreditAccountNotAllowed"),
        (
            lambda: transact(d.chain, d.actors.admin, forged.overpay(credit, seller, 123_456)),
            "CreditAccountNotAllowed",  # it may not even hold credits
        ),
        (
            lambda: transact(d.chain, d.actors.admin, forged.drain(credit, buyer, 1)),
            "ERC20InsufficientAllowance",
        ),
        (
            lambda: transact(
                d.chain, d.actors.admin, forged.drain(credit, d.system.market.address, 1)
            ),
            "ERC20InsufficientAllowance",
        ),
        (
            lambda: transact(
                d.chain,
                d.actors.admin,
                forged.moveCertificates(certificate, day.slots[0], seller, buyer, held),
            ),
            "CertificateUnauthorizedMover",
        ),
    ]
    for attempt, error in attempts:
        with pytest.raises(ContractRevert) as info:
            attempt()
        assert info.value.name == error

    assert d.system.credit.functions.totalSupply().call() == supply
    assert d.system.certificate.functions.balanceOf(seller, day.slots[0]).call() == held
    assert audit(d.system, topups=LEDGER).passed


def test_an_operator_mint_without_a_top_up_record_fails(day: Day) -> None:
    buyer = day.buyers[0].account.address
    mint(day.d, buyer, 7_000_000, b"cash-no-receipt".ljust(32, b"\0"))

    report = audit(day.d.system, topups=LEDGER)

    [finding] = failures(report, "topups")
    assert (finding.party, finding.amount) == (buyer.lower(), 7_000_000)
    assert "no top-up ledger row" in finding.message
    assert [f.check for f in report.failures] == ["topups"]


def test_a_top_up_ledger_with_another_amount_fails(day: Day, tmp_path: Any) -> None:
    buyer = day.buyers[0].account.address.lower()
    ref = next(r for r, (account, _) in LEDGER.items() if account == buyer)  # its own top-up
    ledger = ledger_csv(tmp_path / "topups.csv", {**LEDGER, ref: (buyer, 49_000_000)})
    report = audit(day.d.system, topups=ledger)
    [finding] = failures(report, "topups")
    assert (finding.party, finding.amount) == (buyer, 50_000_000)
    assert "the ledger says 49000000" in finding.message


def _with_unchecked_readings(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """Deploys MeterReadings from the tampered test artifact (same calldata and events)."""

    def load(name: str) -> Any:
        return shipped.load("UncheckedReadings" if name == "MeterReadings" else name)

    class Shim:
        pass

    shim: Any = Shim()
    shim.load = load
    monkeypatch.setattr(deploy_module, "artifacts", shim)
    return load


def test_readings_by_an_unregistered_key_or_an_inactive_meter_and_foreign_code_are_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _with_unchecked_readings(monkeypatch)
    d = deploy_embedded()
    day = new_day(d, sellers=1, buyers=1)
    monkeypatch.undo()
    slot = open_slot(d)
    seller, buyer = day.sellers[0], day.buyers[0]
    day.market.place(seller.account, [OrderInput(slot, Side.OFFER, 2_000, 100_000)])
    day.market.place(buyer.account, [OrderInput(slot, Side.BID, 2_000, 200_000)])
    # The buyer's meter is switched off before the gate: its readings for the slot may not count.
    govern(d, d.system.registry.functions.setMeterActive(buyer.meter_id, False))
    to_gate_close(d, day.market, slot)
    day.market.clear_slot(d.actors.keeper, slot)
    to_slot_end(d, day.market, slot)
    intruder = Account.create()  # not the seller's meter key
    readings = d.system.readings
    forged = sign_reading(
        intruder.key,
        Reading(seller.meter_id, slot, 0, 1_800, 0, 1_800),
        d.chain.chain_id,
        readings.address,
    )
    honest = sign_reading(
        buyer.device.key,
        Reading(buyer.meter_id, slot, 2_000, 0, 2_000, 0),
        d.chain.chain_id,
        readings.address,
    )
    transact(
        d.chain, d.actors.keeper, readings.functions.submit([forged.as_tuple(), honest.as_tuple()])
    )
    day.market.settle_slot(d.actors.keeper, slot)

    report = audit(d.system, topups=LEDGER)

    bad, inactive = failures(report, "readings")
    assert (bad.slot, bad.party, bad.amount) == (slot, seller.account.address.lower(), 1_800)
    assert intruder.address.lower() in bad.message
    assert (inactive.slot, inactive.party, inactive.amount) == (
        slot,
        buyer.account.address.lower(),
        2_000,
    )
    assert "inactive" in inactive.message
    [code] = failures(report, "bytecode")
    assert code.party == readings.address.lower()
    assert "MeterReadings" in code.message
    assert not report.passed


def test_incremental_audit_after_new_blocks_equals_a_fresh_full_audit(
    day: Day, tmp_path: Any
) -> None:
    cache = tmp_path / "audit.sqlite"
    first = audit(day.d.system, cache=cache)
    assert first.passed
    trade_slots(day, 2)
    again = audit(day.d.system, cache=cache)
    fresh = audit(day.d.system, cache=tmp_path / "fresh.sqlite")
    assert again.fetched_blocks < fresh.fetched_blocks
    assert again.fetched_blocks == fresh.to_block - first.to_block
    assert again.as_dict() == fresh.as_dict()
    assert again.passed and len(again.slots) == len(first.slots) + 2


def test_a_reorganised_chain_below_the_cache_starts_the_cache_afresh(
    day: Day, tmp_path: Any
) -> None:
    cache = tmp_path / "audit.sqlite"
    snapshot = day.d.chain.snapshot()
    trade_slots(day, 1)
    audit(day.d.system, cache=cache)
    day.d.chain.revert(snapshot)  # the traded slot never happened
    mint(day.d, day.buyers[0].account.address, 1_000)
    again = audit(day.d.system, cache=cache)
    fresh = audit(day.d.system)
    assert again.as_dict() == fresh.as_dict()
    assert again.fetched_blocks == fresh.fetched_blocks


def test_a_reused_top_up_reference_is_refused_and_the_history_stays_clean(day: Day) -> None:
    # The operator mints again under the reference of an earlier real top-up: the contract
    # refuses it (the audit's duplicate-reference rule is kept for any history that has one,
    # tests/unit/audit/test_audit_checks.py).
    first = day.buyers[0].account.address.lower()
    ref = next(r for r, (account, _) in LEDGER.items() if account == first)  # its own top-up
    thief = day.sellers[0].account.address
    with pytest.raises(ContractRevert) as info:
        mint(day.d, thief, 3_000_000, bytes.fromhex(ref[2:]))
    assert (info.value.name, info.value.error_args) == (
        "CreditReferenceUsed",
        {"paymentRef": bytes.fromhex(ref[2:])},
    )
    assert audit(day.d.system, topups=LEDGER).passed


def test_a_mint_of_10_30_credits_is_refused_by_the_mint_limit(day: Day) -> None:
    buyer = day.buyers[1].account.address
    limit = day.d.system.credit.functions.mintLimit().call()
    with pytest.raises(ContractRevert) as info:
        mint(day.d, buyer, 10**30, b"printing-press".ljust(32, b"\0"))
    assert (info.value.name, info.value.error_args) == (
        "CreditMintLimitExceeded",
        {"amount": 10**30, "limit": limit},
    )
    assert audit(day.d.system, topups=LEDGER).passed
