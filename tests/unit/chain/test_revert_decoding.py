"""Reverts become named exceptions with their arguments: from raw data, and from the embedded
chain's failures on each path a revert takes (a call, a transaction's pre-flight, a deployment's
estimate), recognised by type and data, never by message."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from p2penergy.chain import artifacts
from p2penergy.chain.connect import Chain, embedded
from p2penergy.chain.errors import decode_revert
from p2penergy.chain.tx import call, deploy, revert_from, transact
from p2penergy.exceptions import AccessDenied, MarketError, UnknownRevert

ZERO = "0x" + "00" * 20


def _error(signature: str, types: list[str], values: list[object]) -> bytes:
    return keccak(text=signature)[:4] + encode(types, values)


def test_a_custom_error_is_decoded_by_name_into_its_area_with_named_arguments():
    data = _error("MarketGateOpen(uint256,uint256)", ["uint256", "uint256"], [5, 1000])
    revert = decode_revert(data, "EnergyMarket")
    assert isinstance(revert, MarketError)
    assert (revert.name, revert.contract) == ("MarketGateOpen", "EnergyMarket")
    assert list(revert.error_args.values()) == [5, 1000]


def test_error_string_panic_and_unknown_selectors_are_unknown_reverts():
    text = decode_revert(_error("Error(string)", ["string"], ["nope"]))
    panic = decode_revert(_error("Panic(uint256)", ["uint256"], [0x11]))
    other = decode_revert(b"\x01\x02\x03\x04")
    assert isinstance(text, UnknownRevert) and text.error_args == {"message": "nope"}
    assert (panic.name, panic.error_args) == ("Panic", {"code": "0x11"})
    assert other.name == "Revert" and isinstance(other, UnknownRevert)


def test_malformed_arguments_keep_the_name():
    data = keccak(text="MarketGateOpen(uint256,uint256)")[:4] + b"\x00"
    revert = decode_revert(data)
    assert revert.name == "MarketGateOpen" and revert.error_args == {"data": b"\x00"}


def _registry(chain: Chain, address: str):  # type: ignore[no-untyped-def]
    return chain.w3.eth.contract(address=address, abi=artifacts.load("ParticipantRegistry")["abi"])


@pytest.fixture(scope="module")
def chain_and_registry() -> tuple[Chain, str]:
    chain = embedded()
    admin = chain.faucet[0]
    abi = artifacts.load("ParticipantRegistry")["abi"]
    bytecode = artifacts.load("ParticipantRegistry")["bytecode"]
    address, _ = deploy(chain, admin, abi, bytecode, admin.address, 0, [])
    return chain, address


def test_a_reverting_call_on_the_embedded_chain_is_named(chain_and_registry):
    chain, address = chain_and_registry
    registry = chain.w3.eth.contract(
        address=address, abi=artifacts.load("ParticipantRegistry")["abi"]
    )
    stranger = chain.faucet[2]
    fn = registry.functions.registerParticipant(stranger.address, 1, False)
    with pytest.raises(AccessDenied) as raised:
        call(fn, stranger.address)
    assert raised.value.name == "AccessControlUnauthorizedAccount"
    assert raised.value.error_args["account"] == stranger.address.lower()  # as eth_abi decodes
    assert stranger.address in str(raised.value)  # shown checksummed


def test_a_transaction_refused_before_sending_is_named_and_nothing_is_mined(chain_and_registry):
    chain, address = chain_and_registry
    registry = chain.w3.eth.contract(
        address=address, abi=artifacts.load("ParticipantRegistry")["abi"]
    )
    stranger = chain.faucet[1]
    block = chain.w3.eth.block_number
    with pytest.raises(AccessDenied, match="AccessControlUnauthorizedAccount"):
        transact(
            chain, stranger, registry.functions.registerParticipant(stranger.address, 1, False)
        )
    assert chain.w3.eth.block_number == block


def test_a_reverting_deployment_is_named_from_the_estimate(chain_and_registry):
    chain, _ = chain_and_registry
    artifact = artifacts.load("ParticipantRegistry")
    with pytest.raises(AccessDenied) as raised:
        deploy(chain, chain.faucet[0], artifact["abi"], artifact["bytecode"], ZERO, 0, [])
    assert raised.value.name == "AccessControlInvalidDefaultAdmin"


def test_a_failure_that_is_not_a_revert_is_left_alone():
    assert revert_from(ValueError("execution reverted: b'\\x00'")) is None
