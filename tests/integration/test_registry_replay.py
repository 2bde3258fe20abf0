"""The replayed allowed set is exactly the accounts `transactionAllowed` accepts, after any
sequence of registrations, suspensions, reinstatements and role changes (embedded chain)."""

from __future__ import annotations

import random

from eth_account import Account

from p2penergy.chain.connect import embedded
from p2penergy.chain.deploy import deploy_system
from p2penergy.chain.tx import transact
from p2penergy.contracts.governance import GovernanceClient
from p2penergy.network.registry_replay import ZERO, RegistryReplay

ROLES = ("OPERATOR_ROLE", "AUDITOR_ROLE", "KEEPER_ROLE", "GOVERNOR_ROLE", "MARKET_ROLE")


def test_replay_equals_transaction_allowed_after_a_random_history():
    chain = embedded()
    admin = chain.faucet[0]
    system = deploy_system(chain, admin)
    governance = GovernanceClient(system)
    registry = system.registry
    people = [Account.create().address for _ in range(6)]
    registered: set[str] = set()
    active: set[str] = set()
    replay = RegistryReplay(system)
    rng = random.Random(20261130)

    def allowed_on_chain() -> set[str]:
        everyone = [*people, admin.address, system.deployment.addresses["EnergyMarket"]]
        return {
            a
            for a in everyone
            if registry.functions.transactionAllowed(a, ZERO, 0, 0, 0, b"").call()
        }

    steps = 0
    for _ in range(60):
        who = rng.choice(people)
        move = rng.choice(["register", "suspend", "reinstate", "grant", "revoke"])
        if move == "register" and who not in registered:
            fn = registry.functions.registerParticipant(who, rng.choice([1, 2]), False)
            registered.add(who)
            active.add(who)
        elif move == "suspend" and who in active:
            fn = registry.functions.suspendParticipant(who)
            active.discard(who)
        elif move == "reinstate" and who in registered - active:
            fn = registry.functions.reinstateParticipant(who)
            active.add(who)
        elif move in ("grant", "revoke"):
            role = system.role(rng.choice(ROLES))
            fn = getattr(registry.functions, f"{move}Role")(role, who)
        else:
            continue
        if move in ("grant", "revoke"):
            governance.enact(admin, fn)  # role changes go through the timelock only
        else:
            transact(chain, admin, fn)
        steps += 1
        if steps % 5 == 0:  # replay incrementally, as the daemon does, and compare each time
            replay.advance(int(chain.w3.eth.block_number))
            assert replay.state.allowed_accounts() == allowed_on_chain()
    # A fixed tail so the end state surely holds each case: suspended, revoked, system role only.
    suspended, revoked, market_only = (Account.create().address for _ in range(3))
    people += [suspended, revoked, market_only]
    for fn in (
        registry.functions.registerParticipant(suspended, 1, False),
        registry.functions.suspendParticipant(suspended),
    ):
        transact(chain, admin, fn)
    for fn in (
        registry.functions.grantRole(system.role("KEEPER_ROLE"), revoked),
        registry.functions.revokeRole(system.role("KEEPER_ROLE"), revoked),
        registry.functions.grantRole(system.role("MARKET_ROLE"), market_only),
    ):
        governance.enact(admin, fn)
    replay.advance(int(chain.w3.eth.block_number))
    allowed = replay.state.allowed_accounts()
    assert allowed == allowed_on_chain()
    assert {suspended, revoked, market_only}.isdisjoint(allowed) and admin.address in allowed
    assert steps > 30  # the history really exercised the registry
