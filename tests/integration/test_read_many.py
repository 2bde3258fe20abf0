"""`chain.readmany`: many `balanceOf` reads in one `eth_call` give exactly the answers of one
call each, on the embedded chain and on brownie's Hardhat node; the kept bytecode is its
source compiled."""

from __future__ import annotations

import pytest
import solcx
from eth_account import Account
from eth_utils.crypto import keccak

from p2penergy.chain import readmany, toolchain
from p2penergy.chain.readmany import BALANCE_OF, read_many
from p2penergy.chain.tx import transact

from ..conftest import Deployed


def test_the_kept_creation_code_is_the_source_compiled():
    output = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {"ReadMany.sol": {"content": readmany.SOURCE}},
            "settings": {
                **readmany.SETTINGS,
                "outputSelection": {"*": {"*": ["evm.bytecode.object"]}},
            },
        },
        solc_binary=toolchain.solc_binary(),
    )
    compiled = output["contracts"]["ReadMany.sol"]["ReadMany"]["evm"]["bytecode"]["object"]
    assert bytes.fromhex(compiled) == readmany.CREATION_CODE
    assert readmany.SETTINGS["evmVersion"] == toolchain.EVM_VERSION
    assert readmany.SETTINGS["optimizer"]["runs"] == toolchain.OPTIMIZER_RUNS


def test_many_reads_in_chunks_equal_one_call_each_at_the_block_asked(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
):
    d = deployed
    credit = d.system.credit
    a = d.actors
    holders = [a.prosumer.address, a.consumer.address, Account.create().address]
    for i, holder in enumerate(holders[:2]):
        ref = keccak(text=f"read many {holder}")
        transact(d.chain, a.operator, credit.functions.mint(holder, 1_000 + i, ref))
    before = int(d.chain.w3.eth.block_number)
    ref = keccak(text=f"read many again {holders[0]}")
    transact(d.chain, a.operator, credit.functions.mint(holders[0], 77, ref))
    # no balance, contracts, a repeat: 7 accounts, three calls of at most 3
    accounts = [*holders, credit.address, d.system.market.address, holders[1], holders[0]]
    monkeypatch.setattr(readmany, "CHUNK", 3)
    balance_of = credit.functions.balanceOf
    for block in ("latest", before):
        one_each = [int(balance_of(x).call(block_identifier=block)) for x in accounts]
        assert read_many(d.chain.w3, credit.address, BALANCE_OF, accounts, block) == one_each
    assert one_each[0] == int(balance_of(holders[0]).call()) - 77 > 0
    got = read_many(d.chain.w3, credit.address, BALANCE_OF, holders[:1])
    assert got == [int(balance_of(holders[0]).call())]
    assert read_many(d.chain.w3, credit.address, BALANCE_OF, []) == []


def test_a_read_that_fails_fails_the_whole_call(deployed: Deployed):
    """An address without code answers nothing: the helper refuses rather than return a 0."""
    d = deployed
    with pytest.raises(Exception):  # noqa: B017  (web3's exception differs per chain)
        read_many(d.chain.w3, Account.create().address, BALANCE_OF, [d.actors.admin.address])
