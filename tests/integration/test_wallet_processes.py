"""A real multi-process run: the operator and two households, each its own `p2penergy` process
with its own keystore folder, against one node of ours; the test plays oracle and keeper.

Settings travel the way they do on people's machines: P2PENERGY_RPC, P2PENERGY_DEPLOYMENTS and
P2PENERGY_KEYSTORE_DIR in the environment, passwords in a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from eth_account import Account

from p2penergy.chain.connect import rpc
from p2penergy.chain.deploy import Deployment, System
from p2penergy.chain.tx import transact
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.readings import Reading
from p2penergy.oracle.reading import sign_reading
from p2penergy.oracle.recorded import recorded_in
from p2penergy.wallet.keystore import Keystore
from p2penergy.wallet.trading import Wallet

REPO = Path(__file__).resolve().parents[2]
PASSWORDS = {"operator": "op-Secret-1", "jane": "jane-Secret-2", "li": "li-Secret-3"}


class Machine:
    """One person's computer: a keystore folder, a password file, `p2penergy` processes."""

    def __init__(self, name: str, root: Path, url: str, deployments: Path) -> None:
        self.name = name
        home = root / name
        home.mkdir()
        self.password_file = home / "password"
        self.password_file.write_text(PASSWORDS[name] + "\n")
        self.keys = home / "keys"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "P2PENERGY_RPC": url,
            "P2PENERGY_DEPLOYMENTS": str(deployments),
            "P2PENERGY_KEYSTORE_DIR": str(self.keys),
        }
        self.outputs: list[str] = []

    def start(self, *args: object) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "p2penergy", *map(str, args)]
        if args[0] not in ("wallet", "balance", "orders", "trades", "certificates"):
            command.append("--yes")
        if args[0] != "wallet" or args[1] in ("new", "import", "export"):
            command += ["--password-file", str(self.password_file)]
        return subprocess.Popen(
            command, env=self.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    def finish(self, process: subprocess.Popen[str]) -> Any:
        out, err = process.communicate(timeout=180)
        self.outputs += [out, err]
        assert process.returncode == 0, f"{self.name}: {err}"
        return json.loads(out)

    def run(self, *args: object) -> Any:
        return self.finish(self.start(*args, "--json"))

    def secret(self) -> str:
        (entry,) = Keystore(self.keys).entries()
        key = Keystore(self.keys).unlock(entry.address, PASSWORDS[self.name]).key.hex()
        return key.removeprefix("0x")


def test_operator_and_two_households_trade_a_slot_from_separate_processes(
    hardhat_node: str, tmp_path: Path
) -> None:
    chain = rpc(hardhat_node)
    deployments = tmp_path / "shared-address-book"
    operator, jane, li = (
        Machine(name, tmp_path, hardhat_node, deployments) for name in ("operator", "jane", "li")
    )
    # Everyone creates a key on their own machine; the three processes run at the same time.
    creating = [(m, m.start("wallet", "new", "--name", m.name, "--light-kdf", "--json"))
                for m in (operator, jane, li)]  # fmt: skip
    address = {m.name: m.finish(p)["address"] for m, p in creating}
    chain.fund(address["operator"], 10**19)  # the dev chain's faucet pays the operator's gas
    keeper = Account.create()
    chain.fund(keeper.address, 10**19)

    # The operator deploys, registers both households and their meters, tops up the buyer.
    operator.run("admin", "deploy", "--keeper", keeper.address)
    devices = {name: Account.create() for name in ("jane", "li")}
    meters = {}
    for name, kind in (("jane", "prosumer"), ("li", "consumer")):
        operator.run("admin", "register", address[name], "--kind", kind, "--gas-money", "1")
        meter = operator.run("admin", "register-meter", devices[name].address,
                             "--owner", address[name], "--capacity-kw", "12")  # fmt: skip
        meters[name] = meter["meter_id"]
    operator.run("admin", "mint-credit", address["li"], "20", "--ref", "bank-transfer-0001")

    system = System(chain, Deployment.load(deployments, chain.chain_id))
    clock = Wallet(system, address["li"]).clock
    slot = clock.next_open_slot(chain.now() + 1) + 2

    # Both households sign their orders at the same time, each in its own process.
    selling = jane.start("offer", "--slot", slot, "--kwh", "3", "--price", "0.12", "--json")
    buying = li.start("bid", "--slot", slot, "--kwh", "2.5", "--price", "0.22", "--json")
    offer, bid = jane.finish(selling), li.finish(buying)
    assert bid["escrow"] == 550_000 + 75_000  # 2.5 kWh x 0.22 + 2.5 kWh x 0.03 fee
    assert li.run("balance")["locked_in_bids"] == 625_000

    # Gate closure: the keeper clears; after the slot the meters report and it settles.
    market = MarketClient(system)
    start, gate, _ = market.slot_times(slot)
    chain.set_time(gate)
    result = market.clear_slot(keeper, slot)
    # jane's 0.5 kWh left unsold at 0.12 sets the price (docs/market-rules.md, rule 4).
    assert (result.price, result.volume_wh) == (120_000, 2500)
    chain.set_time(start + clock.slot_length)
    batch = []
    for name, (imp, exp) in {"jane": (0, 2_800), "li": (2_500, 0)}.items():
        reading = Reading(meters[name], slot, imp, exp, imp, exp)
        signed = sign_reading(devices[name].key, reading, chain.chain_id, system.readings.address)
        batch.append(signed.as_tuple())
    receipt = transact(chain, keeper, system.readings.functions.submit(batch))
    assert len(recorded_in(system.readings, receipt)) == 2  # 12 kW: 3 kWh a slot
    market.settle_slot(keeper, slot)

    # Each household reads its outcome in a new process.
    (bought,) = li.run("trades")
    (sold,) = jane.run("trades")
    # 2.5 kWh cleared at 0.12; jane delivered 2.8 >= 2.5, li absorbed 2.5: T = 2500 Wh.
    assert bought["order_id"] == bid["order_ids"][0] and sold["order_id"] == offer["order_ids"][0]
    assert (bought["price"], bought["filled_wh"], bought["metered_wh"]) == (120_000, 2500, 2500)
    assert (bought["amount"], bought["fee"], bought["refund"]) == (300_000, 75_000, 250_000)
    assert (sold["amount"], sold["filled_wh"], sold["certificate_wh"]) == (300_000, 2500, 2500)
    # the refund is in li's market balance: wallet plus market is what li owns
    balance = li.run("balance")
    assert balance["credits"] + balance["market"] == 20_000_000 - 375_000
    assert li.run("certificates") == [{"slot": slot, "held_wh": 2500, "retired_wh": 0}]

    secrets = [m.secret() for m in (operator, jane, li)] + list(PASSWORDS.values())
    text = "\n".join(operator.outputs + jane.outputs + li.outputs).lower()
    for secret in secrets:
        assert secret.lower() not in text
