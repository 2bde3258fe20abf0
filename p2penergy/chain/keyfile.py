"""Key files, once for every service: Web3 Secret Storage (v3) keystores, 0600 private files
and password files. The wallet's keystore folder and the oracle's device keys build on this.

Passwords are UTF-8 after Unicode NFKC normalisation, as ethers v6 does when it encrypts and
decrypts: "Ångström" typed with a composed Å or an A plus a combining ring opens the same file.
A file written before (the password's UTF-8 as typed, as geth does) still opens: decryption
tries the normalised password first, then the password as typed.
"""

from __future__ import annotations

import hmac
import json
import unicodedata
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from p2penergy.exceptions import KeystoreError, WrongPassword

# geth's default scrypt cost (N = 2^18, r = 8, p = 1); `light` is geth's --lightkdf (N = 2^12).
STANDARD_SCRYPT_N = 262_144
LIGHT_SCRYPT_N = 4_096
_CRYPTO_FIELDS = {"cipher", "ciphertext", "cipherparams", "kdf", "kdfparams", "mac"}


def encrypt(account: LocalAccount, password: str, scrypt_n: int = STANDARD_SCRYPT_N) -> Any:
    """`account`'s key as a v3 keystore document (scrypt with cost `scrypt_n`), under the
    NFKC-normalised `password`."""
    return Account.encrypt(account.key, _nfkc(password), kdf="scrypt", iterations=scrypt_n)


def _nfkc(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def password_candidates(password: str) -> tuple[bytes, ...]:
    """The byte strings a keystore's password may have been derived from, in the order tried:
    the NFKC-normalised UTF-8 (ethers v6, and every file written here now), then the UTF-8 as
    typed (geth, and the files written here before normalisation) when it differs."""
    normalised = _nfkc(password).encode()
    typed = password.encode()
    return (normalised,) if typed == normalised else (normalised, typed)


def read_keyfile(path: Path) -> dict[str, Any]:
    """Reads and checks the shape of a v3 keystore file (without decrypting it)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeystoreError(f"keystore file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise KeystoreError(
            f"keystore file {path} is corrupted (not JSON): restore it from a backup"
        ) from None
    if not is_v3(data):
        raise KeystoreError(
            f"keystore file {path} is corrupted (not a version 3 keystore): restore it from a "
            "backup"
        )
    return dict(data)


def is_v3(data: Any) -> bool:
    """True when `data` has the fields of a version 3 keystore."""
    crypto = data.get("crypto", data.get("Crypto")) if isinstance(data, dict) else None
    return (
        isinstance(data, dict)
        and data.get("version") == 3
        and isinstance(crypto, dict)
        and set(crypto) >= _CRYPTO_FIELDS
    )


def keyfile_address(data: dict[str, Any]) -> str | None:
    """The checksummed address a keystore declares (geth always writes one), if any."""
    raw = data.get("address")
    if isinstance(raw, str) and is_address("0x" + raw.lower().removeprefix("0x")):
        return str(to_checksum_address("0x" + raw.lower().removeprefix("0x")))
    return None


def decrypt_keyfile(data: dict[str, Any], password: str, where: str) -> LocalAccount:
    """The account inside the v3 keystore `data`; WrongPassword when the MAC does not match,
    KeystoreError when the file is damaged (no secrets in either message)."""
    corrupted = f"keystore {where} is corrupted"
    try:
        key = _decrypt_v3(data, password)
    except WrongPassword:
        raise WrongPassword(
            f"wrong password for {where}: try again (passwords are case sensitive)"
        ) from None
    except Exception as exc:  # malformed fields: hex, kdf params, unsupported cipher
        raise KeystoreError(
            f"{corrupted} ({type(exc).__name__}): restore it from a backup"
        ) from None
    account: LocalAccount = Account.from_key(key)
    declared = keyfile_address(data)
    if declared is not None and declared != account.address:
        raise KeystoreError(f"{corrupted} (its key does not match its address {declared})")
    return account


def _decrypt_v3(data: dict[str, Any], password: str) -> bytes:
    """eth_keyfile's v3 decoder, with the MAC check raising a type: derive the key for each
    password candidate, compare the MAC (keccak of the key's second half and the ciphertext),
    then decrypt. The password goes to the KDF as UTF-8 bytes: given a str, eth_keyfile's scrypt
    would encode it as Latin-1 (and fail on any other character), unlike Account.encrypt."""
    from eth_keyfile.keyfile import _derive_pbkdf_key, _derive_scrypt_key, decrypt_aes_ctr

    crypto = data.get("crypto", data.get("Crypto"))
    if not isinstance(crypto, dict) or crypto.get("cipher") != "aes-128-ctr":
        raise TypeError("unsupported cipher")
    derive = {"scrypt": _derive_scrypt_key, "pbkdf2": _derive_pbkdf_key}[crypto["kdf"]]
    ciphertext = bytes.fromhex(str(crypto["ciphertext"]).removeprefix("0x"))
    mac = bytes.fromhex(str(crypto["mac"]).removeprefix("0x"))
    for candidate in password_candidates(password):
        # eth_keyfile annotates str but hands the password to hashlib / pycryptodome, which
        # take bytes as they are
        derived: bytes = derive(crypto["kdfparams"], candidate)  # type: ignore[arg-type]
        if hmac.compare_digest(keccak(derived[16:32] + ciphertext), mac):
            iv = int.from_bytes(bytes.fromhex(str(crypto["cipherparams"]["iv"]).removeprefix("0x")))
            return bytes(decrypt_aes_ctr(ciphertext, derived[:16], iv))
    raise WrongPassword("MAC mismatch")


def read_password_file(path: Path) -> str:
    """The first line of a password file (trailing newline stripped; "" for an empty file)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise KeystoreError(f"cannot read the password file {path}: {exc.strerror}") from None
    return lines[0] if lines else ""
