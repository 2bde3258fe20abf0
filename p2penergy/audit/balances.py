"""Every account's balance on chain against its event history, and Σ balances against supply.

A credit balance follows from the token's `Transfer` events alone (mints, burns, redemptions,
transfers, deposits into and withdrawals out of the market); a balance in the market's internal
ledger from the market's own events (`checks.market_ledger`); a certificate balance of slot `s` from
`TransferSingle` events (readings' mints, the market's moves, retirements). A node operator who
writes a balance straight into storage changes `balanceOf` but cannot add the event, so the
difference names the account and the amount.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from eth_utils.address import to_checksum_address

from p2penergy.audit.checks import Findings, market_ledger
from p2penergy.audit.history import ZERO, History
from p2penergy.chain import artifacts
from p2penergy.chain.connect import Chain
from p2penergy.chain.readmany import BALANCE_OF, CHUNK, read_many

BALANCES = "balances"
BATCH = 200  # (account, slot) pairs per balanceOfBatch call


def credit_history(history: History) -> dict[str, int]:
    """Each account's credit balance from the token's Transfer events."""
    balances: dict[str, int] = defaultdict(int)
    for e in history.credit_transfers:
        a = e.args
        if a["from"] != ZERO:
            balances[a["from"]] -= a["value"]
        if a["to"] != ZERO:
            balances[a["to"]] += a["value"]
    for account in history.accounts():
        balances.setdefault(account, 0)
    balances.setdefault(history.market, 0)
    return dict(balances)


def _balances_of(
    chain: Chain, contract: Any, accounts: list[str], to_block: int
) -> dict[str, int | Exception]:
    """`contract.balanceOf(account)` of every account at `to_block`: `CHUNK` accounts per
    `eth_call` (`chain.readmany`: the same answers as one call each, in far fewer requests).
    A chunk whose read fails is read again one account at a time, so that a failure names
    the account it belongs to and every other account is still checked; each failure is kept
    as the exception."""
    answers: dict[str, int | Exception] = {}
    fn = contract.functions
    for low in range(0, len(accounts), CHUNK):
        chunk = accounts[low : low + CHUNK]
        checksummed = [to_checksum_address(a) for a in chunk]
        try:
            got = read_many(chain.w3, contract.address, BALANCE_OF, checksummed, to_block)
            answers.update(zip(chunk, got, strict=True))
            continue
        except Exception:  # read below one by one: each failure with its own account
            pass
        for account, address in zip(chunk, checksummed, strict=True):
            try:
                answers[account] = int(fn.balanceOf(address).call(block_identifier=to_block))
            except Exception as exc:  # a failed read is a failure of the check, never a pass
                answers[account] = exc
    return answers


def _read_against(
    chain: Chain, contract: Any, expected: dict[str, int], to_block: int, what: str, out: Findings
) -> list[tuple[str, int, int]]:
    """(account, expected, on chain) for each account whose `balanceOf` could be read, in
    account order; each one that could not is recorded as not checked (`what` names the
    balance: "credit", "market")."""
    read = _balances_of(chain, contract, sorted(expected), to_block)
    compared = []
    for account, want in sorted(expected.items()):
        got = read[account]
        if isinstance(got, Exception):
            out.could_not_check(BALANCES, f"the {what} balance of {account}", got, party=account)
            continue
        compared.append((account, want, got))
    return compared


def _market_balances(chain: Chain, history: History, to_block: int, out: Findings) -> None:
    """Each account's free credits in the market (`balanceOf` of EnergyMarket) against the
    market's events: a balance written into storage without its event shows here."""
    market = _contract(chain, history, "EnergyMarket")
    expected = market_ledger(history)
    for account in history.accounts():
        expected.setdefault(account, 0)
    for account, want, got in _read_against(chain, market, expected, to_block, "market", out):
        out.add(
            BALANCES,
            got == want,
            f"market balance {got} on chain, {want} from the market's events"
            + ("" if got == want else f": {got - want:+d} without an event"),
            party=account,
            amount=got - want,
        )


def certificate_history(history: History) -> dict[tuple[str, int], int]:
    """Each (account, slot) certificate balance in Wh from TransferSingle events."""
    balances: dict[tuple[str, int], int] = defaultdict(int)
    for e in history.certificate_transfers:
        a = e.args
        if a["from"] != ZERO:
            balances[(a["from"], a["id"])] -= a["value"]
        if a["to"] != ZERO:
            balances[(a["to"], a["id"])] += a["value"]
    return dict(balances)


def check_balances(
    chain: Chain, history: History, to_block: int, supply: int | None, out: Findings
) -> None:
    """Credit, market-ledger and certificate balances at `to_block` equal their event history."""
    _credits(chain, history, to_block, supply, out)
    _market_balances(chain, history, to_block, out)
    _certificates(chain, history, to_block, out)


def _contract(chain: Chain, history: History, name: str) -> Any:
    return chain.w3.eth.contract(
        address=to_checksum_address(history.addresses[name]), abi=artifacts.load(name)["abi"]
    )


def _credits(
    chain: Chain, history: History, to_block: int, supply: int | None, out: Findings
) -> None:
    token = _contract(chain, history, "CommunityCredit")
    expected = credit_history(history)
    total = 0
    compared = _read_against(chain, token, expected, to_block, "credit", out)
    complete = len(compared) == len(expected)
    for account, want, got in compared:
        total += got
        if got != want:
            out.add(
                BALANCES,
                False,
                f"credit balance {got} on chain, {want} from its transfers: "
                f"{got - want:+d} without an event",
                party=account,
                amount=got - want,
            )
        else:
            out.add(BALANCES, True, f"credit balance {got} equals its transfers", party=account)
    if complete and supply is not None:
        out.add(
            BALANCES,
            total == supply,
            f"Σ credit balances of {len(expected)} accounts {total}, totalSupply {supply}",
            amount=supply - total,
        )


def _certificates(chain: Chain, history: History, to_block: int, out: Findings) -> None:
    token = _contract(chain, history, "EnergyCertificate").functions
    expected = certificate_history(history)
    pairs = sorted(expected)
    per_slot: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # slot -> [chain, history]
    unread: set[int] = set()
    for low in range(0, len(pairs), BATCH):
        chunk = pairs[low : low + BATCH]
        accounts = [to_checksum_address(a) for a, _ in chunk]
        slots = [s for _, s in chunk]
        try:
            got = token.balanceOfBatch(accounts, slots).call(block_identifier=to_block)
        except Exception as exc:  # a failed read is a failure of the check, never a pass
            out.could_not_check(
                BALANCES, f"certificate balances of slots {slots[0]}..{slots[-1]}", exc
            )
            unread |= set(slots)
            continue
        for (account, slot), value in zip(chunk, got, strict=True):
            want = expected[(account, slot)]
            per_slot[slot][0] += int(value)
            per_slot[slot][1] += want
            if int(value) != want:
                out.add(
                    BALANCES,
                    False,
                    f"certificates of slot {slot}: {value} Wh on chain, {want} Wh from its "
                    f"transfers: {int(value) - want:+d} Wh without an event",
                    slot=slot,
                    party=account,
                    amount=int(value) - want,
                )
    for slot, (on_chain, from_events) in sorted(per_slot.items()):
        if slot in unread:
            continue
        out.add(
            BALANCES,
            on_chain == from_events,
            f"certificates of slot {slot}: Σ balances {on_chain} Wh, minted - moved - retired "
            f"{from_events} Wh",
            slot=slot,
            amount=on_chain - from_events,
        )
