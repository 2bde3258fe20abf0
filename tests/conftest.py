"""Shared fixtures: the same tests run on the embedded chain and on brownie's Hardhat node."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from p2penergy.chain.connect import Chain, embedded, rpc
from p2penergy.chain.deploy import MarketConfig, System, deploy_system, role_id
from p2penergy.chain.tx import events, transact
from p2penergy.contracts.governance import GovernanceClient
from p2penergy.domain.readings import Reading
from p2penergy.oracle import sign_reading

from .budget import PROFILE  # noqa: F401  (loads the hypothesis profile P2PENERGY_TESTS names)

GAS_MONEY = 10**20
GOVERNANCE_DELAY = 10  # seconds: tests move chain time past it
# Meters `certify` uses: registered with the session deployment, before the gates of the slots
# the tests certify (a reading verifies against the meters in force when its slot's gate closed).
CERTIFY_METERS = 3
CERTIFY_CAPACITY_W = 1_000_000
CONSUMER, PROSUMER, SERVICE = 1, 2, 3
_REF_NUMBERS = itertools.count(1)
ISSUED_REFS: list[bytes] = []  # every reference topup_ref handed out (the tests' top-up ledger)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every hypothesis test carries the `property` marker, so `-m property` runs only them and
    `-m "not property"` gives a quick loop without them; set here, it cannot be forgotten."""
    for item in items:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.property)


# Started first: the longest item of the suite (the Foundry campaign, about 130 s of CPU on two
# threads). Collected in place it came after nearly everything else, so the other xdist worker
# could run out of tests while it ran; first, the many short tests fill the other core.
RUN_FIRST = ("tests/proofs/test_invariants.py",)


class _RunFirst:
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Moves the RUN_FIRST modules to the front, each in its own order (after pytest's own
        reordering by fixture, so that nothing else moves)."""
        first = [i for i in items if i.nodeid.startswith(RUN_FIRST)]
        if first:
            rest = [i for i in items if not i.nodeid.startswith(RUN_FIRST)]
            items[:] = first + rest


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_RunFirst(), "p2penergy-run-first")


def topup_ref() -> bytes:
    """A payment reference never used before: CommunityCredit refuses a reused one."""
    ref = f"topup-{next(_REF_NUMBERS)}".encode().ljust(32, b"\0")
    ISSUED_REFS.append(ref)
    return ref


def _brownie_hardhat_url() -> str:
    """The JSON-RPC URL of the Hardhat node brownie's pytest plugin started for this session."""
    import brownie

    if not brownie.network.is_connected():
        brownie.network.connect("hardhat")
    return str(brownie.web3.provider.endpoint_uri)


@pytest.fixture(scope="session")
def hardhat_node() -> Iterator[str]:
    """A Hardhat node of our own on a free port (for multi-process tests); yields its URL."""
    from p2penergy.chain.node import start_hardhat

    with start_hardhat() as node:
        yield node.url


@pytest.fixture(scope="session", params=["embedded", "hardhat"])
def chain(request: pytest.FixtureRequest) -> Chain:
    """Each chain-backed test runs twice: embedded eth-tester and brownie's Hardhat node."""
    if request.param == "embedded":
        return embedded()
    return rpc(_brownie_hardhat_url())


@dataclass
class Actors:
    """One key per role the access-control matrix distinguishes.

    `market` is an account granted the registry's MARKET_ROLE, which moves nothing any more:
    credit and certificate are bound to the market contract's address, so it must be refused
    like a stranger.
    """

    admin: LocalAccount
    operator: LocalAccount
    auditor: LocalAccount
    keeper: LocalAccount
    market: LocalAccount
    prosumer: LocalAccount
    consumer: LocalAccount
    suspended: LocalAccount
    stranger: LocalAccount
    guardian: LocalAccount

    def by_name(self) -> dict[str, LocalAccount]:
        return dict(vars(self))


@dataclass
class Deployed:
    chain: Chain
    system: System
    actors: Actors
    fee_account: str
    rounding_account: str
    # owner -> meters (id, device key) registered for `certify`
    certify_meters: dict[str, list[tuple[int, LocalAccount]]] = field(default_factory=dict)


def deploy_with_actors(chain: Chain, **overrides: object) -> Deployed:
    """The whole system on `chain` with one funded key per role and fresh service accounts."""
    admin = chain.faucet[0]
    names = [f for f in Actors.__dataclass_fields__ if f != "admin"]
    keys = {name: Account.create() for name in names}
    for key in keys.values():
        chain.fund(key.address, GAS_MONEY)
    actors = Actors(admin=admin, **keys)
    fee_account, rounding_account = Account.create().address, Account.create().address
    overrides.setdefault(
        "config", MarketConfig.starting_today(chain.now(), governance_delay=GOVERNANCE_DELAY)
    )
    system = deploy_system(
        chain,
        admin,
        fee_account=fee_account,
        rounding_account=rounding_account,
        operator=actors.operator.address,
        keepers=(actors.keeper.address,),
        auditors=(actors.auditor.address,),
        guardian=actors.guardian.address,
        **overrides,  # type: ignore[arg-type]
    )
    return Deployed(chain, system, actors, fee_account, rounding_account)


@pytest.fixture(scope="session")
def deployed_base(chain: Chain) -> Deployed:
    """A system with every role held by its own account, deployed once per chain."""
    d = deploy_with_actors(chain)
    actors, system = d.actors, d.system
    govern(d, system.registry.functions.grantRole(role_id("MARKET_ROLE"), actors.market.address))
    registry = system.registry.functions
    for account, kind in (
        (actors.prosumer, PROSUMER),
        (actors.consumer, CONSUMER),
        (actors.suspended, CONSUMER),
    ):
        transact(chain, actors.operator, registry.registerParticipant(account.address, kind, False))
    transact(chain, actors.operator, registry.suspendParticipant(actors.suspended.address))
    for owner in (actors.prosumer.address, actors.consumer.address, actors.suspended.address):
        meters = d.certify_meters.setdefault(owner, [])
        for _ in range(CERTIFY_METERS):
            device = Account.create()
            receipt = transact(
                chain,
                actors.operator,
                registry.registerMeter(device.address, owner, CERTIFY_CAPACITY_W),
            )
            meter_id = events(system.registry, "MeterRegistered", receipt)[0]["args"]["meterId"]
            meters.append((int(meter_id), device))
    # Three slots on, every slot a test certifies ("recent") had its gate after these meters.
    chain.set_time(chain.now() + 3 * system.readings.functions.timing().call()[1])
    return d


@pytest.fixture
def deployed(deployed_base: Deployed) -> Iterator[Deployed]:
    """The session deployment, rolled back after each test (isolation)."""
    snapshot = deployed_base.chain.snapshot()
    yield deployed_base
    deployed_base.chain.revert(snapshot)


def govern(d: Deployed, fn: Any, proposer: LocalAccount | None = None) -> TxReceipt:
    """Makes the governed call `fn` the only way it can be made: the operator (or `proposer`)
    schedules it in the timelock, chain time passes the delay, and the proposer executes it."""
    proposer = proposer or d.actors.operator
    return GovernanceClient(d.system).enact(proposer, fn)


def recent_slot(d: Deployed) -> int:
    """The last slot that has ended: the system's MeterReadings accepts its readings now."""
    epoch, length, _ = d.system.readings.functions.timing().call()
    return (d.chain.now() - epoch) // length - 1


def certify(d: Deployed, account: str, energy_wh: int, slot: int) -> None:
    """Gives consumer or prosumer `account` `energy_wh` Wh of slot-`slot` certificates: one of
    its own meters (registered with the session deployment, before any slot's gate) signs an
    export reading the keeper relays. (Other accounts only ever get certificates from the market
    contract, as settlement's rounding dust.) `slot` must be inside its reading window
    (`recent_slot`), and at most `CERTIFY_METERS` readings per owner and slot.
    """
    owner_key = account
    readings = d.system.readings.functions
    free = [
        (meter_id, device, int(export))
        for meter_id, device in d.certify_meters[owner_key]
        for any_reading, latest, _import, export in [readings.latestReading(meter_id).call()]
        if not any_reading or latest < slot
    ]
    assert free, f"no certify meter of {owner_key} left for slot {slot}"
    meter_id, device, export = free[0]
    reading = Reading(meter_id, slot, 0, energy_wh, 0, export + energy_wh)
    signed = sign_reading(device.key, reading, d.chain.chain_id, d.system.readings.address)
    transact(d.chain, d.actors.keeper, readings.submitOne(signed.as_tuple()))
