"""Signed readings and orders per second, end to end, on the embedded chain and the local node.

Run from the repository root:

    PYTHONPATH=. .venv/bin/python benchmarks/throughput.py [--meters 100] [--slots 30]
        [--batch 250] [--orders 200] [--households 10] [--chains embedded,node,node-interval]
        [--block-time 1.0] [--out benchmarks/results/throughput.json | --no-write]

Chains: the embedded py-evm chain; `node`, `p2penergy node` started in a temporary folder on a
free port and reached through its gateway as every client is, mining as it always does (a
transaction is mined as it arrives, an empty block every `--block-time` seconds; a receipt is
handed out once its block is written to disk); `node-interval`, the same node switched after
the setup to mining only every `--block-time` seconds (anvil's `evm_setIntervalMining`), the
cadence of a production network (Besu QBFT's default is 2 s), where a block's gas limit
(30,029,122) caps what one block takes. On each the system is deployed and set up untimed:
`--meters` meters (device keys) registered to their own owners, and `--households` households
registered, funded with gas money and credits. Then, timed:

- readings: `--slots` x `--meters` readings, one batch per slot as a meter export delivers them,
  each going through `Oracle.ingest` (checks, EIP-712 signature with the device key, SQLite
  outbox, one transaction per batch) and then out through the relayer, pipelined: after each
  slot's batch is stored, the full transactions of `--batch` readings that are due are sent
  (`Relayer.send`, nonces counted locally) and are mined while the next slot is signed; after
  the last slot the rest goes out and every receipt is collected (`Relayer.collect`), which is
  when the outbox marks a reading submitted. Reported: readings per second from the first
  signature to the last confirmation, and its two parts: sign + outbox (time inside `ingest`)
  and submit + confirm (the rest of the wall time). Afterwards the run checks itself, untimed:
  every reading is `submitted` in the outbox and the chain's `ReadingsRecorded` events carry
  exactly one record per reading.
- orders: `--orders` orders, the n-th from household n % H for its next slot in turn (bids and
  offers alternating), through the wallet's own path (`Wallet.plan`, then `Wallet.place`: the
  pre-flight checks, an EIP-2612 permit for a bid's escrow, a gas estimate, the receipt).
  Twice: one order a transaction, and each household's orders in one transaction (a day-ahead
  batch, `placeOrders`). On a node the households work side by side (each a client of its
  own, one transaction after the other); on the embedded chain one after the other (eth-tester
  is not thread-safe). Checked: the market emitted one `OrderPlaced` per order. Also counted:
  the JSON-RPC requests that reach the chain per order, one a transaction (`requests_per_order`;
  on a node each is an HTTP round trip through the gateway).

The last column is the ratio local node / embedded chain. Issue #13's target is >= 1,000 signed
readings per second end to end on the local node. CI runs it at a reduced size
(tests/integration/test_benchmarks.py); timings are printed and written, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.types import RPCEndpoint

from p2penergy.chain.connect import Chain, embedded, rpc
from p2penergy.chain.deploy import MarketConfig, System, deploy_system
from p2penergy.chain.node import BLOCK_GAS_LIMIT, start_node
from p2penergy.chain.tx import events, send_value, transact
from p2penergy.domain.orders import OrderInput
from p2penergy.domain.participants import Kind
from p2penergy.domain.readings import Reading
from p2penergy.market import Side
from p2penergy.oracle.outbox import PENDING, SUBMITTED, Outbox
from p2penergy.oracle.recorded import recorded_since
from p2penergy.oracle.relayer import Relayer, submit_gas_limit
from p2penergy.oracle.service import Oracle
from p2penergy.oracle.sources import Batch, Row
from p2penergy.wallet.trading import Wallet

DEFAULT_OUT = Path(__file__).parent / "results" / "throughput.json"
CHAINS = ("embedded", "node", "node-interval")
DEFAULT_BATCH = 250  # readings per transaction: 20,100,000 gas limit (see the relayer)
TARGET_READINGS_PER_SECOND = 1_000  # issue #13, on the local node
SLOT_LENGTH = 900
MAX_WINDOW_SLOTS = 96  # MeterReadings.MAX_WINDOW_SLOTS
MAX_IN_FLIGHT = 8  # relay transactions sent and not yet collected, at most
CAPACITY_W = 10_000
GAS_MONEY_WEI = 10**18
CREDITS = 10_000 * 10**6  # one top-up per household (the default mint limit)
ORDER_WH = 1_000
BID_PRICE, OFFER_PRICE = 200_000, 100_000  # between the default tariffs


class BenchError(Exception):
    """The run did not do what it counts (a reading not confirmed, an order missing)."""


def _register(system: System, admin: LocalAccount, owner: str, device: str | None) -> int:
    registry = system.registry.functions
    transact(system.chain, admin, registry.registerParticipant(owner, int(Kind.PROSUMER), False))
    if device is None:
        return 0
    receipt = transact(system.chain, admin, registry.registerMeter(device, owner, CAPACITY_W))
    return int(events(system.registry, "MeterRegistered", receipt)[0]["args"]["meterId"])


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def measure(
    chain: Chain,
    meters: int,
    slots: int,
    batch: int,
    orders: int,
    households: int,
    interval: int | None = None,
) -> dict[str, Any]:
    """Sets up one chain, times readings then orders on it; the figures and the checks. With
    `interval`, the node mines only every `interval` seconds from the end of the setup on."""
    admin = chain.faucet[0]
    # Slot 0 starts after the meters are registered (a reading is checked against the meter as
    # registered at its slot); chain time then moves past the last slot's end, and every
    # window stays open through the run.
    epoch = (chain.now() // SLOT_LENGTH + 2) * SLOT_LENGTH
    config = MarketConfig(
        epoch=epoch, slot_length=SLOT_LENGTH, reading_window=(slots + 3) * SLOT_LENGTH
    )
    system = deploy_system(chain, admin, config=config)
    start_block = chain.w3.eth.block_number
    devices: dict[int, LocalAccount] = {}
    for i in range(meters):
        owner = Account.from_key(keccak(text=f"throughput owner {i}"))
        device = Account.from_key(keccak(text=f"throughput device {i}"))
        devices[_register(system, admin, owner.address, device.address)] = device
    traders: list[LocalAccount] = []
    for i in range(households):
        trader = Account.from_key(keccak(text=f"throughput household {i}"))
        _register(system, admin, trader.address, None)
        send_value(chain, chain.faucet[1], trader.address, GAS_MONEY_WEI)
        ref = keccak(text=f"throughput top-up {i}")
        transact(chain, admin, system.credit.functions.mint(trader.address, CREDITS, ref))
        traders.append(trader)
    chain.set_time(epoch + slots * SLOT_LENGTH + 1)
    if interval is not None:  # anvil: interval mining only (no longer on arrival)
        chain.w3.provider.make_request(RPCEndpoint("evm_setIntervalMining"), [interval])

    result: dict[str, Any] = {"readings": meters * slots}
    with (
        tempfile.TemporaryDirectory() as folder,
        Outbox(Path(folder) / "outbox.sqlite", chain.chain_id, system.readings.address) as outbox,
    ):
        relayer = Relayer(system, admin, outbox, batch_size=batch)
        oracle = Oracle(system, devices, outbox, relayer)
        batches = [
            Batch(
                f"slot-{slot}.csv",
                [
                    Row(f"slot-{slot}.csv", line, _reading(meter_id, slot))
                    for line, meter_id in enumerate(sorted(devices), start=2)
                ],
            )
            for slot in range(slots)
        ]
        added = transactions = 0
        signing = 0.0  # seconds inside `ingest` (checks, signatures, outbox commits)
        started = time.perf_counter()
        for b in batches:
            before = time.perf_counter()
            added += oracle.ingest(b).added
            signing += time.perf_counter() - before
            # full transactions go out and are mined while the next slot is signed
            transactions += relayer.send(full_only=True)
            if relayer.in_flight > MAX_IN_FLIGHT:
                _collect(relayer, wait=True)
        transactions += relayer.send()  # the rest: a last transaction not full
        while relayer.in_flight:
            _collect(relayer, wait=True)
        confirmed = time.perf_counter()
        counts = outbox.counts()
    recorded = recorded_since(system.readings, start_block)
    if added != meters * slots or counts[SUBMITTED] != added or len(recorded) != added:
        raise BenchError(
            f"{meters * slots} readings: {added} signed, {counts[SUBMITTED]} submitted, "
            f"{counts[PENDING]} pending, {len(recorded)} recorded readings"
        )
    total = confirmed - started
    relaying = total - signing
    result.update(
        submitted=counts[SUBMITTED],
        recorded_events=len(recorded),
        submit_transactions=transactions,
        sign_outbox_s=round(signing, 3),
        submit_confirm_s=round(relaying, 3),
        readings_s=round(total, 3),
        readings_per_s=_rate(added, total),
        sign_outbox_per_s=_rate(added, signing),
        submit_confirm_per_s=_rate(added, relaying),
    )
    first = Wallet(system, traders[0].address).clock.next_open_slot(chain.now() + 1) + 1
    single = _orders(system, traders, orders, per_transaction=True, first=first)
    later = first + -(-orders // len(traders))  # the slots after the first run's
    batched = _orders(system, traders, orders, per_transaction=False, first=later)
    result.update(
        orders=orders,
        order_events=single["events"],
        orders_s=single["s"],
        orders_per_s=single["per_s"],
        requests_per_order=single["requests_per_order"],
        batched_requests_per_order=batched["requests_per_order"],
        batched_order_events=batched["events"],
        batched_orders_s=batched["s"],
        batched_orders_per_s=batched["per_s"],
    )
    return result


def _collect(relayer: Relayer, *, wait: bool) -> None:
    relayed = relayer.collect(wait=wait)
    if relayed.rejected:
        raise BenchError(f"the chain refused readings: {relayed.reasons}")


def _reading(meter_id: int, slot: int) -> Reading:
    register = 1_000 * (slot + 1)
    return Reading(meter_id, slot, 150, 250, register, register)


def _orders(
    system: System, traders: list[LocalAccount], count: int, *, per_transaction: bool, first: int
) -> dict[str, Any]:
    """Places `count` orders from slot `first` on, household n % H placing the n-th; one order a
    transaction, or each household's orders in one (`per_transaction=False`: a day-ahead
    batch). Households run side by side on a node (each its own client), one after the other
    on the embedded chain (eth-tester is not thread-safe)."""
    wallets = [Wallet(system, t.address) for t in traders]
    before = system.chain.w3.eth.block_number
    work: list[list[OrderInput]] = [[] for _ in traders]  # per household, in slot order
    for n in range(count):
        i = n % len(traders)
        side = Side.BID if (n // len(traders) + i) % 2 == 0 else Side.OFFER
        price = BID_PRICE if side == Side.BID else OFFER_PRICE
        work[i].append(OrderInput(first + n // len(traders), side, ORDER_WH, price))

    def household(i: int) -> None:
        wallet, groups = wallets[i], [[o] for o in work[i]] if per_transaction else [work[i]]
        for orders in groups:
            if orders:
                wallet.place(traders[i], wallet.plan(orders, None, open_orders={}))

    with counted_requests(system.chain) as requests:
        started = time.perf_counter()
        if system.chain.kind == "embedded":
            for i in range(len(traders)):
                household(i)
        else:
            with ThreadPoolExecutor(max_workers=len(traders)) as pool:
                for done in [pool.submit(household, i) for i in range(len(traders))]:
                    done.result()
        seconds = time.perf_counter() - started
    placed = system.market.events.OrderPlaced().get_logs(from_block=before + 1)
    if len(placed) != count:
        raise BenchError(f"{count} orders placed, {len(placed)} OrderPlaced events")
    return {
        "events": len(placed),
        "s": round(seconds, 3),
        "per_s": _rate(count, seconds),
        "requests_per_order": round(sum(requests.values()) / count, 2),
    }


@contextmanager
def counted_requests(chain: Chain) -> Iterator[dict[str, int]]:
    """Counts, by method, the JSON-RPC requests that reach the chain meanwhile: on a node each
    HTTP request (`_make_request`, below web3's middlewares and caches), on the embedded chain
    each request eth-tester answers (web3 builds its request function once: it is rebuilt
    around the count, and again without it afterwards)."""
    counts: dict[str, int] = {}
    lock = threading.Lock()
    provider: Any = chain.w3.provider
    name = "_make_request" if hasattr(provider, "_make_request") else "make_request"
    original = getattr(provider, name)

    def counting(method: str, params: Any) -> Any:
        with lock:
            counts[method] = counts.get(method, 0) + 1
        return original(method, params)

    setattr(provider, name, counting)
    provider._request_func_cache = (None, None)
    try:
        yield counts
    finally:
        delattr(provider, name)  # the class's method again
        provider._request_func_cache = (None, None)


@contextmanager
def connect(kind: str, block_time: float) -> Iterator[Chain]:
    """The embedded chain, or a fresh `p2penergy node` (through its gateway) in a temp dir
    (for `node-interval` too: `measure` switches its mining after the setup)."""
    if kind == "embedded":
        yield embedded()
        return
    with ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        node = stack.enter_context(start_node(Path(folder) / "node", block_time=block_time))
        yield rpc(node.url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--meters", type=int, default=100, help="meters (readings per slot)")
    # 30 slots (3,000 readings, 12 transactions of 250): the pipeline's fill (the first batch
    # waits for 250 signed readings) and drain (the last receipt) are one batch's latency each;
    # over 10 slots (4 transactions) they were half the run, so the figure said more about the
    # latency of one transaction than about the rate a community sustains.
    parser.add_argument("--slots", type=int, default=30, help="slots of readings per meter")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="readings per submit")
    parser.add_argument("--orders", type=int, default=200, help="orders placed")
    parser.add_argument("--households", type=int, default=10, help="households placing orders")
    parser.add_argument(
        "--chains", default=",".join(CHAINS), help="any of embedded,node,node-interval"
    )
    parser.add_argument(
        "--block-time",
        type=float,
        default=1.0,
        help="node's seconds per block (node-interval: a whole number)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    chains = args.chains.split(",")
    problems = [
        *(
            f"--chains: unknown chain {c!r} (embedded, node, node-interval)"
            for c in chains
            if c not in CHAINS
        ),
        *(
            f"--{name}: must be at least 1"
            for name in ("meters", "slots", "batch", "orders", "households")
            if getattr(args, name) < 1
        ),
    ]
    if "node-interval" in chains and (args.block_time < 1 or args.block_time % 1):
        problems.append("--block-time: node-interval mines every whole number of seconds (>= 1)")
    if args.slots > MAX_WINDOW_SLOTS - 4:
        problems.append(f"--slots: at most {MAX_WINDOW_SLOTS - 4} (the reading window's limit)")
    if problems:
        print(f"throughput: {problems[0]}", file=sys.stderr)
        return 2

    figures: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()
    for kind in chains:
        interval = int(args.block_time) if kind == "node-interval" else None
        with connect(kind, args.block_time) as chain:
            try:
                figures[kind] = measure(
                    chain,
                    args.meters,
                    args.slots,
                    args.batch,
                    args.orders,
                    args.households,
                    interval,
                )
            except BenchError as exc:
                print(f"throughput: {kind}: {exc}", file=sys.stderr)
                return 1
    result: dict[str, Any] = {
        "meters": args.meters,
        "slots": args.slots,
        "batch": args.batch,
        "orders": args.orders,
        "households": args.households,
        "block_time": args.block_time,
        "block_gas_limit": BLOCK_GAS_LIMIT,
        "submit_gas_limit": submit_gas_limit(args.batch, BLOCK_GAS_LIMIT),
        "target_readings_per_s_on_node": TARGET_READINGS_PER_SECOND,
        # the machine's 1-, 5- and 15-minute load averages when the run started and ended:
        # timings on a shared machine depend on them
        "cpus": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in load_before],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "chains": figures,
    }
    if {"embedded", "node"} <= set(figures):
        result["ratio_node_to_embedded"] = {
            key: round(figures["node"][key] / figures["embedded"][key], 3)
            for _, key in ROWS
            if figures["embedded"][key]
        }
    _print(result)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


ROWS = (
    ("readings end to end", "readings_per_s"),
    ("  sign + outbox", "sign_outbox_per_s"),
    ("  submit + confirm", "submit_confirm_per_s"),
    ("orders, one a transaction", "orders_per_s"),
    ("orders, batched", "batched_orders_per_s"),
)


def _print(result: dict[str, Any]) -> None:
    figures, ratio = result["chains"], result.get("ratio_node_to_embedded", {})
    print(
        f"{result['meters']} meters x {result['slots']} slots = "
        f"{result['meters'] * result['slots']:,} readings ({result['batch']} per submit); "
        f"{result['orders']} orders from {result['households']} households; node: empty "
        f"blocks every {result['block_time']} s (node-interval: all blocks); load average "
        f"{result['load_average_start'][0]} at the start, {result['load_average_end'][0]} at "
        f"the end ({result['cpus']} CPUs)"
    )
    heads = "".join(f"{kind + ' /s':>18}" for kind in figures)
    print(f"{'':<26}{heads}{'node/embedded' if ratio else '':>15}")
    for label, key in ROWS:
        cells = "".join(f"{figures[kind][key]:>18,.1f}" for kind in figures)
        tail = f"{ratio[key]:>15.3f}" if key in ratio else ""
        print(f"{label:<26}{cells}{tail}")
    cells = "".join(f"{figures[kind]['requests_per_order']:>18,.2f}" for kind in figures)
    print(f"{'requests per order (1/tx)':<26}{cells}")
    if "node" in figures:
        got = figures["node"]["readings_per_s"]
        verdict = "met" if got >= TARGET_READINGS_PER_SECOND else "NOT met"
        print(
            f"target >= {TARGET_READINGS_PER_SECOND:,} signed readings/s end to end on the "
            f"local node: {verdict} ({got:,.1f}/s)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
