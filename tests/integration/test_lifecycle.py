"""A full trading day of a 10-household street, on the embedded chain and on a Hardhat node.

Day-ahead orders for all 96 slots, gate closure, verified clearing, signed meter readings (with
forecast errors), settlement; every household's final balance and certificates must equal what
`p2penergy.market` computes slot by slot, and the market must hold no credits at the end.
On the embedded chain (py-evm: 131 s for the 96 slots in CI, against 39 s on Hardhat) the same
street trades the same day at hourly resolution: one slot in four (24 slots), night, sunrise,
noon and sunset alike.
"""

from __future__ import annotations

import random

from p2penergy.chain.connect import EMBEDDED
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.market import settle

from ..conftest import CONSUMER, PROSUMER, Deployed
from ..contracts.test_market import CREDITS, Trader, balances, certificates, new_trader, report

SLOTS = 96
EMBEDDED_STRIDE = 4  # the embedded chain trades every 4th slot of the day (hourly)


def _solar(slot: int) -> int:
    """A clear-day PV shape: Wh per 15 minutes for a 5 kWp roof, zero at night."""
    hour = slot / 4
    return max(0, int(1_250 * (1 - ((hour - 13) / 6) ** 2)))


def test_a_ten_household_day_settles_to_the_python_engine_to_the_unit(deployed: Deployed):
    rng = random.Random(7)
    market = MarketClient(deployed.system)
    prosumers = [new_trader(deployed, PROSUMER) for _ in range(4)]
    consumers = [new_trader(deployed, CONSUMER) for _ in range(6)]
    epoch, length, _ = deployed.system.readings.functions.timing().call()
    first = (deployed.chain.now() - epoch) // length + 2
    stride = EMBEDDED_STRIDE if deployed.chain.kind == EMBEDDED else 1
    slots = range(first, first + SLOTS, stride)

    plans: dict[Trader, dict[int, int]] = {}
    for trader in prosumers:
        plans[trader] = {s: _solar(s - first) - 150 for s in slots}
        orders = [
            OrderInput(s, Side.OFFER, wh, rng.randint(90_000, 140_000))
            for s, wh in plans[trader].items()
            if wh > 0
        ]
        market.place(trader.account, orders)
    for trader in consumers:
        plans[trader] = {s: rng.randint(100, 400) for s in slots}
        market.place(
            trader.account,
            [
                OrderInput(s, Side.BID, wh, rng.randint(120_000, 280_000))
                for s, wh in plans[trader].items()
            ],
        )

    expected_delta = {t.account.address: 0 for t in plans}
    expected_certificates: dict[tuple[str, int], int] = {}
    for slot in slots:
        deployed.chain.set_time(market.slot_times(slot)[1])
        orders = market.slot_orders(slot)
        result = market.clear_slot(deployed.actors.keeper, slot)
        deployed.chain.set_time(market.slot_times(slot)[0] + length)
        usage = {}
        for trader, plan in plans.items():
            planned = plan[slot]
            actual = max(0, planned + rng.randint(-80, 80))  # forecast error
            usage[trader] = (0, actual) if trader in prosumers else (actual, 0)
        report(deployed, slot, usage)
        market.settle_slot(deployed.actors.keeper, slot)
        outcome = settle(orders, result, {t.account.address: usage[t] for t in usage})
        assert outcome.escrow_total == (
            outcome.receipts_total + outcome.fees_total + outcome.refunds_total + outcome.dust
        )
        for line in outcome.lines:
            if line.side == Side.OFFER:
                expected_delta[line.owner] += line.amount
            else:
                expected_delta[line.owner] -= line.escrow - line.refund
                expected_certificates[(line.owner, slot)] = line.energy_wh

    accounts = [t.account.address for t in plans]
    assert balances(deployed, accounts) == [CREDITS + expected_delta[a] for a in accounts]
    assert balances(deployed, [deployed.system.market.address]) == [0]
    traded = sum(v for v in expected_certificates.values())
    assert traded > 0  # the street really traded
    for (owner, slot), wh in list(expected_certificates.items())[:40]:
        assert certificates(deployed, [owner], slot) == [wh]
