"""`p2penergy wallet ...`: keystores (new, import, list, export, rename)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from p2penergy.cli._options import (
    handle_errors,
    keystore_dir_option,
    keystore_options,
    light_kdf_option,
    pick_account,
    read_password,
    scrypt_n,
)
from p2penergy.cli._utils import console, json_option, print_json
from p2penergy.exceptions import KeystoreError
from p2penergy.wallet.keystore import Keystore, KeystoreEntry


def _entry_json(entry: KeystoreEntry) -> dict[str, str | None]:
    return {"address": entry.address, "name": entry.name, "file": str(entry.path)}


def _report(entry: KeystoreEntry, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(_entry_json(entry))
        return
    label = f" as {entry.name!r}" if entry.name else ""
    console.print(f"{verb} {entry.address}{label} in {entry.path}", highlight=False)


@click.group("wallet")
def wallet_group() -> None:
    """Your keys: geth/MetaMask-compatible keystore files (Web3 Secret Storage, scrypt).

    Keys are encrypted with a password you type at a hidden prompt (or give with
    --password-file for scripts); passwords and keys are never taken from the command line.
    """


@wallet_group.command("new")
@click.option("--name", default=None, help="A local name for the account (e.g. jane).")
@keystore_options
@light_kdf_option
@json_option
@handle_errors
def wallet_new(
    name: str | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    light_kdf: bool,
    as_json: bool,
) -> None:
    """Create a new account and store its key encrypted with a password."""
    keystore = Keystore(keystore_dir, scrypt_n=scrypt_n(light_kdf))
    password = read_password(password_file, "New password", confirm=True)
    _report(keystore.new(password, name), "created", as_json)


@wallet_group.command("import")
@click.option(
    "--keyfile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A keystore JSON file (geth, MetaMask, another wallet). Without it: a private key.",
)
@click.option(
    "--private-key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Read the private key (hex) from this file instead of a hidden prompt.",
)
@click.option(
    "--new-password-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Re-encrypt an imported keystore under the password in this file.",
)
@click.option("--name", default=None, help="A local name for the account.")
@keystore_options
@light_kdf_option
@json_option
@handle_errors
def wallet_import(
    keyfile: Path | None,
    private_key_file: Path | None,
    new_password_file: Path | None,
    name: str | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    light_kdf: bool,
    as_json: bool,
) -> None:
    """Import an account from a keystore file or a private key (MetaMask "export key").

    With --keyfile, --password-file is the file's password (the copy keeps it unless
    --new-password-file is given). With a private key, it is the new keystore's password.
    """
    keystore = Keystore(keystore_dir, scrypt_n=scrypt_n(light_kdf))
    if keyfile is not None:
        password = read_password(password_file, f"Password of {keyfile.name}")
        new_password = read_password(new_password_file, confirm=True) if new_password_file else None
        entry = keystore.import_file(keyfile, password, new_password, name)
    else:
        if private_key_file is not None:
            key = private_key_file.read_text().strip()
        else:
            key = click.prompt("Private key (hex)", hide_input=True, err=True)
        password = read_password(password_file, "New password", confirm=True)
        entry = keystore.import_key(key, password, name)
    _report(entry, "imported", as_json)


@wallet_group.command("list")
@keystore_dir_option
@json_option
@handle_errors
def wallet_list(keystore_dir: Path | None, as_json: bool) -> None:
    """List the accounts in the keystore folder (no password needed)."""
    keystore = Keystore(keystore_dir)
    entries = keystore.entries()
    if as_json:
        print_json([_entry_json(e) for e in entries])
        return
    if not entries:
        console.print(
            f"no accounts in {keystore.folder}: create one with `p2penergy wallet new`",
            highlight=False,
        )
        return
    table = Table(title=f"Accounts in {keystore.folder}")
    for column in ("name", "address", "file"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.name or "", e.address, e.path.name)
    console.print(table)


@wallet_group.command("export")
@click.argument("account", required=False)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="File (or folder) to write; it is created with owner-only permissions.",
)
@click.option(
    "--private-key",
    "raw_key",
    is_flag=True,
    help="Write the raw private key (hex, for MetaMask 'Import account') instead of a keystore.",
)
@click.option(
    "--new-password-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Re-encrypt the exported keystore under the password in this file.",
)
@keystore_options
@json_option
@handle_errors
def wallet_export(
    account: str | None,
    out: Path,
    raw_key: bool,
    new_password_file: Path | None,
    keystore_dir: Path | None,
    password_file: Path | None,
    as_json: bool,
) -> None:
    """Export ACCOUNT (name or address) as a keystore file, or its raw key, to a file.

    The key is never printed: it goes to --out with owner-only permissions.
    """
    import os

    keystore = Keystore(keystore_dir)
    ref = pick_account(keystore, account)
    entry = keystore.find(ref)
    password = read_password(password_file, f"Password for {ref}")
    if raw_key:
        if out.exists():
            raise KeystoreError(f"{out} already exists: choose another file")
        key = keystore.unlock(ref, password).key.hex()
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("0x" + key.removeprefix("0x") + "\n")
        written = out
    else:
        new_password = read_password(new_password_file, confirm=True) if new_password_file else None
        written = keystore.export_file(ref, password, out, new_password)
    if as_json:
        print_json({"address": entry.address, "file": str(written), "private_key": raw_key})
        return
    what = "private key" if raw_key else "keystore"
    console.print(f"wrote the {what} of {entry.address} to {written}", highlight=False)


@wallet_group.command("rename")
@click.argument("account")
@click.argument("new_name")
@keystore_dir_option
@json_option
@handle_errors
def wallet_rename(account: str, new_name: str, keystore_dir: Path | None, as_json: bool) -> None:
    """Give ACCOUNT (a name or an address) the local name NEW_NAME."""
    _report(Keystore(keystore_dir).rename(account, new_name), "renamed", as_json)
