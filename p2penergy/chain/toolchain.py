"""Pinned Solidity toolchain: which solc to run and how to install the solcjs facade.

The compiler version, EVM version and optimizer settings are fixed here and nowhere else, so the
Python compiler, brownie and a native solc all produce the same bytecode.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from p2penergy.exceptions import ToolchainError

SOLC_VERSION = "0.8.28"
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200
OZ_REMAPPING = "@openzeppelin/=node_modules/@openzeppelin/"

_FACADE_MARKER = "# p2penergy solcjs facade"


def repo_root() -> Path:
    """The source checkout that holds `contracts/` and `node_modules/` (needed only to compile)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "contracts").is_dir() and (parent / "toolchain" / "solc.js").is_file():
            return parent
    raise ToolchainError(
        "compiling needs the p2penergy source checkout (contracts/, toolchain/); "
        "installed packages ship compiled artifacts instead"
    )


def solcx_install_folder() -> Path:
    """py-solc-x's folder of installed compilers (`$SOLCX_BINARY_PATH` or `~/.solcx`)."""
    override = os.environ.get("SOLCX_BINARY_PATH")
    return Path(override) if override else Path.home() / ".solcx"


def installed_solc() -> Path | None:
    """The solc py-solc-x has for the pinned version (native or facade), if any."""
    candidate = solcx_install_folder() / f"solc-v{SOLC_VERSION}"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def is_facade(binary: Path) -> bool:
    """True when `binary` is the facade script this module installs, not a native solc."""
    try:
        head = binary.read_bytes()[:200]
    except OSError:
        return False
    return _FACADE_MARKER.encode() in head


def facade_script(root: Path | None = None) -> Path:
    """The node script that speaks the solc CLI on top of the npm `solc` package."""
    root = root or repo_root()
    script = root / "toolchain" / "solc.js"
    if not (root / "node_modules" / "solc").is_dir():
        raise ToolchainError("node_modules/solc is missing: run `npm ci` in the repository root")
    return script


def install_facade(root: Path | None = None) -> Path:
    """Installs the facade as py-solc-x's `solc-v<version>` unless a native solc is there.

    brownie and py-solc-x then find it like any installed compiler. Returns the binary in use.
    """
    existing = installed_solc()
    if existing is not None and not is_facade(existing):
        return existing  # a native solc of the pinned version: leave it alone
    script = facade_script(root)
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("node is not on PATH: install Node.js 20 or newer")
    folder = solcx_install_folder()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"solc-v{SOLC_VERSION}"
    launcher = f'#!/bin/sh\n{_FACADE_MARKER}\nexec "{node}" "{script}" "$@"\n'
    if existing is None or existing.read_text() != launcher:
        target.write_text(launcher)
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        check_version(target)
    return target


def solc_binary() -> Path:
    """The compiler to run: a native solc of the pinned version that py-solc-x has, else this
    checkout's facade (re-pointed here when the launcher names another, maybe deleted, one)."""
    existing = installed_solc()
    if existing is not None and not is_facade(existing):
        return existing
    return install_facade()


def check_version(binary: Path) -> str:
    """Runs `solc --version` and insists on the pinned version."""
    try:
        output = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, check=True, timeout=120
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolchainError(f"{binary} --version failed: {exc}") from exc
    if f"Version: {SOLC_VERSION}+" not in output:
        raise ToolchainError(f"{binary} is not solc {SOLC_VERSION}: {output.strip()!r}")
    return output.strip().splitlines()[-1].removeprefix("Version: ")
