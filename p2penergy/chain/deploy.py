"""Deploys and wires the whole system in one call; keeps an address book per chain id."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak
from web3.contract import Contract

from p2penergy.chain import artifacts
from p2penergy.chain.connect import Chain
from p2penergy.chain.tx import deploy, transact
from p2penergy.domain.participants import Kind
from p2penergy.domain.slots import ALLOWED_SLOT_SECONDS, epoch_at_midnight
from p2penergy.exceptions import DeploymentError
from p2penergy.units import DEFAULT_CURRENCY, DEFAULT_CURRENCY_DECIMALS, Currency

# Deployment order: each contract's constructor takes addresses deployed before it, except
# where a constructor needs a later contract's address: that address is predicted from the
# admin's nonce (`_predicted`), since every deployment is one admin transaction in this order.
# EnergyCertificate takes the address MeterReadings will have, and CommunityCredit and
# EnergyCertificate the address EnergyMarket will have; MeterReadings and EnergyMarket refuse to
# deploy against a contract bound to another address.
SYSTEM = (
    "Governance",
    "ParticipantRegistry",
    "CommunityCredit",
    "EnergyCertificate",
    "MeterReadings",
    "EnergyMarket",
)


@dataclass(frozen=True)
class MarketConfig:
    """Deployment parameters of the market (DESIGN §1, §2.1).

    Prices are credit base units (6 decimals) per kWh: the defaults are a 0.08 feed-in tariff,
    a 0.30 retail tariff and a 0.03 network fee per kWh.
    """

    epoch: int  # start of slot 0, unix seconds
    slot_length: int = 900
    reading_window: int = 4 * 3600
    gate_closure: int = 300
    order_cap: int = 1000
    feed_in_per_kwh: int = 80_000
    retail_per_kwh: int = 300_000
    network_fee_per_kwh: int = 30_000
    # The most one top-up mint may create, credit base units: 10,000 credits.
    mint_limit: int = 10_000 * 10**6
    # Seconds every governed change (roles, tariffs, meters, outages) waits in the timelock,
    # and that a new default admin of the registry waits before accepting.
    governance_delay: int = 86_400

    def __post_init__(self) -> None:
        if self.slot_length not in ALLOWED_SLOT_SECONDS:
            raise DeploymentError(
                f"slot length {self.slot_length} s is not one of {ALLOWED_SLOT_SECONDS}"
            )
        if not 0 < self.governance_delay < 2**48:
            raise DeploymentError(
                f"governance delay {self.governance_delay} s must be above 0 and below 2^48"
            )

    @staticmethod
    def starting_today(now: int, **overrides: int) -> MarketConfig:
        """A config whose slot 0 starts at the UTC midnight before `now`."""
        return MarketConfig(epoch=epoch_at_midnight(now), **overrides)


def role_id(name: str) -> bytes:
    """The bytes32 id of role `name` as contracts/libraries/Roles.sol defines it."""
    return bytes(32) if name == "DEFAULT_ADMIN_ROLE" else keccak(text=name)


@dataclass(frozen=True)
class Staff:
    """Who holds which power at deployment: registry roles and the timelock's members."""

    admin: str
    operator: str
    guardian: str
    keepers: tuple[str, ...] = ()
    auditors: tuple[str, ...] = ()

    @property
    def proposers(self) -> list[str]:
        """The timelock's proposers and executors: the admin and the operator."""
        return list(dict.fromkeys((self.admin, self.operator)))

    def grants(self) -> list[tuple[bytes, str]]:
        """The registry's initial role grants (RoleGranted events of the deployment block).

        The admin holds OPERATOR_ROLE while it registers the service accounts and renounces it
        afterwards when the operator is someone else.
        """
        pairs = [("OPERATOR_ROLE", a) for a in dict.fromkeys((self.admin, self.operator))]
        pairs += [("KEEPER_ROLE", k) for k in self.keepers]
        pairs += [("AUDITOR_ROLE", a) for a in self.auditors]
        pairs += [("GOVERNOR_ROLE", a) for a in dict.fromkeys((self.admin, self.guardian))]
        return [(role_id(role), account) for role, account in pairs]


@dataclass
class Deployment:
    """Where the system lives on one chain: the address book."""

    chain_id: int
    addresses: dict[str, str]
    blocks: dict[str, int]
    admin: str
    gas_used: dict[str, int] = field(default_factory=dict)
    # The community's currency (one credit is one unit of it) and its display decimals; address
    # books written before these existed read as the defaults.
    currency: str = DEFAULT_CURRENCY
    currency_decimals: int = DEFAULT_CURRENCY_DECIMALS

    @property
    def money(self) -> Currency:
        """How amounts of this deployment are shown to people."""
        return Currency(self.currency, self.currency_decimals)

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
    def governance(self) -> Contract:
        return self.contract("Governance")

    @property
    def registry(self) -> Contract:
        return self.contract("ParticipantRegistry")

    @property
    def credit(self) -> Contract:
        return self.contract("CommunityCredit")

    @property
    def certificate(self) -> Contract:
        return self.contract("EnergyCertificate")

    @property
    def readings(self) -> Contract:
        return self.contract("MeterReadings")

    @property
    def market(self) -> Contract:
        return self.contract("EnergyMarket")

    def role(self, name: str) -> bytes:
        """The bytes32 id of role `name` (e.g. "OPERATOR_ROLE"), as the registry defines it."""
        if name == "DEFAULT_ADMIN_ROLE":
            return bytes(32)
        return bytes(getattr(self.registry.functions, name)().call())


def deploy_system(
    chain: Chain,
    admin: LocalAccount,
    *,
    config: MarketConfig | None = None,
    fee_account: str | None = None,
    rounding_account: str | None = None,
    operator: str | None = None,
    keepers: tuple[str, ...] = (),
    auditors: tuple[str, ...] = (),
    guardian: str | None = None,
) -> System:
    """Deploys every contract and wires it: governance, staff and system roles, service accounts.

    The governance timelock (`Governance`) is the registry's only admin: the admin and the
    operator propose and execute, the guardian (default: the admin, for development) alone
    cancels. Staff roles are granted at construction; every later change goes through the
    timelock with `config.governance_delay`. The fee account (the distribution operator's) and
    the rounding account default to the admin's account; pass the real ones in production. Both
    are registered as `Service` participants so they can receive credits.
    """
    config = config or MarketConfig.starting_today(chain.now())
    fee_account = fee_account or admin.address
    rounding_account = rounding_account or admin.address
    operator = operator or admin.address
    staff = Staff(admin.address, operator, guardian or admin.address, keepers, auditors)
    addresses: dict[str, str] = {}
    blocks: dict[str, int] = {}
    gas: dict[str, int] = {}
    for name in SYSTEM:
        artifact = artifacts.load(name)
        nonce = chain.w3.eth.get_transaction_count(admin.address, "pending")
        args = _constructor_args(
            name, admin.address, nonce, addresses, config, fee_account, rounding_account, staff
        )
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
    # The admin holds OPERATOR_ROLE from construction just long enough to register the service
    # accounts, so a deployment is complete in one call.
    for account in dict.fromkeys((fee_account, rounding_account)):
        transact(
            chain,
            admin,
            system.registry.functions.registerParticipant(account, int(Kind.SERVICE), False),
        )
    if operator != admin.address:
        transact(
            chain,
            admin,
            system.registry.functions.renounceRole(role_id("OPERATOR_ROLE"), admin.address),
        )
    return system


def create_address(sender: str, nonce: int) -> str:
    """The address of the contract that `sender` creates with transaction nonce `nonce`."""
    # CREATE: keccak(rlp([sender, nonce]))[12:]; the RLP list is always shorter than 56 bytes.
    if nonce == 0:
        encoded_nonce = b"\x80"
    elif nonce < 0x80:
        encoded_nonce = bytes([nonce])
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        encoded_nonce = bytes([0x80 + len(raw)]) + raw
    payload = b"\x94" + to_canonical_address(sender) + encoded_nonce
    return to_checksum_address(keccak(bytes([0xC0 + len(payload)]) + payload)[12:])


def _predicted(admin: str, nonce: int, name: str, target: str) -> str:
    """The address `target` will have, when `name` is deployed by `admin` with nonce `nonce`."""
    return create_address(admin, nonce + SYSTEM.index(target) - SYSTEM.index(name))


def _constructor_args(
    name: str,
    admin: str,
    nonce: int,
    addresses: dict[str, str],
    config: MarketConfig,
    fee_account: str,
    rounding_account: str,
    staff: Staff,
) -> tuple[Any, ...]:
    """The constructor arguments of `name`, deployed by `admin` with transaction nonce `nonce`."""
    registry = addresses.get("ParticipantRegistry")
    if name == "Governance":
        delay = config.governance_delay
        return (delay, staff.proposers, staff.proposers, staff.guardian)
    if name == "ParticipantRegistry":
        return (addresses["Governance"], config.governance_delay, staff.grants())
    if name == "CommunityCredit":
        return (registry, _predicted(admin, nonce, name, "EnergyMarket"), config.mint_limit)
    if name == "EnergyCertificate":
        return (
            registry,
            _predicted(admin, nonce, name, "MeterReadings"),
            _predicted(admin, nonce, name, "EnergyMarket"),
        )
    if name == "MeterReadings":
        return (
            registry,
            addresses["EnergyCertificate"],
            config.epoch,
            config.slot_length,
            config.reading_window,
            config.gate_closure,
        )
    if name == "EnergyMarket":
        return (
            registry,
            addresses["CommunityCredit"],
            addresses["EnergyCertificate"],
            addresses["MeterReadings"],
            config.gate_closure,
            config.order_cap,
            fee_account,
            rounding_account,
            (config.feed_in_per_kwh, config.retail_per_kwh, config.network_fee_per_kwh),
        )
    raise DeploymentError(f"do not know how to deploy {name}")
