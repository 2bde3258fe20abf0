"""A simulated trading day on the embedded chain, shared by the audit tests (rolled back after
each test)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from p2penergy.chain.connect import Chain, embedded
from p2penergy.chain.tx import events, transact
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import OrderInput, Side

from ..conftest import CONSUMER, PROSUMER, Deployed, deploy_with_actors, topup_ref
from ..contracts.test_market import (
    CREDITS,
    Trader,
    open_slot,
    report,
    to_gate_close,
    to_slot_end,
)

LEDGER: dict[str, tuple[str | None, int | None]] = {}  # every top-up the fixtures made


def new_trader(d: Deployed, kind: int, critical: bool = False) -> Trader:
    """A registered trader with a meter and 50 credits, topped up under its own reference."""
    account, device = Account.create(), Account.create()
    d.chain.fund(account.address, 10**20)
    registry = d.system.registry.functions
    transact(
        d.chain, d.actors.operator, registry.registerParticipant(account.address, kind, critical)
    )
    receipt = transact(
        d.chain, d.actors.operator, registry.registerMeter(device.address, account.address, 20_000)
    )
    meter_id = events(d.system.registry, "MeterRegistered", receipt)[0]["args"]["meterId"]
    mint(d, account.address, CREDITS)
    MarketClient(d.system).approve_escrow(account)
    return Trader(account, device, meter_id, [0, 0])


def deploy_embedded(chain: Chain | None = None, **overrides: object) -> Deployed:
    """The system with one key per role, on `chain` (default: a fresh embedded chain)."""
    return deploy_with_actors(chain or embedded(), **overrides)


@dataclass
class Day:
    """A deployment after a few traded slots, and its traders."""

    d: Deployed
    market: MarketClient
    sellers: list[Trader]
    buyers: list[Trader]
    slots: list[int]


def trade_slots(day: Day, count: int) -> list[int]:
    """Trades `count` more slots: orders, a cancel, clearing, readings, settlement."""
    d, market = day.d, day.market
    first = open_slot(d, ahead=4)
    slots = [first + k for k in range(count)]
    for k, slot in enumerate(slots):
        for i, seller in enumerate(day.sellers):
            market.place(
                seller.account, [OrderInput(slot, Side.OFFER, 1_000 + 300 * i, 90_000 + 10_000 * i)]
            )
        for j, buyer in enumerate(day.buyers):
            market.place(
                buyer.account,
                [OrderInput(slot, Side.BID, 700 + 211 * j + k, 250_000 - 20_000 * j - k)],
            )
    # One cancelled and re-placed bid: its escrow comes back in full.
    last = day.buyers[-1]
    ids = [oid for oid in range(slots[0] << 16, (slots[0] << 16) + 16)]
    mine = [
        oid
        for oid in ids
        if oid < (slots[0] << 16) + market.contract.functions.orderCount(slots[0]).call()
        and market.contract.functions.order(oid).call()[0] == last.account.address
    ]
    market.cancel(last.account, mine[0])
    market.place(last.account, [OrderInput(slots[0], Side.BID, 333, 200_000)])
    for slot in slots:
        to_gate_close(d, market, slot)
        market.clear_slot(d.actors.keeper, slot)
    for k, slot in enumerate(slots):
        to_slot_end(d, market, slot)
        usage = {s: (10, 900 + 250 * i + 37 * k) for i, s in enumerate(day.sellers)}
        usage.update({b: (500 + 400 * j + 13 * k, 0) for j, b in enumerate(day.buyers)})
        report(d, slot, usage)
        market.settle_slot(d.actors.keeper, slot, chunk=3)
    day.slots += slots
    return slots


def new_day(d: Deployed, sellers: int = 2, buyers: int = 3) -> Day:
    market = MarketClient(d.system)
    day = Day(
        d,
        market,
        [new_trader(d, PROSUMER) for _ in range(sellers)],
        [new_trader(d, CONSUMER) for _ in range(buyers)],
        [],
    )
    return day


@pytest.fixture(scope="session")
def day_base() -> Day:
    d = deploy_embedded()
    day = new_day(d)
    trade_slots(day, 3)
    return day


@contextmanager
def rolled_back(day_base: Day) -> Iterator[Day]:
    """The session day, with its chain, slots and traders' devices and registers restored after."""
    snapshot = day_base.d.chain.snapshot()
    slots = list(day_base.slots)
    traders = day_base.sellers + day_base.buyers
    saved = [(t.device, list(t.registers)) for t in traders]
    try:
        yield day_base
    finally:
        day_base.d.chain.revert(snapshot)
        day_base.slots = slots
        for trader, (device, registers) in zip(traders, saved, strict=True):
            trader.device, trader.registers = device, registers


@pytest.fixture
def day(day_base: Day) -> Iterator[Day]:
    with rolled_back(day_base) as rolled:
        yield rolled


def ledger_csv(path: Path, ledger: dict[str, tuple[str | None, int | None]] | None = None) -> Path:
    """Writes a top-up ledger CSV (payment_ref, account, amount) of `ledger` (default: LEDGER)."""
    rows = (ledger or LEDGER).items()
    path.write_text(
        "payment_ref,account,amount\n" + "".join(f"{r},{a},{n}\n" for r, (a, n) in rows)
    )
    return path


def mint(d: Deployed, account: str, amount: int, ref: bytes | None = None) -> None:
    """The operator's top-up; recorded in the fixtures' ledger (`LEDGER`) unless `ref` is given:
    a test that passes its own reference makes a top-up the ledger does not know."""
    if ref is None:
        ref = topup_ref()
        LEDGER["0x" + ref.hex()] = (account.lower(), amount)
    transact(d.chain, d.actors.operator, d.system.credit.functions.mint(account, amount, ref))
