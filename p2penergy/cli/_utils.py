"""Shared CLI plumbing: one-line errors with exit codes scripts can trust, JSON output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console

from p2penergy.exceptions import (
    ChainError,
    ContractRevert,
    DeploymentError,
    P2PEnergyError,
    ToolchainError,
)

F = TypeVar("F", bound=Callable[..., Any])

# Exit codes (documented in the README): 0 ok, 1 failed check or other error, 2 usage,
# 3 chain unreachable / wrong chain, 4 refused by a contract, 5 toolchain missing.
EXIT_ERROR = 1
EXIT_CHAIN = 3
EXIT_REVERT = 4
EXIT_TOOLCHAIN = 5

console = Console()
err_console = Console(stderr=True)


def exit_code_for(exc: P2PEnergyError) -> int:
    """The documented exit code for an error."""
    if isinstance(exc, ContractRevert):
        return EXIT_REVERT
    if isinstance(exc, (ChainError, DeploymentError)):
        return EXIT_CHAIN
    if isinstance(exc, ToolchainError):
        return EXIT_TOOLCHAIN
    return EXIT_ERROR


def handle_errors(func: F) -> F:
    """Turns p2penergy errors into one line on stderr and the matching exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except P2PEnergyError as exc:
            err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(exit_code_for(exc))

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    """Machine output: one JSON document on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
