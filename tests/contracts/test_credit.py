"""CommunityCredit: registered-only transfers, permit, operator mints and holders' redemptions.

Every payment reference is used once; one mint is bounded; no role can burn, move or freeze
another account's credits (there is no operator burn at all).
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from p2penergy.chain.tx import call, events, transact
from p2penergy.exceptions import AccessDenied, ContractRevert, CreditError

from ..conftest import Deployed, topup_ref

MINT_LIMIT = 10_000 * 10**6  # the deployment default: 10,000 credits


def signed_permit(
    d: Deployed, owner: LocalAccount, spender: str, value: int, deadline: int | None = None
) -> Any:
    """A `permit` call carrying an EIP-2612 signature made with eth-account's typed-data signer."""
    credit = d.system.credit
    deadline = deadline if deadline is not None else d.chain.now() + 3600
    signed = Account.sign_typed_data(
        owner.key,
        domain_data={
            "name": credit.functions.name().call(),
            "version": "1",
            "chainId": d.chain.chain_id,
            "verifyingContract": credit.address,
        },
        message_types={
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ]
        },
        message_data={
            "owner": owner.address,
            "spender": spender,
            "value": value,
            "nonce": credit.functions.nonces(owner.address).call(),
            "deadline": deadline,
        },
    )
    return credit.functions.permit(
        owner.address,
        spender,
        value,
        deadline,
        signed.v,
        signed.r.to_bytes(32, "big"),
        signed.s.to_bytes(32, "big"),
    )


def _balance(d: Deployed, account: str) -> int:
    return int(d.system.credit.functions.balanceOf(account).call())


def _mint(d: Deployed, account: str, amount: int) -> bytes:
    ref = topup_ref()
    transact(d.chain, d.actors.operator, d.system.credit.functions.mint(account, amount, ref))
    return ref


def _refused(d: Deployed, signer: LocalAccount, fn: Any) -> ContractRevert:
    with pytest.raises(ContractRevert) as info:
        transact(d.chain, signer, fn)
    return info.value


def test_credit_has_six_decimals_and_mint_emits_the_top_up_reference(deployed: Deployed):
    credit = deployed.system.credit
    assert credit.functions.decimals().call() == 6
    consumer, ref = deployed.actors.consumer.address, topup_ref()
    receipt = transact(
        deployed.chain, deployed.actors.operator, credit.functions.mint(consumer, 2_500_000, ref)
    )
    (event,) = events(credit, "CreditMinted", receipt)
    assert (event["args"]["account"], event["args"]["amount"], event["args"]["paymentRef"]) == (
        consumer,
        2_500_000,
        ref,
    )
    assert _balance(deployed, consumer) == 2_500_000
    assert credit.functions.totalSupply().call() == 2_500_000
    assert credit.functions.referenceUsed(ref).call() is True


def test_transfer_between_active_participants_moves_exactly_the_amount(deployed: Deployed):
    a = deployed.actors
    _mint(deployed, a.prosumer.address, 1_000)
    transact(
        deployed.chain,
        a.prosumer,
        deployed.system.credit.functions.transfer(a.consumer.address, 400),
    )
    assert (_balance(deployed, a.prosumer.address), _balance(deployed, a.consumer.address)) == (
        600,
        400,
    )


@pytest.mark.parametrize("recipient", ["stranger", "suspended", "market"])
def test_transfer_to_unregistered_or_suspended_account_reverts(deployed: Deployed, recipient: str):
    a = deployed.actors
    _mint(deployed, a.prosumer.address, 1_000)
    target = getattr(a, recipient).address
    with pytest.raises(CreditError) as info:
        transact(deployed.chain, a.prosumer, deployed.system.credit.functions.transfer(target, 1))
    assert info.value.name == "CreditAccountNotAllowed"
    assert info.value.error_args["account"].lower() == target.lower()
    assert _balance(deployed, a.prosumer.address) == 1_000


def test_suspended_account_cannot_send_its_credits(deployed: Deployed):
    a, credit = deployed.actors, deployed.system.credit
    _mint(deployed, a.consumer.address, 1_000)
    transact(
        deployed.chain,
        a.operator,
        deployed.system.registry.functions.suspendParticipant(a.consumer.address),
    )
    with pytest.raises(CreditError, match="CreditAccountNotAllowed"):
        transact(deployed.chain, a.consumer, credit.functions.transfer(a.prosumer.address, 1))
    assert _balance(deployed, a.consumer.address) == 1_000


@pytest.mark.parametrize("recipient", ["stranger", "suspended", "market contract"])
def test_mint_goes_only_to_active_participants(deployed: Deployed, recipient: str):
    a = deployed.actors
    target = (
        deployed.system.market.address
        if recipient == "market contract"
        else getattr(a, recipient).address
    )
    error = _refused(
        deployed, a.operator, deployed.system.credit.functions.mint(target, 1, topup_ref())
    )
    assert (error.name, error.error_args["account"].lower()) == (
        "CreditAccountNotAllowed",
        target.lower(),
    )


def test_mint_and_redeem_refuse_zero_amounts_and_missing_references(deployed: Deployed):
    a, credit = deployed.actors, deployed.system.credit
    _mint(deployed, a.consumer.address, 10)
    for signer, fn, error in [
        (a.operator, credit.functions.mint(a.consumer.address, 0, topup_ref()), "CreditZeroAmount"),
        (
            a.operator,
            credit.functions.mint(a.consumer.address, 1, bytes(32)),
            "CreditMissingReference",
        ),
        (a.consumer, credit.functions.redeem(0, topup_ref()), "CreditZeroAmount"),
        (a.consumer, credit.functions.redeem(1, bytes(32)), "CreditMissingReference"),
    ]:
        assert _refused(deployed, signer, fn).name == error


def test_a_top_up_reference_mints_once(deployed: Deployed):
    a, credit = deployed.actors, deployed.system.credit
    ref = _mint(deployed, a.consumer.address, 5_000_000)
    for account in (a.consumer.address, a.prosumer.address):  # same or another household
        error = _refused(deployed, a.operator, credit.functions.mint(account, 5_000_000, ref))
        assert (error.name, error.error_args) == ("CreditReferenceUsed", {"paymentRef": ref})
    assert credit.functions.totalSupply().call() == 5_000_000


def test_a_mint_above_the_per_mint_limit_is_refused(deployed: Deployed):
    a, credit = deployed.actors, deployed.system.credit
    assert credit.functions.mintLimit().call() == MINT_LIMIT
    for amount in (10**30, MINT_LIMIT + 1):
        error = _refused(
            deployed, a.operator, credit.functions.mint(a.consumer.address, amount, topup_ref())
        )
        assert (error.name, error.error_args) == (
            "CreditMintLimitExceeded",
            {"amount": amount, "limit": MINT_LIMIT},
        )
    _mint(deployed, a.consumer.address, MINT_LIMIT)  # the limit itself is allowed
    assert credit.functions.totalSupply().call() == MINT_LIMIT


def test_the_operator_cannot_burn_or_take_a_households_credits(deployed: Deployed):
    a, credit = deployed.actors, deployed.system.credit
    _mint(deployed, a.consumer.address, 900)
    names = {item.get("name") for item in credit.abi if item["type"] == "function"}
    assert "burn" not in names and "burnFrom" not in names
    # The old operator burn, sent as a raw call: no such function, no fallback.
    old_abi = [
        {
            "type": "function",
            "name": "burn",
            "stateMutability": "nonpayable",
            "inputs": [
                {"name": "account", "type": "address"},
                {"name": "amount", "type": "uint256"},
                {"name": "paymentRef", "type": "bytes32"},
            ],
            "outputs": [],
        }
    ]
    old = deployed.chain.w3.eth.contract(address=credit.address, abi=old_abi)
    for signer in (a.operator, a.admin):
        _refused(deployed, signer, old.functions.burn(a.consumer.address, 900, topup_ref()))
        for fn, error in [
            (
                credit.functions.redeemFrom(a.consumer.address, 900, topup_ref()),
                "ERC20InsufficientAllowance",
            ),
            (
                credit.functions.transferFrom(a.consumer.address, signer.address, 900),
                "ERC20InsufficientAllowance",
            ),
        ]:
            assert _refused(deployed, signer, fn).name == error
    assert _balance(deployed, a.consumer.address) == 900


@pytest.mark.parametrize("suspended", [False, True])
def test_a_household_redeems_its_own_credits_even_while_suspended(
    deployed: Deployed, suspended: bool
):
    a, credit = deployed.actors, deployed.system.credit
    _mint(deployed, a.consumer.address, 900)
    if suspended:
        registry = deployed.system.registry.functions
        transact(deployed.chain, a.operator, registry.suspendParticipant(a.consumer.address))
    ref = b"payout 0043".ljust(32, b"\0")
    receipt = transact(deployed.chain, a.consumer, credit.functions.redeem(300, ref))
    (event,) = events(credit, "CreditRedeemed", receipt)
    assert dict(event["args"]) == {
        "account": a.consumer.address,
        "spender": a.consumer.address,
        "amount": 300,
        "paymentRef": ref,
    }
    (burn,) = events(credit, "Transfer", receipt)
    assert (burn["args"]["from"], burn["args"]["to"], burn["args"]["value"]) == (
        a.consumer.address,
        "0x0000000000000000000000000000000000000000",
        300,
    )
    assert (_balance(deployed, a.consumer.address), credit.functions.totalSupply().call()) == (
        600,
        600,
    )
    # A withdrawal reference is used once too, and more than the balance is refused.
    error = _refused(deployed, a.consumer, credit.functions.redeem(1, ref))
    assert (error.name, error.error_args) == ("CreditReferenceUsed", {"paymentRef": ref})
    assert _refused(deployed, a.consumer, credit.functions.redeem(601, topup_ref())).name == (
        "ERC20InsufficientBalance"
    )


def test_top_up_and_withdrawal_references_share_one_namespace(deployed: Deployed):
    a, credit = deployed.actors, deployed.system.credit
    ref = _mint(deployed, a.consumer.address, 900)
    error = _refused(deployed, a.consumer, credit.functions.redeem(100, ref))
    assert error.name == "CreditReferenceUsed"
    payout = b"payout-77".ljust(32, b"\0")
    transact(deployed.chain, a.consumer, credit.functions.redeem(100, payout))
    error = _refused(deployed, a.operator, credit.functions.mint(a.consumer.address, 5, payout))
    assert error.name == "CreditReferenceUsed"


def test_redeem_from_spends_a_permit_the_holder_signed(deployed: Deployed):
    a, credit = deployed.actors, deployed.system.credit
    _mint(deployed, a.consumer.address, 900)
    ref = b"payout-permit".ljust(32, b"\0")
    error = _refused(
        deployed, a.operator, credit.functions.redeemFrom(a.consumer.address, 500, ref)
    )
    assert error.name == "ERC20InsufficientAllowance"
    transact(
        deployed.chain, a.operator, signed_permit(deployed, a.consumer, a.operator.address, 500)
    )
    receipt = transact(
        deployed.chain, a.operator, credit.functions.redeemFrom(a.consumer.address, 500, ref)
    )
    (event,) = events(credit, "CreditRedeemed", receipt)
    assert (event["args"]["account"], event["args"]["spender"], event["args"]["amount"]) == (
        a.consumer.address,
        a.operator.address,
        500,
    )
    assert credit.functions.allowance(a.consumer.address, a.operator.address).call() == 0
    assert _balance(deployed, a.consumer.address) == 400
    error = _refused(
        deployed, a.operator, credit.functions.redeemFrom(a.consumer.address, 1, topup_ref())
    )
    assert error.name == "ERC20InsufficientAllowance"


def test_permit_signed_with_eth_account_sets_the_allowance(deployed: Deployed):
    a, credit = deployed.actors, deployed.system.credit
    transact(deployed.chain, a.keeper, signed_permit(deployed, a.prosumer, a.consumer.address, 777))
    assert credit.functions.allowance(a.prosumer.address, a.consumer.address).call() == 777
    assert credit.functions.nonces(a.prosumer.address).call() == 1


def test_permit_with_a_wrong_signer_or_expired_deadline_reverts(deployed: Deployed):
    a = deployed.actors
    forged = signed_permit(deployed, a.consumer, a.consumer.address, 5)
    # Re-target the consumer's signature at the prosumer's allowance: the signer does not match.
    args = list(forged.args)
    args[0] = a.prosumer.address
    tampered = deployed.system.credit.functions.permit(*args)
    with pytest.raises(CreditError, match="ERC2612InvalidSigner"):
        transact(deployed.chain, a.keeper, tampered)
    expired = signed_permit(deployed, a.prosumer, a.consumer.address, 5, deadline=1)
    with pytest.raises(CreditError, match="ERC2612ExpiredSignature"):
        transact(deployed.chain, a.keeper, expired)


def test_operator_role_is_checked_in_the_registry(deployed: Deployed):
    with pytest.raises(AccessDenied):
        call(
            deployed.system.credit.functions.mint(deployed.actors.consumer.address, 1, topup_ref()),
            deployed.actors.auditor.address,
        )
