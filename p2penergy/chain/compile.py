"""Compiles `contracts/` with the pinned solc and writes the artifacts the package ships."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import solcx

from p2penergy.chain import toolchain
from p2penergy.chain.artifacts import ARTIFACTS_DIR
from p2penergy.exceptions import ToolchainError

_OUTPUTS = [
    "abi",
    "metadata",
    "evm.bytecode.object",
    "evm.bytecode.linkReferences",
    "evm.deployedBytecode.object",
    "evm.deployedBytecode.immutableReferences",
    "evm.methodIdentifiers",
]


def standard_input(root: Path) -> dict[str, Any]:
    """The solc standard-JSON input: every `.sol` file under contracts/ and the pinned settings."""
    sources = {
        path.relative_to(root).as_posix(): {"content": path.read_text()}
        for path in sorted((root / "contracts").rglob("*.sol"))
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": toolchain.EVM_VERSION,
            "optimizer": {"enabled": True, "runs": toolchain.OPTIMIZER_RUNS},
            "remappings": [toolchain.OZ_REMAPPING],
            "metadata": {"bytecodeHash": "ipfs"},
            "outputSelection": {"*": {"*": _OUTPUTS}},
        },
    }


def compile_contracts(root: Path | None = None) -> dict[str, dict[str, Any]]:
    """Compiles the project's contracts; returns artifact dicts keyed by contract name."""
    root = root or toolchain.repo_root()
    binary = toolchain.solc_binary()
    try:
        output = solcx.compile_standard(
            standard_input(root),
            solc_binary=binary,
            base_path=str(root),
            allow_paths=[str(root)],
        )
    except solcx.exceptions.SolcError as exc:
        raise ToolchainError(f"solc failed:\n{_error_messages(exc)}") from None
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ToolchainError("\n".join(e["formattedMessage"] for e in errors))
    version = toolchain.check_version(binary)
    artifacts: dict[str, dict[str, Any]] = {}
    for source, contracts in output["contracts"].items():
        if not source.startswith("contracts/"):
            continue  # OpenZeppelin's own units are not shipped separately
        for name, data in contracts.items():
            if name in artifacts:
                raise ToolchainError(f"two contracts are named {name}")
            evm = data["evm"]
            artifacts[name] = {
                "contractName": name,
                "sourceName": source,
                "compiler": {"version": version, "evmVersion": toolchain.EVM_VERSION},
                "abi": data["abi"],
                "bytecode": "0x" + evm["bytecode"]["object"],
                "deployedBytecode": "0x" + evm["deployedBytecode"]["object"],
                "immutableReferences": evm["deployedBytecode"].get("immutableReferences", {}),
                "methodIdentifiers": evm.get("methodIdentifiers", {}),
                "metadata": data["metadata"],
            }
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    """The exact text an artifact file holds (stable key order, trailing newline)."""
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def write_artifacts(
    artifacts: dict[str, dict[str, Any]], out_dir: Path = ARTIFACTS_DIR
) -> list[Path]:
    """Writes one JSON file per contract and removes artifacts of contracts that no longer exist."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in sorted(artifacts.items()):
        path = out_dir / f"{name}.json"
        path.write_text(render(artifact))
        written.append(path)
    for stale in out_dir.glob("*.json"):
        if stale not in written:
            stale.unlink()
    return written


def _error_messages(exc: solcx.exceptions.SolcError) -> str:
    """Just the compiler's formatted errors (not the whole standard-JSON output)."""
    try:
        errors = json.loads(exc.stdout_data or "{}").get("errors", [])
    except ValueError:
        return str(exc)
    messages = [e["formattedMessage"] for e in errors if e.get("severity") == "error"]
    return "\n".join(messages) or str(exc)
