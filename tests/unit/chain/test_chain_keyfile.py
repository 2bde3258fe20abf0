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
