"""`network init`: writes a Besu QBFT network to a folder, one self-contained folder per node.

```
OUT/
  genesis.json            the chain (same bytes in every node folder)
  network.json            public summary: chain id, validators, enodes, ports (no keys)
  node-1/                 copy this folder to the machine that runs node 1
    config.toml           `besu --config-file=config.toml`, started from inside node-1/
    genesis.json
    permissions_config.toml   accounts-allowlist + nodes-allowlist (edited at run time via PERM)
    data/key              the node's private key (mode 0600), data/key.pub its public key
  node-2/ ...
```

Paths inside a node folder are relative to it, so the folder can move to another machine.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from p2penergy.network.errors import InvalidNetworkInput, OutputNotEmpty, OutputNotWritable
from p2penergy.network.genesis import (
    DEFAULT_GAS_LIMIT,
    NodeKey,
    enode,
    qbft_genesis,
    validate_chain_id,
)

BASE_APIS = ("ETH", "NET", "QBFT", "WEB3", "TXPOOL")
PERM_API = "PERM"
OPERATOR_BALANCE_WEI = 10**24  # gas is free (zero base fee); the balance only reassures tools
PERMISSIONS_FILE = "permissions_config.toml"
MAX_VALIDATORS = 64
MIN_GAS_LIMIT = 10_000_000  # below this the largest batch (a 1,000-order clearing) cannot fit


@dataclass(frozen=True)
class NetworkPlan:
    """What `network init` writes, checked before anything touches the disk."""

    validators: int
    chain_id: int
    block_period: int = 2
    gas_limit: int = DEFAULT_GAS_LIMIT
    operator: str | None = None
    members: tuple[str, ...] = ()
    operator_host: str = "127.0.0.1"
    p2p_hosts: tuple[str, ...] = ()
    p2p_port: int = 30303
    rpc_port: int = 8545

    def __post_init__(self) -> None:
        if not 1 <= self.validators <= MAX_VALIDATORS:
            raise InvalidNetworkInput(
                f"--validators {self.validators}: use 1 .. {MAX_VALIDATORS} (4 tolerate one fault)"
            )
        validate_chain_id(self.chain_id)
        if self.block_period < 1:
            raise InvalidNetworkInput(f"--block-period {self.block_period}: use 1 s or more")
        if self.gas_limit < MIN_GAS_LIMIT:
            raise InvalidNetworkInput(
                f"--gas-limit {self.gas_limit}: use at least {MIN_GAS_LIMIT} "
                "(a full slot's clearing must fit in one block)"
            )
        if self.p2p_hosts and len(self.p2p_hosts) != self.validators:
            raise InvalidNetworkInput(
                f"--p2p-hosts names {len(self.p2p_hosts)} hosts for {self.validators} validators"
            )
        for port in (self.p2p_port, self.rpc_port):
            if not 1024 <= port <= 65535 - self.validators:
                raise InvalidNetworkInput(f"port {port} is out of range (1024 .. 65535)")
        if abs(self.p2p_port - self.rpc_port) < self.validators:
            raise InvalidNetworkInput("the P2P and JSON-RPC port ranges overlap")

    @property
    def request_timeout(self) -> int:
        """QBFT's round timeout: twice the block period, Besu's tuning starting point."""
        return 2 * self.block_period

    def host(self, index: int) -> str:
        return self.p2p_hosts[index] if self.p2p_hosts else "127.0.0.1"


@dataclass(frozen=True)
class NodeSummary:
    """One generated node, as the summary prints it (public facts only)."""

    name: str
    address: str
    enode: str
    p2p_port: int
    rpc_url: str
    folder: str


@dataclass(frozen=True)
class NetworkSummary:
    """What was written where: printed for people, `--json` for scripts, saved as network.json."""

    chain_id: int
    out: str
    block_period: int
    gas_limit: int
    operator: str | None
    accounts_allowlist: list[str]
    nodes: list[NodeSummary] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "out": self.out,
            "block_period": self.block_period,
            "gas_limit": self.gas_limit,
            "operator": self.operator,
            "accounts_allowlist": self.accounts_allowlist,
            "nodes": [vars(node) for node in self.nodes],
        }


def read_members(path: Path) -> tuple[str, ...]:
    """Addresses from a members file: one per line; blank lines and `#` comments ignored."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InvalidNetworkInput(f"cannot read {path}: {exc.strerror}") from None
    members: list[str] = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not is_address(text):
            raise InvalidNetworkInput(f"{path}:{number}: {text!r} is not an address")
        members.append(to_checksum_address(text))
    return tuple(dict.fromkeys(members))


def check_address(value: str, what: str) -> str:
    if not is_address(value):
        raise InvalidNetworkInput(f"{what} {value!r} is not an address")
    return str(to_checksum_address(value))


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string is a JSON string for our ASCII values
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _toml(entries: dict[str, object], header: str) -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [f"{key}={_toml_value(value)}" for key, value in entries.items()]
    return "\n".join(lines) + "\n"


def _prepare(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputNotEmpty(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputNotEmpty(f"{out} is not empty: choose another --out or pass --force")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".p2penergy-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise OutputNotWritable(f"cannot write to {out}: {exc.strerror}") from None


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    # The file is created with its final mode, so a key is never readable by others, not even
    # for a moment.
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def write_network(plan: NetworkPlan, out: Path, *, force: bool = False) -> NetworkSummary:
    """Generates keys, genesis, configs and allowlists for `plan` under `out`."""
    _prepare(out, force)
    node_keys = [NodeKey.generate() for _ in range(plan.validators)]
    enodes = [
        enode(key.public_key, plan.host(i), plan.p2p_port + i) for i, key in enumerate(node_keys)
    ]
    allowlist = list(dict.fromkeys(([plan.operator] if plan.operator else []) + list(plan.members)))
    alloc = {plan.operator: OPERATOR_BALANCE_WEI} if plan.operator else {}
    genesis = qbft_genesis(
        chain_id=plan.chain_id,
        validators=[key.address for key in node_keys],
        block_period=plan.block_period,
        request_timeout=plan.request_timeout,
        gas_limit=plan.gas_limit,
        alloc=alloc,
        timestamp=int(time.time()),
    )
    genesis_text = json.dumps(genesis, indent=2) + "\n"
    summary = NetworkSummary(
        chain_id=plan.chain_id,
        out=str(out),
        block_period=plan.block_period,
        gas_limit=plan.gas_limit,
        operator=plan.operator,
        accounts_allowlist=allowlist,
    )
    try:
        _write(out / "genesis.json", genesis_text)
        for i, key in enumerate(node_keys):
            name = f"node-{i + 1}"
            folder = out / name
            (folder / "data").mkdir(parents=True, exist_ok=True)
            os.chmod(folder / "data", 0o700)
            _write(folder / "data" / "key", "0x" + key.private_key.hex(), 0o600)
            _write(folder / "data" / "key.pub", "0x" + key.public_key.hex(), 0o644)
            _write(folder / "genesis.json", genesis_text)
            _write(folder / PERMISSIONS_FILE, _permissions(allowlist, enodes))
            _write(folder / "config.toml", _config(plan, i, enodes))
            summary.nodes.append(
                NodeSummary(
                    name=name,
                    address=key.address,
                    enode=enodes[i],
                    p2p_port=plan.p2p_port + i,
                    rpc_url=f"http://{plan.operator_host}:{plan.rpc_port + i}",
                    folder=str(folder),
                )
            )
        _write(out / "network.json", json.dumps(summary.as_dict(), indent=2) + "\n")
    except OSError as exc:
        raise OutputNotWritable(f"cannot write to {out}: {exc.strerror}") from None
    return summary


def _permissions(accounts: list[str], enodes: list[str]) -> str:
    header = (
        "Local permissioning of this Besu node (read at start; PERM methods edit it at run time).\n"
        "accounts-allowlist: who may send transactions. `p2penergy network sync-permissions`\n"
        "keeps it equal to the participant registry; do not edit it by hand once it runs.\n"
        "nodes-allowlist: every node of the network (bootnodes must be listed)."
    )
    return _toml({"accounts-allowlist": accounts, "nodes-allowlist": enodes}, header)


def _config(plan: NetworkPlan, index: int, enodes: list[str]) -> str:
    host = plan.host(index)
    loopback = host in ("127.0.0.1", "localhost")
    header = (
        f"Besu node {index + 1} of {plan.validators} (QBFT validator), chain {plan.chain_id}.\n"
        "Start it from this folder: besu --config-file=config.toml\n"
        "JSON-RPC listens on the operator's interface only; it carries PERM, so never expose it:\n"
        "members and services reach the chain through the p2penergy gateway."
    )
    entries: dict[str, object] = {
        "data-path": "data",
        "genesis-file": "genesis.json",
        "node-private-key-file": "data/key",
        "sync-mode": "FULL",
        "p2p-host": host,
        "p2p-interface": "127.0.0.1" if loopback else "0.0.0.0",
        "p2p-port": plan.p2p_port + index,
        "bootnodes": [e for i, e in enumerate(enodes) if i != index],
        "rpc-http-enabled": True,
        "rpc-http-host": plan.operator_host,
        "rpc-http-port": plan.rpc_port + index,
        "rpc-http-api": [*BASE_APIS, PERM_API],
        "host-allowlist": sorted({"localhost", "127.0.0.1", plan.operator_host}),
        "min-gas-price": 0,
        "revert-reason-enabled": True,
        "permissions-nodes-config-file-enabled": True,
        "permissions-nodes-config-file": PERMISSIONS_FILE,
        "permissions-accounts-config-file-enabled": True,
        "permissions-accounts-config-file": PERMISSIONS_FILE,
    }
    return _toml(entries, header)
