"""Meter (and relayer) device keys: a Web3 Secret Storage keystore or a 0600 raw key file.

A meter's key only signs readings; the relayer that submits them is untrusted. Keys never travel
through argv: keystore passwords come from a hidden prompt or a password file.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from p2penergy._atomic import write_private
from p2penergy.chain.keyfile import decrypt_keyfile, encrypt, is_v3
from p2penergy.exceptions import KeystoreError, OracleError


class DeviceKeyError(OracleError):
    """A device key file is missing, unreadable, too widely readable or has a wrong password."""


def new_keystore(path: Path, password: str, account: LocalAccount | None = None) -> LocalAccount:
    """Writes `account` (default: a fresh key) as a Web3 Secret Storage (v3) keystore at `path`."""
    if not password:
        raise DeviceKeyError("a keystore needs a non-empty password")
    account = account or Account.create()
    encrypted = encrypt(account, password)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, json.dumps(encrypted) + "\n")
    except FileExistsError:
        raise DeviceKeyError(f"{path} already exists: refusing to overwrite a key") from None
    return account


def new_key_file(path: Path, account: LocalAccount | None = None) -> LocalAccount:
    """Writes `account` (default: a fresh key) as a hex private key in a 0600 file at `path`."""
    account = account or Account.create()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, account.key.hex() + "\n")
    except FileExistsError:
        raise DeviceKeyError(f"{path} already exists: refusing to overwrite a key") from None
    return account


def is_keystore(path: Path) -> bool:
    """True when `path` holds a JSON keystore (rather than a raw hex key)."""
    try:
        return path.read_text().lstrip().startswith("{")
    except OSError as exc:
        raise DeviceKeyError(f"cannot read key {path}: {exc.strerror}") from None


def load_key(path: Path, password: str | None = None) -> LocalAccount:
    """Loads a keystore (needs `password`) or a raw key file (must not be group/world readable)."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise DeviceKeyError(f"cannot read key {path}: {exc.strerror}") from None
    if text.startswith("{"):
        if password is None:
            raise DeviceKeyError(f"{path} is a keystore: a password is needed")
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        damaged = DeviceKeyError(f"{path}: wrong password or damaged keystore")
        if not is_v3(data):
            raise damaged
        try:
            return decrypt_keyfile(data, password, str(path))
        except KeystoreError:
            raise damaged from None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise DeviceKeyError(f"{path} is readable by others (mode {mode:o}): chmod 600 it")
    try:
        return Account.from_key(text)  # type: ignore[no-any-return]
    except (ValueError, TypeError):
        raise DeviceKeyError(f"{path} does not hold a private key") from None


def address_of(spec: str) -> str:
    """The account address named by `spec`: an 0x address, a keystore (its public `address`
    field: no password needed) or a raw key file."""
    from eth_utils.address import is_address, to_checksum_address

    if is_address(spec):
        return str(to_checksum_address(spec))
    path = Path(spec)
    if is_keystore(path):
        try:
            address = json.loads(path.read_text())["address"]
        except (ValueError, KeyError):
            raise DeviceKeyError(f"{path} is not a keystore with an address") from None
        return str(to_checksum_address("0x" + str(address).removeprefix("0x")))
    return str(load_key(path).address)


def load_keys(folder: Path, password: str | None = None) -> list[LocalAccount]:
    """Every key in `folder` (`*.json` keystores and `*.key` files), in name order."""
    if not folder.is_dir():
        raise DeviceKeyError(f"key folder {folder} does not exist")
    paths = sorted(p for p in folder.iterdir() if p.suffix in (".json", ".key") and p.is_file())
    return [load_key(p, password) for p in paths]
