"""Helpers for the wallet CLI tests: a community set up through `p2penergy admin` on a node."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from eth_account import Account
from eth_account.signers.local import LocalAccount

from p2penergy.chain.connect import Chain, rpc
from p2penergy.chain.deploy import Deployment, System
from p2penergy.chain.keyfile import LIGHT_SCRYPT_N
from p2penergy.chain.tx import transact
from p2penergy.cli.main import cli
from p2penergy.domain.readings import Reading
from p2penergy.oracle.reading import sign_reading
from p2penergy.wallet.keystore import Keystore

PASSWORD = "household-Pa55word!"
GAS_WEI = 10**19
GOVERNANCE_DELAY = 30  # seconds every governed change waits (the tests move chain time past it)
CURRENCY = "CHF"  # not the default, so a test sees the address book's currency reach the output


@dataclass
class World:
    """A deployed community: its node, folders, keystore and the keys of the test's own actors."""

    url: str
    chain: Chain
    root: Path
    keys: Path
    deployments: Path
    password_file: Path
    accounts: dict[str, str] = field(default_factory=dict)  # keystore name -> address
    devices: dict[str, LocalAccount] = field(default_factory=dict)  # meter keys (test side)
    meter_ids: dict[str, int] = field(default_factory=dict)
    registers: dict[str, list[int]] = field(default_factory=dict)
    keeper: LocalAccount = field(default_factory=Account.create)
    outputs: list[str] = field(default_factory=list)
    deployed: dict[str, Any] = field(default_factory=dict)  # `admin deploy --json`'s answer

    def conn(self) -> list[str]:
        return [
            "--rpc", self.url, "--deployments", str(self.deployments),
            "--keystore-dir", str(self.keys), "--password-file", str(self.password_file),
        ]  # fmt: skip

    def run(self, *args: object, input: str | None = None) -> Result:
        """`p2penergy ARGS` in process (click's runner), keeping every output for secret checks."""
        result = CliRunner().invoke(cli, [str(a) for a in args], input=input)
        self.outputs.extend([result.output, result.stderr])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    def ok(self, *args: object) -> Any:
        """Runs a `--json` command that must succeed; returns its JSON."""
        signs = args[0] in (
            "admin",
            "bid",
            "offer",
            "cancel",
            "retire",
            "redeem",
            "deposit",
            "withdraw",
        )
        result = self.run(*args, *self.conn(), *(["--yes"] if signs else []), "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def system(self) -> System:
        return System(self.chain, Deployment.load(self.deployments, self.chain.chain_id))

    def secrets(self) -> list[str]:
        """Every private key of the keystore and the password (what must never be printed)."""
        keystore = Keystore(self.keys)
        keys = [keystore.unlock(e.address, PASSWORD).key.hex() for e in keystore.entries()]
        return [k.removeprefix("0x") for k in keys] + [PASSWORD]

    def report(self, slot: int, usage: dict[str, tuple[int, int]]) -> None:
        """Meters sign (import, export) Wh for `slot`; the keeper relays them."""
        system = self.system()
        batch = []
        for name, (imp, exp) in usage.items():
            reg = self.registers.setdefault(name, [0, 0])
            reg[0] += imp
            reg[1] += exp
            reading = Reading(self.meter_ids[name], slot, imp, exp, reg[0], reg[1])
            signed = sign_reading(
                self.devices[name].key, reading, self.chain.chain_id, system.readings.address
            )
            batch.append(signed.as_tuple())
        transact(self.chain, self.keeper, system.readings.functions.submit(batch))


def make_world(url: str, root: Path) -> World:
    """Keystore with an operator, a prosumer (jane) and a consumer (li); deployed via the CLI."""
    chain = rpc(url)
    world = World(
        url=url,
        chain=chain,
        root=root,
        keys=root / "keys",
        deployments=root / "deployments",
        password_file=root / "password",
    )
    world.password_file.write_text(PASSWORD + "\n")
    keystore = Keystore(world.keys, scrypt_n=LIGHT_SCRYPT_N)
    for name in ("operator", "jane", "li", "stranger", "guardian"):
        entry = keystore.new(PASSWORD, name)
        world.accounts[name] = entry.address
        if name in ("operator", "stranger", "guardian"):
            chain.fund(entry.address, GAS_WEI)
    chain.fund(world.keeper.address, GAS_WEI)
    deployed = world.ok(
        "admin", "deploy", "-a", "operator", "--keeper", world.keeper.address,
        "--guardian", world.accounts["guardian"], "--governance-delay", GOVERNANCE_DELAY,
        "--currency", CURRENCY, "--currency-decimals", 2,
    )  # fmt: skip
    assert deployed["chain_id"] == chain.chain_id
    world.deployed = deployed
    for name, kind in (("jane", "prosumer"), ("li", "consumer")):
        world.ok("admin", "register", world.accounts[name], "--kind", kind,
                 "--gas-money", "1", "-a", "operator")  # fmt: skip
        device = Account.create()
        world.devices[name] = device
        meter = world.ok("admin", "register-meter", device.address, "--owner",
                         world.accounts[name], "--capacity-kw", "6", "-a", "operator")  # fmt: skip
        world.meter_ids[name] = int(meter["meter_id"])
        world.ok("admin", "mint-credit", world.accounts[name], "50", "--ref", f"topup-{name}",
                 "-a", "operator")  # fmt: skip
    return world
