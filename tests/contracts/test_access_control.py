"""Access-control matrix: every state-changing function of every contract, called by every role.

Allowed calls must succeed; the others must revert with the named error. A function added to a
contract without a row here fails `test_matrix_covers_every_state_changing_function`. The
caller "governance" is the governance timelock: the call is scheduled by the operator, waits
the delay and is executed (`govern`); governed functions accept no other caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account

from p2penergy.chain import artifacts
from p2penergy.chain.tx import events, transact
from p2penergy.exceptions import (
    AccessDenied,
    CertificateError,
    ContractRevert,
    CreditError,
    MarketError,
    ReadingsError,
)
from p2penergy.oracle.recorded import RecordedReading

from ..conftest import CONSUMER, Actors, Deployed, certify, govern, recent_slot, topup_ref

GOVERNANCE = "governance"
CALLERS = [*Actors.__dataclass_fields__, GOVERNANCE]
GOVERNED = frozenset({GOVERNANCE})
EVERYONE = frozenset(CALLERS)
# `market` is an account granted MARKET_ROLE: the role moves nothing, it is refused as a stranger.
ACTIVE_HOLDERS = frozenset({"prosumer", "consumer"})
# Accounts that can hold credits and certificates of their own (suspension freezes transfers,
# never redemptions or retirements).
HOLDERS = frozenset({"prosumer", "consumer", "suspended"})


def _address(d: Deployed, caller: str) -> str:
    if caller == GOVERNANCE:
        return str(d.system.governance.address)
    return str(getattr(d.actors, caller).address)


def _ref() -> bytes:
    return topup_ref()


def _fresh_participant(d: Deployed) -> str:
    account = Account.create().address
    transact(
        d.chain,
        d.actors.operator,
        d.system.registry.functions.registerParticipant(account, CONSUMER, False),
    )
    return account


def _fresh_meter(d: Deployed) -> int:
    owner = _fresh_participant(d)
    receipt = transact(
        d.chain,
        d.actors.operator,
        d.system.registry.functions.registerMeter(Account.create().address, owner, 5_000),
    )
    return int(events(d.system.registry, "MeterRegistered", receipt)[0]["args"]["meterId"])


def _mint_credits(d: Deployed, account: str, amount: int) -> None:
    transact(d.chain, d.actors.operator, d.system.credit.functions.mint(account, amount, _ref()))


@dataclass(frozen=True)
class Row:
    contract: str
    function: str
    allowed: frozenset[str]
    denied_error: type[ContractRevert]
    build: Callable[[Deployed, str], Any]  # (deployment, caller name) -> bound contract function
    denied_name: str | None = None  # the custom error every denied caller gets, when it is one


def _registry(
    fn: str, allowed: frozenset[str], make_args: Callable[[Deployed], tuple[Any, ...]]
) -> Row:
    return Row(
        "ParticipantRegistry",
        fn,
        allowed,
        AccessDenied,
        lambda d, _caller: getattr(d.system.registry.functions, fn)(*make_args(d)),
    )


def _suspended_fresh(d: Deployed) -> tuple[str]:
    account = _fresh_participant(d)
    transact(d.chain, d.actors.operator, d.system.registry.functions.suspendParticipant(account))
    return (account,)


def _redeem(d: Deployed, caller: str) -> Any:
    """Every caller redeems 10 of its own credits: only holders have any."""
    account = _address(d, caller)
    if caller in HOLDERS:
        registry = d.system.registry.functions
        suspended = not registry.isActiveParticipant(account).call()
        if suspended:
            transact(d.chain, d.actors.operator, registry.reinstateParticipant(account))
        _mint_credits(d, account, 10)
        if suspended:
            transact(d.chain, d.actors.operator, registry.suspendParticipant(account))
    return d.system.credit.functions.redeem(10, _ref())


def _redeem_from(d: Deployed, _caller: str) -> Any:
    """The prosumer's credits, which it let the consumer (only) redeem."""
    holder = d.actors.prosumer
    _mint_credits(d, holder.address, 10)
    approve = d.system.credit.functions.approve(d.actors.consumer.address, 10)
    transact(d.chain, holder, approve)
    return d.system.credit.functions.redeemFrom(holder.address, 10, _ref())


def _permit(d: Deployed, _caller: str) -> Any:
    from tests.contracts.test_credit import signed_permit

    owner = d.actors.prosumer
    return signed_permit(d, owner, d.actors.consumer.address, 5)


def _retire(d: Deployed, caller: str) -> Any:
    """Every caller retires 100 Wh of its own certificates: only holders have any."""
    account, slot = _address(d, caller), recent_slot(d)
    if caller in HOLDERS:
        certify(d, account, 100, slot)
    return d.system.certificate.functions.retire(slot, 100)


def _market_move(d: Deployed, _caller: str) -> Any:
    seller, buyer, slot = d.actors.prosumer.address, d.actors.consumer.address, recent_slot(d)
    certify(d, seller, 300, slot)
    return d.system.certificate.functions.marketMove(slot, [seller], [300], [buyer], [300])


STAFF = frozenset({"admin", "operator", "auditor", "keeper", "guardian"})
TRADERS = frozenset({"prosumer", "consumer"})
CLEARERS = TRADERS | {"keeper"}
# Settlement only applies the stored clearing: suspended participants may trigger it too.
SETTLERS = CLEARERS | {"suspended"}


def _current_slot(d: Deployed) -> int:
    epoch, length, _ = d.system.readings.functions.timing().call()
    return (d.chain.now() - epoch) // length


def _cancel(d: Deployed, _caller: str) -> Any:
    from p2penergy.contracts.market import MarketClient
    from p2penergy.domain.orders import OrderInput, Side

    consumer = d.actors.consumer
    _mint_credits(d, consumer.address, 10**9)
    client = MarketClient(d.system)
    client.approve_escrow(consumer)
    [oid] = client.place(consumer, [OrderInput(_current_slot(d) + 4, Side.BID, 100, 100_000)])
    return d.system.market.functions.cancelOrder(oid)


def _funded(d: Deployed, caller: str) -> None:
    """A trader caller gets credits and approves the market; nobody else can hold any."""
    if caller in TRADERS:
        from p2penergy.contracts.market import MarketClient

        account = getattr(d.actors, caller)
        _mint_credits(d, account.address, 10**6)
        MarketClient(d.system).approve_escrow(account)


def _deposit(d: Deployed, caller: str) -> Any:
    _funded(d, caller)
    return d.system.market.functions.deposit(1)


def _deposit_with_permit(d: Deployed, caller: str) -> Any:
    _funded(d, caller)  # the allowance stands in for the (garbage) permit
    return d.system.market.functions.depositWithPermit(1, 0, 27, bytes(32), bytes(32))


def _withdraw(d: Deployed, caller: str) -> Any:
    # Only an account with a market balance can withdraw: the traders deposit first. (A
    # suspended account withdrawing its own: tests/contracts/test_escrow.py.)
    if caller in TRADERS:
        _funded(d, caller)
        transact(d.chain, getattr(d.actors, caller), d.system.market.functions.deposit(1))
    return d.system.market.functions.withdraw(1)


def _clear(d: Deployed, _caller: str) -> Any:
    return d.system.market.functions.clear(_current_slot(d), 0, 0, 0, 0)


def _settle(d: Deployed, _caller: str) -> Any:
    slot = _current_slot(d)
    transact(d.chain, d.actors.keeper, d.system.market.functions.clear(slot, 0, 0, 0, 0))
    return d.system.market.functions.settle(slot, 0)


MATRIX: list[Row] = [
    _registry(
        "grantRole",
        GOVERNED,
        lambda d: (d.system.role("KEEPER_ROLE"), Account.create().address),
    ),
    _registry(
        "revokeRole",
        GOVERNED,
        lambda d: (d.system.role("KEEPER_ROLE"), d.actors.keeper.address),
    ),
    _registry("beginDefaultAdminTransfer", GOVERNED, lambda d: (Account.create().address,)),
    _registry("cancelDefaultAdminTransfer", GOVERNED, lambda d: ()),
    _registry("changeDefaultAdminDelay", GOVERNED, lambda d: (3_600,)),
    _registry("rollbackDefaultAdminDelay", GOVERNED, lambda d: ()),
    _registry(
        "registerParticipant",
        frozenset({"operator"}),
        lambda d: (Account.create().address, CONSUMER, True),
    ),
    _registry("suspendParticipant", frozenset({"operator"}), lambda d: (_fresh_participant(d),)),
    _registry("reinstateParticipant", frozenset({"operator"}), _suspended_fresh),
    _registry("setCriticalLoad", GOVERNED, lambda d: (_fresh_participant(d), True)),
    _registry(
        "registerMeter",
        frozenset({"operator"}),
        lambda d: (Account.create().address, _fresh_participant(d), 4_000),
    ),
    _registry(
        "rotateMeterKey",
        GOVERNED,
        lambda d: (_fresh_meter(d), Account.create().address),
    ),
    _registry("setMeterActive", GOVERNED, lambda d: (_fresh_meter(d), False)),
    Row(
        "CommunityCredit",
        "mint",
        frozenset({"operator"}),
        AccessDenied,
        lambda d, _c: d.system.credit.functions.mint(d.actors.consumer.address, 1, _ref()),
    ),
    Row("CommunityCredit", "redeem", HOLDERS, CreditError, _redeem, "ERC20InsufficientBalance"),
    Row(
        "CommunityCredit",
        "redeemFrom",
        frozenset({"consumer"}),
        CreditError,
        _redeem_from,
        "ERC20InsufficientAllowance",
    ),
    Row(
        "CommunityCredit",
        "transfer",
        ACTIVE_HOLDERS,
        CreditError,
        lambda d, _c: d.system.credit.functions.transfer(d.actors.consumer.address, 0),
    ),
    Row(
        "CommunityCredit",
        "approve",
        EVERYONE,
        CreditError,
        lambda d, _c: d.system.credit.functions.approve(d.actors.consumer.address, 1),
    ),
    Row(
        "CommunityCredit",
        "transferFrom",
        EVERYONE,
        CreditError,
        lambda d, _c: d.system.credit.functions.transferFrom(
            d.actors.prosumer.address, d.actors.consumer.address, 0
        ),
    ),
    Row("CommunityCredit", "permit", EVERYONE, CreditError, _permit),
    Row(
        "EnergyCertificate",
        "mintBatch",
        frozenset(),  # only the MeterReadings contract (see test_readings / test_certificate)
        CertificateError,
        lambda d, _c: d.system.certificate.functions.mintBatch(
            RecordedReading(1, 3, d.actors.prosumer.address, 0, 500).packed()
        ),
        "CertificateUnauthorizedMinter",
    ),
    Row(
        "EnergyCertificate",
        "marketMove",
        frozenset(),  # only the market contract bound at deployment (see test_escrow)
        CertificateError,
        _market_move,
        "CertificateUnauthorizedMover",
    ),
    Row(
        "EnergyCertificate",
        "retire",
        HOLDERS,
        CertificateError,
        _retire,
        "ERC1155InsufficientBalance",
    ),
    Row(
        "EnergyCertificate",
        "safeTransferFrom",
        frozenset(),
        CertificateError,
        lambda d, c: d.system.certificate.functions.safeTransferFrom(
            _address(d, c), d.actors.consumer.address, 1, 0, b""
        ),
    ),
    Row(
        "EnergyCertificate",
        "safeBatchTransferFrom",
        frozenset(),
        CertificateError,
        lambda d, c: d.system.certificate.functions.safeBatchTransferFrom(
            _address(d, c), d.actors.consumer.address, [], [], b""
        ),
    ),
    Row(
        "EnergyCertificate",
        "setApprovalForAll",
        frozenset(),
        CertificateError,
        lambda d, _c: d.system.certificate.functions.setApprovalForAll(
            d.actors.consumer.address, True
        ),
    ),
    Row(
        "MeterReadings",
        "submit",
        STAFF | TRADERS,
        ReadingsError,
        lambda d, _c: d.system.readings.functions.submit([]),
    ),
    Row(
        "MeterReadings",
        "submitPacked",
        STAFF | TRADERS,
        ReadingsError,
        lambda d, _c: d.system.readings.functions.submitPacked(b""),
    ),
    Row(
        "MeterReadings",
        "prepareMeters",
        STAFF | TRADERS,  # whoever may relay readings may create meters' words ahead of them
        ReadingsError,
        lambda d, _c: d.system.readings.functions.prepareMeters([]),
    ),
    Row(
        "MeterReadings",
        "submitOne",
        frozenset(),  # an empty reading is refused for everyone; who may relay is checked first
        ReadingsError,
        lambda d, _c: d.system.readings.functions.submitOne(
            ((0, 0, 0, 0, 0, 0), 27, bytes(32), bytes(32))
        ),
    ),
    Row(
        "EnergyMarket",
        "placeOrders",
        TRADERS,
        MarketError,
        lambda d, _c: d.system.market.functions.placeOrders([]),
    ),
    Row(
        "EnergyMarket",
        "placeOrdersWithPermit",
        TRADERS,
        MarketError,
        lambda d, _c: d.system.market.functions.placeOrdersWithPermit(
            [], 0, 0, 27, bytes(32), bytes(32)
        ),
    ),
    Row("EnergyMarket", "cancelOrder", frozenset({"consumer"}), MarketError, _cancel),
    Row("EnergyMarket", "deposit", TRADERS, MarketError, _deposit),
    Row("EnergyMarket", "depositWithPermit", TRADERS, MarketError, _deposit_with_permit),
    Row("EnergyMarket", "withdraw", TRADERS, MarketError, _withdraw),
    Row("EnergyMarket", "clear", CLEARERS, MarketError, _clear),
    Row("EnergyMarket", "settle", SETTLERS, MarketError, _settle),
    Row(
        "EnergyMarket",
        "declareOutage",
        GOVERNED,
        AccessDenied,
        lambda d, _c: d.system.market.functions.declareOutage(
            _current_slot(d) + 8, _current_slot(d) + 10, 200_000
        ),
    ),
    Row(
        "EnergyMarket",
        "setTariffs",
        GOVERNED,
        AccessDenied,
        lambda d, _c: d.system.market.functions.setTariffs(70_000, 310_000, 25_000),
    ),
    Row(
        "EnergyMarket",
        "setSellerFee",
        GOVERNED,
        AccessDenied,
        lambda d, _c: d.system.market.functions.setSellerFee(10_000),
    ),
]

# renounceRole is allowed to everyone for their own account; tested on its own below. Only the
# pending default admin may accept, after the delay (tests/contracts/test_governance.py).
SELF_SERVICE = {
    ("ParticipantRegistry", "renounceRole"),
    ("ParticipantRegistry", "acceptDefaultAdminTransfer"),
}
# ERC-1155 transfer functions that EnergyCertificate disables (overridden as `pure` reverts).
DISABLED = {
    ("EnergyCertificate", "safeTransferFrom"),
    ("EnergyCertificate", "safeBatchTransferFrom"),
    ("EnergyCertificate", "setApprovalForAll"),
}


def test_matrix_covers_every_state_changing_function():
    covered = {(row.contract, row.function) for row in MATRIX} | SELF_SERVICE
    for contract in (
        "ParticipantRegistry",
        "CommunityCredit",
        "EnergyCertificate",
        "MeterReadings",
        "EnergyMarket",
    ):
        mutating = {
            item["name"]
            for item in artifacts.load(contract)["abi"]
            if item["type"] == "function"
            and (
                item["stateMutability"] in ("nonpayable", "payable")
                or (contract, item["name"]) in DISABLED
            )
        }
        assert mutating == {fn for c, fn in covered if c == contract}, contract


@pytest.mark.parametrize("row", MATRIX, ids=lambda r: f"{r.contract}.{r.function}")
@pytest.mark.parametrize("caller", CALLERS)
def test_every_role_gets_exactly_its_rights(deployed: Deployed, row: Row, caller: str):
    call = row.build(deployed, caller)

    def send() -> Any:
        if caller == GOVERNANCE:
            return govern(deployed, call)
        return transact(deployed.chain, getattr(deployed.actors, caller), call)

    if caller in row.allowed:
        receipt = send()
        assert receipt["status"] == 1
    else:
        with pytest.raises(row.denied_error) as info:
            send()
        if row.function == "submitOne" and caller in STAFF | TRADERS:
            assert info.value.name != "ReadingsRelayerNotAllowed"
        elif row.contract == "MeterReadings":
            assert info.value.name == "ReadingsRelayerNotAllowed"
        if row.denied_name is not None:
            assert info.value.name == row.denied_name
        if row.denied_error is AccessDenied:
            assert info.value.name == "AccessControlUnauthorizedAccount"
            assert info.value.error_args["account"].lower() == _address(deployed, caller).lower()


def test_renounce_role_works_only_for_the_callers_own_account(deployed: Deployed):
    registry = deployed.system.registry.functions
    keeper_role = deployed.system.role("KEEPER_ROLE")
    with pytest.raises(AccessDenied, match="AccessControlBadConfirmation"):
        transact(
            deployed.chain,
            deployed.actors.admin,
            registry.renounceRole(keeper_role, deployed.actors.keeper.address),
        )
    transact(
        deployed.chain,
        deployed.actors.keeper,
        registry.renounceRole(keeper_role, deployed.actors.keeper.address),
    )
    assert not registry.hasRole(keeper_role, deployed.actors.keeper.address).call()
