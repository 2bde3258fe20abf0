"""A clean simulated day audits green; the report names slots and households."""

from __future__ import annotations

from eth_account import Account

from p2penergy.audit import audit
from p2penergy.chain.tx import transact
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.domain.readings import Reading
from p2penergy.oracle.reading import sign_reading

from ..conftest import govern
from ..contracts.test_market import open_slot, to_gate_close, to_slot_end
from .conftest import LEDGER, Day


def test_a_clean_simulated_day_audits_green(day: Day) -> None:
    report = audit(day.d.system, topups=LEDGER)
    assert report.failures == [], "\n".join(f.message for f in report.failures)
    summary = report.summary()
    for check in ("clearing", "readings", "settlement", "escrow", "certificates", "bytecode"):
        assert summary[check][0] > 0, check
    assert [s.slot for s in report.slots if s.status == "settled"] == day.slots
    assert all(s.price and s.volume_wh for s in report.slots)


def test_expired_no_crossing_and_open_slots_audit_green(day: Day) -> None:
    d, market = day.d, day.market
    seller, buyer = day.sellers[0], day.buyers[0]
    expired, dry, still_open = (open_slot(d, ahead=k) for k in (4, 5, 40))
    # expired: never cleared by its deadline, every bid refunded in full
    market.place(seller.account, [OrderInput(expired, Side.OFFER, 500, 100_000)])
    market.place(buyer.account, [OrderInput(expired, Side.BID, 500, 150_000)])
    # dry: no crossing, clears to zero volume
    market.place(seller.account, [OrderInput(dry, Side.OFFER, 500, 200_000)])
    market.place(buyer.account, [OrderInput(dry, Side.BID, 500, 100_000)])
    # still open: escrow held by the market
    market.place(buyer.account, [OrderInput(still_open, Side.BID, 400, 120_000)])
    to_gate_close(d, market, dry)
    market.clear_slot(d.actors.keeper, dry)
    d.chain.set_time(market.slot_times(expired)[2])
    market.settle_slot(d.actors.keeper, expired)
    market.settle_slot(d.actors.keeper, dry)

    report = audit(d.system)

    assert report.failures == [], "\n".join(f.message for f in report.failures)
    status = {s.slot: s for s in report.slots}
    assert status[expired].status == "expired" and status[dry].status == "settled"
    assert status[dry].volume_wh == 0
    assert status[still_open].held == status[still_open].escrowed > 0


def test_a_reading_signed_by_a_rotated_key_checks_against_the_key_of_its_block(day: Day) -> None:
    d, market = day.d, day.market
    seller = day.sellers[0]
    slot = open_slot(d)
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 500, 100_000)])
    new_device = Account.create()
    registry = d.system.registry.functions
    govern(d, registry.rotateMeterKey(seller.meter_id, new_device.address))
    seller.device = new_device
    to_gate_close(d, market, slot)
    market.clear_slot(d.actors.keeper, slot)
    to_slot_end(d, market, slot)
    # submitOne (not a batch): the auditor finds the signed reading in that calldata too
    registers = seller.registers
    reading = Reading(seller.meter_id, slot, 0, 400, registers[0], registers[1] + 400)
    signed = sign_reading(new_device.key, reading, d.chain.chain_id, d.system.readings.address)
    transact(d.chain, d.actors.keeper, d.system.readings.functions.submitOne(signed.as_tuple()))
    report = audit(d.system)
    assert report.failures == []
    assert any(f.check == "readings" and f.slot == slot for f in report.findings)
    assert any(r["event"] == "MeterKeyRotated" for r in report.review)


def test_an_island_slot_is_re_cleared_under_the_island_rule_and_audits_green(day: Day) -> None:
    from ..conftest import CONSUMER
    from ..contracts.test_market import report
    from .conftest import new_trader

    d, market = day.d, day.market
    seller, household = day.sellers[0], day.buyers[0]
    clinic = new_trader(d, CONSUMER, critical=True)
    slot = open_slot(d, ahead=6)
    govern(d, d.system.market.functions.declareOutage(slot, slot, 200_000))
    market.place(household.account, [OrderInput(slot, Side.BID, 800, 290_000)])
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 1_000, 120_000)])
    market.place(clinic.account, [OrderInput(slot, Side.BID, 600, 250_000)])
    to_gate_close(d, market, slot)
    market.clear_slot(d.actors.keeper, slot)
    to_slot_end(d, market, slot)
    report(d, slot, {seller: (0, 1_000), household: (800, 0), clinic: (600, 0)})
    market.settle_slot(d.actors.keeper, slot)

    audited = audit(d.system)

    assert audited.failures == [], "\n".join(f.message for f in audited.failures)
    status = {s.slot: s for s in audited.slots}
    assert (status[slot].price, status[slot].volume_wh) == (200_000, 1_000)
    assert any("OutageDeclared" in str(item) for item in audited.review)
