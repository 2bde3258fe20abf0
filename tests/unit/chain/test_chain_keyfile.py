"""Key files: a wrong password is told from a damaged file by the keystore's MAC (a type, not a
message), and keys are written 0600 and never over an existing file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from eth_account import Account

from p2penergy._atomic import write_private
from p2penergy.chain.keyfile import (
    LIGHT_SCRYPT_N,
    decrypt_keyfile,
    encrypt,
    password_candidates,
    read_password_file,
)
from p2penergy.exceptions import KeystoreError, WrongPassword

ACCOUNT = Account.from_key("0x" + "11" * 32)
DATA = encrypt(ACCOUNT, "right", LIGHT_SCRYPT_N)


def test_the_right_password_gives_the_account_back():
    assert decrypt_keyfile(DATA, "right", "k").address == ACCOUNT.address


def test_a_wrong_password_is_wrong_password_and_a_permission_error():
    with pytest.raises(WrongPassword, match="wrong password for k") as raised:
        decrypt_keyfile(DATA, "wrong", "k")
    assert isinstance(raised.value, PermissionError)


def test_damaged_fields_are_a_corrupted_keystore_not_a_wrong_password():
    broken = {**DATA, "crypto": {**DATA["crypto"], "kdfparams": {}}}
    with pytest.raises(KeystoreError, match="corrupted") as raised:
        decrypt_keyfile(broken, "right", "k")
    assert not isinstance(raised.value, WrongPassword)


def test_a_key_that_does_not_match_the_declared_address_is_corrupted():
    other = {**DATA, "address": "22" * 20}
    with pytest.raises(KeystoreError, match="does not match its address"):
        decrypt_keyfile(other, "right", "k")


def test_private_files_are_0600_and_never_overwritten(tmp_path: Path):
    path = tmp_path / "key"
    write_private(path, "secret\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_private(path, "other\n")
    assert path.read_text() == "secret\n"


def test_a_password_file_gives_its_first_line(tmp_path: Path):
    path = tmp_path / "pw"
    path.write_text("s3cret\nignored\n")
    assert read_password_file(path) == "s3cret"
    path.write_text("")
    assert read_password_file(path) == ""
    with pytest.raises(KeystoreError, match="cannot read the password file"):
        read_password_file(tmp_path / "missing")


COMPOSED = "\u00c5ngstr\u00f6m"  # Å and ö as one code point each (NFC)
DECOMPOSED = "A\u030angstro\u0308m"  # A + combining ring, o + combining diaeresis (NFD)


def test_a_password_opens_its_file_typed_composed_or_decomposed():
    """Passwords are NFKC-normalised as ethers v6 does, when encrypting and decrypting."""
    assert COMPOSED != DECOMPOSED
    for written, typed in ((COMPOSED, DECOMPOSED), (DECOMPOSED, COMPOSED), (COMPOSED, COMPOSED)):
        data = encrypt(ACCOUNT, written, LIGHT_SCRYPT_N)
        assert decrypt_keyfile(data, typed, "k").address == ACCOUNT.address
    # NFKC, not NFC: compatibility forms (full-width letters, ligatures) fold too
    data = encrypt(ACCOUNT, "\uff30\uff41\uff53\uff53-\ufb01", LIGHT_SCRYPT_N)
    assert decrypt_keyfile(data, "Pass-fi", "k").address == ACCOUNT.address


def test_the_file_holds_the_key_under_the_normalised_utf8_password():
    """What ethers v6 derives from: the NFKC form's UTF-8 bytes (eth-account decrypts it)."""
    data = encrypt(ACCOUNT, DECOMPOSED, LIGHT_SCRYPT_N)
    assert Account.decrypt(data, COMPOSED.encode()) == ACCOUNT.key
    assert password_candidates(DECOMPOSED) == (COMPOSED.encode(), DECOMPOSED.encode())
    assert password_candidates("right") == (b"right",)  # ASCII: one derivation, as before


def test_a_file_written_before_normalisation_still_opens_with_the_password_as_typed():
    legacy = Account.encrypt(ACCOUNT.key, DECOMPOSED, kdf="scrypt", iterations=LIGHT_SCRYPT_N)
    assert decrypt_keyfile(legacy, DECOMPOSED, "k").address == ACCOUNT.address
    with pytest.raises(WrongPassword):
        decrypt_keyfile(legacy, "Angstrom", "k")


def test_passwords_beyond_latin1_and_pbkdf2_files_open():
    """The KDF gets UTF-8 bytes: a str would reach eth_keyfile's scrypt as Latin-1 (Ω cannot be
    encoded: the file read as damaged) and its PBKDF2 not at all."""
    greek = "\u03a9mega-\u00e9t\u00e9"
    data = encrypt(ACCOUNT, greek, LIGHT_SCRYPT_N)
    assert decrypt_keyfile(data, greek, "k").address == ACCOUNT.address
    pbkdf2 = Account.encrypt(ACCOUNT.key, COMPOSED, kdf="pbkdf2", iterations=1_000)
    assert decrypt_keyfile(pbkdf2, DECOMPOSED, "k").address == ACCOUNT.address
    with pytest.raises(WrongPassword):
        decrypt_keyfile(data, "\u03a9mega-ete", "k")
