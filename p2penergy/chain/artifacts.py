"""The compiled contracts shipped inside the package (no compiler needed to use the system)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from p2penergy.exceptions import ToolchainError

ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "artifacts"


@cache
def load(name: str) -> dict[str, Any]:
    """The artifact of contract `name` (ABI, bytecode, deployed bytecode, metadata)."""
    path = ARTIFACTS_DIR / f"{name}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise ToolchainError(f"no artifact for {name}: run `p2penergy compile`") from None
    return data


def names() -> list[str]:
    """Names of every shipped contract artifact."""
    return sorted(path.stem for path in ARTIFACTS_DIR.glob("*.json"))


def all_abis() -> dict[str, list[dict[str, Any]]]:
    """Every shipped ABI keyed by contract name (used to decode custom errors)."""
    return {name: load(name)["abi"] for name in names()}
