"""Keystores through `p2penergy wallet ...`: geth-format fixture, round trips, bad passwords."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from eth_account import Account

from p2penergy.chain.keyfile import LIGHT_SCRYPT_N
from p2penergy.cli.main import cli
from p2penergy.wallet.keystore import Keystore

FIXTURE = Path(__file__).parents[2] / "fixtures" / "keystores" / "geth-keystore.json"
FIXTURE_KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
FIXTURE_PASSWORD = "correct horse battery staple"
FIXTURE_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
PASSWORD = "s3cret-Pa55word"


def secrets_absent(text: str, *secrets: str) -> bool:
    lowered = text.lower()
    return all(s.lower().removeprefix("0x") not in lowered for s in secrets if s)


@pytest.fixture
def env(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> dict[str, Path]:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    (tmp_path / "fixture-pw").write_text(FIXTURE_PASSWORD + "\n")
    (tmp_path / "wrong-pw").write_text("not the password\n")
    return {
        "dir": tmp_path / "keys",
        "pw": tmp_path / "pw",
        "fixture_pw": tmp_path / "fixture-pw",
        "wrong_pw": tmp_path / "wrong-pw",
        "tmp": tmp_path,
    }


def run(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def check_clean(result: Result, caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    assert secrets_absent(result.output, *secrets)
    assert secrets_absent(result.stderr, *secrets)
    assert secrets_absent(caplog.text, *secrets)


def test_import_of_a_geth_keystore_round_trips(
    env: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    keys = env["dir"]
    result = run(
        "wallet", "import", "--keyfile", FIXTURE, "--name", "jane",
        "--keystore-dir", keys, "--password-file", env["fixture_pw"], "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["address"] == FIXTURE_ADDRESS
    assert Path(data["file"]).name.startswith("UTC--")
    assert Path(data["file"]).name.endswith("--" + FIXTURE_ADDRESS[2:].lower())
    assert stat.S_IMODE(Path(data["file"]).stat().st_mode) == 0o600
    listed = json.loads(run("wallet", "list", "--keystore-dir", keys, "--json").stdout)
    assert listed == [data]
    assert Keystore(keys).unlock("jane", FIXTURE_PASSWORD).key.hex().endswith(FIXTURE_KEY)
    out = env["tmp"] / "exported.json"
    result = run(
        "wallet", "export", "jane", "--out", out,
        "--keystore-dir", keys, "--password-file", env["fixture_pw"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    exported = json.loads(out.read_text())
    assert exported["version"] == 3 and exported["crypto"]["kdf"] == "scrypt"
    assert Account.decrypt(exported, FIXTURE_PASSWORD).hex().endswith(FIXTURE_KEY)
    check_clean(result, caplog, FIXTURE_KEY, FIXTURE_PASSWORD)


def test_new_writes_a_standard_keystore_that_eth_account_opens(
    env: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    result = run(
        "wallet", "new", "--name", "omar", "--light-kdf",
        "--keystore-dir", env["dir"], "--password-file", env["pw"], "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    keyfile = json.loads(Path(data["file"]).read_text())
    assert keyfile["crypto"]["kdf"] == "scrypt"
    assert keyfile["crypto"]["kdfparams"]["n"] == LIGHT_SCRYPT_N
    key = Account.decrypt(keyfile, PASSWORD)
    assert Account.from_key(key).address == data["address"]
    check_clean(result, caplog, key.hex(), PASSWORD)


def test_new_prompts_hidden_and_asks_twice(env: dict[str, Path]) -> None:
    result = run(
        "wallet", "new", "--light-kdf", "--keystore-dir", env["dir"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "created 0x" in result.stdout
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert len(Keystore(env["dir"]).entries()) == 1


def test_import_of_a_private_key_from_the_hidden_prompt(
    env: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    result = run(
        "wallet", "import", "--light-kdf", "--keystore-dir", env["dir"], "--name", "li",
        input=f"0x{FIXTURE_KEY}\n{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert FIXTURE_ADDRESS in result.stdout
    check_clean(result, caplog, FIXTURE_KEY, PASSWORD)


def test_export_of_the_raw_key_goes_to_an_owner_only_file(
    env: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    run("wallet", "import", "--keyfile", FIXTURE, "--keystore-dir", env["dir"],
        "--password-file", env["fixture_pw"])  # fmt: skip
    out = env["tmp"] / "key.txt"
    result = run(
        "wallet", "export", FIXTURE_ADDRESS, "--private-key", "--out", out,
        "--keystore-dir", env["dir"], "--password-file", env["fixture_pw"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.read_text().strip() == "0x" + FIXTURE_KEY
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    check_clean(result, caplog, FIXTURE_KEY, FIXTURE_PASSWORD)


def test_rename_and_use_by_the_new_name(env: dict[str, Path]) -> None:
    run("wallet", "import", "--keyfile", FIXTURE, "--keystore-dir", env["dir"], "--name", "a",
        "--password-file", env["fixture_pw"])  # fmt: skip
    result = run("wallet", "rename", "a", "clinic", "--keystore-dir", env["dir"])
    assert result.exit_code == 0, result.output
    listed = json.loads(run("wallet", "list", "--keystore-dir", env["dir"], "--json").stdout)
    assert [e["name"] for e in listed] == ["clinic"]
    result = run("wallet", "rename", "a", "x", "--keystore-dir", env["dir"])
    assert result.exit_code == 1
    assert "no account 'a'" in result.stderr and "wallet list" in result.stderr


def test_wrong_password_is_one_clear_line(
    env: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    result = run(
        "wallet", "import", "--keyfile", FIXTURE, "--keystore-dir", env["dir"],
        "--password-file", env["wrong_pw"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.startswith("error: wrong password for ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    check_clean(result, caplog, FIXTURE_KEY, FIXTURE_PASSWORD, "not the password")


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: text.replace('"version": 3', '"version": 1'),
        lambda text: text.replace('"ciphertext": "92', '"ciphertext": "zz'),
        lambda text: text.replace('"salt": "ab', '"salt": "ac'),  # wrong key material
    ],
    ids=["truncated", "wrong-version", "bad-hex", "tampered-salt"],
)
def test_corrupted_keystore_is_one_clear_line(
    env: dict[str, Path], caplog: pytest.LogCaptureFixture, damage: object
) -> None:
    broken = env["tmp"] / "broken.json"
    broken.write_text(damage(FIXTURE.read_text()))  # type: ignore[operator]
    result = run(
        "wallet", "import", "--keyfile", broken, "--keystore-dir", env["dir"],
        "--password-file", env["fixture_pw"],
    )  # fmt: skip
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    # A tampered salt only shows as a MAC mismatch, which is indistinguishable from a wrong
    # password; every other damage is reported as corruption.
    assert "corrupted" in line or "wrong password" in line
    check_clean(result, caplog, FIXTURE_KEY, FIXTURE_PASSWORD)


def test_keystore_in_the_folder_corrupted_after_import(env: dict[str, Path]) -> None:
    run("wallet", "import", "--keyfile", FIXTURE, "--keystore-dir", env["dir"], "--name", "j",
        "--password-file", env["fixture_pw"])  # fmt: skip
    (keyfile,) = [p for p in env["dir"].iterdir() if p.name.startswith("UTC--")]
    data = json.loads(keyfile.read_text())
    del data["crypto"]["mac"]
    keyfile.write_text(json.dumps(data))
    with pytest.raises(Exception, match="corrupted"):
        Keystore(env["dir"]).unlock("j", FIXTURE_PASSWORD)


def test_duplicate_import_and_bad_names_are_refused(env: dict[str, Path]) -> None:
    args = ("wallet", "import", "--keyfile", FIXTURE, "--keystore-dir", env["dir"],
            "--password-file", env["fixture_pw"])  # fmt: skip
    assert run(*args).exit_code == 0
    result = run(*args)
    assert result.exit_code == 1 and "already in" in result.stderr
    result = run("wallet", "rename", FIXTURE_ADDRESS, "9lives", "--keystore-dir", env["dir"])
    assert result.exit_code == 1 and "not a usable name" in result.stderr


def test_empty_folder_says_how_to_start(env: dict[str, Path]) -> None:
    result = run("wallet", "list", "--keystore-dir", env["dir"])
    assert result.exit_code == 0 and "p2penergy wallet new" in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["wallet", "new"], ["wallet", "import"], ["wallet", "list"], ["wallet", "export"],
        ["wallet", "rename"], ["balance"], ["offer"], ["bid"], ["cancel"], ["orders"],
        ["trades"], ["certificates"], ["retire"], ["redeem"], ["admin", "deploy"],
        ["admin", "register"], ["admin", "suspend"], ["admin", "register-meter"],
        ["admin", "rotate-meter-key"], ["admin", "set-tariffs"], ["admin", "set-seller-fee"],
        ["admin", "mint-credit"],
        ["admin", "burn-credit"], ["admin", "declare-outage"], ["admin", "set-meter-active"],
        ["admin", "grant-role"], ["admin", "execute"], ["admin", "cancel"], ["admin", "pending"],
    ],
)  # fmt: skip
def test_every_command_has_help_and_takes_no_secret_as_an_argument(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "--password " not in result.output and "--private-key TEXT" not in result.output


def test_the_default_cost_is_geths_standard_scrypt(env: dict[str, Path]) -> None:
    result = run("wallet", "new", "--keystore-dir", env["dir"], "--password-file", env["pw"],
                 "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    keyfile = json.loads(Path(json.loads(result.stdout)["file"]).read_text())
    assert keyfile["crypto"]["kdfparams"]["n"] == 262_144
    assert keyfile["crypto"]["cipher"] == "aes-128-ctr"
