"""Bad input, generated: hypothesis feeds the CLI and the file parsers arguments and files of
every shape (numbers of every size and format, malformed, unicode and binary text, addresses with
a wrong EIP-55 checksum, slots beyond 64 bits, ports out of range, unwritable folders).

Every one must be refused at the parsing edge: one line on stderr (click's usage errors: a
usage block ending in one `Error:` line), a documented non-zero exit (1 error, 2 usage), never a
traceback, never exit 3 (which would mean it got as far as connecting to a node: the RPC URL
given is dead), and nothing changed on disk. The parsers raise only typed `P2PEnergyError`s.

Examples per test: `P2PENERGY_BAD_INPUT_EXAMPLES` (default 25; the long run uses 1000):

    P2PENERGY_BAD_INPUT_EXAMPLES=1000 .venv/bin/python -m pytest -q -s \
        tests/proofs/test_bad_input.py
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2penergy.audit.service import load_topups
from p2penergy.cli.main import cli
from p2penergy.domain.slots import SlotGrid
from p2penergy.energy import scenario as scenarios
from p2penergy.exceptions import P2PEnergyError
from p2penergy.oracle.sources import read_csv_file
from p2penergy.units import MAX_CREDITS, MAX_KWH, parse_credits, parse_kwh
from p2penergy.wallet.forecast import load_profile
from p2penergy.wallet.trading import read_schedule

EXAMPLES = int(os.environ.get("P2PENERGY_BAD_INPUT_EXAMPLES", "25"))
DEAD_RPC = ["--rpc", "http://127.0.0.1:9", "--yes"]
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
GENERATED: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    print("\ngenerated bad inputs per command/parser:")
    for name, count in sorted(GENERATED.items()):
        print(f"  {name}: {count}")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder and keystore: whatever a command writes would show there."""
    monkeypatch.setenv("P2PENERGY_KEYSTORE_DIR", str(tmp_path / "keystores"))
    monkeypatch.setenv("P2PENERGY_DEPLOYMENTS", str(tmp_path / "deployments"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _snapshot(folder: Path) -> set[tuple[str, int]]:
    return {(str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*")}


def refused(name: str, args: list[str], folder: Path, codes: tuple[int, ...] = (1, 2)) -> str:
    """Runs `p2penergy ARGS`; asserts a clean refusal and returns stderr."""
    GENERATED[name] += 1
    before = _snapshot(folder)
    result = CliRunner().invoke(cli, args, catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args}: traceback {result.exception!r}"
    )
    assert result.exit_code in codes, f"{args}: exit {result.exit_code}: {result.stderr}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if result.exit_code == 2:
        assert lines and lines[-1].startswith("Error:"), f"{args}: {result.stderr}"
    else:
        errors = [line for line in lines if line.startswith("error:")]
        assert len(errors) == 1, f"{args}: {result.stderr}"
    assert "Traceback" not in result.output + result.stderr
    assert _snapshot(folder) == before, f"{args} changed files"
    return result.stderr


# ───────────────────────────── addresses ─────────────────────────────


@st.composite
def wrong_checksums(draw: st.DrawFn) -> str:
    """A valid address with the case of some of its letters flipped (still mixed case)."""
    raw = draw(st.binary(min_size=20, max_size=20))
    good = to_checksum_address(raw)
    letters = [i for i, c in enumerate(good) if i >= 2 and c.isalpha()]
    if len(letters) < 2:  # one letter cannot be mixed case: give the address a few more
        raw = b"\xab\xcd" + raw[2:]
        good = to_checksum_address(raw)
        letters = [i for i, c in enumerate(good) if i >= 2 and c.isalpha()]
    flips = draw(st.sets(st.sampled_from(letters), min_size=1))
    chars = list(good)
    for i in flips:
        chars[i] = chars[i].swapcase()
    digits = "".join(chars[2:])
    if digits in (digits.lower(), digits.upper()):  # flipped into one case: no checksum at all
        # turn back one letter that was not flipped (or another flipped one): a flipped letter
        # still differs from the checksum, and the address is mixed case again
        kept = min(flips)
        other = next(i for i in letters if i != kept)
        chars[other] = chars[other].swapcase()
    bad = "".join(chars)
    return bad


ADDRESS_COMMANDS = {
    "admin register": lambda a: ["admin", "register", a, "--kind", "consumer"],
    "admin suspend": lambda a: ["admin", "suspend", a],
    "admin register-meter (device)": lambda a: [
        "admin", "register-meter", a, "--owner", "0x" + "11" * 20, "--capacity-kw", "5",
    ],
    "admin register-meter (owner)": lambda a: [
        "admin", "register-meter", "0x" + "11" * 20, "--owner", a, "--capacity-kw", "5",
    ],
    "admin mint-credit (household)": lambda a: ["admin", "mint-credit", a, "5", "--ref", "t1"],
    "admin grant-role": lambda a: ["admin", "grant-role", "keeper", a],
    "balance": lambda a: ["balance", "--account", a],
}  # fmt: skip


@pytest.mark.parametrize("command", list(ADDRESS_COMMANDS))
@SETTINGS
@given(address=wrong_checksums())
def test_a_mixed_case_address_with_a_wrong_checksum_is_refused(
    env: Path, command: str, address: str
) -> None:
    tail = DEAD_RPC[:2] if command == "balance" else DEAD_RPC  # balance signs nothing: no --yes
    stderr = refused(command, [*ADDRESS_COMMANDS[command](address), *tail], env, (1,))
    assert "checksum" in stderr


@pytest.mark.parametrize("command", ["admin register", "admin suspend", "admin grant-role"])
@SETTINGS
@given(text=st.one_of(st.text(max_size=50), st.from_regex(r"\A0x[0-9a-fA-F]{0,39}\Z")))
def test_something_that_is_not_an_address_is_refused(env: Path, command: str, text: str) -> None:
    if text.startswith("-") or "\x00" in text:
        text = "x" + text.replace("\x00", "")
    refused(command, [*ADDRESS_COMMANDS[command](text), *DEAD_RPC], env, (1,))


# ───────────────────────────── numbers ─────────────────────────────


def _bad_numbers(limit: int, decimals: int) -> st.SearchStrategy[str]:
    """Numbers above the limit (as integers, decimals, exponents), non-numbers, too many
    decimals, and unicode or control text."""
    return st.one_of(
        st.integers(min_value=limit + 1, max_value=10**80).map(str),
        st.integers(min_value=limit + 1, max_value=10**80).map(lambda n: f"{n}.5"),
        st.integers(min_value=len(str(limit)), max_value=400).map(lambda e: f"1e{e}"),
        st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "sNaN", "", " ", "1,5", "0x10"]),
        st.integers(min_value=1, max_value=10**6).map(lambda n: f"0.{'0' * decimals}{n}"),
        st.text(max_size=20).filter(lambda t: not _is_number(t)),
    )


def _is_number(text: str) -> bool:
    try:
        float(text.replace("_", ""))
    except ValueError:
        return False
    return True


@SETTINGS
@given(amount=_bad_numbers(MAX_CREDITS, 6))
def test_a_mint_amount_that_is_not_a_sane_number_of_credits_is_refused(
    env: Path, amount: str
) -> None:
    household = "0x" + "22" * 20
    args = ["admin", "mint-credit", household, amount, "--ref", "t2", *DEAD_RPC]
    if amount.startswith("-"):
        args.insert(2, "--")
    refused("admin mint-credit (amount)", args, env, (1, 2))


@SETTINGS
@given(
    capacity=st.one_of(_bad_numbers(50_000, 3), st.sampled_from(["0", "-1", "1e6", "50000.001"]))
)
def test_a_meter_capacity_outside_0_to_50_mw_is_refused(env: Path, capacity: str) -> None:
    args = ["admin", "register-meter", "0x" + "33" * 20, "--owner", "0x" + "44" * 20]
    refused("admin register-meter (capacity)", [*args, f"--capacity-kw={capacity}", *DEAD_RPC], env)


@SETTINGS
@given(value=st.one_of(st.integers(max_value=-1), st.integers(min_value=2**64, max_value=2**300)))
def test_a_slot_outside_64_bits_is_refused(env: Path, value: int) -> None:
    refused(
        "admin declare-outage (slot)",
        ["admin", "declare-outage", f"--from-slot={value}", "--to-slot=1", "--cap=0.1", *DEAD_RPC],
        env,
        (2,),
    )
    bid = ["bid", f"--slot={value}", "--kwh=1", "--price=0.1", *DEAD_RPC]
    refused("bid (slot)", bid, env, (2,))


@SETTINGS
@given(port=st.one_of(st.integers(max_value=0), st.integers(min_value=65536, max_value=10**30)))
def test_a_port_out_of_range_is_refused(env: Path, port: int) -> None:
    refused("node (port)", ["node", f"--port={port}", "--data-dir", str(env / "node")], env, (2,))


def test_an_unwritable_out_folder_is_refused_before_simulating(env: Path) -> None:
    blocker = env / "a-file"
    blocker.write_text("not a folder")
    GENERATED["simulate (--out)"] += 2
    for out in (blocker / "report", Path("/proc/p2penergy-report")):
        result = CliRunner().invoke(cli, ["simulate", "--days", "1", "--out", str(out)])
        assert result.exit_code == 1 and "not writable" in result.stderr, result.stderr
        assert isinstance(result.exception, SystemExit)


def test_sanity_limits_are_the_documented_ones() -> None:
    assert parse_credits(str(MAX_CREDITS)) == MAX_CREDITS * 10**6
    assert parse_kwh(str(MAX_KWH)) == MAX_KWH * 1000 < 2**32
    for text in (str(MAX_CREDITS + 1), "1e30", f"-{MAX_CREDITS + 1}"):
        with pytest.raises(ValueError, match="sanity limit"):
            parse_credits(text)
    assert str(MAX_CREDITS) in (Path(__file__).parents[2] / "docs" / "proofs.md").read_text()


# ───────────────────────────── files ─────────────────────────────

FILES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.lists(st.text(max_size=12), max_size=6).map(lambda cells: ",".join(cells).encode()),
    st.binary(max_size=200).map(lambda b: b"start,kwh,price\n" + b),
    st.binary(max_size=200).map(lambda b: b"payment_ref,account,amount\n" + b),
    st.binary(max_size=200).map(lambda b: b"meter_id,start,import_wh,export_wh\n" + b),
    st.just(b"\xff\xfe" + "ü,\x00\n".encode("utf-16-le")),
    st.just(b"a," + b"x" * 200_000 + b"\n"),  # beyond the csv module's field limit
)


@pytest.mark.parametrize(
    "name", ["schedule CSV", "household profile", "scenario", "top-up ledger", "readings CSV"]
)
@SETTINGS
@given(data=FILES)
def test_a_malformed_file_raises_only_a_typed_error(tmp_path: Path, name: str, data: bytes) -> None:
    GENERATED[f"parser: {name}"] += 1
    path = tmp_path / "input"
    path.write_bytes(data)
    try:
        if name == "schedule CSV":
            read_schedule(path)
        elif name == "household profile":
            load_profile(path)
        elif name == "scenario":
            scenarios.load(path)
        elif name == "top-up ledger":
            load_topups(path)
        else:
            # never raises: each problem is reported in the batch
            read_csv_file(path, SlotGrid(epoch=0, slot_length=900, window=3600))
    except P2PEnergyError:
        pass


@pytest.mark.parametrize("command", ["forecast", "simulate --scenario"])
@SETTINGS
@given(data=st.one_of(st.binary(min_size=1, max_size=200), st.text(max_size=200).map(str.encode)))
def test_a_malformed_profile_or_scenario_file_is_refused_on_the_command_line(
    env: Path, command: str, data: bytes
) -> None:
    path = env / "input.yaml"
    path.write_bytes(data)
    if command == "forecast":
        args = ["forecast", str(path)]
    else:
        args = ["simulate", "--scenario", str(path)]
    refused(command, args, env)
