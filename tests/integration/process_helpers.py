"""Running the `p2penergy` CLI as real processes against our own node, and a TCP proxy that
makes the node stop answering on demand (fault injection)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from p2penergy.chain.connect import Chain, rpc
from p2penergy.chain.deploy import System, deploy_system

from .oracle_helpers import Trader

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Site:
    """A fresh deployment on the shared node, with its address book and keys on disk."""

    chain: Chain
    system: System
    admin: LocalAccount
    keepers: list[LocalAccount]
    folder: Path

    @property
    def deployments(self) -> Path:
        return self.folder / "deployments"

    def write_key(self, account: LocalAccount, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(account.key.hex())
        return path

    def meter_keys(self, traders: list[Trader]) -> Path:
        folder = self.folder / "meters"
        for trader in traders:
            self.write_key(trader.device, folder / f"{trader.meter_id}.key")
        return folder


def new_site(url: str, folder: Path, keepers: int = 2) -> Site:
    chain = rpc(url)
    admin = chain.faucet[0]
    keys = [Account.create() for _ in range(keepers)]
    for key in keys:
        chain.fund(key.address, 10**20)
    system = deploy_system(chain, admin, keepers=tuple(k.address for k in keys))
    system.deployment.save(folder / "deployments")
    return Site(chain, system, admin, keys, folder)


def cli(*args: str, rpc_url: str, site: Site) -> list[str]:
    """The argv of `p2penergy ARGS --rpc URL --deployments FOLDER` in a fresh interpreter."""
    return [
        sys.executable,
        "-c",
        "from p2penergy.cli.main import main; main()",
        *args,
        "--rpc",
        rpc_url,
        "--deployments",
        str(site.deployments),
    ]


def env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "P2PENERGY_CONFIG": "/nonexistent/p2penergy.toml",
        "PYTHONUNBUFFERED": "1",
    }


def spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        argv, stdout=handle, stderr=subprocess.STDOUT, env=env(), cwd=log.parent
    )


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class FlakyProxy:
    """A TCP proxy in front of the node. Modes: "pass" forwards; "refuse" accepts and resets at
    once; "stall" accepts and never answers (the client's read times out). Switching away from
    "pass" cuts every open connection, as a network failure would."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.mode = "pass"
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode != "pass":
            with self._lock:
                for sock in list(self._open):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                        sock.close()
                self._open.clear()

    def close(self) -> None:
        self._closed = True
        self.set_mode("refuse")
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            mode = self.mode
            if mode == "refuse":
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                client.close()
                continue
            with self._lock:
                self._open.add(client)
            if mode == "stall":
                continue  # held open, never answered, cut on the next mode switch
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.add(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
