"""The local profile: our own JSON-RPC nodes on 127.0.0.1, started and stopped by us.

`start_node` runs `p2penergy node`: anvil (from npm) keeping the chain in a data directory, making
a block every `block_time` seconds so chain time follows the clock, behind the permissioning
gateway (`p2penergy.chain.gateway`). `start_hardhat` runs a plain in-memory Hardhat node, as
brownie's tests use. docs/node.md says what survives a kill.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

from web3 import HTTPProvider, Web3

from p2penergy.chain.connect import http_session
from p2penergy.chain.toolchain import repo_root
from p2penergy.exceptions import ChainError, ToolchainError

HOST = "127.0.0.1"
DEFAULT_PORT = 8545
CHAIN_ID = 31337
HARDFORK = "cancun"
BLOCK_GAS_LIMIT = 30_029_122  # as hardhat.config.js and the embedded chain
DEV_ACCOUNTS = 20  # as hardhat.config.js
DEFAULT_BLOCK_TIME = 2.0  # seconds between blocks when nothing happens
DEFAULT_STATE_INTERVAL = 300.0  # seconds between state writes while only empty blocks come

STATE_FILE = "state.json"
READY_FILE = "node.json"
LOCK_FILE = "node.lock"
LOG_FILE = "node.log"
DEPLOYMENTS_DIR = "deployments"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    """Nothing listens on `port` (connections of a killed server in TIME_WAIT do not count:
    servers bind with SO_REUSEADDR, as this check does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def default_data_dir() -> Path:
    """`<user data dir>/node` (`~/.local/share/p2penergy/node` on Linux)."""
    from p2penergy.chain.config import user_data_dir

    return user_data_dir() / "node"


def deployments_dir(data_dir: Path) -> Path:
    """The address book folder kept with the node's state (what the gateway reads)."""
    return data_dir / DEPLOYMENTS_DIR


def anvil_binary(root: Path | None = None) -> Path:
    """The anvil executable npm installed (`@foundry-rs/anvil-<os>-<arch>`, shipped in the
    package: no download at install or run time)."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, "")
    name = "anvil.exe" if system == "win32" else "anvil"
    binary = (
        (root or repo_root()) / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin"
    ) / name
    if not binary.is_file():
        raise ToolchainError(
            f"anvil is not installed ({binary} missing): run `bash bootstrap.sh` (npm ci)"
        )
    return binary


def anvil_argv(port: int) -> list[str]:
    """anvil on `port` with the chain's consensus settings (chain id, hardfork, block gas
    limit, zero fees, the dev accounts, transactions in arrival order), shared by `p2penergy
    node` and `start_anvil` so both give the same gas and behaviour."""
    return [
        str(anvil_binary()),
        "--host", HOST,
        "--port", str(port),
        "--chain-id", str(CHAIN_ID),
        "--hardfork", HARDFORK,
        "--gas-limit", str(BLOCK_GAS_LIMIT),
        "--base-fee", "0",
        "--gas-price", "0",
        "--accounts", str(DEV_ACCOUNTS),
        "--order", "fifo",
    ]  # fmt: skip


@dataclass
class LocalNode:
    """A running `p2penergy node`: anvil, its state keeper and (by default) the gateway.

    `url` is where clients connect (the gateway, or anvil itself with `gateway=False`);
    `node_url` is anvil's own endpoint. `stop()` ends it cleanly (state written); `kill()`
    sends SIGKILL to every process of it, as a power cut would.
    """

    process: subprocess.Popen[bytes]
    url: str
    node_url: str
    data_dir: Path
    anvil_pid: int

    @property
    def deployments(self) -> Path:
        """The address book folder the gateway reads (`<data_dir>/deployments`)."""
        return deployments_dir(self.data_dir)

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM: the node writes its state, stops anvil and exits; waits for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap_anvil()

    def kill(self) -> None:
        """SIGKILL to the node and to anvil, as a power cut would: nothing is flushed."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.anvil_pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.anvil_pid, signal.SIGKILL)
        self.process.wait()
        self._reap_anvil()

    def _reap_anvil(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.anvil_pid > 0 and _alive(self.anvil_pid):
            time.sleep(0.05)

    def __enter__(self) -> LocalNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of a killed parent is reaped by init; treat it as gone
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def start_node(
    data_dir: Path,
    *,
    port: int | None = None,
    block_time: float = DEFAULT_BLOCK_TIME,
    gateway: bool = True,
    timeout: float = 60,
    state_interval: float = DEFAULT_STATE_INTERVAL,
) -> LocalNode:
    """Starts `p2penergy node` on `data_dir` (resuming its chain) and waits until it serves.

    `port` defaults to a free one. The node runs in its own process group; the caller owns it.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    ready = data_dir / READY_FILE
    argv = [
        sys.executable, "-m", "p2penergy", "node",
        "--data-dir", str(data_dir),
        "--port", str(port),
        "--block-time", repr(float(block_time)),
        "--state-interval", repr(float(state_interval)),
    ]  # fmt: skip
    if not gateway:
        argv.append("--no-gateway")
    with (data_dir / LOG_FILE).open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise ChainError(
                f"p2penergy node exited with code {code}: {_last_error(data_dir / LOG_FILE)}"
            )
        info = _read_ready(ready, process.pid)
        if info is not None:
            return LocalNode(
                process=process,
                url=str(info["url"]),
                node_url=str(info["node_url"]),
                data_dir=data_dir,
                anvil_pid=int(info["anvil_pid"]),
            )
        time.sleep(0.1)
    LocalNode(process, "", "", data_dir, -1).stop(timeout=10)
    raise ChainError(f"p2penergy node on {data_dir} did not start within {timeout:.0f} s")


def _read_ready(path: Path, pid: int) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info if info.get("pid") == pid else None


def _last_error(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["no output"])[-1]


@dataclass
class HardhatNode:
    """A running Hardhat node process; `url` is its JSON-RPC endpoint."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        """Terminates the node (and waits for it)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_hardhat(
    port: int | None = None,
    *,
    root: Path | None = None,
    timeout: float = 60,
    fork: str | None = None,
) -> HardhatNode:
    """Starts `hardhat node` bound to 127.0.0.1 (config: hardhat.config.js) and waits for it.

    In memory and mining on demand: for tests that need a fast throwaway chain. `fork` (a
    JSON-RPC URL) starts a node that follows that chain up to its head, then goes on alone: a
    second node of the same chain (the audit's `--compare-rpc` tests).
    """
    root = root or repo_root()
    binary = root / "node_modules" / ".bin" / "hardhat"
    if not binary.exists() or shutil.which("node") is None:
        raise ToolchainError("hardhat is not installed: run `bash bootstrap.sh` (npm ci)")
    port = port or free_port()
    if not _port_free(port):
        raise ChainError(f"port {port} on {HOST} is already in use")
    command = [str(binary), "node", "--hostname", HOST, "--port", str(port)]
    if fork is not None:
        command += ["--fork", fork]
    process = subprocess.Popen(
        command,
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return _serving(HardhatNode(process, port), "hardhat node", timeout)


_Node = TypeVar("_Node", bound="HardhatNode")


class AnvilNode(HardhatNode):
    """A running in-memory anvil process (`start_anvil`); `url` is its JSON-RPC endpoint."""


def start_anvil(port: int | None = None, *, timeout: float = 60) -> AnvilNode:
    """Starts a throwaway anvil bound to 127.0.0.1 and waits for it: in memory, a block for
    each transaction, with the consensus settings of `p2penergy node` (chain id, hardfork, block
    gas limit, zero fees, the dev accounts), so gas and behaviour are those of the local node
    without its state keeper and gateway: where `p2penergy simulate --chain anvil` runs the day
    over JSON-RPC. It keeps only the latest state (`--prune-history`: calls at older blocks
    fail), which no consensus setting depends on and which saves anvil copying its whole state
    for every block: 28 % less of anvil's CPU by 5,300 blocks of a 1,000-household day."""
    port = port or free_port()
    if not _port_free(port):
        raise ChainError(f"port {port} on {HOST} is already in use")
    command = [*anvil_argv(port), "--prune-history"]  # not a consensus setting
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return _serving(AnvilNode(process, port), "anvil", timeout)


def _serving(node: _Node, name: str, timeout: float) -> _Node:
    """`node` once it answers JSON-RPC; stopped and refused if it exits or stays silent."""
    w3 = Web3(HTTPProvider(node.url, request_kwargs={"timeout": 2}, session=http_session(node.url)))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise ChainError(
                f"{name} exited with code {node.process.returncode} (port {node.port} in use?)"
            )
        try:
            _ = w3.eth.chain_id
            return node
        except Exception:
            time.sleep(0.2)
    node.stop()
    raise ChainError(f"{name} did not answer on {node.url} within {timeout:.0f} s")
