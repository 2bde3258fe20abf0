"""The keeper and the oracle as real processes while `p2penergy node` (anvil, state in a data
directory) is killed with SIGKILL and restarted mid-stream: both wait for it, resume, and every
reading lands once, every slot is cleared once and settled once, and the outbox drains."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

from p2penergy.chain.node import LocalNode, start_node
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.oracle.outbox import PENDING, REJECTED, SUBMITTED, Outbox
from p2penergy.oracle.recorded import recorded_since
from p2penergy.oracle.sources import CSV_COLUMNS

from .oracle_helpers import CONSUMER, PROSUMER, Trader, advance_to, current_slot, new_trader
from .oracle_helpers import slot_start_iso as iso
from .process_helpers import Site, cli, new_site, spawn, wait_for

BLOCK_TIME = 1.0
USAGE = {"seller": (0, 900), "buyer": (450, 0)}  # (import, export) Wh per slot


def _restart(node: LocalNode) -> LocalNode:
    port = int(node.url.rsplit(":", 1)[1])
    return start_node(node.data_dir, port=port, block_time=BLOCK_TIME, gateway=True)


def test_keeper_and_oracle_survive_a_node_kill_and_restart_exactly_once(tmp_path: Path):
    node = start_node(tmp_path / "chain", block_time=BLOCK_TIME, gateway=True)
    procs = []
    try:
        site: Site = new_site(node.url, tmp_path)
        chain, system = site.chain, site.system
        market = MarketClient(system)
        seller = new_trader(chain, system, site.admin, PROSUMER)
        buyers = [new_trader(chain, system, site.admin, CONSUMER) for _ in range(2)]
        traders: list[Trader] = [seller, *buyers]
        site.meter_keys(traders)
        first = current_slot(chain, system) + 2
        slots = [first, first + 1, first + 2]
        for slot in slots:
            market.place(seller.account, [OrderInput(slot, Side.OFFER, 1_000, 90_000)])
            for buyer in buyers:
                market.place(buyer.account, [OrderInput(slot, Side.BID, 400, 200_000)])
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        registers = {t.meter_id: [0, 0] for t in traders}
        starts = {slot: iso(system, slot) for slot in slots}  # the export is made off-chain

        def drop(slot: int) -> None:
            """The utility's export of `slot` arrives (written, then renamed into place)."""
            lines = [",".join(CSV_COLUMNS)]
            for t in traders:
                imp, exp = USAGE["seller" if t is seller else "buyer"]
                reg = registers[t.meter_id]
                reg[0], reg[1] = reg[0] + imp, reg[1] + exp
                lines.append(f"{t.meter_id},{starts[slot]},{imp},{exp},{reg[0]},{reg[1]}")
            tmp = inbox / f"{slot}.csv.tmp"
            tmp.write_text("\n".join(lines) + "\n")
            old = time.time() - 10
            os.utime(tmp, (old, old))
            tmp.rename(inbox / f"{slot}.csv")

        keeper_key = site.write_key(site.keepers[0], tmp_path / "keeper.key")
        relayer_key = site.write_key(site.keepers[1], tmp_path / "relayer.key")
        outbox = tmp_path / "outbox.sqlite"
        keeper_log, oracle_log = tmp_path / "keeper.log", tmp_path / "oracle.log"
        procs.append(
            spawn(
                cli(
                    "keeper",
                    "run",
                    "--key",
                    str(keeper_key),
                    "--interval",
                    "0.2",
                    rpc_url=node.url,
                    site=site,
                ),
                keeper_log,
            )
        )
        procs.append(
            spawn(
                cli(
                    "oracle",
                    "run",
                    "--source",
                    f"folder:{inbox}",
                    "--meter-keys",
                    str(tmp_path / "meters"),
                    "--relayer-key",
                    str(relayer_key),
                    "--outbox",
                    str(outbox),
                    "--interval",
                    "0.2",
                    rpc_url=node.url,
                    site=site,
                ),
                oracle_log,
            )
        )

        def status(slot: int) -> str:
            return market.clearing(slot).status

        def through(slot: int, *, kill_at_gate: bool = False) -> None:
            nonlocal node
            start, gate, _ = market.slot_times(slot)
            advance_to(chain, gate)
            if kill_at_gate:  # as the keeper sends its clearing
                time.sleep(0.3)
                node.kill()
                drop(slot)  # the export arrives while the node is down: signed offline
                wait_for(lambda: "retrying" in keeper_log.read_text(), 60, "the keeper to notice")
                node = _restart(node)
                advance_to(chain, gate)  # a block with no transaction may not have been kept
            wait_for(lambda: status(slot) != "open", 60, f"slot {slot} cleared")
            advance_to(chain, start + 900)
            if not kill_at_gate:
                drop(slot)
            wait_for(lambda: status(slot) == "settled", 90, f"slot {slot} settled")

        through(slots[0])
        through(slots[1], kill_at_gate=True)
        through(slots[2])
        with Outbox(outbox) as store:
            wait_for(lambda: store.counts()[PENDING] == 0, 60, "the outbox to drain")
            assert store.counts() == {PENDING: 0, SUBMITTED: 9, REJECTED: 0}
        for proc in procs:
            assert proc.poll() is None, "a service died"
            proc.send_signal(signal.SIGTERM)
        for proc, log in zip(procs, (keeper_log, oracle_log), strict=True):
            assert proc.wait(timeout=60) == 0, log.read_text()
        start = system.deployment.blocks["EnergyMarket"]
        events = system.market.events
        cleared = Counter(
            int(e["args"]["slot"]) for e in events.SlotCleared.get_logs(from_block=start)
        )
        settled = Counter(
            int(e["args"]["slot"]) for e in events.SlotSettled.get_logs(from_block=start)
        )
        recorded = Counter((e.meter_id, e.slot) for e in recorded_since(system.readings, start))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        node.stop()

    assert cleared == Counter(slots) and settled == Counter(slots)
    assert recorded == Counter((t.meter_id, s) for t in traders for s in slots)
    logs = keeper_log.read_text() + oracle_log.read_text()
    assert "Traceback" not in logs and "error:" not in logs, logs
    assert "node unreachable" in logs  # the outage was seen, and ridden out
