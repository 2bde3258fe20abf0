"""Where to connect and which deployment to use: flags, environment, config file, address book.

Precedence: explicit argument > environment (`P2PENERGY_RPC`, `P2PENERGY_DEPLOYMENTS`) >
config file (`$P2PENERGY_CONFIG`, else `<user config dir>/p2penergy/config.toml`) > defaults
(`http://127.0.0.1:8545`, `./deployments`). The config file is TOML:

    rpc = "http://127.0.0.1:8545"
    deployments = "/srv/p2penergy/deployments"
    chain_id = 31337          # optional: refuse to talk to any other chain
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p2penergy.chain.connect import Chain, rpc
from p2penergy.chain.deploy import Deployment, System
from p2penergy.exceptions import ChainError

DEFAULT_RPC = "http://127.0.0.1:8545"


def user_config_dir() -> Path:
    """The platform's per-user config folder for p2penergy (XDG on Linux)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "p2penergy"


def user_data_dir() -> Path:
    """The platform's per-user data folder for p2penergy (XDG on Linux): keystores, outboxes."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "p2penergy"


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings."""

    rpc: str
    deployments: Path
    chain_id: int | None


def _file_settings() -> dict[str, Any]:
    path = Path(os.environ.get("P2PENERGY_CONFIG") or user_config_dir() / "config.toml")
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ChainError(f"config file {path} is unreadable: {exc}") from None


def resolve(
    rpc_url: str | None = None, deployments: Path | None = None, chain_id: int | None = None
) -> Settings:
    """Applies the precedence rules above."""
    file = _file_settings()
    url = rpc_url or os.environ.get("P2PENERGY_RPC") or file.get("rpc") or DEFAULT_RPC
    folder = (
        deployments
        or (
            Path(os.environ["P2PENERGY_DEPLOYMENTS"])
            if os.environ.get("P2PENERGY_DEPLOYMENTS")
            else None
        )
        or (Path(file["deployments"]) if file.get("deployments") else None)
        or Path("deployments")
    )
    expected = chain_id if chain_id is not None else file.get("chain_id")
    return Settings(
        rpc=str(url), deployments=folder, chain_id=None if expected is None else int(expected)
    )


def connect_system(settings: Settings) -> System:
    """Connects to the node and loads the deployment of its chain from the address book."""
    chain: Chain = rpc(settings.rpc, expected_chain_id=settings.chain_id)
    deployment = Deployment.load(settings.deployments, chain.chain_id)
    code = chain.w3.eth.get_code(deployment.addresses["ParticipantRegistry"])  # type: ignore[arg-type]
    if not code:
        raise ChainError(
            f"the address book {settings.deployments}/{chain.chain_id}.json does not match the "
            f"node at {settings.rpc} (no registry contract there): redeploy or fix the path"
        )
    return System(chain, deployment)
