"""`p2penergy network init`: the genesis, keys, Besu configs and allowlists it writes, checked
with independent decoders (rlp, eth_keys, tomllib) and through the real CLI process."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import rlp
from eth_keys import keys
from eth_utils.address import to_checksum_address

OPERATOR = "0x000000000000000000000000000000000000dEaD"
MEMBER = "0x1111111111111111111111111111111111111111"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "p2penergy", "network", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("net") / "net"
    members = out.parent / "members.txt"
    members.write_text(f"# households\n{MEMBER}\n\n{MEMBER.lower()}  # twice\n")
    done = run_cli(
        "init", "--validators", "4", "--chain-id", "424242", "--out", str(out),
        "--operator", OPERATOR, "--members", str(members), "--block-period", "3",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def node_dirs(net: Path) -> list[Path]:
    return sorted(net.glob("node-*"))


def key_of(node: Path) -> keys.PrivateKey:
    return keys.PrivateKey(bytes.fromhex((node / "data" / "key").read_text().removeprefix("0x")))


def test_extra_data_decodes_to_exactly_the_validators_derived_from_the_key_files(net: Path):
    genesis = json.loads((net / "genesis.json").read_text())
    vanity, validators, votes, round_, seals = rlp.decode(bytes.fromhex(genesis["extraData"][2:]))
    derived = {key_of(node).public_key.to_canonical_address() for node in node_dirs(net)}
    assert vanity == bytes(32)
    assert len(validators) == 4 and set(validators) == derived
    assert validators == sorted(validators)  # Besu expects them in ascending order
    assert votes == [] and round_ == b"" and seals == []


def test_genesis_is_qbft_with_free_gas_on_cancun_and_a_funded_operator(net: Path):
    genesis = json.loads((net / "genesis.json").read_text())
    config = genesis["config"]
    assert config["chainId"] == 424242
    assert config["qbft"] == {
        "blockperiodseconds": 3,
        "epochlength": 30000,
        "requesttimeoutseconds": 6,
    }
    assert config["zeroBaseFee"] is True
    assert config["londonBlock"] == 0 and config["berlinBlock"] == 0
    assert config["shanghaiTime"] == 0 and config["cancunTime"] == 0
    assert int(genesis["gasLimit"], 16) == 50_000_000
    assert genesis["difficulty"] == "0x1"
    assert genesis["mixHash"] == (
        "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
    )
    assert int(genesis["alloc"][OPERATOR[2:].lower()]["balance"], 16) > 0
    for node in node_dirs(net):  # every node folder carries the very same genesis
        assert (node / "genesis.json").read_bytes() == (net / "genesis.json").read_bytes()


def test_node_keys_are_private_and_public_keys_match(net: Path):
    for node in node_dirs(net):
        key_file = node / "data" / "key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((node / "data").stat().st_mode) == 0o700
        pub = bytes.fromhex((node / "data" / "key.pub").read_text().removeprefix("0x"))
        assert pub == key_of(node).public_key.to_bytes()


def test_configs_and_permission_files_parse_and_name_each_other(net: Path):
    enodes = {
        f"enode://{key_of(node).public_key.to_bytes().hex()}@127.0.0.1:"
        f"{tomllib.loads((node / 'config.toml').read_text())['p2p-port']}"
        for node in node_dirs(net)
    }
    p2p_ports, rpc_ports = [], []
    for node in node_dirs(net):
        config = tomllib.loads((node / "config.toml").read_text())
        for option in (
            "genesis-file",
            "node-private-key-file",
            "permissions-accounts-config-file",
            "permissions-nodes-config-file",
        ):
            assert (node / config[option]).is_file(), option  # relative to the node folder
        assert (node / config["data-path"]).is_dir()
        assert config["permissions-accounts-config-file-enabled"] is True
        assert config["permissions-nodes-config-file-enabled"] is True
        assert config["rpc-http-host"] == "127.0.0.1"
        assert config["rpc-http-api"] == ["ETH", "NET", "QBFT", "WEB3", "TXPOOL", "PERM"]
        assert config["min-gas-price"] == 0
        assert "127.0.0.1" in config["host-allowlist"]
        own = f"enode://{key_of(node).public_key.to_bytes().hex()}@127.0.0.1:{config['p2p-port']}"
        assert set(config["bootnodes"]) == enodes - {own}
        permissions = tomllib.loads((node / config["permissions-nodes-config-file"]).read_text())
        assert set(permissions["nodes-allowlist"]) == enodes  # bootnodes must be allowlisted
        assert permissions["accounts-allowlist"] == [OPERATOR, to_checksum_address(MEMBER)]
        p2p_ports.append(config["p2p-port"])
        rpc_ports.append(config["rpc-http-port"])
    assert len(set(p2p_ports + rpc_ports)) == 8


def test_summary_json_names_the_nodes_and_never_a_private_key(tmp_path: Path):
    done = run_cli(
        "init", "--validators", "1", "--chain-id", "7", "--out", str(tmp_path / "n"), "--json"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["chain_id"] == 7 and len(summary["nodes"]) == 1
    secret = (tmp_path / "n" / "node-1" / "data" / "key").read_text().removeprefix("0x")
    assert secret not in done.stdout and secret not in done.stderr
    network = (tmp_path / "n" / "network.json").read_text()
    assert secret not in network
    assert "tolerate no faulty validator" in done.stderr


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--validators", "0", "--chain-id", "1"], 2, "--validators 0"),
        (["--validators", "4", "--chain-id", "0"], 2, "chain id 0 is out of range"),
        (["--validators", "4", "--chain-id", str(2**64)], 2, "out of range"),
        (["--validators", "4", "--chain-id", "1", "--operator", "0x12"], 2, "not an address"),
        (["--validators", "4", "--chain-id", "1", "--gas-limit", "1000"], 2, "--gas-limit"),
    ],
)
def test_bad_input_is_refused_with_one_line_and_a_documented_code(
    tmp_path: Path, args: list[str], code: int, words: str
):
    done = run_cli("init", *args, "--out", str(tmp_path / "n"))
    assert done.returncode == code
    assert done.stderr.count("\n") == 1 and words in done.stderr, done.stderr
    assert not (tmp_path / "n").exists()


def test_a_non_empty_out_folder_needs_force(tmp_path: Path):
    out = tmp_path / "n"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    done = run_cli("init", "--validators", "4", "--chain-id", "1", "--out", str(out))
    assert done.returncode == 6
    assert done.stderr.count("\n") == 1 and "not empty" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]
    forced = run_cli("init", "--validators", "4", "--chain-id", "1", "--out", str(out), "--force")
    assert forced.returncode == 0 and (out / "node-4" / "config.toml").is_file()


def test_an_unwritable_out_folder_is_refused(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a folder cannot be created under a file, not even by root
    done = run_cli("init", "--validators", "4", "--chain-id", "1", "--out", str(blocker / "n"))
    assert done.returncode == 7
    assert done.stderr.count("\n") == 1 and "cannot write" in done.stderr


def test_a_malformed_members_file_names_the_line(tmp_path: Path):
    members = tmp_path / "members.txt"
    members.write_text(f"{MEMBER}\nnot-an-address\n")
    done = run_cli(
        "init", "--validators", "4", "--chain-id", "1", "--out", str(tmp_path / "n"),
        "--members", str(members),
    )  # fmt: skip
    assert done.returncode == 2
    assert f"{members}:2" in done.stderr and done.stderr.count("\n") == 1
