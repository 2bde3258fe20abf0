"""A small community deployed on a chain: who is registered, with which meter and balance."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount

from p2penergy.chain.connect import Chain
from p2penergy.chain.deploy import System, deploy_system
from p2penergy.chain.tx import events, transact
from p2penergy.domain.participants import KIND_NAMES, Kind

GAS_MONEY_WEI = 10**18


@dataclass(frozen=True)
class HouseholdSpec:
    """What the operator registers for one household."""

    name: str
    kind: int
    critical_load: bool
    meter_capacity_w: int
    top_up: int  # credit base units


@dataclass(frozen=True)
class Member:
    """A registered household as read back from the chain."""

    name: str
    address: str
    kind: str
    active: bool
    critical_load: bool
    meter_id: int
    meter_device: str
    meter_capacity_w: int
    balance: int


DEMO_HOUSEHOLDS = (
    HouseholdSpec("Jane (rooftop PV)", Kind.PROSUMER, False, 6_000, 20_000_000),
    HouseholdSpec("Omar (rooftop PV + battery)", Kind.PROSUMER, False, 8_000, 20_000_000),
    HouseholdSpec("Li (flat)", Kind.CONSUMER, False, 12_000, 50_000_000),
    HouseholdSpec("Ada (family home)", Kind.CONSUMER, False, 15_000, 50_000_000),
    HouseholdSpec("Street clinic", Kind.CONSUMER, True, 20_000, 100_000_000),
)


@dataclass
class Community:
    """A deployed system with its operator and households' keys (simulation and tests only)."""

    system: System
    operator: LocalAccount
    households: dict[str, LocalAccount]
    meters: dict[str, LocalAccount]


def register_household(
    system: System, operator: LocalAccount, spec: HouseholdSpec, account: str, device: str
) -> int:
    """Registers a household and its meter, tops up its credits; returns the meter id."""
    registry, credit = system.registry, system.credit
    transact(
        system.chain,
        operator,
        registry.functions.registerParticipant(account, spec.kind, spec.critical_load),
    )
    receipt = transact(
        system.chain,
        operator,
        registry.functions.registerMeter(device, account, spec.meter_capacity_w),
    )
    meter_id = int(events(registry, "MeterRegistered", receipt)[0]["args"]["meterId"])
    if spec.top_up:
        ref = f"topup:{account}".encode()[:32].ljust(32, b"\0")
        transact(system.chain, operator, credit.functions.mint(account, spec.top_up, ref))
    return meter_id


def build_community(chain: Chain, specs: tuple[HouseholdSpec, ...] = DEMO_HOUSEHOLDS) -> Community:
    """Deploys the system and registers `specs` with fresh keys (dev chains with a faucet)."""
    admin = chain.faucet[0]
    system = deploy_system(chain, admin)
    households: dict[str, LocalAccount] = {}
    meters: dict[str, LocalAccount] = {}
    for spec in specs:
        account, device = Account.create(), Account.create()
        chain.fund(account.address, GAS_MONEY_WEI)
        register_household(system, admin, spec, account.address, device.address)
        households[spec.name], meters[spec.name] = account, device
    return Community(system=system, operator=admin, households=households, meters=meters)


def members(community: Community) -> list[Member]:
    """Reads every household back from the chain (the chain is the source of truth)."""
    registry, credit = community.system.registry, community.system.credit
    result = []
    for name, account in community.households.items():
        p = registry.functions.participant(account.address).call()
        meter_id = int(registry.functions.meterIdOf(community.meters[name].address).call())
        m = registry.functions.meter(meter_id).call()
        result.append(
            Member(
                name=name,
                address=account.address,
                kind=KIND_NAMES.get(p[0], "unregistered"),
                active=bool(p[1]),
                critical_load=bool(p[2]),
                meter_id=meter_id,
                meter_device=str(m[0]),
                meter_capacity_w=int(m[2]),
                balance=int(credit.functions.balanceOf(account.address).call()),
            )
        )
    return result
