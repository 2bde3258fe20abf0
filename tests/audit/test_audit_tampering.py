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
from p2penergy.contracts.market import OrderInput
from p2penergy.market import Side
from p2penergy.oracle.reading import Reading, sign_reading

from ..conftest import govern
from ..contracts.test_market import open_slot, to_gate_close, to_slot_end
from .conftest import TOPUP_REF, Day, deploy_embedded, mint, new_day, trade_slots


def failures(report: Report, check: str) -> list[Any]:
    return [f for f in report.failures if f.check == check]


def test_a_rogue_market_paying_a_seller_too_much_fails_settlement(day: Day) -> None:
    d = day.d
    artifact = shipped.load("ForgedMarket")
    rogue, _ = deploy(d.chain, d.actors.admin, artifact["abi"], artifact["bytecode"])
    govern(d, d.system.registry.functions.grantRole(role_id("MARKET_ROLE"), rogue))
    mint(d, rogue, 1_000_000)
    seller = day.sellers[0].account.address
    order = day.slots[0] << 16  # the first seller's offer in the first slot
    forged = d.chain.w3.eth.contract(address=rogue, abi=artifact["abi"])
    transact(
        d.chain,
        d.actors.admin,
        forged.functions.overpay(d.system.credit.address, order, seller, 123_456),
    )

    report = audit(d.system, topups={TOPUP_REF: (None, None)})

    assert not report.passed
    [finding] = failures(report, "settlement")
    assert (finding.slot, finding.party, finding.amount) == (
        day.slots[0],
        seller.lower(),
        123_456,
    )
    assert "not the deployed market" in finding.message


def test_an_operator_mint_without_a_top_up_record_fails(day: Day) -> None:
    buyer = day.buyers[0].account.address
    mint(day.d, buyer, 7_000_000, b"cash-no-receipt".ljust(32, b"\0"))

    report = audit(day.d.system, topups={TOPUP_REF: (None, None)})

    [finding] = failures(report, "topups")
    assert (finding.party, finding.amount) == (buyer.lower(), 7_000_000)
    assert "no top-up record" in finding.message
    assert [f.check for f in report.failures] == ["topups"]


def test_a_top_up_ledger_with_another_amount_fails(day: Day, tmp_path: Any) -> None:
    ledger = tmp_path / "topups.csv"
    ledger.write_text(f"payment_ref,account,amount\n{TOPUP_REF},,49000000\n")
    report = audit(day.d.system, topups=ledger)
    assert {f.amount for f in failures(report, "topups")} == {50_000_000}


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
    registry = d.system.registry.functions
    govern(d, registry.setMeterActive(buyer.meter_id, False))
    transact(
        d.chain, d.actors.keeper, readings.functions.submit([forged.as_tuple(), honest.as_tuple()])
    )
    day.market.settle_slot(d.actors.keeper, slot)

    report = audit(d.system, topups={TOPUP_REF: (None, None)})

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
