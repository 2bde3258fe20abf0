"""CLI plumbing shared by the long-running commands (oracle, keeper): connection options, keys
from files with hidden-prompt passwords, and SIGINT/SIGTERM turned into a clean stop."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_account.signers.local import LocalAccount

from p2penergy.cli._utils import err_console

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(func: F) -> F:
    """--rpc, --deployments, --chain-id (resolved with env and config file, see README)."""
    func = click.option(
        "--chain-id", type=int, default=None, help="Refuse to talk to any other chain."
    )(func)
    func = click.option(
        "--deployments",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Address-book folder (default: $P2PENERGY_DEPLOYMENTS, config, ./deployments).",
    )(func)
    func = click.option(
        "--rpc", default=None, help="JSON-RPC URL (default: $P2PENERGY_RPC, config, :8545)."
    )(func)
    return func


def password_option(func: F) -> F:
    return click.option(
        "--password-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help="File whose first line is the keystore password (else a hidden prompt).",
    )(func)


def password_for(paths: list[Path], password_file: Path | None) -> str | None:
    """The keystore password: from the file, or asked once when any of `paths` is a keystore."""
    from p2penergy.oracle.identity import is_keystore, read_password_file

    if password_file is not None:
        return read_password_file(password_file)
    if any(p.suffix == ".json" or is_keystore(p) for p in paths):
        return str(click.prompt("Keystore password", hide_input=True))
    return None


def load_one_key(path: Path, password_file: Path | None) -> LocalAccount:
    from p2penergy.oracle.identity import load_key

    return load_key(path, password_for([path], password_file))


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM: the loops finish what they are doing and return."""
    stop = threading.Event()

    def _handler(signum: int, _frame: object) -> None:
        if not stop.is_set():
            err_console.print(f"{signal.Signals(signum).name}: stopping after the current step")
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _handler)
    return stop


def retry_printer(what: str) -> Callable[[BaseException, float], None]:
    def _print(exc: BaseException, delay: float) -> None:
        err_console.print(
            f"{what}: node unreachable ({type(exc).__name__}); retrying in {delay:.0f} s",
            markup=False,
            highlight=False,
        )

    return _print
