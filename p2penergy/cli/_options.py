"""Option helpers shared by the wallet, trading and admin commands (thin, reusable)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_account.signers.local import LocalAccount

from p2penergy.chain.config import Settings
from p2penergy.chain.connect import Chain
from p2penergy.chain.deploy import System
from p2penergy.chain.keyfile import LIGHT_SCRYPT_N, STANDARD_SCRYPT_N
from p2penergy.cli._utils import handle_errors as _utils_handle_errors
from p2penergy.exceptions import (
    ChainError,
    DeploymentError,
    KeystoreError,
    NodeUnreachable,
    WrongChain,
)
from p2penergy.wallet.keystore import Keystore

F = TypeVar("F", bound=Callable[..., Any])


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


keystore_dir_option = click.option(
    "--keystore-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keystore folder (default: $P2PENERGY_KEYSTORE_DIR or <user data dir>/keystores).",
)

keystore_options = _stack(
    keystore_dir_option,
    click.option(
        "--password-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help="Read the password from the first line of this file instead of a hidden prompt.",
    ),
)

account_options = _stack(
    click.option(
        "-a",
        "--account",
        default=None,
        envvar="P2PENERGY_ACCOUNT",
        help="Account name or address in the keystore ($P2PENERGY_ACCOUNT; default: the only one).",
    ),
    keystore_options,
)

connection_options = _stack(
    click.option("--rpc", default=None, help="JSON-RPC URL ($P2PENERGY_RPC, config file)."),
    click.option(
        "--deployments",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Address book folder ($P2PENERGY_DEPLOYMENTS, config file, ./deployments).",
    ),
    click.option(
        "--chain-id", type=int, default=None, help="Refuse to talk to a node on any other chain."
    ),
)

yes_option = click.option("-y", "--yes", is_flag=True, help="Sign without asking to confirm.")

light_kdf_option = click.option(
    "--light-kdf",
    is_flag=True,
    help="Cheaper scrypt (N=4096, like geth --lightkdf): faster, less resistant to guessing.",
)


def scrypt_n(light_kdf: bool) -> int:
    return LIGHT_SCRYPT_N if light_kdf else STANDARD_SCRYPT_N


def read_password(
    password_file: Path | None, prompt: str = "Password", *, confirm: bool = False
) -> str:
    """The password from `--password-file` (first line) or a hidden prompt; never from argv."""
    if password_file is not None:
        from p2penergy.chain.keyfile import read_password_file

        password = read_password_file(password_file)
        if not password:
            raise KeystoreError(f"the password file {password_file} is empty")
        return password
    value = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    if not value:
        raise KeystoreError("an empty password is not allowed")
    return str(value)


def pick_account(keystore: Keystore, ref: str | None) -> str:
    """The account reference to use: `ref`, or the only account in the keystore."""
    if ref:
        return ref
    entries = keystore.entries()
    if len(entries) == 1:
        return entries[0].address
    if not entries:
        raise KeystoreError(
            f"no accounts in {keystore.folder}: create one with `p2penergy wallet new`"
        )
    raise KeystoreError(
        f"{len(entries)} accounts in {keystore.folder}: choose one with --account NAME"
    )


def unlock(
    keystore_dir: Path | None, account: str | None, password_file: Path | None
) -> LocalAccount:
    """Finds and decrypts the account to sign with."""
    keystore = Keystore(keystore_dir)
    ref = pick_account(keystore, account)
    keystore.find(ref)  # fail on an unknown name before asking for a password
    return keystore.unlock(ref, read_password(password_file, f"Password for {ref}"))


def _hinted(exc: ChainError) -> ChainError:
    text = str(exc)
    if isinstance(exc, NodeUnreachable):
        return ChainError(f"{text}: start the node or pass --rpc URL (or set P2PENERGY_RPC)")
    if isinstance(exc, WrongChain):
        return ChainError(f"{text}: wrong network; check --rpc and --chain-id (or the config file)")
    return exc


def open_chain(settings: Settings) -> Chain:
    """Connects to the node of `settings`; connection problems say what to try."""
    from p2penergy.chain.connect import rpc

    try:
        return rpc(settings.rpc, expected_chain_id=settings.chain_id)
    except ChainError as exc:
        raise _hinted(exc) from None


def open_system(rpc: str | None, deployments: Path | None, chain_id: int | None) -> System:
    """Connects and loads the address book; connection problems say what to try."""
    from p2penergy.chain.config import connect_system, resolve

    settings = resolve(rpc, deployments, chain_id)
    open_chain(settings)  # fails early with a hint
    try:
        return connect_system(settings)
    except DeploymentError:
        raise
    except ChainError as exc:
        raise _hinted(exc) from None


def handle_errors(func: F) -> F:
    """`_utils.handle_errors`, plus a node that stops answering in the middle of a command."""
    import functools

    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import Timeout

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (RequestsConnectionError, Timeout) as exc:
            raise ChainError(
                f"the node stopped answering ({type(exc).__name__}): check it is running; "
                "a transaction may or may not have been sent, see `p2penergy orders`"
            ) from None

    return _utils_handle_errors(wrapper)  # type: ignore[return-value]
