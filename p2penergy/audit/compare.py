"""`--compare-rpc`: a second node (another validator) must tell the same chain.

Up to the lower of the two heads, the same block numbers must have the same hashes and state
roots (a block hash commits to its parent, so equal hashes at the common head mean equal blocks
below it; a difference is bisected to the first differing block), and at the common head every
account's credit balance and the total supply must be equal. A node whose balances differ from
the event history is named by its URL: it rewrote its own state.

Balances are compared as raw state (`eth_getStorageAt` of the token's `_balances` entries and
`_totalSupply`: OpenZeppelin 5's ERC20 keeps them in slots 0 and 2), which every node answers
for any block it holds, without executing code; on the audited node the layout is first
confirmed against `totalSupply()`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from p2penergy.audit.cache import BlockHeader, _hex
from p2penergy.audit.checks import Findings
from p2penergy.audit.history import ZERO, History
from p2penergy.chain import artifacts
from p2penergy.chain.connect import Chain

NODES = "nodes"


def compare_nodes(
    primary: Chain,
    primary_name: str,
    other: Chain,
    other_name: str,
    headers: dict[int, BlockHeader],
    history: History,
    start: int,
    to_block: int,
    out: Findings,
) -> None:
    """Blocks and balances of `other` against the audited node `primary`."""
    try:
        head = min(to_block, int(other.w3.eth.block_number))
    except Exception as exc:  # a node that does not answer cannot vouch for anything
        out.could_not_check(NODES, f"the node {other_name}", exc, party=other_name)
        return
    if not _blocks(other, other_name, headers, start, head, out):
        return
    _balances(primary, primary_name, other, other_name, history, head, out)


BALANCES_SLOT = 0  # OZ 5 ERC20: mapping(address account => uint256) _balances
TOTAL_SUPPLY_SLOT = 2  # OZ 5 ERC20: uint256 _totalSupply


def balance_slot(account: str) -> int:
    """The storage slot of `account`'s entry in the token's `_balances` mapping."""
    key = bytes.fromhex(account[2:].rjust(64, "0")) + BALANCES_SLOT.to_bytes(32, "big")
    return int.from_bytes(keccak(key), "big")


def _header(chain: Chain, number: int) -> tuple[str, str]:
    block = chain.w3.eth.get_block(number)
    return _hex(block["hash"]), _hex(block["stateRoot"])


def _blocks(
    other: Chain,
    name: str,
    headers: dict[int, BlockHeader],
    start: int,
    head: int,
    out: Findings,
) -> bool:
    """True when blocks `start..head` agree; else a failure at the first differing block."""

    def same(number: int) -> bool:
        ours = headers[number]
        return _header(other, number) == (ours.hash, ours.state_root)

    try:
        if same(head):
            out.add(NODES, True, f"{name}: blocks {start}..{head} have the same hashes and roots")
            return True
        low, high = start, head  # invariant: `high` differs; find the lowest differing block
        while low < high:
            middle = (low + high) // 2
            if same(middle):
                low = middle + 1
            else:
                high = middle
        theirs = _header(other, high)
    except Exception as exc:  # a failed read is a failure of the check, never a pass
        out.could_not_check(NODES, f"the blocks of {name}", exc, party=name)
        return False
    ours = headers[high]
    out.add(
        NODES,
        False,
        f"{name}: block {high} differs: hash {theirs[0]}, state root {theirs[1]}; the audited "
        f"node has hash {ours.hash}, state root {ours.state_root}",
        party=name,
        block=high,
    )
    return False


def _balances(
    primary: Chain,
    primary_name: str,
    other: Chain,
    other_name: str,
    history: History,
    head: int,
    out: Findings,
) -> None:
    """Credit balances and totalSupply at `head` on both nodes, against the event history."""
    expected: dict[str, int] = defaultdict(int)
    for e in history.credit_transfers:
        if e.position[0] > head:
            break
        a = e.args
        if a["from"] != ZERO:
            expected[a["from"]] -= a["value"]
        if a["to"] != ZERO:
            expected[a["to"]] += a["value"]
    for account in history.accounts():
        expected.setdefault(account, 0)
    supply = sum(expected.values())
    token = to_checksum_address(history.addresses["CommunityCredit"])

    def stored(chain: Chain, slot: int) -> int:
        return int.from_bytes(bytes(chain.w3.eth.get_storage_at(token, slot, head)), "big")

    try:
        on_chain = int(_token(primary, history).totalSupply().call(block_identifier=head))
        layout = stored(primary, TOTAL_SUPPLY_SLOT) == on_chain
    except Exception as exc:  # a failed read is a failure of the check, never a pass
        out.could_not_check(NODES, f"the token's storage on {primary_name}", exc)
        return
    if not layout:
        out.add(NODES, False, "could not check balances: the token's storage layout is not OZ 5's")
        return
    nodes = (primary_name, other_name)
    differing = 0
    slots = [(a, balance_slot(a)) for a in sorted(expected)] + [("totalSupply", TOTAL_SUPPLY_SLOT)]
    expected["totalSupply"] = supply
    for account, slot in slots:
        want = expected[account]
        got: dict[str, int] = {}
        for name, chain in zip(nodes, (primary, other), strict=True):
            try:
                got[name] = stored(chain, slot)
            except Exception as exc:  # a failed read is a failure of the check, never a pass
                out.could_not_check(NODES, f"{account} at block {head} on {name}", exc, party=name)
        if len(got) < len(nodes) or len(set(got.values())) == 1:
            continue
        differing += 1
        for name, value in got.items():
            if value != want:
                what = (
                    "total supply" if account == "totalSupply" else f"credit balance of {account}"
                )
                out.add(
                    NODES,
                    False,
                    f"{name}: {what} at block {head} is {value}, the event history says "
                    f"{want}: this node rewrote its state",
                    party=name,
                    amount=value - want,
                    block=head,
                )
    if not differing:
        out.add(
            NODES,
            True,
            f"{other_name}: {len(slots) - 1} credit balances and totalSupply equal at block {head}",
        )


def _token(chain: Chain, history: History) -> Any:
    return chain.w3.eth.contract(
        address=to_checksum_address(history.addresses["CommunityCredit"]),
        abi=artifacts.load("CommunityCredit")["abi"],
    ).functions
