"""EnergyMarket: orders and escrow, clearing on chain, settlement by the min-of-two pool rule.

Settlement expectations are exact integers: worked by hand for the named cases, and from
`p2penergy.market.settle` (itself checked by hand in tests/unit) for the rest. The conservation
identity is checked after every settlement.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from eth_utils.crypto import keccak

from p2penergy.chain.tx import GAS_HEADROOM_DEN, GAS_HEADROOM_NUM, events, transact
from p2penergy.contracts.market import (
    FRESH_WORD_RACE_GAS,
    MarketClient,
    placement_race_gas,
    unpack_order,
)
from p2penergy.domain.orders import OrderInput, Side, order_id
from p2penergy.domain.readings import Reading
from p2penergy.exceptions import CertificateError, CreditError, MarketError
from p2penergy.market import settle
from p2penergy.oracle.reading import sign_reading
from p2penergy.oracle.recorded import recorded_in

from ..conftest import CONSUMER, PROSUMER, Deployed, govern, topup_ref

CREDITS = 50_000_000  # 50 credits each
PLACEMENTS_PER_WORD = 11  # EnergyMarket's _PLACEMENTS_PER_WORD: an account's slots a word


@dataclass(eq=False)
class Trader:
    account: LocalAccount
    device: LocalAccount
    meter_id: int
    registers: list[int]  # [import, export] cumulative Wh


@pytest.fixture
def market(deployed: Deployed) -> MarketClient:
    return MarketClient(deployed.system)


def new_trader(d: Deployed, kind: int, critical: bool = False, capacity_w: int = 20_000) -> Trader:
    account, device = Account.create(), Account.create()
    d.chain.fund(account.address, 10**20)
    registry = d.system.registry.functions
    transact(
        d.chain, d.actors.operator, registry.registerParticipant(account.address, kind, critical)
    )
    receipt = transact(
        d.chain,
        d.actors.operator,
        registry.registerMeter(device.address, account.address, capacity_w),
    )
    meter_id = events(d.system.registry, "MeterRegistered", receipt)[0]["args"]["meterId"]
    transact(
        d.chain,
        d.actors.operator,
        d.system.credit.functions.mint(account.address, CREDITS, topup_ref()),
    )
    MarketClient(d.system).approve_escrow(account)
    return Trader(account, device, meter_id, [0, 0])


def open_slot(d: Deployed, ahead: int = 4) -> int:
    """A slot whose gate is still open `ahead` slots from now."""
    epoch, length, _ = d.system.readings.functions.timing().call()
    return (d.chain.now() - epoch) // length + ahead


def open_slot_beside_the_next(d: Deployed) -> int:
    """An open slot whose next slot's placement lane is in the same word (an account's
    placements are `PLACEMENTS_PER_WORD` slots a word): an order there finds the word warm."""
    slot = open_slot(d)
    return slot + (slot % PLACEMENTS_PER_WORD == PLACEMENTS_PER_WORD - 1)


def report(d: Deployed, slot: int, usage: dict[Trader, tuple[int, int]]) -> None:
    """Each trader's meter signs (import, export) for `slot`; one relayed batch."""
    batch = []
    for trader, (imp, exp) in usage.items():
        trader.registers[0] += imp
        trader.registers[1] += exp
        reading = Reading(trader.meter_id, slot, imp, exp, trader.registers[0], trader.registers[1])
        signed = sign_reading(
            trader.device.key, reading, d.chain.chain_id, d.system.readings.address
        )
        batch.append(signed.as_tuple())
    receipt = transact(d.chain, d.actors.keeper, d.system.readings.functions.submit(batch))
    assert len(recorded_in(d.system.readings, receipt)) == len(batch)


def to_gate_close(d: Deployed, market: MarketClient, slot: int) -> None:
    d.chain.set_time(market.slot_times(slot)[1])


def to_slot_end(d: Deployed, market: MarketClient, slot: int) -> None:
    start = market.slot_times(slot)[0]
    d.chain.set_time(start + d.system.readings.functions.timing().call()[1])


def cleared_pair(
    d: Deployed, market: MarketClient, seller: Trader, buyer: Trader, energy_wh: int = 1_000
) -> int:
    """A new slot where `seller` offers `energy_wh` (1 kWh) at 0.10 and `buyer` bids for it at
    0.20, cleared; chain time at the slot's end. Returns the slot."""
    slot = open_slot(d)
    market.place(seller.account, [OrderInput(slot, Side.OFFER, energy_wh, 100_000)])
    market.place(buyer.account, [OrderInput(slot, Side.BID, energy_wh, 200_000)])
    to_gate_close(d, market, slot)
    market.clear_slot(d.actors.keeper, slot)
    to_slot_end(d, market, slot)
    return slot


def balances(d: Deployed, accounts: list[str]) -> list[int]:
    """Credits each account owns: its wallet plus its balance in the market's ledger; under the
    market's own address, the escrow it holds (its token balance less every market balance)."""
    return [escrow_held(d) if a == d.system.market.address else owned(d, a) for a in accounts]


def owned(d: Deployed, account: str) -> int:
    credit, market = d.system.credit.functions, d.system.market.functions
    return int(credit.balanceOf(account).call()) + int(market.balanceOf(account).call())


def escrow_held(d: Deployed) -> int:
    """The market's token balance less the market balance of every account that ever had one
    (depositors and traders from the events, the fee and the rounding account)."""
    market = d.system.market
    holders = set(market.functions.accounts().call())
    for name, key in (("CreditsDeposited", "account"), ("OrderPlaced", "owner")):
        holders |= {e["args"][key] for e in market.events[name]().get_logs(from_block=0)}
    held = int(d.system.credit.functions.balanceOf(market.address).call())
    return held - sum(int(market.functions.balanceOf(a).call()) for a in holders)


def certificates(d: Deployed, accounts: list[str], slot: int) -> list[int]:
    return [d.system.certificate.functions.balanceOf(a, slot).call() for a in accounts]


# ───────────────────────────── orders ─────────────────────────────


def test_a_bid_locks_exactly_its_escrow_and_an_offer_locks_nothing(
    deployed: Deployed, market: MarketClient
):
    seller, buyer = new_trader(deployed, PROSUMER), new_trader(deployed, CONSUMER)
    slot = open_slot(deployed)
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 2_000, 100_000)])
    [bid_id] = market.place(buyer.account, [OrderInput(slot, Side.BID, 1_234, 200_001)])
    # ceil(1234 * 200001 / 1000) + ceil(1234 * 30000 / 1000) = 246802 + 37020
    assert balances(deployed, [buyer.account.address, seller.account.address]) == [
        CREDITS - 283_822,
        CREDITS,
    ]
    assert balances(deployed, [deployed.system.market.address]) == [283_822]
    assert bid_id == order_id(slot, 1)
    assert tuple(deployed.system.market.functions.order(bid_id).call()) == (
        buyer.account.address,
        0,
        False,
        False,
        1_234,
        200_001,
        30_000,
    )


@pytest.mark.parametrize(
    ("who", "order", "error"),
    [
        ("consumer", lambda s: OrderInput(s, Side.BID, 100, 79_999), "MarketPriceOutOfRange"),
        ("consumer", lambda s: OrderInput(s, Side.BID, 100, 300_001), "MarketPriceOutOfRange"),
        ("consumer", lambda s: OrderInput(s, Side.BID, 0, 100_000), "MarketZeroEnergy"),
        ("consumer", lambda s: OrderInput(s, Side.OFFER, 100, 100_000), "MarketNotProsumer"),
        ("consumer", lambda s: OrderInput(s - 4, Side.BID, 100, 100_000), "MarketGateClosed"),
        ("stranger", lambda s: OrderInput(s, Side.BID, 100, 100_000), "MarketNotAllowed"),
        ("suspended", lambda s: OrderInput(s, Side.BID, 100, 100_000), "MarketNotAllowed"),
    ],
)
def test_bad_orders_are_refused_by_name_and_lock_nothing(
    deployed: Deployed, market: MarketClient, who, order, error
):
    account = getattr(deployed.actors, who)
    if who == "consumer":
        transact(
            deployed.chain,
            deployed.actors.operator,
            deployed.system.credit.functions.mint(account.address, CREDITS, topup_ref()),
        )
        market.approve_escrow(account)
    before = balances(deployed, [account.address, deployed.system.market.address])
    with pytest.raises(MarketError) as info:
        market.place(account, [order(open_slot(deployed))])
    assert info.value.name == error
    assert balances(deployed, [account.address, deployed.system.market.address]) == before


def test_one_order_per_account_and_slot_until_it_is_cancelled(
    deployed: Deployed, market: MarketClient
):
    buyer = new_trader(deployed, CONSUMER)
    slot = open_slot(deployed)
    [first] = market.place(buyer.account, [OrderInput(slot, Side.BID, 1_000, 100_000)])
    with pytest.raises(MarketError, match="MarketDuplicateOrder"):
        market.place(buyer.account, [OrderInput(slot, Side.BID, 500, 100_000)])
    receipt = market.cancel(buyer.account, first)
    assert events(deployed.system.market, "OrderCancelled", receipt)[0]["args"]["refund"] == 130_000
    assert balances(deployed, [buyer.account.address]) == [CREDITS]
    market.place(buyer.account, [OrderInput(slot, Side.BID, 500, 100_000)])


def test_cancel_is_refused_after_gate_closure_for_others_and_twice(
    deployed: Deployed, market: MarketClient
):
    buyer, other = new_trader(deployed, CONSUMER), new_trader(deployed, CONSUMER)
    slot = open_slot(deployed)
    [oid] = market.place(buyer.account, [OrderInput(slot, Side.BID, 1_000, 100_000)])
    with pytest.raises(MarketError, match="MarketNotOrderOwner"):
        market.cancel(other.account, oid)
    with pytest.raises(MarketError, match="MarketUnknownOrder"):
        market.cancel(buyer.account, oid + 1)
    to_gate_close(deployed, market, slot)
    with pytest.raises(MarketError, match="MarketGateClosed"):
        market.cancel(buyer.account, oid)


def test_a_day_ahead_batch_places_96_orders_in_one_transaction(
    deployed: Deployed, market: MarketClient
):
    buyer = new_trader(deployed, CONSUMER)
    first = open_slot(deployed)
    orders = [OrderInput(first + k, Side.BID, 100 + k, 90_000 + k) for k in range(96)]
    ids = market.place(buyer.account, orders)
    assert ids == [order_id(first + k, 0) for k in range(96)]
    assert balances(deployed, [buyer.account.address]) == [CREDITS - market.escrow_for(orders)]


def test_the_book_reads_in_pages_of_packed_words_and_leaves_out_cancelled_orders(
    deployed: Deployed, market: MarketClient, monkeypatch: pytest.MonkeyPatch
):
    slot = open_slot(deployed)
    traders = [new_trader(deployed, kind) for kind in (CONSUMER, PROSUMER, CONSUMER)]
    placed = [
        market.place(traders[0].account, [OrderInput(slot, Side.BID, 1_500, 110_000)])[0],
        market.place(traders[1].account, [OrderInput(slot, Side.OFFER, 2_000, 90_000)])[0],
        market.place(traders[2].account, [OrderInput(slot, Side.BID, 700, 120_000)])[0],
    ]
    market.cancel(traders[2].account, placed[2])
    fns = deployed.system.market.functions
    words = fns.orderWords(slot, 0, 10).call()
    assert len(words) == 3  # clipped to the book
    assert fns.orderWords(slot, 1, 1).call() == words[1:2]
    assert fns.orderWords(slot, 5, 10).call() == []  # past the end: empty, not a revert
    decoded = [unpack_order(oid, w) for oid, w in zip(placed, words, strict=True)]
    assert [cancelled for _, cancelled in decoded] == [False, False, True]
    for (order, _), oid in zip(decoded, placed, strict=True):
        on_chain = fns.order(oid).call()
        assert (order.owner, int(order.side), order.energy_wh, order.limit_price) == (
            on_chain[0],
            on_chain[1],
            on_chain[4],
            on_chain[5],
        )
    assert [o.order_id for o in market.slot_orders(slot)] == placed[:2]
    monkeypatch.setattr("p2penergy.contracts.market.BOOK_PAGE", 1)  # one word per call
    assert market.slot_orders(slot) == [order for order, _ in decoded[:2]]


def _order_pair_slot(d: Deployed, key: int, expected: int) -> int:
    """The storage slot of the market's order pair word `key` (`slot << 15 | index >> 1`), found
    as the mapping entry holding `expected` (the declaration's position is not hard-coded)."""
    for base in range(64):
        entry = keccak(key.to_bytes(32, "big") + base.to_bytes(32, "big"))
        position = int.from_bytes(entry, "big")
        stored = d.chain.w3.eth.get_storage_at(d.system.market.address, position)
        if int.from_bytes(bytes(stored), "big") == expected:
            return position
    raise AssertionError(f"no storage word holds the order pair {expected:#x}")


def _lane(d: Deployed, word: int) -> int:
    """The 128-bit lane the market stores for order `word`: the owner's registry number in
    place of its address, the order's bits 160-250 above it."""
    owner = to_checksum_address((word & (2**160 - 1)).to_bytes(20, "big"))
    number = d.system.registry.functions.participant(owner).call()[3]
    return (word >> 160) << 32 | number


def test_two_orders_of_a_slot_share_a_storage_word_and_cancel_clear_and_settle_apart(
    deployed: Deployed, market: MarketClient
):
    seller = new_trader(deployed, PROSUMER)
    buyers = [new_trader(deployed, CONSUMER) for _ in range(3)]
    slot = open_slot(deployed)
    fns = deployed.system.market.functions
    ids = [
        market.place(seller.account, [OrderInput(slot, Side.OFFER, 2_000, 100_000)])[0],
        market.place(buyers[0].account, [OrderInput(slot, Side.BID, 1_000, 200_000)])[0],
        market.place(buyers[1].account, [OrderInput(slot, Side.BID, 1_000, 200_000)])[0],
        market.place(buyers[2].account, [OrderInput(slot, Side.BID, 1_000, 180_000)])[0],
    ]
    assert ids == [order_id(slot, k) for k in range(4)]
    words = fns.orderWords(slot, 0, 4).call()
    lanes = [_lane(deployed, w) for w in words]
    # ids 0 and 1 share the word `slot << 15`, ids 2 and 3 the next one
    first = _order_pair_slot(deployed, slot << 15, lanes[0] | lanes[1] << 128)
    second = _order_pair_slot(deployed, slot << 15 | 1, lanes[2] | lanes[3] << 128)

    # Cancelling the first order of the second pair leaves its neighbour as it was.
    with pytest.raises(MarketError, match="MarketNotOrderOwner"):
        market.cancel(buyers[2].account, ids[2])
    market.cancel(buyers[1].account, ids[2])
    after = fns.orderWords(slot, 0, 4).call()
    assert after == [words[0], words[1], words[2] | 1 << 249, words[3]]
    stored = deployed.chain.w3.eth.get_storage_at(deployed.system.market.address, second)
    assert int.from_bytes(bytes(stored), "big") == (lanes[2] | 1 << 121) | lanes[3] << 128
    assert owned(deployed, buyers[1].account.address) == CREDITS
    with pytest.raises(MarketError, match="MarketOrderCancelled"):
        market.cancel(buyers[1].account, ids[2])
    assert [fns.order(i).call()[0] for i in ids] == [t.account.address for t in (seller, *buyers)]

    # The offer (lane 0) fills both live bids (lane 1 of its word, lane 1 of the next).
    to_gate_close(deployed, market, slot)
    assert market.clear_slot(deployed.actors.keeper, slot).volume_wh == 2_000
    to_slot_end(deployed, market, slot)
    report(deployed, slot, {seller: (0, 2_000), buyers[0]: (1_000, 0), buyers[2]: (1_000, 0)})
    receipts = market.settle_slot(deployed.actors.keeper, slot)
    settled = [
        e["args"] for r in receipts for e in events(deployed.system.market, "OrderSettled", r)
    ]
    assert [(a["orderId"], a["owner"], a["filledWh"], a["meteredWh"]) for a in settled] == [
        (ids[0], seller.account.address, 2_000, 2_000),
        (ids[1], buyers[0].account.address, 1_000, 1_000),
        (ids[3], buyers[2].account.address, 1_000, 1_000),
    ]
    assert all(a["amount"] > 0 for a in settled)
    assert owned(deployed, seller.account.address) > CREDITS
    assert certificates(deployed, [b.account.address for b in buyers], slot) == [1_000, 0, 1_000]
    assert balances(deployed, [deployed.system.market.address]) == [0]
    _conservation(deployed, market, slot, receipts)
    # settlement writes no order lane
    stored = deployed.chain.w3.eth.get_storage_at(deployed.system.market.address, first)
    assert int.from_bytes(bytes(stored), "big") == lanes[0] | lanes[1] << 128


def test_escrow_without_allowance_fails_by_name(deployed: Deployed, market: MarketClient):
    buyer = new_trader(deployed, CONSUMER)
    market.approve_escrow(buyer.account, 0)
    with pytest.raises(CreditError, match="ERC20InsufficientAllowance"):
        market.place(buyer.account, [OrderInput(open_slot(deployed), Side.BID, 100, 100_000)])


def test_slot_cap_refuses_the_order_beyond_it(deployed: Deployed):
    from p2penergy.chain.deploy import MarketConfig, deploy_system

    small = deploy_system(
        deployed.chain,
        deployed.actors.admin,
        config=MarketConfig.starting_today(deployed.chain.now(), order_cap=2),
    )
    client = MarketClient(small)
    slot = (deployed.chain.now() - small.readings.functions.timing().call()[0]) // 900 + 4
    traders = []
    for _ in range(3):
        account = Account.create()
        deployed.chain.fund(account.address, 10**20)
        transact(
            deployed.chain,
            deployed.actors.admin,
            small.registry.functions.registerParticipant(account.address, PROSUMER, False),
        )
        traders.append(account)
    client.place(traders[0], [OrderInput(slot, Side.OFFER, 100, 100_000)])
    client.place(traders[1], [OrderInput(slot, Side.OFFER, 100, 100_000)])
    with pytest.raises(MarketError, match=r"MarketSlotFull\(slot=\d+, cap=2\)"):
        client.place(traders[2], [OrderInput(slot, Side.OFFER, 100, 100_000)])


def _small_market(
    d: Deployed, cap: int, traders: int
) -> tuple[MarketClient, int, list[LocalAccount]]:
    """A fresh system with order cap `cap`, an open slot and `traders` funded prosumers."""
    from p2penergy.chain.deploy import MarketConfig, deploy_system

    small = deploy_system(
        d.chain,
        d.actors.admin,
        config=MarketConfig.starting_today(d.chain.now(), order_cap=cap),
    )
    slot = (d.chain.now() - small.readings.functions.timing().call()[0]) // 900 + 4
    accounts = []
    for _ in range(traders):
        account = Account.create()
        d.chain.fund(account.address, 10**20)
        transact(
            d.chain,
            d.actors.admin,
            small.registry.functions.registerParticipant(account.address, PROSUMER, False),
        )
        accounts.append(account)
    return MarketClient(small), slot, accounts


def test_a_cancelled_order_frees_its_place_under_the_cap(deployed: Deployed):
    client, slot, (a, b, c) = _small_market(deployed, cap=2, traders=3)
    fns = client.contract.functions
    offer = OrderInput(slot, Side.OFFER, 100, 100_000)
    [first] = client.place(a, [offer])
    client.place(b, [offer])
    with pytest.raises(MarketError, match=r"MarketSlotFull\(slot=\d+, cap=2\)"):
        client.place(c, [offer])
    client.cancel(a, first)
    assert (fns.orderCount(slot).call(), fns.liveOrderCount(slot).call()) == (2, 1)
    [third] = client.place(c, [offer])
    assert third == order_id(slot, 2)  # ids stay unique and increasing
    assert (fns.orderCount(slot).call(), fns.liveOrderCount(slot).call()) == (3, 2)


def test_one_participant_cannot_fill_a_slot_or_exhaust_its_ids_by_placing_and_cancelling(
    deployed: Deployed,
):
    client, slot, (churner, other) = _small_market(deployed, cap=2, traders=2)
    fns = client.contract.functions
    assert fns.orderLimits().call() == [2, 4, 8]
    offer = OrderInput(slot, Side.OFFER, 100, 100_000)
    for _ in range(3):
        [oid] = client.place(churner, [offer])
        client.cancel(churner, oid)
    client.place(churner, [offer])  # its fourth and last placement in this slot
    assert fns.placements(churner.address, slot).call() == [4, True]
    client.cancel(churner, order_id(slot, 3))
    with pytest.raises(MarketError) as info:
        client.place(churner, [offer])
    assert (info.value.name, info.value.error_args) == (
        "MarketPlacementLimit",
        {"account": churner.address.lower(), "slot": slot, "limit": 4},
    )
    # The slot is still open to everyone else: 4 of its 8 ids are used, none of them live.
    assert (fns.orderCount(slot).call(), fns.liveOrderCount(slot).call()) == (4, 0)
    [oid] = client.place(other, [offer])
    assert oid == order_id(slot, 4)
    client.place(churner, [OrderInput(slot + 1, Side.OFFER, 100, 100_000)])  # other slots: fine


def test_a_slot_refuses_orders_by_name_once_cap_times_four_ids_are_used(deployed: Deployed):
    client, slot, accounts = _small_market(deployed, cap=2, traders=3)
    offer = OrderInput(slot, Side.OFFER, 100, 100_000)
    for account in accounts[:2]:  # as many colluding accounts as the cap, 4 placements each
        for k in range(4):
            [oid] = client.place(account, [offer])
            if k < 3:
                client.cancel(account, oid)
    fns = client.contract.functions
    assert (fns.orderCount(slot).call(), fns.liveOrderCount(slot).call()) == (8, 2)
    with pytest.raises(MarketError) as info:
        client.place(accounts[2], [offer])
    assert info.value.name == "MarketSlotFull"
    client.cancel(accounts[0], order_id(slot, 3))
    with pytest.raises(MarketError) as info:
        client.place(accounts[2], [offer])
    assert (info.value.name, info.value.error_args) == (
        "MarketSlotExhausted",
        {"slot": slot, "idCap": 8},
    )


def test_an_order_cap_whose_ids_would_not_fit_16_bits_is_refused(deployed: Deployed):
    from p2penergy.chain.deploy import MarketConfig, deploy_system

    with pytest.raises(MarketError, match="MarketInvalidConfig"):
        deploy_system(
            deployed.chain,
            deployed.actors.admin,
            config=MarketConfig.starting_today(deployed.chain.now(), order_cap=16_384),
        )


# ───────────────────────────── clearing ─────────────────────────────


def test_clearing_is_refused_before_gate_closure_and_accepted_once(
    deployed: Deployed, market: MarketClient
):
    seller, buyer = new_trader(deployed, PROSUMER), new_trader(deployed, CONSUMER)
    slot = open_slot(deployed)
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 1_000, 100_000)])
    market.place(buyer.account, [OrderInput(slot, Side.BID, 1_000, 200_000)])
    with pytest.raises(MarketError, match="MarketGateOpen"):
        market.clear_slot(deployed.actors.keeper, slot)
    to_gate_close(deployed, market, slot)
    with pytest.raises(MarketError, match="MarketNotAllowed"):
        market.clear_slot(deployed.actors.stranger, slot)
    result = market.clear_slot(deployed.actors.keeper, slot)
    on_chain = market.clearing(slot)
    assert (
        (on_chain.status, on_chain.price, on_chain.volume_wh)
        == ("cleared", 150_000, 1_000)
        == ("cleared", result.price, result.volume_wh)
    )
    with pytest.raises(MarketError, match="MarketWrongSlotStatus"):
        market.submit_clearing(deployed.actors.keeper, slot, result)


def test_a_wrong_clearing_is_refused_on_chain(deployed: Deployed, market: MarketClient):
    seller, buyer = new_trader(deployed, PROSUMER), new_trader(deployed, CONSUMER)
    slot = open_slot(deployed)
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 1_000, 100_000)])
    market.place(buyer.account, [OrderInput(slot, Side.BID, 600, 200_000)])
    to_gate_close(deployed, market, slot)
    fns = deployed.system.market.functions
    for args, error in [
        ((slot, 200_000, 100_000, 600, 1_000), "MarketClearingUnbalanced"),
        ((slot, 200_000, 100_001, 600, 600), "MarketClearingBudgetUnused"),
        ((slot, 0, 0, 0, 0), "MarketClearingNotMaximal"),
    ]:
        with pytest.raises(MarketError) as info:
            transact(deployed.chain, deployed.actors.keeper, fns.clear(*args))
        assert info.value.name == error
    assert market.clearing(slot).status == "open"


# ───────────────────────────── settlement ─────────────────────────────


def _conservation(d: Deployed, market: MarketClient, slot: int, receipts) -> None:
    """Σ escrow of the slot's bids == Σ paid to sellers (receipts less seller fees) + fees (both
    sides') + refunds + dust, from the events."""
    orders = {o.order_id: o for o in market.slot_orders(slot)}
    escrow = sum(
        d.system.market.functions.escrowFor(o.energy_wh, o.limit_price, o.fee_per_kwh).call()
        for o in orders.values()
        if o.side == Side.BID
    )
    settled = [e["args"] for r in receipts for e in events(d.system.market, "OrderSettled", r)]
    (done,) = [e["args"] for r in receipts for e in events(d.system.market, "SlotSettled", r)]
    paid = sum(a["amount"] - a["fee"] for a in settled if orders[a["orderId"]].side == Side.OFFER)
    fees = sum(a["fee"] for a in settled)
    refunds = sum(a["refund"] for a in settled)
    assert fees == done["fees"]
    assert escrow == paid + fees + refunds + done["dust"]


def test_settlement_seller_short_worked_by_hand(deployed: Deployed, market: MarketClient):
    seller, buyer = new_trader(deployed, PROSUMER), new_trader(deployed, CONSUMER)
    fee_account, rounding = deployed.fee_account, deployed.rounding_account
    slot = open_slot(deployed)
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 2_000, 100_000)])
    market.place(buyer.account, [OrderInput(slot, Side.BID, 2_000, 200_000)])
    to_gate_close(deployed, market, slot)
    market.clear_slot(deployed.actors.keeper, slot)  # price (100000 + 200000) / 2 = 150000
    to_slot_end(deployed, market, slot)
    report(deployed, slot, {seller: (0, 1_500), buyer: (2_500, 0)})
    before = balances(deployed, [fee_account, rounding])
    receipts = market.settle_slot(deployed.actors.keeper, slot)
    # D = 1500, A = 2000, T = 1500. Seller: 1500 Wh * 0.15 = 225000. Buyer: charge 225000,
    # fee ceil(1500 * 30000 / 1000) = 45000, refund 460000 - 270000 = 190000.
    assert balances(deployed, [seller.account.address, buyer.account.address]) == [
        CREDITS + 225_000,
        CREDITS - 270_000,
    ]
    assert [
        b - a for a, b in zip(before, balances(deployed, [fee_account, rounding]), strict=True)
    ] == [45_000, 0]
    assert certificates(deployed, [seller.account.address, buyer.account.address], slot) == [
        0,
        1_500,
    ]
    assert balances(deployed, [deployed.system.market.address]) == [0]
    _conservation(deployed, market, slot, receipts)


def test_settling_early_settles_the_whole_slot_at_once_whatever_the_chunk(
    deployed: Deployed, market: MarketClient
):
    seller, buyer = new_trader(deployed, PROSUMER), new_trader(deployed, CONSUMER)
    slot = cleared_pair(deployed, market, seller, buyer)
    report(deployed, slot, {seller: (0, 1_000), buyer: (1_000, 0)})
    receipts = market.settle_slot(deployed.actors.keeper, slot, chunk=1)
    assert len(receipts) == 1 and market.clearing(slot).status == "settled"


def test_chunked_settlement_pays_sellers_first_so_bids_placed_before_offers_still_settle(
    deployed: Deployed, market: MarketClient
):
    buyers = [new_trader(deployed, CONSUMER) for _ in range(2)]
    sellers = [new_trader(deployed, PROSUMER) for _ in range(2)]
    slot = open_slot(deployed)
    for trader in buyers:  # the bids get the lower ids
        market.place(trader.account, [OrderInput(slot, Side.BID, 700, 200_000)])
    for trader in sellers:
        market.place(trader.account, [OrderInput(slot, Side.OFFER, 700, 100_000)])
    to_gate_close(deployed, market, slot)
    market.clear_slot(deployed.actors.keeper, slot)
    to_slot_end(deployed, market, slot)
    report(deployed, slot, {**{t: (0, 700) for t in sellers}, **{t: (700, 0) for t in buyers}})
    deployed.chain.set_time(deployed.system.readings.functions.readingWindow(slot).call()[1])
    receipts = market.settle_slot(deployed.actors.keeper, slot, chunk=1)
    assert len(receipts) == 4  # one order per transaction, offers first
    settled = [
        events(deployed.system.market, "OrderSettled", r)[0]["args"]["orderId"] for r in receipts
    ]
    assert settled == [order_id(slot, 2), order_id(slot, 3), order_id(slot, 0), order_id(slot, 1)]
    assert certificates(deployed, [t.account.address for t in buyers], slot) == [700, 700]
    # between the chunks the sellers' certificates wait in the market's pool: the slot's
    # certificates add up to its export at every block
    cert, pool = deployed.system.certificate.functions, deployed.system.market.address
    holders = [t.account.address for t in sellers + buyers] + [pool]
    at_blocks = [
        [int(cert.balanceOf(h, slot).call(block_identifier=r["blockNumber"])) for h in holders]
        for r in receipts
    ]
    assert at_blocks == [
        [0, 700, 0, 0, 700],
        [0, 0, 0, 0, 1_400],
        [0, 0, 700, 0, 700],
        [0, 0, 700, 700, 0],
    ]
    _conservation(deployed, market, slot, receipts)


def test_settlement_buyer_short_refunds_the_unabsorbed_energy(
    deployed: Deployed, market: MarketClient
):
    seller, buyer = new_trader(deployed, PROSUMER), new_trader(deployed, CONSUMER)
    slot = open_slot(deployed)
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 1_000, 120_000)])
    market.place(buyer.account, [OrderInput(slot, Side.BID, 1_000, 180_000)])
    to_gate_close(deployed, market, slot)
    market.clear_slot(deployed.actors.keeper, slot)  # 150000
    to_slot_end(deployed, market, slot)
    report(deployed, slot, {seller: (0, 1_400), buyer: (400, 0)})
    receipts = market.settle_slot(deployed.actors.keeper, slot)
    # D = 1000, A = 400, T = 400: seller paid 400 Wh * 0.15 = 60000; buyer 60000 + 12000 fee.
    assert balances(deployed, [seller.account.address, buyer.account.address]) == [
        CREDITS + 60_000,
        CREDITS - 72_000,
    ]
    # the seller keeps the certificates of what it exported but did not sell
    assert certificates(deployed, [seller.account.address, buyer.account.address], slot) == [
        1_000,
        400,
    ]
    _conservation(deployed, market, slot, receipts)


def test_settlement_missing_reading_counts_as_zero_after_the_window(
    deployed: Deployed, market: MarketClient
):
    seller, buyer = new_trader(deployed, PROSUMER), new_trader(deployed, CONSUMER)
    slot = cleared_pair(deployed, market, seller, buyer)
    report(deployed, slot, {buyer: (1_000, 0)})
    with pytest.raises(MarketError, match="MarketSettlementTooEarly"):
        market.settle_slot(deployed.actors.keeper, slot)
    deployed.chain.set_time(deployed.system.readings.functions.readingWindow(slot).call()[1])
    receipts = market.settle_slot(deployed.actors.keeper, slot)
    assert balances(deployed, [seller.account.address, buyer.account.address]) == [CREDITS, CREDITS]
    _conservation(deployed, market, slot, receipts)


def test_settlement_matches_the_python_engine_with_fees_and_rounding_dust(
    deployed: Deployed, market: MarketClient
):
    sellers = [new_trader(deployed, PROSUMER) for _ in range(3)]
    buyers = [new_trader(deployed, CONSUMER) for _ in range(4)]
    fee_account, rounding = deployed.fee_account, deployed.rounding_account
    slot = open_slot(deployed)
    for trader, (energy, limit) in zip(
        sellers, [(777, 95_001), (1_333, 110_007), (919, 130_003)], strict=True
    ):
        market.place(trader.account, [OrderInput(slot, Side.OFFER, energy, limit)])
    for trader, (energy, limit) in zip(
        buyers, [(1_001, 250_009), (703, 199_999), (1_111, 140_001), (333, 129_999)], strict=True
    ):
        market.place(trader.account, [OrderInput(slot, Side.BID, energy, limit)])
    to_gate_close(deployed, market, slot)
    orders = market.slot_orders(slot)
    result = market.clear_slot(deployed.actors.keeper, slot)
    to_slot_end(deployed, market, slot)
    usage = {
        sellers[0]: (0, 700),
        sellers[1]: (5, 1_500),
        sellers[2]: (0, 301),
        buyers[0]: (999, 0),
        buyers[1]: (703, 0),
        buyers[2]: (1_500, 0),
        buyers[3]: (17, 0),
    }
    report(deployed, slot, usage)
    everyone = [t.account.address for t in sellers + buyers] + [fee_account, rounding]
    before = balances(deployed, everyone)
    # after the reading window nothing can change any more: settle in chunks of 3 orders
    deployed.chain.set_time(deployed.system.readings.functions.readingWindow(slot).call()[1])
    receipts = market.settle_slot(deployed.actors.keeper, slot, chunk=3)
    assert len(receipts) == 3  # 7 orders in chunks of 3
    expected = settle(orders, result, {t.account.address: usage[t] for t in usage})
    delta = {t.account.address: 0 for t in sellers + buyers}
    for line in expected.lines:
        delta[line.owner] += line.amount if line.side == Side.OFFER else line.refund
    after = balances(deployed, everyone)
    assert after[:-2] == [b + delta[a] for a, b in zip(everyone[:-2], before[:-2], strict=True)]
    assert after[-2] - before[-2] == expected.fees_total
    assert after[-1] - before[-1] == expected.dust
    assert expected.dust > 0  # the numbers were chosen so that rounding leaves dust
    assert certificates(deployed, [t.account.address for t in buyers] + [rounding], slot) == [
        line.energy_wh for line in expected.lines if line.side == Side.BID
    ] + [expected.certificate_dust_wh]
    _conservation(deployed, market, slot, receipts)


def test_certificates_derive_from_settlement_and_retiring_waits_until_they_are_final(
    deployed: Deployed, market: MarketClient
):
    """Balances are export + received - given - retired, with received and given fixed by what
    settlement metered: a second meter of the seller reporting after an early settlement adds
    export, not certificates given. A trader's slot cannot be retired before it settles."""
    seller, buyer = new_trader(deployed, PROSUMER), new_trader(deployed, CONSUMER)
    bystander = new_trader(deployed, PROSUMER)  # exports, never trades
    second = Account.create()  # a second meter of the seller, registered before the gate
    receipt = transact(
        deployed.chain,
        deployed.actors.operator,
        deployed.system.registry.functions.registerMeter(
            second.address, seller.account.address, 20_000
        ),
    )
    meter = events(deployed.system.registry, "MeterRegistered", receipt)[0]["args"]["meterId"]
    seller_second = Trader(seller.account, second, meter, [0, 0])
    cert = deployed.system.certificate
    start = deployed.chain.w3.eth.block_number + 1
    slot = cleared_pair(deployed, market, seller, buyer)
    report(deployed, slot, {seller: (0, 600), buyer: (1_000, 0), bystander: (0, 50)})
    with pytest.raises(CertificateError) as info:
        transact(deployed.chain, seller.account, cert.functions.retire(slot, 100))
    assert (info.value.name, info.value.error_args) == (
        "CertificateSlotNotFinal",
        {"holder": seller.account.address.lower(), "slot": slot},
    )
    # no live order and the gate closed: the bystander's certificates are final already
    transact(deployed.chain, bystander.account, cert.functions.retire(slot, 50))
    # every filled trader reported: settled early, D = 600, A = 1000, T = S = 600
    market.settle_slot(deployed.actors.keeper, slot)
    holders = [seller.account.address, buyer.account.address, bystander.account.address]
    flows = [market.contract.functions.certificateFlow(h, slot).call() for h in holders]
    assert flows == [[0, 600, True], [600, 0, True], [0, 0, True]]
    assert certificates(deployed, holders, slot) == [0, 600, 0]
    report(deployed, slot, {seller_second: (0, 300)})  # within the window, after settlement
    assert certificates(deployed, holders, slot) == [300, 600, 0]
    transact(deployed.chain, seller.account, cert.functions.retire(slot, 300))
    transact(deployed.chain, buyer.account, cert.functions.retire(slot, 600))
    with pytest.raises(CertificateError, match="ERC1155InsufficientBalance"):
        transact(deployed.chain, buyer.account, cert.functions.retire(slot, 1))
    assert certificates(deployed, holders, slot) == [0, 0, 0]
    replayed = dict.fromkeys(holders, 0)
    for log in cert.events.TransferSingle.get_logs(from_block=start):
        assert log["args"]["id"] == slot
        for key, sign in (("to", 1), ("from", -1)):
            if log["args"][key] in replayed:
                replayed[log["args"][key]] += sign * log["args"]["value"]
    assert list(replayed.values()) == [0, 0, 0]
    exports = [deployed.system.readings.functions.energyOf(h, slot).call()[1] for h in holders]
    assert exports == [900, 0, 50]  # 950 minted, 950 retired: nothing left anywhere


def test_an_uncleared_slot_expires_and_every_bid_is_refunded(
    deployed: Deployed, market: MarketClient
):
    seller, buyer = new_trader(deployed, PROSUMER), new_trader(deployed, CONSUMER)
    slot = open_slot(deployed)
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 1_000, 100_000)])
    market.place(buyer.account, [OrderInput(slot, Side.BID, 1_000, 200_000)])
    with pytest.raises(MarketError, match="MarketWrongSlotStatus"):
        market.settle_slot(deployed.actors.keeper, slot)
    deadline = market.slot_times(slot)[2]
    deployed.chain.set_time(deadline)
    with pytest.raises(MarketError, match="MarketClearingDeadlinePassed"):
        market.clear_slot(deployed.actors.keeper, slot)
    receipts = market.settle_slot(deployed.actors.keeper, slot)
    assert events(deployed.system.market, "SlotSettled", receipts[-1])[0]["args"]["expired"] is True
    assert balances(deployed, [buyer.account.address]) == [CREDITS]
    with pytest.raises(MarketError, match="MarketWrongSlotStatus"):
        market.settle_slot(deployed.actors.keeper, slot)


def test_a_slot_without_crossing_clears_to_zero_and_refunds_at_once(
    deployed: Deployed, market: MarketClient
):
    seller, buyer = new_trader(deployed, PROSUMER), new_trader(deployed, CONSUMER)
    slot = open_slot(deployed)
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 1_000, 200_000)])
    market.place(buyer.account, [OrderInput(slot, Side.BID, 1_000, 150_000)])
    to_gate_close(deployed, market, slot)
    result = market.clear_slot(deployed.actors.keeper, slot)
    assert result.volume_wh == 0
    market.settle_slot(deployed.actors.keeper, slot)
    assert balances(deployed, [buyer.account.address]) == [CREDITS]
    assert market.clearing(slot).status == "settled"


# ───────────────────────────── island mode ─────────────────────────────


def test_an_outage_slot_serves_the_critical_load_first_at_the_capped_price(
    deployed: Deployed, market: MarketClient
):
    seller = new_trader(deployed, PROSUMER)
    household = new_trader(deployed, CONSUMER)
    clinic = new_trader(deployed, CONSUMER, critical=True)
    slot = open_slot(deployed)
    receipt = govern(deployed, deployed.system.market.functions.declareOutage(slot, slot, 200_000))
    assert (
        events(deployed.system.market, "OutageDeclared", receipt)[0]["args"]["priceCapPerKWh"]
        == 200_000
    )
    market.place(household.account, [OrderInput(slot, Side.BID, 800, 290_000)])
    market.place(seller.account, [OrderInput(slot, Side.OFFER, 1_000, 120_000)])
    market.place(clinic.account, [OrderInput(slot, Side.BID, 600, 250_000)])
    to_gate_close(deployed, market, slot)
    result = market.clear_slot(deployed.actors.keeper, slot)
    assert (result.price, result.volume_wh) == (200_000, 1_000)
    assert [result.fills[order_id(slot, i)] for i in range(3)] == [400, 1_000, 600]
    to_slot_end(deployed, market, slot)
    report(deployed, slot, {seller: (0, 1_000), household: (800, 0), clinic: (600, 0)})
    receipts = market.settle_slot(deployed.actors.keeper, slot)
    # everyone at the cap: the seller gets 1000 Wh * 0.20; the clinic pays 600 Wh * (0.20 + 0.03)
    assert balances(
        deployed, [seller.account.address, clinic.account.address, household.account.address]
    ) == [
        CREDITS + 200_000,
        CREDITS - 138_000,
        CREDITS - 92_000,
    ]
    _conservation(deployed, market, slot, receipts)


def test_an_outage_cannot_be_declared_once_the_gate_closed_or_outside_the_tariffs(
    deployed: Deployed, market: MarketClient
):
    slot = open_slot(deployed)
    declare = deployed.system.market.functions.declareOutage
    with pytest.raises(MarketError, match="MarketPriceOutOfRange"):
        govern(deployed, declare(slot, slot, 300_001))
    with pytest.raises(MarketError, match="MarketOutageInvalid"):
        govern(deployed, declare(slot + 1, slot, 200_000))
    with pytest.raises(MarketError, match="MarketGateClosed"):
        govern(deployed, declare(slot - 4, slot, 200_000))
    assert market.outage_cap(slot) == 0


def test_an_order_estimated_before_another_landed_fits_with_its_race_gas(
    deployed: Deployed, market: MarketClient
):
    """Two orders share a storage word: A's placement is estimated while its slot holds one
    order (A would update that word, the second of the pair); if B's order lands first, A's
    becomes the first of the next pair (a fresh word). That costs A more than its estimate
    with 20 % headroom (concurrent wallets ran out of gas on the local node), and at most
    `placement_race_gas` more: the limit `transact` gives a placement covers it."""
    d = deployed
    slot = open_slot_beside_the_next(d)
    first, b, a = (new_trader(d, PROSUMER) for _ in range(3))
    # A has traded before (its account and this placement word exist): a warm, cheap placement
    market.place(a.account, [OrderInput(slot + 1, Side.OFFER, 1_000, 100_000)])
    market.place(first.account, [OrderInput(slot, Side.OFFER, 1_000, 100_000)])
    fn = market.contract.functions.placeOrders(
        [OrderInput(slot, Side.OFFER, 1_000, 100_000).as_tuple()]
    )
    before = d.chain.snapshot()
    as_estimated = int(transact(d.chain, a.account, fn)["gasUsed"])  # the second of the pair
    d.chain.revert(before)
    market.place(b.account, [OrderInput(slot, Side.OFFER, 1_000, 100_000)])
    limit = as_estimated * GAS_HEADROOM_NUM // GAS_HEADROOM_DEN + placement_race_gas(1)
    receipt = transact(d.chain, a.account, fn, gas=limit)
    [placed] = events(market.contract, "OrderPlaced", receipt)
    assert placed["args"]["orderId"] == order_id(slot, 2)  # the first of the second pair
    raced = int(receipt["gasUsed"])
    assert raced > as_estimated * GAS_HEADROOM_NUM // GAS_HEADROOM_DEN
    assert 0 < raced - as_estimated <= placement_race_gas(1)


def test_placing_cancelling_and_depositing_send_the_race_gas_above_the_estimate(
    deployed: Deployed, market: MarketClient
):
    """Each of the market's calls whose cost other households' transactions can raise (a fresh
    pair word for each order, a fresh balance word for a refund or a deposit) goes out with
    `FRESH_WORD_RACE_GAS` per such word above its estimate and 20 %. On the Hardhat node the
    limit is that sum, so the test fails if a call loses its race gas (these warm calls'
    20 % is under 17,100); the embedded chain sends the block's limit, above it either way."""
    d = deployed
    slot = open_slot_beside_the_next(d)
    a = new_trader(d, CONSUMER)
    market.deposit(a.account, CREDITS // 2)
    market.place(a.account, [OrderInput(slot, Side.BID, 1_000, 200_000)])  # a warm account
    fns = market.contract.functions
    bid = [OrderInput(slot + 1, Side.BID, 1_000, 200_000)]
    bid_id = order_id(slot + 1, 0)  # the slot's first order
    calls = (
        (fns.placeOrders([o.as_tuple() for o in bid]), lambda: market.place(a.account, bid)),
        (fns.cancelOrder(bid_id), lambda: market.cancel(a.account, bid_id)),
        (fns.deposit(1_000_000), lambda: market.deposit(a.account, 1_000_000)),
    )
    for fn, send in calls:
        estimate = int(fn.estimate_gas({"from": a.account.address}))
        before = d.chain.w3.eth.block_number
        send()
        [tx_hash] = d.chain.w3.eth.get_block(before + 1)["transactions"]
        sent = int(d.chain.w3.eth.get_transaction(tx_hash)["gas"])
        assert sent >= estimate * GAS_HEADROOM_NUM // GAS_HEADROOM_DEN + FRESH_WORD_RACE_GAS
