"""What people type, read exactly: local times to slots (DST included), kWh, prices, CSVs."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2penergy.contracts.credit import payment_ref
from p2penergy.domain.slots import SlotGrid
from p2penergy.wallet.errors import WalletError
from p2penergy.wallet.keystore import Keystore
from p2penergy.wallet.timeslots import parse_local_time, slot_starting_at
from p2penergy.wallet.trading import energy_wh, price_per_kwh, read_schedule

BERLIN = ZoneInfo("Europe/Berlin")
EPOCH = 1_795_305_600  # 2026-11-22 00:00 UTC
CLOCK = SlotGrid(epoch=EPOCH, slot_length=900, gate_closure=300)
FIXTURE = Path(__file__).parents[2] / "fixtures" / "keystores" / "geth-keystore.json"


def test_a_local_time_maps_to_its_slot_in_the_given_zone() -> None:
    # 14:15 in Berlin in November (CET, UTC+1) is 13:15 UTC: slot 13 * 4 + 1 = 53.
    assert slot_starting_at(CLOCK, parse_local_time("2026-11-22 14:15", BERLIN), "x") == 53
    assert slot_starting_at(CLOCK, parse_local_time("2026-11-22T14:15", ZoneInfo("UTC")), "") == 57


def test_a_time_off_the_grid_is_refused_with_the_neighbouring_starts() -> None:
    with pytest.raises(WalletError, match="not the start of a slot: slots are 15 min long"):
        slot_starting_at(CLOCK, parse_local_time("2026-11-22 14:20", BERLIN), "14:20")


def test_a_time_skipped_by_daylight_saving_is_refused() -> None:
    with pytest.raises(WalletError, match="does not exist in Europe/Berlin"):
        parse_local_time("2026-03-29 02:30", BERLIN)


def test_an_unreadable_time_says_how_to_write_it() -> None:
    with pytest.raises(WalletError, match="write it as YYYY-MM-DD HH:MM"):
        parse_local_time("tomorrow at two", BERLIN)


@given(now=st.integers(EPOCH, EPOCH + 10**7))
def test_the_next_open_slot_is_open_and_the_one_before_is_closed(now: int) -> None:
    slot = CLOCK.next_open_slot(now)
    assert CLOCK.is_open(slot, now)
    assert not CLOCK.is_open(slot - 1, now)


def test_energy_and_prices_are_exact_integers() -> None:
    assert energy_wh("1.5") == 1500
    assert energy_wh("0.001") == 1
    assert price_per_kwh("0.25") == 250_000
    assert price_per_kwh("0.000001") == 1
    for bad in ("0", "-1", "1.0001", "abc"):
        with pytest.raises(WalletError):
            energy_wh(bad)
    with pytest.raises(WalletError, match="more than 6 decimals"):
        price_per_kwh("0.0000001")


def test_a_schedule_needs_its_header_and_skips_zero_rows(tmp_path: Path) -> None:
    good = tmp_path / "day.csv"
    good.write_text("start,kwh,price\n2026-11-22 14:15,1.2,0.2\n2026-11-22 14:30,0,0.2\n")
    assert [r.kwh for r in read_schedule(good)] == ["1.2"]
    bad = tmp_path / "bad.csv"
    bad.write_text("time,energy\n")
    with pytest.raises(WalletError, match="needs the header row: start,kwh,price"):
        read_schedule(bad)


def test_payment_references_are_bytes32() -> None:
    assert payment_ref("sepa-42") == b"sepa-42".ljust(32, b"\0")
    assert payment_ref("0x" + "ab" * 32) == bytes.fromhex("ab" * 32)
    with pytest.raises(ValueError):
        payment_ref("x" * 33)


def test_an_old_geth_file_with_capital_crypto_still_opens(tmp_path: Path) -> None:
    data = json.loads(FIXTURE.read_text())
    data["Crypto"] = data.pop("crypto")
    (tmp_path / "UTC--old").write_text(json.dumps(data))
    (entry,) = Keystore(tmp_path).entries()
    account = Keystore(tmp_path).unlock(entry.address, "correct horse battery staple")
    assert account.address == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


def test_a_node_that_stops_answering_mid_command_is_one_line_exit_3() -> None:
    import click
    import requests
    from click.testing import CliRunner

    from p2penergy.cli._options import handle_errors

    @click.command()
    @handle_errors
    def flaky() -> None:
        raise requests.exceptions.ConnectionError("connection refused by 127.0.0.1")

    result = CliRunner().invoke(flaky, [])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: the node stopped answering (ConnectionError)")
    assert "Traceback" not in result.output
