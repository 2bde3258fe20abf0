"""`p2penergy network sync-permissions` against fake Besu PERM endpoints in front of a real
Hardhat chain with the system deployed: the allowlists follow the registry, a second run sends
nothing, faults are one line with a documented exit code, and the daemon follows new blocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from p2penergy.chain.connect import rpc
from p2penergy.chain.deploy import System, deploy_system, role_id
from p2penergy.chain.node import free_port
from p2penergy.contracts.governance import GovernanceClient
from p2penergy.contracts.registry import RegistryClient

from .fake_besu import FakeBesu

STRANGER = "0x2222222222222222222222222222222222222222"
KEPT = "0x3333333333333333333333333333333333333333"


@dataclass
class World:
    url: str
    system: System
    admin: LocalAccount
    deployments: Path

    @property
    def registry(self) -> RegistryClient:
        return RegistryClient(self.system)

    def sync(self, *args: str, perm: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command(perm), *args], capture_output=True, text=True, env=_env(), timeout=120
        )

    def command(self, perm: list[str]) -> list[str]:
        flags = [arg for url in perm for arg in ("--perm-rpc", url)]
        return [
            sys.executable, "-m", "p2penergy", "network", "sync-permissions",
            "--rpc", self.url, "--deployments", str(self.deployments), "--chain-id", "31337",
            *flags,
        ]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "P2PENERGY_CONFIG": "/nonexistent/config.toml"}


@pytest.fixture
def world(hardhat_node: str, tmp_path: Path) -> World:
    chain = rpc(hardhat_node)
    admin = chain.faucet[0]
    system = deploy_system(chain, admin)
    system.deployment.save(tmp_path / "deployments")
    return World(hardhat_node, system, admin, tmp_path / "deployments")


def grant_role(world: World, role: str, account: str) -> None:
    """Grants `role` the only way there is: through the governance timelock (time moved on)."""
    grant = world.system.registry.functions.grantRole(role_id(role), account)
    GovernanceClient(world.system).enact(world.admin, grant)


@pytest.fixture
def nodes(world: World) -> Iterator[list[FakeBesu]]:
    fakes = [FakeBesu(world.url, accounts=(STRANGER, KEPT)).start() for _ in range(2)]
    yield fakes
    for fake in fakes:
        fake.stop()


def test_allowlists_follow_register_suspend_reinstate_and_a_second_run_sends_nothing(
    world: World, nodes: list[FakeBesu]
):
    household, keeper = Account.create(), Account.create()
    world.registry.register(world.admin, household.address, "consumer", False)
    grant_role(world, "KEEPER_ROLE", keeper.address)
    perm = [fake.url for fake in nodes]

    first = world.sync("--keep", KEPT, perm=perm)
    assert first.returncode == 0, first.stderr
    expected = {world.admin.address.lower(), household.address.lower(), keeper.address.lower()}
    for fake in nodes:
        assert fake.snapshot() == expected | {KEPT.lower()}  # the stranger is gone
    lines = first.stdout.splitlines()
    assert len(lines) == 2 * 4  # per node: admin, household, keeper added; stranger removed
    assert sum(f"+ {household.address}" in line for line in lines) == 2
    assert sum(f"- {STRANGER}" in line for line in lines) == 2  # checksummed already

    before = [fake.changes() for fake in nodes]
    second = world.sync("--keep", KEPT, perm=perm)
    assert second.returncode == 0 and second.stdout == ""
    assert [fake.changes() for fake in nodes] == before  # nothing sent but reads

    world.registry.suspend(world.admin, household.address)
    suspended = world.sync(perm=perm)
    assert suspended.returncode == 0, suspended.stderr
    for fake in nodes:
        assert household.address.lower() not in fake.snapshot()
        assert KEPT.lower() not in fake.snapshot()  # no longer kept without --keep
    assert sum(f"- {household.address}" in line for line in suspended.stdout.splitlines()) == 2

    world.registry.reinstate(world.admin, household.address)
    grant_role(world, "AUDITOR_ROLE", STRANGER)
    reinstated = world.sync(perm=perm)
    assert reinstated.returncode == 0, reinstated.stderr
    for fake in nodes:
        assert fake.snapshot() == expected | {STRANGER.lower()}


def test_the_deployment_admin_is_never_removed_even_when_it_renounces(
    world: World, nodes: list[FakeBesu]
):
    from p2penergy.chain.tx import transact

    registry = world.system.registry
    operator_role = world.system.role("OPERATOR_ROLE")
    transact(
        world.system.chain,
        world.admin,
        registry.functions.renounceRole(operator_role, world.admin.address),
    )
    admin_role = world.system.role("DEFAULT_ADMIN_ROLE")
    transact(
        world.system.chain,
        world.admin,
        registry.functions.renounceRole(admin_role, world.admin.address),
    )
    done = world.sync(perm=[nodes[0].url])
    assert done.returncode == 0, done.stderr
    assert world.admin.address.lower() in nodes[0].snapshot()


def test_default_perm_endpoint_is_the_rpc_node_itself(world: World):
    with FakeBesu(world.url) as fake:  # serves eth_* by forwarding and PERM itself
        command = [a if a != world.url else fake.url for a in world.command([])]
        done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=120)
        assert done.returncode == 0, done.stderr
        assert fake.snapshot() == {world.admin.address.lower()}
        assert fake.calls["eth_getLogs"] >= 1


def test_json_lists_the_changes_and_a_wrong_chain_id_exits_3(world: World, nodes: list[FakeBesu]):
    import json

    done = world.sync("--json", perm=[nodes[0].url])
    assert done.returncode == 0, done.stderr
    changes = json.loads(done.stdout)
    assert {(c["action"], c["account"]) for c in changes} == {
        ("add", world.admin.address),
        ("remove", STRANGER),
        ("remove", KEPT),
    }
    command = world.command([nodes[1].url])
    command[command.index("31337")] = "1"
    wrong = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=120)
    assert wrong.returncode == 3 and wrong.stderr.count("\n") == 1
    assert "expected 1" in wrong.stderr and nodes[1].changes() == 0


def test_a_node_without_the_perm_api_exits_8_with_one_line(world: World):
    with FakeBesu(world.url, perm_enabled=False) as fake:
        done = world.sync(perm=[fake.url])
    assert done.returncode == 8
    assert done.stderr.count("\n") == 1 and "-32604" in done.stderr and "PERM" in done.stderr


def test_a_node_without_account_permissioning_exits_8(world: World):
    with FakeBesu(world.url, allowlist_enabled=False) as fake:
        done = world.sync(perm=[fake.url])
    assert done.returncode == 8
    assert done.stderr.count("\n") == 1 and "-32000" in done.stderr


def test_a_change_the_node_refuses_exits_10_and_the_next_run_converges(world: World):
    # Another tool adds the admin between our read and our add: Besu refuses the duplicate.
    with FakeBesu(world.url, hidden=(world.admin.address,)) as fake:
        done = world.sync(perm=[fake.url])
        assert done.returncode == 10
        assert done.stderr.count("\n") == 1 and "Cannot add an existing account" in done.stderr
        again = world.sync(perm=[fake.url])
        assert again.returncode == 0 and again.stdout == ""
        assert fake.snapshot() == {world.admin.address.lower()}


def test_an_unreachable_perm_node_exits_3_with_one_line(world: World):
    done = world.sync(perm=[f"http://127.0.0.1:{free_port()}"])
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and "unreachable" in done.stderr


def test_an_unreachable_chain_exits_3(world: World, nodes: list[FakeBesu]):
    command = world.command([nodes[0].url])
    command[command.index(world.url)] = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=120)
    assert done.returncode == 3 and done.stderr.count("\n") == 1
    assert nodes[0].changes() == 0


def test_an_address_book_that_does_not_match_the_chain_exits_9(
    world: World, nodes: list[FakeBesu], tmp_path: Path
):
    import json

    book = json.loads((world.deployments / "31337.json").read_text())
    book["addresses"]["ParticipantRegistry"] = "0x" + "44" * 20  # no code there
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "31337.json").write_text(json.dumps(book))
    command = world.command([nodes[0].url])
    command[command.index(str(world.deployments))] = str(stale)
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=120)
    assert done.returncode == 9
    assert done.stderr.count("\n") == 1 and "address book" in done.stderr
    assert nodes[0].changes() == 0

    empty = tmp_path / "empty"
    empty.mkdir()
    command[command.index(str(stale))] = str(empty)
    missing = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=120)
    assert missing.returncode == 9 and missing.stderr.count("\n") == 1


def _wait(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_the_daemon_waits_for_a_node_picks_up_a_registration_and_stops_on_sigterm(
    world: World,
):
    port = free_port()
    process = subprocess.Popen(
        [*world.command([f"http://127.0.0.1:{port}"]), "--daemon", "--interval", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    fake = FakeBesu(world.url, port=port)
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        # The PERM node is down: the daemon says so and backs off instead of dying.
        assert _wait(lambda: any("retrying" in line for line in errors), 30), errors
        assert process.poll() is None
        fake.start()
        admin = world.admin.address.lower()
        assert _wait(lambda: admin in fake.snapshot(), 70)  # back-off is at most 60 s
        household = Account.create()
        started = time.monotonic()
        world.registry.register(world.admin, household.address, "prosumer", False)
        assert _wait(lambda: household.address.lower() in fake.snapshot(), 10)
        picked_up = time.monotonic() - started
        process.send_signal(signal.SIGTERM)
        out = process.stdout.read() if process.stdout else ""
        process.wait(timeout=20)
        reader.join(timeout=5)
        err = "".join(errors)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        fake.stop()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "unreachable" in err and "retrying" in err
    assert f"+ {household.address}" in out
    assert picked_up < 5  # measured ~0.5 s with --interval 0.3


def test_the_daemon_stops_with_9_when_the_chain_comes_back_empty(tmp_path: Path):
    from p2penergy.chain.node import start_hardhat

    with start_hardhat() as node, FakeBesu(node.url) as fake:
        chain = rpc(node.url)
        system = deploy_system(chain, chain.faucet[0])
        system.deployment.save(tmp_path / "deployments")
        own = World(node.url, system, chain.faucet[0], tmp_path / "deployments")
        process = subprocess.Popen(
            [*own.command([fake.url]), "--daemon", "--interval", "0.3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        try:
            assert _wait(lambda: own.admin.address.lower() in fake.snapshot(), 30)
            chain.w3.provider.make_request("hardhat_reset", [])  # type: ignore[arg-type]
            chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            _, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 9, err
    assert "Traceback" not in err
    assert "address book" in err or "reset" in err
    assert own.admin.address.lower() in fake.snapshot()  # nothing removed on the way out
