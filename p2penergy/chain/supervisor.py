"""What `p2penergy node` runs: anvil, the state keeper that makes its chain durable, and the
permissioning gateway in front of it; one process that owns them all.

anvil keeps the chain in memory. Its own `--state` file is rewritten in place, so a kill during
a write would leave half a file; instead the `StateKeeper` asks anvil for its state
(`anvil_dumpState`) after every block that holds transactions (and at least every
`state_interval` seconds while only empty blocks are made) and replaces `state.json` atomically
(write, fsync, rename). The gateway hands out a transaction's receipt only once the file holds
its block: a receipt is the acknowledgement, and nothing acknowledged is lost by a kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp

from p2penergy.chain import node as nodes
from p2penergy.exceptions import ChainError

log = logging.getLogger("p2penergy.node")

HEAD_FILE = "head.json"
HEAD_RESERVE = 64  # head.json stays this many block numbers ahead of the head (see record_head)
RPC_TIMEOUT = 60.0  # seconds: a dump of a long chain takes a while


@dataclass(frozen=True)
class NodeConfig:
    """Everything `p2penergy node` was asked for."""

    data_dir: Path
    port: int = nodes.DEFAULT_PORT
    block_time: float = nodes.DEFAULT_BLOCK_TIME
    state_interval: float = nodes.DEFAULT_STATE_INTERVAL
    gateway: bool = True
    deployments: Path | None = None  # default: <data_dir>/deployments

    @property
    def state_file(self) -> Path:
        return self.data_dir / nodes.STATE_FILE

    @property
    def address_book(self) -> Path:
        return self.deployments or nodes.deployments_dir(self.data_dir)


class RpcError(ChainError):
    """The node answered a JSON-RPC request with an error object."""

    def __init__(self, method: str, error: Any) -> None:
        self.method = method
        self.error = error
        super().__init__(f"{method} failed: {error}")


class Rpc:
    """A small asynchronous JSON-RPC client for anvil."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self._id = 0

    async def post(self, payload: Any) -> Any:
        """Sends one request (or a batch) as is; returns the decoded answer."""
        async with self.session.post(self.url, json=payload) as response:
            return await response.json(content_type=None)

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        self._id += 1
        answer = await self.post(
            {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params or []}
        )
        if "error" in answer:
            raise RpcError(method, answer["error"])
        return answer.get("result")

    async def block_number(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)


def write_atomically(path: Path, data: bytes) -> None:
    """Replaces `path` with `data` so that a crash leaves either the old or the new file."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    tmp.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def record_head(path: Path, number: int) -> None:
    """Notes a block number above every one served (`head.json`), so a restart never reuses one.

    The keeper writes the head plus `HEAD_RESERVE` and writes again once the head comes within
    half of that: anvil makes blocks on its own clock, so a number written only *after* it was
    served could be missing from the file when a kill comes (a keeper slowed by a loaded machine
    or a long state dump); a reserve keeps the file ahead of what clients can have seen as long as
    the keeper looks at least once every `HEAD_RESERVE // 2` blocks."""
    write_atomically(path, json.dumps({"number": number}).encode())


def recorded_head(path: Path) -> int:
    try:
        return int(json.loads(path.read_text())["number"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1


class StateKeeper:
    """Writes anvil's state to disk and knows up to which block it is durable."""

    def __init__(self, rpc: Rpc, path: Path, state_interval: float, poll: float) -> None:
        self.rpc = rpc
        self.path = path
        self.head_path = path.with_name(HEAD_FILE)
        self._recorded_head = -1
        self.state_interval = state_interval
        self.poll = poll
        self.durable_block = -1  # every block <= this one is in the file
        self.dumps = 0
        self.last_dump_seconds = 0.0
        self._seen = -1  # highest block looked at for transactions
        self._last_dump = 0.0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()

    async def dump(self) -> None:
        """Writes the state now; every block up to the head read before the dump is durable."""
        async with self._lock:
            started = time.monotonic()
            head = await self.rpc.block_number()
            state = await self.rpc.call("anvil_dumpState")
            data = gzip.decompress(bytes.fromhex(str(state).removeprefix("0x")))
            await asyncio.to_thread(write_atomically, self.path, data)
            self.dumps += 1
            self.last_dump_seconds = time.monotonic() - started
            self._last_dump = time.monotonic()
            self._seen = max(self._seen, head)
        async with self._changed:
            self.durable_block = max(self.durable_block, head)
            self._changed.notify_all()

    async def ensure(self, block: int, timeout: float) -> bool:
        """Waits until `block` is durable (asking for a dump); False on timeout."""
        if block <= self.durable_block:
            return True
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: block <= self.durable_block)
        return block <= self.durable_block

    async def rewritten(self) -> None:
        """The chain was rewound or replaced (evm_revert, anvil_reset …): nothing after the
        common head can be trusted to be in the file until the next dump, which is made now."""
        async with self._changed:
            self.durable_block = -1
        self._seen = -1
        await self.dump()

    async def _has_transactions(self, first: int, last: int) -> bool:
        if last - first > 64:
            return True  # a burst of mined blocks (evm_mine): just write
        for number in range(first, last + 1):
            count = await self.rpc.call("eth_getBlockTransactionCountByNumber", [hex(number)])
            if count is not None and int(count, 16) > 0:
                return True
        return False

    async def run(self) -> None:
        """Forever: dump after blocks with transactions, and every `state_interval` seconds."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._wake.wait()
            self._wake.clear()
            try:
                head = await self.rpc.block_number()
                if head + HEAD_RESERVE // 2 > self._recorded_head:
                    reserved = head + HEAD_RESERVE
                    await asyncio.to_thread(record_head, self.head_path, reserved)
                    self._recorded_head = reserved
                if head < self._seen:  # rewound behind our back
                    await self.rewritten()
                    continue
                if head <= self.durable_block:
                    continue
                due = time.monotonic() - self._last_dump >= self.state_interval
                if due or await self._has_transactions(self._seen + 1, head):
                    await self.dump()
                else:
                    self._seen = head
            except (aiohttp.ClientError, ChainError, OSError, TimeoutError, ValueError) as exc:
                # e.g. a full disk: nothing new becomes durable, so no receipt is handed out,
                # until a write succeeds again
                log.warning("state keeper: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(self.poll)


def _anvil_argv(config: NodeConfig, port: int) -> list[str]:
    argv = [
        *nodes.anvil_argv(port),
        "--block-time", repr(config.block_time),
        "--mixed-mining",
    ]  # fmt: skip
    if config.state_file.is_file():
        argv += ["--load-state", str(config.state_file)]
    return argv


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[IO[str]]:
    """Holds `<data_dir>/node.lock` so two nodes never share a data directory."""
    handle = (data_dir / nodes.LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ChainError(f"another p2penergy node is running on {data_dir}") from None
    try:
        yield handle
    finally:
        handle.close()


def run(config: NodeConfig, announce: Any = print) -> None:
    """Runs the node until SIGINT/SIGTERM; raises ChainError when it cannot start or anvil dies."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(config.data_dir):
        ready = config.data_dir / nodes.READY_FILE
        ready.unlink(missing_ok=True)
        config.data_dir.joinpath(nodes.STATE_FILE + ".tmp").unlink(missing_ok=True)
        if not nodes._port_free(config.port):
            raise ChainError(f"port {config.port} on {nodes.HOST} is already in use")
        anvil_port = nodes.free_port() if config.gateway else config.port
        with (config.data_dir / "anvil.log").open("ab") as anvil_log:
            # Its own session, so a terminal's Ctrl-C reaches only us (we flush, then stop it);
            # on Linux it dies with us, so a killed node never leaves anvil holding the port.
            anvil = subprocess.Popen(
                _anvil_argv(config, anvil_port),
                stdin=subprocess.DEVNULL,
                stdout=anvil_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        try:
            asyncio.run(_serve(config, anvil, anvil_port, ready, announce))
        finally:
            ready.unlink(missing_ok=True)
            if anvil.poll() is None:
                anvil.terminate()
                try:
                    anvil.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    anvil.kill()
                    anvil.wait()


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


async def _wait_for_anvil(rpc: Rpc, anvil: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if anvil.poll() is not None:
            raise ChainError(
                f"anvil exited with code {anvil.returncode} at start (see anvil.log in the data "
                "directory; a state file from another anvil version?)"
            )
        try:
            chain_id = int(await rpc.call("eth_chainId"), 16)
        except (aiohttp.ClientError, OSError):
            await asyncio.sleep(0.1)
            continue
        if chain_id != nodes.CHAIN_ID:
            raise ChainError(f"anvil serves chain {chain_id}, expected {nodes.CHAIN_ID}")
        return
    raise ChainError(f"anvil did not answer within {timeout:.0f} s")


async def _resume_clock(rpc: Rpc) -> None:
    """Keeps block time monotonic across a restart.

    anvil stamps blocks made after `--load-state` with the wall clock, even when the loaded head
    is later (chain time moved ahead with `evm_setNextBlockTimestamp`, or a clock step back):
    then the clock restarts just after the head, and runs on from there.
    """
    head = await rpc.call("eth_getBlockByNumber", ["latest", False])
    stamp = int(head["timestamp"], 16)
    if stamp + 1 > int(time.time()):
        await rpc.call("evm_setTime", [stamp + 1])


async def _skip_served_numbers(rpc: Rpc, head_file: Path) -> None:
    """After a kill, empty blocks made since the last state write are gone, but clients may have
    seen their numbers: mine empty blocks past the number `head.json` reserved (above every one
    served), so that a log scanner that stopped at block N never misses a new block numbered N
    or below. anvil stamps them all with the current time."""
    served = recorded_head(head_file)
    head = await rpc.block_number()
    if served >= head:
        await rpc.call("anvil_mine", [hex(served - head + 1)])


async def _serve(
    config: NodeConfig,
    anvil: subprocess.Popen[bytes],
    anvil_port: int,
    ready: Path,
    announce: Any,
) -> None:
    from p2penergy.chain.gateway import Gateway

    node_url = f"http://{nodes.HOST}:{anvil_port}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    timeout = aiohttp.ClientTimeout(total=RPC_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        rpc = Rpc(session, node_url)
        await _wait_for_anvil(rpc, anvil, timeout=60)
        await _resume_clock(rpc)
        await _skip_served_numbers(rpc, config.data_dir / HEAD_FILE)
        keeper = StateKeeper(
            rpc,
            config.state_file,
            config.state_interval,
            poll=min(0.25, config.block_time / 4),
        )
        await keeper.dump()
        runner = None
        url = node_url
        if config.gateway:
            gateway = Gateway(rpc, config.address_book, keeper)
            runner = await gateway.start(nodes.HOST, config.port)
            url = f"http://{nodes.HOST}:{config.port}"
        info = {
            "pid": os.getpid(),
            "anvil_pid": anvil.pid,
            "url": url,
            "node_url": node_url,
            "chain_id": nodes.CHAIN_ID,
            "block": keeper.durable_block,
        }
        write_atomically(ready, json.dumps(info).encode())
        announce(info)
        keeper_task = asyncio.create_task(keeper.run())
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await stop.wait()
                if not stop.is_set() and anvil.poll() is not None:
                    raise ChainError(f"anvil exited with code {anvil.returncode}")
                if keeper_task.done():
                    raise ChainError(f"the state keeper stopped: {keeper_task.exception()!r}")
        finally:
            keeper_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # reported above
                await keeper_task
            if runner is not None:
                await runner.cleanup()
            if anvil.poll() is None:
                try:
                    await keeper.dump()  # the clean-exit flush
                except (aiohttp.ClientError, ChainError, OSError) as exc:
                    log.warning("final state write failed: %s: %s", type(exc).__name__, exc)
