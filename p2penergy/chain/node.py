"""The local profile: a Hardhat (EDR) JSON-RPC node on 127.0.0.1, started and stopped by us."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from web3 import HTTPProvider, Web3

from p2penergy.chain.toolchain import repo_root
from p2penergy.exceptions import ChainError, ToolchainError

HOST = "127.0.0.1"
DEFAULT_PORT = 8545


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


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

    def __enter__(self) -> HardhatNode:
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

    `fork` (a JSON-RPC URL) starts a node that follows that chain up to its head, then goes on
    alone: a second node of the same chain (the audit's `--compare-rpc` tests)."""
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
    node = HardhatNode(process, port)
    w3 = Web3(HTTPProvider(node.url, request_kwargs={"timeout": 2}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ChainError(
                f"hardhat node exited with code {process.returncode} (port {port} in use?)"
            )
        try:
            _ = w3.eth.chain_id
            return node
        except Exception:
            time.sleep(0.2)
    node.stop()
    raise ChainError(f"hardhat node did not answer on {node.url} within {timeout:.0f} s")
