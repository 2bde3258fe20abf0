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
    from p2penergy.chain.keyfile import read_password_file
    from p2penergy.oracle.identity import is_keystore

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
    from p2penergy.exceptions import OutboxWriteFailed

    def _print(exc: BaseException, delay: float) -> None:
        if isinstance(exc, OutboxWriteFailed):
            reason = f"outbox write failed ({exc.error})"
        else:
            reason = f"node unreachable ({type(exc).__name__})"
        err_console.print(
            f"{what}: {reason}; retrying in {delay:.0f} s",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    return _print


# Exit codes of the long-running services (documented in docs/oracle.md). 0-5 keep their
# meaning from the README; a systemd unit restarts on any failure except the "stop, don't
# restart" codes 12-14, which need an operator.
EXIT_SOURCE_UNREADABLE = 10  # oracle --once: an input could not be read (missing, wrong header)
EXIT_ROWS_REJECTED = 11  # oracle --once: a row was not taken, or the contract rejected a reading
EXIT_DEPLOYMENT_GONE = 12  # the address book's contracts are not on this chain (came back empty)
EXIT_WRONG_CHAIN = 13  # the node serves another chain id than the one the service started on
EXIT_GAS_LOW = 14  # the service account cannot pay for its next transaction
STOP_CODES = (EXIT_DEPLOYMENT_GONE, EXIT_WRONG_CHAIN, EXIT_GAS_LOW)


def service_exit_code(exc: BaseException) -> int | None:
    """The service exit code of a "stop, don't restart" error, or None for the general ones."""
    from p2penergy.exceptions import (
        DeploymentGone,
        GasBalanceTooLow,
        SourceUnreadable,
        WrongChain,
    )

    if isinstance(exc, SourceUnreadable):
        return EXIT_SOURCE_UNREADABLE
    if isinstance(exc, DeploymentGone):
        return EXIT_DEPLOYMENT_GONE
    if isinstance(exc, WrongChain):
        return EXIT_WRONG_CHAIN
    if isinstance(exc, GasBalanceTooLow):
        return EXIT_GAS_LOW
    return None


def service_errors(func: F) -> F:
    """For unattended services: every error ends as one line on stderr and a documented exit
    code, never a traceback (an unexpected one exits 1, and systemd restarts the service)."""
    import functools
    import sys

    from p2penergy.cli._utils import exit_code_for
    from p2penergy.exceptions import P2PEnergyError

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except P2PEnergyError as exc:
            code = service_exit_code(exc)
            err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(code if code is not None else exit_code_for(exc))
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors and prompts: click prints them with its own exit codes
        except Exception as exc:
            err_console.print(
                f"error: unexpected {type(exc).__name__}: {exc}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def parse_ether(text: str) -> int:
    """A decimal amount of ether as wei (exact, no float)."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text)
    except InvalidOperation:
        raise click.BadParameter(f"{text!r} is not an amount of ETH") from None
    if value < 0:
        raise click.BadParameter(f"{text!r} is negative")
    return int(value * 10**18)


DEFAULT_WARN_BALANCE = "0.1"


def warn_balance_option(func: F) -> F:
    return click.option(
        "--warn-balance",
        default=DEFAULT_WARN_BALANCE,
        show_default=True,
        metavar="ETH",
        help="Log a warning once the account's gas money falls below this. The service stops "
        "(exit 14) before it could not pay for its next transaction.",
    )(func)


def health_check(
    what: str,
    system: Any,
    anchor: Any,
    watch: Any,
) -> Callable[[], None]:
    """Before each pass: the chain is still the one the service started on (else it stops with
    exit 12 or 13), and the account can pay (a warning line below the threshold, exit 14 before
    it cannot pay)."""

    def _check() -> None:
        anchor.verify(system.chain)
        warning = watch.check()
        if warning is not None:
            err_console.print(f"{what}: {warning}", markup=False, highlight=False, soft_wrap=True)

    return _check
