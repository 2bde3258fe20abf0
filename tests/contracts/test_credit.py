"""CommunityCredit: registered-only transfers, permit, operator mint/burn with references."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from p2penergy.chain.tx import call, events, transact
from p2penergy.exceptions import AccessDenied, CreditError

from ..conftest import Deployed

REF = b"bank-statement-2026-11-21-000001"


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


def test_credit_has_six_decimals_and_mint_emits_the_top_up_reference(deployed: Deployed):
    credit = deployed.system.credit
    assert credit.functions.decimals().call() == 6
    consumer = deployed.actors.consumer.address
    receipt = transact(
        deployed.chain, deployed.actors.operator, credit.functions.mint(consumer, 2_500_000, REF)
    )
    (event,) = events(credit, "CreditMinted", receipt)
    assert (event["args"]["account"], event["args"]["amount"], event["args"]["paymentRef"]) == (
        consumer,
        2_500_000,
        REF,
    )
    assert _balance(deployed, consumer) == 2_500_000
    assert credit.functions.totalSupply().call() == 2_500_000


def test_transfer_between_active_participants_moves_exactly_the_amount(deployed: Deployed):
    a = deployed.actors
    transact(
        deployed.chain,
        a.operator,
        deployed.system.credit.functions.mint(a.prosumer.address, 1_000, REF),
    )
    transact(
        deployed.chain,
        a.prosumer,
        deployed.system.credit.functions.transfer(a.consumer.address, 400),
    )
    assert (_balance(deployed, a.prosumer.address), _balance(deployed, a.consumer.address)) == (
        600,
        400,
    )


@pytest.mark.parametrize("recipient", ["stranger", "suspended"])
def test_transfer_to_unregistered_or_suspended_account_reverts(deployed: Deployed, recipient: str):
    a = deployed.actors
    transact(
        deployed.chain,
        a.operator,
        deployed.system.credit.functions.mint(a.prosumer.address, 1_000, REF),
    )
    target = getattr(a, recipient).address
    with pytest.raises(CreditError) as info:
        transact(deployed.chain, a.prosumer, deployed.system.credit.functions.transfer(target, 1))
    assert info.value.name == "CreditAccountNotAllowed"
    assert info.value.error_args["account"].lower() == target.lower()
    assert _balance(deployed, a.prosumer.address) == 1_000


def test_suspended_account_cannot_send_its_credits(deployed: Deployed):
    a, credit = deployed.actors, deployed.system.credit
    transact(deployed.chain, a.operator, credit.functions.mint(a.consumer.address, 1_000, REF))
    transact(
        deployed.chain,
        a.operator,
        deployed.system.registry.functions.suspendParticipant(a.consumer.address),
    )
    with pytest.raises(CreditError, match="CreditAccountNotAllowed"):
        transact(deployed.chain, a.consumer, credit.functions.transfer(a.prosumer.address, 1))
    assert _balance(deployed, a.consumer.address) == 1_000


def test_mint_to_unregistered_account_reverts(deployed: Deployed):
    with pytest.raises(CreditError, match="CreditAccountNotAllowed"):
        transact(
            deployed.chain,
            deployed.actors.operator,
            deployed.system.credit.functions.mint(deployed.actors.stranger.address, 1, REF),
        )


def test_market_pays_out_to_a_suspended_participant_so_refunds_never_stick(deployed: Deployed):
    a, credit = deployed.actors, deployed.system.credit
    transact(deployed.chain, a.operator, credit.functions.mint(a.consumer.address, 500, REF))
    transact(deployed.chain, a.consumer, credit.functions.transfer(a.market.address, 500))
    transact(deployed.chain, a.market, credit.functions.transfer(a.suspended.address, 500))
    assert _balance(deployed, a.suspended.address) == 500
    with pytest.raises(CreditError, match="CreditAccountNotAllowed"):
        transact(deployed.chain, a.market, credit.functions.transfer(a.stranger.address, 0))


def test_mint_and_burn_refuse_zero_amounts_and_missing_references(deployed: Deployed):
    a, credit = deployed.actors, deployed.system.credit
    with pytest.raises(CreditError, match="CreditZeroAmount"):
        transact(deployed.chain, a.operator, credit.functions.mint(a.consumer.address, 0, REF))
    with pytest.raises(CreditError, match="CreditMissingReference"):
        transact(
            deployed.chain, a.operator, credit.functions.mint(a.consumer.address, 1, bytes(32))
        )


def test_burn_for_withdrawal_reduces_supply_and_names_the_reference(deployed: Deployed):
    a, credit = deployed.actors, deployed.system.credit
    transact(deployed.chain, a.operator, credit.functions.mint(a.consumer.address, 900, REF))
    receipt = transact(
        deployed.chain, a.operator, credit.functions.burn(a.consumer.address, 300, REF)
    )
    assert events(credit, "CreditBurned", receipt)[0]["args"]["amount"] == 300
    assert credit.functions.totalSupply().call() == 600
    with pytest.raises(CreditError, match="ERC20InsufficientBalance"):
        transact(deployed.chain, a.operator, credit.functions.burn(a.consumer.address, 601, REF))


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
            deployed.system.credit.functions.mint(deployed.actors.consumer.address, 1, REF),
            deployed.actors.auditor.address,
        )
