"""End to end with real processes on our own node: wallets place orders, the oracle (a process)
relays signed readings, two keeper processes race on the same slots. Each slot is cleared once
and settled once, neither keeper fails, and balances and certificates match
`p2penergy.market.settle` exactly."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.market import clear, settle

from .oracle_helpers import (
    CONSUMER,
    PROSUMER,
    advance_to,
    current_slot,
    new_trader,
    slot_start_iso,
)
from .process_helpers import cli, new_site, spawn, wait_for


def test_two_keepers_and_the_oracle_settle_every_slot_once_as_the_engine_says(
    hardhat_node: str, tmp_path: Path
):
    site = new_site(hardhat_node, tmp_path, keepers=2)
    chain, system = site.chain, site.system
    market = MarketClient(system)
    sellers = [new_trader(chain, system, site.admin, PROSUMER) for _ in range(2)]
    buyers = [new_trader(chain, system, site.admin, CONSUMER) for _ in range(3)]
    base = current_slot(chain, system) + 4
    trade_a, no_cross, trade_c = base, base + 1, base + 2
    book = {
        trade_a: [
            (900, 95_001),
            (1_333, 120_007),
            (1_001, 250_009),
            (703, 199_999),
            (600, 110_001),
        ],
        no_cross: [(500, 250_000), (500, 260_000), (400, 100_000), (300, 90_000), (200, 80_000)],
        trade_c: [
            (2_000, 80_000),
            (1_000, 150_000),
            (1_500, 300_000),
            (1_200, 160_000),
            (999, 151_000),
        ],
    }
    for slot, orders in book.items():
        for trader, (energy, limit) in zip(sellers + buyers, orders, strict=True):
            side = Side.OFFER if trader in sellers else Side.BID
            market.place(trader.account, [OrderInput(slot, side, energy, limit)])
    usage = {  # (import, export) per trader in the traded slots
        trade_a: [(0, 850), (3, 1_400), (990, 0), (703, 0), (17, 0)],
        trade_c: [(0, 1_900), (0, 400), (1_700, 0), (1_100, 0), (999, 0)],
    }
    everyone = [t.account.address for t in sellers + buyers] + [site.admin.address]
    credit, ledger = system.credit.functions, system.market.functions

    def owned(address: str) -> int:  # wallet plus the market's ledger
        return int(credit.balanceOf(address).call()) + int(ledger.balanceOf(address).call())

    before = [owned(a) for a in everyone]

    keys = [site.write_key(k, tmp_path / f"keeper{i}.key") for i, k in enumerate(site.keepers)]
    keepers = [
        spawn(
            cli(
                "keeper",
                "run",
                "--key",
                str(key),
                "--chunk",
                "2",
                "--interval",
                "0.1",
                rpc_url=hardhat_node,
                site=site,
            ),
            tmp_path / f"keeper{i}.log",
        )
        for i, key in enumerate(keys)
    ]
    try:
        advance_to(chain, market.slot_times(trade_c)[1])  # every gate closed
        wait_for(
            lambda: all(market.clearing(s).status != "open" for s in book), 90, "three clearings"
        )
        wait_for(lambda: market.clearing(no_cross).status == "settled", 60, "no-trade refund")
        # the utility's export arrives after delivery; the oracle relays it once
        site.meter_keys(sellers + buyers)
        lines = ["meter_id,slot_start,import_wh,export_wh,import_register_wh,export_register_wh"]
        registers = {t.meter_id: [0, 0] for t in sellers + buyers}
        for slot in (trade_a, trade_c):
            for trader, (imp, exp) in zip(sellers + buyers, usage[slot], strict=True):
                reg = registers[trader.meter_id]
                reg[0] += imp
                reg[1] += exp
                start = slot_start_iso(system, slot)
                lines.append(f"{trader.meter_id},{start},{imp},{exp},{reg[0]},{reg[1]}")
        export = tmp_path / "export.csv"
        export.write_text("\n".join(lines) + "\n")
        assert market.clearing(trade_a).status == "cleared"  # waits for delivery and readings
        advance_to(chain, market.slot_times(trade_c)[0] + 900)  # delivery of the last slot over
        relayer = site.write_key(sellers[0].account, tmp_path / "relayer.key")
        oracle = spawn(
            cli(
                "oracle",
                "run",
                "--source",
                f"csv:{export}",
                "--meter-keys",
                str(tmp_path / "meters"),
                "--relayer-key",
                str(relayer),
                "--outbox",
                str(tmp_path / "outbox.sqlite"),
                "--once",
                rpc_url=hardhat_node,
                site=site,
            ),
            tmp_path / "oracle.log",
        )
        assert oracle.wait(timeout=120) == 0, (tmp_path / "oracle.log").read_text()
        wait_for(
            lambda: all(market.clearing(s).status == "settled" for s in book), 90, "settlement"
        )
        for proc in keepers:
            proc.send_signal(signal.SIGTERM)
        for i, proc in enumerate(keepers):
            assert proc.wait(timeout=60) == 0, (tmp_path / f"keeper{i}.log").read_text()
    finally:
        for proc in keepers:
            if proc.poll() is None:
                proc.kill()

    logs = [(tmp_path / f"keeper{i}.log").read_text() for i in range(2)]
    assert not any("error" in log.lower() for log in logs), logs
    start = system.deployment.blocks["EnergyMarket"]
    events = system.market.events
    cleared = Counter(int(e["args"]["slot"]) for e in events.SlotCleared.get_logs(from_block=start))
    settled = Counter(int(e["args"]["slot"]) for e in events.SlotSettled.get_logs(from_block=start))
    assert cleared == settled == Counter(list(book))  # once each

    delta = dict.fromkeys(everyone, 0)
    certificates: dict[tuple[str, int], int] = {}
    for slot in book:
        orders = market.slot_orders(slot)
        readings = {
            t.account.address: use
            for t, use in zip(sellers + buyers, usage.get(slot, [(0, 0)] * 5), strict=True)
        }
        expected = settle(orders, clear(orders), readings)
        for line in expected.lines:
            if line.side == Side.OFFER:
                delta[line.owner] += line.amount
            else:
                delta[line.owner] += line.refund - line.escrow
                certificates[(line.owner, slot)] = line.energy_wh
        delta[site.admin.address] += expected.fees_total + expected.dust  # fee + rounding account
    after = [owned(a) for a in everyone]
    # `before` was taken after the orders locked their escrow, so add it back for buyers
    escrowed = Counter[str]()
    for slot in book:
        for order in market.slot_orders(slot):
            if order.side == Side.BID:
                escrowed[order.owner] += int(
                    system.market.functions.escrowFor(
                        order.energy_wh, order.limit_price, order.fee_per_kwh
                    ).call()
                )
    assert after == [b + delta[a] + escrowed[a] for a, b in zip(everyone, before, strict=True)]
    for (owner, slot), wh in certificates.items():
        assert int(system.certificate.functions.balanceOf(owner, slot).call()) == wh
    # no escrow left: the market holds exactly its accounts' free balances
    in_market = sum(int(ledger.balanceOf(a).call()) for a in everyone)
    assert int(credit.balanceOf(system.market.address).call()) == in_market
