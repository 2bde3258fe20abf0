"""Deploys and wires the whole system in one call; keeps an address book per chain id."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3.contract import Contract

from p2penergy.chain import artifacts
from p2penergy.chain.connect import Chain
from p2penergy.chain.tx import deploy, transact
from p2penergy.exceptions import DeploymentError

# Deployment order: each entry names its constructor arguments from addresses deployed before it.
SYSTEM = ("ParticipantRegistry", "CommunityCredit", "EnergyCertificate")

ROLE_NAMES = ("OPERATOR_ROLE", "AUDITOR_ROLE", "KEEPER_ROLE", "MARKET_ROLE", "READINGS_ROLE")


@dataclass
class Deployment:
    """Where the system lives on one chain: the address book."""

    chain_id: int
    addresses: dict[str, str]
    blocks: dict[str, int]
    admin: str
    gas_used: dict[str, int] = field(default_factory=dict)

    def save(self, folder: Path) -> Path:
        """Writes `<folder>/<chainId>.json`."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.chain_id}.json"
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, folder: Path, chain_id: int) -> Deployment:
        """Reads the address book of `chain_id` from `folder`."""
        path = folder / f"{chain_id}.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            raise DeploymentError(
                f"no deployment for chain {chain_id} in {folder}: run `p2penergy admin deploy`"
            ) from None
        return cls(**data)


class System:
    """web3 contract objects for a deployment, by contract name."""

    def __init__(self, chain: Chain, deployment: Deployment) -> None:
        self.chain = chain
        self.deployment = deployment
        self._contracts: dict[str, Contract] = {}

    def contract(self, name: str) -> Contract:
        """The deployed contract `name` with its shipped ABI."""
        if name not in self._contracts:
            try:
                address = self.deployment.addresses[name]
            except KeyError:
                raise DeploymentError(f"{name} is not part of this deployment") from None
            abi = artifacts.load(name)["abi"]
            self._contracts[name] = self.chain.w3.eth.contract(
                address=to_checksum_address(address), abi=abi
            )
        return self._contracts[name]

    @property
    def registry(self) -> Contract:
        return self.contract("ParticipantRegistry")

    @property
    def credit(self) -> Contract:
        return self.contract("CommunityCredit")

    @property
    def certificate(self) -> Contract:
        return self.contract("EnergyCertificate")

    def role(self, name: str) -> bytes:
        """The bytes32 id of role `name` (e.g. "OPERATOR_ROLE"), as the registry defines it."""
        if name == "DEFAULT_ADMIN_ROLE":
            return bytes(32)
        return bytes(getattr(self.registry.functions, name)().call())


def deploy_system(
    chain: Chain,
    admin: LocalAccount,
    *,
    operator: str | None = None,
    keepers: tuple[str, ...] = (),
    auditors: tuple[str, ...] = (),
) -> System:
    """Deploys every contract, grants the system roles, and the staff roles given."""
    addresses: dict[str, str] = {}
    blocks: dict[str, int] = {}
    gas: dict[str, int] = {}
    for name in SYSTEM:
        artifact = artifacts.load(name)
        args = _constructor_args(name, admin.address, addresses)
        address, receipt = deploy(chain, admin, artifact["abi"], artifact["bytecode"], *args)
        addresses[name] = address
        blocks[name] = int(receipt["blockNumber"])
        gas[name] = int(receipt["gasUsed"])
    deployment = Deployment(
        chain_id=chain.chain_id,
        addresses=addresses,
        blocks=blocks,
        admin=admin.address,
        gas_used=gas,
    )
    system = System(chain, deployment)
    grants = [("OPERATOR_ROLE", operator or admin.address)]
    grants += [("KEEPER_ROLE", k) for k in keepers] + [("AUDITOR_ROLE", a) for a in auditors]
    for role, account in grants:
        grant_role(system, admin, role, account)
    return system


def grant_role(system: System, admin: LocalAccount, role: str, account: str) -> None:
    """Grants `role` to `account` in the registry (admin only)."""
    transact(system.chain, admin, system.registry.functions.grantRole(system.role(role), account))


def _constructor_args(name: str, admin: str, addresses: dict[str, str]) -> tuple[Any, ...]:
    if name == "ParticipantRegistry":
        return (admin,)
    if name in ("CommunityCredit", "EnergyCertificate"):
        return (addresses["ParticipantRegistry"],)
    raise DeploymentError(f"do not know how to deploy {name}")
