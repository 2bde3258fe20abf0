"""`p2penergy meter new` and `p2penergy oracle status` (no chain)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner

from p2penergy.cli.main import cli
from p2penergy.oracle.identity import load_key
from p2penergy.oracle.outbox import REJECTED, Outbox
from tests.unit.oracle.test_oracle_outbox import CONTRACT, signed

READINGS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # mixed case: checksummed


def test_meter_new_writes_a_keystore_from_a_hidden_prompt_and_prints_the_address(tmp_path: Path):
    out = tmp_path / "m.json"
    result = CliRunner().invoke(
        cli, ["meter", "new", "--out", str(out), "--json"], input="pw123\npw123\n"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    assert data["keystore"] is True
    assert load_key(out, "pw123").address == data["address"]
    assert "pw123" not in result.output.replace("Keystore password", "")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_meter_new_raw_writes_a_0600_key_file_and_refuses_to_overwrite(tmp_path: Path):
    out = tmp_path / "m.key"
    runner = CliRunner()
    result = runner.invoke(cli, ["meter", "new", "--raw", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_key(out).address in result.output
    again = runner.invoke(cli, ["meter", "new", "--raw", "--out", str(out)])
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_oracle_status_shows_counts_and_rejection_reasons(tmp_path: Path):
    path = tmp_path / "o.sqlite"
    with Outbox(path, 31337, CONTRACT) as outbox:
        with outbox.transaction() as db:
            outbox.add(db, signed(1, 5), "a.csv:2")
            outbox.add(db, signed(1, 6), "a.csv:3")
        outbox.mark([(1, 6)], REJECTED, reason="ReadingsOutsideWindow")
    result = CliRunner().invoke(cli, ["oracle", "status", "--outbox", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counts"] == {"pending": 1, "submitted": 0, "rejected": 1}
    assert data["rejected"][0]["reason"] == "ReadingsOutsideWindow"
    table = CliRunner().invoke(cli, ["oracle", "status", "--outbox", str(path)])
    assert "ReadingsOutsideWindow" in table.output


def test_oracle_status_json_has_the_chain_id_as_a_number_and_a_checksummed_contract(
    tmp_path: Path,
):
    """The types `admin deploy --json` uses (the outbox stores them as text, lowercase)."""
    path = tmp_path / "o.sqlite"
    Outbox(path, 31337, READINGS.lower()).close()
    result = CliRunner().invoke(cli, ["oracle", "status", "--outbox", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["chain_id"], data["contract"]) == (31337, READINGS)
    assert f"chain 31337, {READINGS}" in CliRunner().invoke(
        cli, ["oracle", "status", "--outbox", str(path)]
    ).output.replace("\n", "")


def test_oracle_run_rejects_a_bad_source_spec_as_a_usage_error(tmp_path: Path):
    (tmp_path / "k.key").write_text("00")
    result = CliRunner().invoke(
        cli,
        [
            "oracle", "run", "--source", "ftp:x", "--meter-keys", str(tmp_path),
            "--relayer-key", str(tmp_path / "k.key"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "csv:PATH or folder:PATH" in result.output
