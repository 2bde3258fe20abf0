"""Web3 Secret Storage (v3, scrypt) keystore files, compatible with geth and MetaMask.

Files live in one folder (default `<user data dir>/keystores`) and are named as geth names them,
`UTC--<ISO time>--<address without 0x, lower case>`, so the folder can be shared with geth's
`keystore/` folder. Local names ("jane", "operator") are kept in `names.json` next to them; a
keystore file never carries a name. Private keys and passwords are never put in messages.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address

from p2penergy._atomic import write_private
from p2penergy.chain.config import user_data_dir
from p2penergy.chain.keyfile import (
    STANDARD_SCRYPT_N,
    decrypt_keyfile,
    encrypt,
    keyfile_address,
    read_keyfile,
)
from p2penergy.exceptions import KeystoreError

NAMES_FILE = "names.json"
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,39}$")


def default_keystore_dir() -> Path:
    """`<user data dir>/keystores` (XDG on Linux), or `$P2PENERGY_KEYSTORE_DIR`."""
    override = os.environ.get("P2PENERGY_KEYSTORE_DIR")
    return Path(override) if override else user_data_dir() / "keystores"


@dataclass(frozen=True)
class KeystoreEntry:
    """One account in the keystore folder."""

    address: str
    name: str | None
    path: Path


def geth_file_name(address: str, when: datetime | None = None) -> str:
    """`UTC--2026-11-22T00-23-02.123456789Z--<address>` as geth writes it."""
    when = when or datetime.now(UTC)
    stamp = when.strftime("%Y-%m-%dT%H-%M-%S.") + f"{when.microsecond * 1000:09d}Z"
    return f"UTC--{stamp}--{address.lower().removeprefix('0x')}"


class Keystore:
    """A folder of v3 keystore files plus the local names given to them."""

    def __init__(self, folder: Path | None = None, *, scrypt_n: int = STANDARD_SCRYPT_N) -> None:
        self.folder = folder or default_keystore_dir()
        self.scrypt_n = scrypt_n

    # ── reading ──

    def _names(self) -> dict[str, str]:
        path = self.folder / NAMES_FILE
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            raise KeystoreError(
                f"{path} is corrupted: fix or delete it (keys are unaffected)"
            ) from None
        return {str(k): str(to_checksum_address(v)) for k, v in dict(data).items()}

    def _write_names(self, names: dict[str, str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(names, indent=2, sort_keys=True) + "\n"
        write_private(self.folder / NAMES_FILE, text, replace=True)

    def _files(self) -> Iterator[tuple[str, Path]]:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.iterdir()):
            if path.name == NAMES_FILE or path.name.startswith(".") or not path.is_file():
                continue
            try:
                data = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            address = keyfile_address(data) if isinstance(data, dict) else None
            if address is not None:
                yield address, path

    def entries(self) -> list[KeystoreEntry]:
        """Every account in the folder, with its local name when it has one."""
        by_address = {address: name for name, address in self._names().items()}
        return [
            KeystoreEntry(address=address, name=by_address.get(address), path=path)
            for address, path in self._files()
        ]

    def find(self, ref: str) -> KeystoreEntry:
        """The entry for a local name or an address."""
        names = self._names()
        target = names.get(ref)
        if target is None and is_address(ref):
            target = str(to_checksum_address(ref))
        for entry in self.entries():
            if entry.address == target:
                return entry
        known = ", ".join(sorted(names)) or "none"
        raise KeystoreError(
            f"no account {ref!r} in {self.folder} (names: {known}): see `p2penergy wallet list`"
        )

    def unlock(self, ref: str, password: str) -> LocalAccount:
        """Decrypts the key of `ref` (a name or an address)."""
        entry = self.find(ref)
        return decrypt_keyfile(read_keyfile(entry.path), password, f"{ref} ({entry.path.name})")

    # ── writing ──

    def _store(self, account: LocalAccount, password: str, name: str | None) -> KeystoreEntry:
        if name is not None:
            self._check_new_name(name)
        if any(e.address == account.address for e in self.entries()):
            raise KeystoreError(f"{account.address} is already in {self.folder}")
        data = encrypt(account, password, self.scrypt_n)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.folder / geth_file_name(account.address)
        # 0600 from the start, like geth: the file never exists readable by others; written
        # atomically (fsync + link): a crash never leaves a partial keystore.
        write_private(path, json.dumps(data))
        if name is not None:
            names = self._names()
            names[name] = account.address
            self._write_names(names)
        return KeystoreEntry(address=account.address, name=name, path=path)

    def new(self, password: str, name: str | None = None) -> KeystoreEntry:
        """Creates a fresh random key and stores it encrypted with `password`."""
        return self._store(Account.create(), password, name)

    def import_key(self, private_key: str, password: str, name: str | None = None) -> KeystoreEntry:
        """Stores a raw private key (hex, as MetaMask exports it) encrypted with `password`."""
        try:
            account: LocalAccount = Account.from_key(private_key.strip())
        except Exception:
            raise KeystoreError(
                "that is not a private key (expected 64 hex digits, with or without 0x)"
            ) from None
        return self._store(account, password, name)

    def import_file(
        self, path: Path, password: str, new_password: str | None = None, name: str | None = None
    ) -> KeystoreEntry:
        """Imports a keystore file from geth, MetaMask or another tool (checked by decrypting)."""
        account = decrypt_keyfile(read_keyfile(path), password, str(path))
        return self._store(account, new_password or password, name)

    def export_file(self, ref: str, password: str, out: Path, new_password: str | None) -> Path:
        """Writes `ref`'s keystore to `out` (re-encrypted under `new_password` when given)."""
        entry = self.find(ref)
        data = read_keyfile(entry.path)
        account = decrypt_keyfile(data, password, ref)
        if new_password is not None:
            data = encrypt(account, new_password, self.scrypt_n)
        if out.is_dir():
            out = out / entry.path.name
        if out.exists():
            raise KeystoreError(f"{out} already exists: choose another file")
        write_private(out, json.dumps(data))
        return out

    def rename(self, ref: str, new_name: str) -> KeystoreEntry:
        """Gives the account `ref` the local name `new_name` (replacing any old name)."""
        entry = self.find(ref)
        self._check_new_name(new_name)
        names = {k: v for k, v in self._names().items() if v != entry.address}
        names[new_name] = entry.address
        self._write_names(names)
        return KeystoreEntry(address=entry.address, name=new_name, path=entry.path)

    def _check_new_name(self, name: str) -> None:
        if not _NAME_RE.match(name) or is_address(name):
            raise KeystoreError(
                f"{name!r} is not a usable name: start with a letter; letters, digits, _ . - only"
            )
        if name in self._names():
            raise KeystoreError(f"the name {name!r} is taken: pick another or rename that one")
