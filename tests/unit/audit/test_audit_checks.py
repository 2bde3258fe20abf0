"""The audit's checks on hand-built histories (no chain): each discrepancy names slot, party and
amount."""

from __future__ import annotations

from p2penergy.audit.checks import (
    Findings,
    check_clearing,
    check_conservation,
    check_payments,
    check_settlement,
    market_ledger,
)
from p2penergy.audit.history import Event, History, OrderRecord, ReadingRecord

MARKET = "0x" + "aa" * 20
SELLER = "0x" + "01" * 20
BUYER = "0x" + "02" * 20
SLOT = 7


def _history() -> History:
    """One offer (1,000 Wh at 100,000) and one bid (1,000 Wh at 200,000, fee 30,000)."""
    h = History(addresses={"EnergyMarket": MARKET, "MeterReadings": "0x" + "bb" * 20}, to_block=100)
    h.tariffs.append(((1, 0), 80_000, 300_000, 30_000))
    h.orders[SLOT << 16] = OrderRecord(SLOT << 16, SELLER, SLOT, 1, 1_000, 100_000, 0, False, 0, 10)
    h.orders[(SLOT << 16) | 1] = OrderRecord(
        (SLOT << 16) | 1, BUYER, SLOT, 0, 1_000, 200_000, 30_000, False, 230_000, 11
    )
    return h


def _cleared(h: History, price: int, volume: int, description: tuple[int, ...]) -> None:
    args = dict(
        zip(
            ("marginalBid", "marginalOffer", "bidMarginalWh", "offerMarginalWh"),
            description,
            strict=True,
        ),
        slot=SLOT,
        price=price,
        volumeWh=volume,
    )
    h.cleared[SLOT] = Event("EnergyMarket", "SlotCleared", args, (20, 0), "0x01")


def _settled(h: History, order_id: int, owner: str, *values: int) -> None:
    names = ("filledWh", "meteredWh", "certificateWh", "amount", "fee", "refund")
    args = dict(zip(names, values, strict=True), orderId=order_id, owner=owner)
    h.order_settled.append(Event("EnergyMarket", "OrderSettled", args, (40, order_id & 1), "0x3"))


def _settle_slot(h: History, seller_amount: int, dust: int) -> None:
    h.readings += [
        ReadingRecord(1, SLOT, SELLER, 0, 1_000, (30, 0), "0x2"),
        ReadingRecord(2, SLOT, BUYER, 1_000, 0, (30, 1), "0x2"),
    ]
    start = {"slot": SLOT, "deliveredWh": 1_000, "absorbedWh": 1_000}
    h.started[SLOT] = Event("EnergyMarket", "SettlementStarted", start, (39, 0), "0x3")
    _settled(h, SLOT << 16, SELLER, 1_000, 1_000, 1_000, seller_amount, 0, 0)
    _settled(h, (SLOT << 16) | 1, BUYER, 1_000, 1_000, 1_000, 150_000, 30_000, 50_000)
    done = {"slot": SLOT, "fees": 30_000, "dust": dust, "certificateDustWh": 0, "expired": False}
    h.slot_settled[SLOT] = Event("EnergyMarket", "SlotSettled", done, (41, 0), "0x3")


def test_the_competitive_clearing_passes() -> None:
    h = _history()
    _cleared(h, 150_000, 1_000, (200_000, 100_000, 1_000, 1_000))
    out = Findings()
    check_clearing(h, out)
    assert [f.ok for f in out.items] == [True]


def test_a_clearing_short_of_the_competitive_volume_names_every_shorted_party() -> None:
    h = _history()
    _cleared(h, 150_000, 600, (200_000, 100_000, 600, 600))
    out = Findings()
    check_clearing(h, out)
    bad = [f for f in out.items if not f.ok]
    assert bad[0].slot == SLOT and "differs" in bad[0].message
    assert {(f.party, f.amount) for f in bad[1:]} == {(SELLER, -400), (BUYER, -400)}


def test_a_market_paying_a_seller_too_much_fails_settlement_and_escrow() -> None:
    h = _history()
    _cleared(h, 150_000, 1_000, (200_000, 100_000, 1_000, 1_000))
    _settle_slot(h, seller_amount=150_000 + 9_999, dust=0)
    out = Findings()
    check_clearing(h, out)
    check_settlement(h, out)
    check_conservation(h, out, supply=None, market_balance=None)
    [settlement] = [f for f in out.items if not f.ok and f.check == "settlement"]
    assert (settlement.slot, settlement.party, settlement.amount) == (SLOT, SELLER, 9_999)
    escrow = [f for f in out.items if not f.ok and f.check == "escrow"]
    assert escrow[0].slot == SLOT and escrow[0].amount == -9_999


def test_the_honest_settlement_passes() -> None:
    h = _history()
    _cleared(h, 150_000, 1_000, (200_000, 100_000, 1_000, 1_000))
    _settle_slot(h, seller_amount=150_000, dust=0)
    out = Findings()
    check_clearing(h, out)
    check_settlement(h, out)
    assert all(f.ok for f in out.items), [f.message for f in out.items if not f.ok]


def test_an_order_escrowing_less_than_its_rule_fails_escrow() -> None:
    h = _history()
    h.orders[(SLOT << 16) | 1].escrow -= 1
    out = Findings()
    check_conservation(h, out, supply=None, market_balance=None)
    [bad] = [f for f in out.items if not f.ok and "expected" in f.message]
    assert (bad.check, bad.slot, bad.party, bad.amount) == ("escrow", SLOT, BUYER, -1)


def test_a_market_payment_no_event_announces_fails_naming_the_payee() -> None:
    h = _history()
    h.fee_account = "0x" + "fe" * 20
    _cleared(h, 150_000, 1_000, (200_000, 100_000, 1_000, 1_000))
    _settle_slot(h, seller_amount=150_000, dust=0)
    # the buyer deposited its escrow; the seller withdrew its receipt; 77 more left unannounced
    deposit = {"account": BUYER, "amount": 230_000}
    h.deposits.append(Event("EnergyMarket", "CreditsDeposited", deposit, (11, 0), "0x1"))
    withdrawal = {"account": SELLER, "amount": 150_000}
    h.withdrawals.append(Event("EnergyMarket", "CreditsWithdrawn", withdrawal, (42, 0), "0x4"))
    for tx, frm, to, value in (
        ("0x1", BUYER, MARKET, 230_000),
        ("0x4", MARKET, SELLER, 150_000),
        ("0x4", MARKET, BUYER, 77),
    ):
        args = {"from": frm, "to": to, "value": value}
        h.credit_transfers.append(Event("CommunityCredit", "Transfer", args, (42, 9), tx))
    out = Findings()
    check_payments(h, out)
    [bad] = [f for f in out.items if not f.ok]
    assert (bad.party, bad.amount, bad.block) == (BUYER, 77, 42)


def test_the_market_ledger_rebuilt_from_events_conserves_every_credit() -> None:
    h = _history()
    h.fee_account, h.rounding_account = "0x" + "fe" * 20, "0x" + "d0" * 20
    _cleared(h, 150_000, 1_000, (200_000, 100_000, 1_000, 1_000))
    _settle_slot(h, seller_amount=150_000, dust=0)
    deposit = {"account": BUYER, "amount": 230_000}
    h.deposits.append(Event("EnergyMarket", "CreditsDeposited", deposit, (11, 0), "0x1"))
    h.credit_transfers.append(
        Event("CommunityCredit", "Transfer", {"from": BUYER, "to": MARKET, "value": 230_000},
              (11, 1), "0x1")
    )  # fmt: skip
    ledger = market_ledger(h)
    assert ledger == {SELLER: 150_000, BUYER: 50_000, h.fee_account: 30_000}
    out = Findings()
    check_conservation(h, out, supply=None, market_balance=230_000)
    assert all(f.ok for f in out.items if f.check == "escrow"), [f.message for f in out.items]
    # a settlement paying the seller one credit more than escrow funds breaks the slot's identity
    h.order_settled[0].args["amount"] += 1
    out = Findings()
    check_conservation(h, out, supply=None, market_balance=230_000)
    escrow = [(f.slot, f.amount) for f in out.items if not f.ok and f.check == "escrow"]
    assert escrow == [(SLOT, -1)]
    # a market balance on chain that its transfers do not explain fails naming the market
    out = Findings()
    check_conservation(h, out, supply=None, market_balance=230_001)
    assert any(not f.ok and f.check == "escrow" and f.party == MARKET for f in out.items)


def test_a_timelock_call_from_a_contract_without_a_shipped_abi_is_decoded_and_reviewed() -> None:
    from eth_abi.abi import encode
    from eth_utils.crypto import keccak

    from p2penergy.audit.cache import RawLog
    from p2penergy.audit.governance import check_governance
    from p2penergy.audit.history import GOVERNANCE_ABI, _event_table, decode_log

    timelock, registry = "0x" + "77" * 20, "0x" + "88" * 20
    signature = "CallScheduled(bytes32,uint256,address,uint256,bytes,bytes32,uint256)"
    call = keccak(text="setMeterActive(uint256,bool)")[:4] + encode(["uint256", "bool"], [3, False])
    log = RawLog(
        50,
        0,
        0,
        "0x5",
        timelock,
        ("0x" + keccak(text=signature).hex(), "0x" + "ab" * 32, "0x" + "00" * 31 + "01"),
        "0x"
        + encode(
            ["address", "uint256", "bytes", "bytes32", "uint256"],
            [registry, 0, call, bytes(32), 86_400],
        ).hex(),
    )
    decoded = decode_log(_event_table(GOVERNANCE_ABI), log)
    assert decoded is not None
    name, args = decoded
    h = _history()
    h.addresses.update(Governance=timelock, ParticipantRegistry=registry)
    h.missing_abi["Governance"] = timelock
    h.governance.append(Event("Governance", name, args, (50, 0), "0x5", sender=SELLER))
    out = Findings()
    check_governance(h, out, None, lambda: None)
    [missing, scheduled] = out.items
    assert missing.severity == "warning" and "no shipped ABI" in missing.message
    assert scheduled.severity == "info" and scheduled.block == 50
    assert "ParticipantRegistry.setMeterActive(meterId=3, active=False) scheduled" in (
        scheduled.message
    )
    assert "delay 86400 s" in scheduled.message


def test_a_reused_top_up_reference_and_a_ledger_row_used_twice_fail_naming_account_and_amount() -> (
    None
):
    from p2penergy.audit.checks import check_duplicate_refs, check_topups

    h = _history()
    ref = b"bank-1".ljust(32, b"\0")
    for position, (account, amount) in enumerate(((BUYER, 5_000_000), (SELLER, 7_000_000))):
        args = {"account": account, "amount": amount, "paymentRef": ref}
        h.credit_mints.append(
            Event("CommunityCredit", "CreditMinted", args, (60 + position, 0), "0x6")
        )
    out = Findings()
    check_duplicate_refs(h, out)
    check_topups(h, {"0x" + ref.hex(): (BUYER, 5_000_000)}, out)
    bad = [f for f in out.items if not f.ok]
    assert [(f.party, f.amount, f.block) for f in bad] == [(SELLER, 7_000_000, 61)] * 2
    assert "used again" in bad[0].message and "used twice" in bad[1].message
