"""What durability costs on `p2penergy node`: acknowledgement latency and state writes.

Run from the repository root:

    PYTHONPATH=. .venv/bin/python benchmarks/node_durability.py [--transactions 300] [--json]

Starts a node (anvil behind the gateway) in a temporary data directory, deploys the system and
sends `--transactions` signed value transfers one after another, each waiting for its receipt,
once through the gateway (a receipt only once its block is in state.json) and once straight to
anvil (`node_url`, no wait for the disk). Then it lets `--empty-seconds` of empty blocks pass.
Reported: median and 95th percentile send-to-receipt time for both paths, the number of state
writes, the last write's duration and the state file's size, before and after the empty blocks
(bytes per empty block). The figures feed docs/node.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from p2penergy.chain.connect import Chain, rpc
from p2penergy.chain.deploy import deploy_system
from p2penergy.chain.node import STATE_FILE, start_node
from p2penergy.chain.tx import send_value


def _latencies(chain: Chain, count: int) -> list[float]:
    sink = Account.create().address
    sender = chain.faucet[2]
    seconds = []
    for value in range(1, count + 1):
        started = time.perf_counter()
        send_value(chain, sender, sink, value)
        seconds.append(time.perf_counter() - started)
    return seconds


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "median_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
    }


def measure(transactions: int, empty_seconds: float, block_time: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "node"
        with start_node(data_dir, block_time=block_time, state_interval=1.0) as node:
            gateway = rpc(node.url)
            deploy_system(gateway, gateway.faucet[0])
            acknowledged = _latencies(gateway, transactions)
            direct = _latencies(rpc(node.node_url), transactions)
            state = data_dir / STATE_FILE
            time.sleep(2)
            blocks_before = gateway.w3.eth.block_number
            size_before = state.stat().st_size
            time.sleep(empty_seconds)
            time.sleep(1.5)  # the next interval write
            blocks_after = gateway.w3.eth.block_number
            size_after = state.stat().st_size
            started = time.perf_counter()
            gateway.w3.provider.make_request("anvil_dumpState", [])  # type: ignore[arg-type]
            dump_ms = 1000 * (time.perf_counter() - started)
        return {
            "transactions": 2 * transactions,
            "through_gateway_durable": _summary(acknowledged),
            "straight_to_anvil": _summary(direct),
            "blocks": blocks_after,
            "state_bytes": size_after,
            "bytes_per_empty_block": round(
                (size_after - size_before) / max(1, blocks_after - blocks_before)
            ),
            "anvil_dumpState_ms": round(dump_ms, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--empty-seconds", type=float, default=20.0)
    parser.add_argument("--block-time", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.transactions, args.empty_seconds, args.block_time)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return
    for key, value in result.items():
        print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
