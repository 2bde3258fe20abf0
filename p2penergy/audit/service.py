"""`audit(...)`: sync the cache, replay the history, run every check, return a Report."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.address import is_hex_address, to_checksum_address
from eth_utils.crypto import keccak
from web3.contract import Contract

from p2penergy.audit.balances import check_balances
from p2penergy.audit.bytecode import check_bytecode
from p2penergy.audit.cache import AuditCache
from p2penergy.audit.checks import (
    CREDITS,
    ESCROW,
    READINGS,
    Finding,
    Findings,
    SlotView,
    check_clearing,
    check_conservation,
    check_duplicate_refs,
    check_readings,
    check_settlement,
    check_topups,
)
from p2penergy.audit.compare import compare_nodes
from p2penergy.audit.governance import GOVERNANCE, Policy, check_governance
from p2penergy.audit.history import History, checksum, replay
from p2penergy.audit.ledger import slot_inputs
from p2penergy.audit.signatures import check_signatures
from p2penergy.chain import artifacts
from p2penergy.chain.connect import Chain
from p2penergy.chain.deploy import Deployment, System
from p2penergy.domain.participants import ROLE_NAMES
from p2penergy.exceptions import P2PEnergyError
from p2penergy.ledger import statements


class AuditError(P2PEnergyError, ValueError):
    """The audit could not run (bad top-up ledger, block range, address book)."""


class AuditFilterError(AuditError):
    """A `--participant` or `--slot` filter is malformed or matches nothing on this chain."""

    def __init__(self, option: str, value: object, reason: str) -> None:
        self.option = option
        self.value = value
        super().__init__(f"{option} {value}: {reason}")


@dataclass
class Household:
    """A participant's money in the audited slots against the grid-only baseline."""

    account: str
    imported_wh: int = 0
    exported_wh: int = 0
    paid: int = 0  # energy charges + network fees for local purchases
    received: int = 0  # receipts for local sales
    bought_wh: int = 0
    sold_wh: int = 0
    grid_cost: int = 0  # what was not bought locally, at retail, minus unsold export at feed-in
    baseline: int = 0  # everything at retail, every export at feed-in

    @property
    def bill(self) -> int:
        return self.paid - self.received + self.grid_cost


@dataclass
class Report:
    """The audit's outcome: findings, per-slot figures, households, the review list."""

    chain_id: int
    from_block: int
    to_block: int
    addresses: dict[str, str]
    findings: list[Finding]
    slots: list[SlotView]
    households: list[Household]
    review: list[dict[str, Any]]
    fetched_blocks: int = 0
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every check passed (the CLI's exit code 0)."""
        return all(f.ok for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def summary(self) -> dict[str, tuple[int, int]]:
        """(passed, failed) per check."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for f in self.findings:
            counts[f.check][0 if f.ok else 1] += 1
        return {name: (v[0], v[1]) for name, v in counts.items()}

    def as_dict(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "chainId": self.chain_id,
            "fromBlock": self.from_block,
            "toBlock": self.to_block,
            "passed": self.passed,
            "filters": self.filters,
            "addresses": self.addresses,
            "summary": {k: {"passed": p, "failed": f} for k, (p, f) in self.summary().items()},
            "findings": [f.as_dict() for f in self.findings],
            "slots": [vars(s) for s in self.slots],
            "households": [dict(vars(h), bill=h.bill) for h in self.households],
            "review": self.review,
        }


def load_topups(path: Path) -> dict[str, tuple[str, int]]:
    """A top-up ledger CSV: `payment_ref` (0x + 64 hex, or text up to 32 bytes), `account` and
    `amount` (credit base units), one row per payment; a reference may appear once."""
    ledger: dict[str, tuple[str, int]] = {}
    try:
        with path.open(newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                ref = (row.get("payment_ref") or "").strip()
                account = (row.get("account") or "").strip().lower()
                amount = (row.get("amount") or "").strip()
                if not (ref and account and amount):
                    raise AuditError(f"{path}:{line}: payment_ref, account and amount are required")
                if not (ref.startswith("0x") and len(ref) == 66):
                    ref = "0x" + ref.encode().ljust(32, b"\0").hex()
                if ref.lower() in ledger:
                    raise AuditError(f"{path}:{line}: payment_ref {ref} appears twice")
                ledger[ref.lower()] = (account, int(amount))
    except (OSError, ValueError, csv.Error) as exc:
        if isinstance(exc, AuditError):
            raise
        raise AuditError(f"cannot read the top-up ledger {path}: {exc}") from exc
    return ledger


def audit(
    target: System | Chain,
    deployment: Deployment | None = None,
    *,
    cache: AuditCache | Path | None = None,
    from_block: int | None = None,
    to_block: int | None = None,
    slot: int | None = None,
    participant: str | None = None,
    topups: Mapping[str, tuple[str | None, int | None]] | Path | None = None,
    policy: Policy | Path | None = None,
    compare_rpc: Chain | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Audits a deployment from chain data alone.

    The history is always replayed from the deployment blocks to `to_block` (head by default),
    because every check needs the state before it; `from_block`, `slot` and `participant` only
    narrow which findings and rows the report shows. `cache` (a path or an open cache) keeps the
    raw logs so the next audit reads only new blocks; None uses a throw-away in-memory cache.
    `progress(read, total)` follows the block download. `policy` (a `Policy` or its YAML file)
    turns departures from who may hold which role, meter keys and tariff ranges into failures.
    `compare_rpc` (a second node of the same chain) must agree on block hashes, state roots and
    balances up to the lower head.
    """
    if isinstance(target, System):
        chain, deployment = target.chain, target.deployment
    else:
        chain = target
    if deployment is None:
        raise AuditError("audit needs the deployment (address book)")
    who = _participant_filter(participant)
    head = int(chain.w3.eth.block_number)
    to_block = head if to_block is None else to_block
    if to_block > head:
        raise AuditError(f"--to-block {to_block} is beyond the head {head}")
    start = min(deployment.blocks.values())
    own = not isinstance(cache, AuditCache)
    store = cache if isinstance(cache, AuditCache) else AuditCache(cache)
    out = Findings()
    try:
        addresses = {name: a.lower() for name, a in deployment.addresses.items()}
        identity = {"chainId": chain.chain_id, "addresses": addresses}
        store.sync(chain, start, to_block, identity, progress)
        history = replay(store, addresses, to_block)
        check_signatures(store.transactions(to_block), out)
        headers = store.blocks(to_block) if compare_rpc is not None else {}
        fetched = store.fetched_blocks
    finally:
        if own:
            store.close()

    if who is not None and who not in history.accounts():
        raise AuditFilterError(
            "--participant", participant, "not a registered participant or an account seen on chain"
        )
    if slot is not None and not history.knows_slot(slot):
        raise AuditFilterError("--slot", slot, "no order, clearing or settlement in this slot")

    check_clearing(history, out)
    readings = chain.w3.eth.contract(
        address=to_checksum_address(addresses["MeterReadings"]),
        abi=artifacts.load("MeterReadings")["abi"],
    )
    check_readings(history, chain.chain_id, out, _key_time(readings, to_block, out))
    check_settlement(history, out)
    supply, market_balance = _balances(chain, deployment, to_block, out)
    check_conservation(history, out, supply, market_balance)
    check_balances(chain, history, to_block, supply, out)
    check_bytecode(chain, addresses, to_block, out)
    check_duplicate_refs(history, out)
    rules = Policy.load(policy, addresses) if isinstance(policy, Path) else policy
    check_governance(
        history,
        out,
        rules,
        lambda: read(
            out,
            GOVERNANCE,
            f"MeterReadings.timing() at block {to_block}",
            lambda: readings.functions.timing().call(block_identifier=to_block),
        ),
    )
    if compare_rpc is not None:
        compare_nodes(
            chain,
            chain.url or "the audited node",
            compare_rpc,
            compare_rpc.url or "the compared node",
            headers,
            history,
            start,
            to_block,
            out,
        )
    if topups is not None:
        ledger = load_topups(topups) if isinstance(topups, Path) else topups
        check_topups(history, {k.lower(): v for k, v in ledger.items()}, out)

    households = _households(history)
    review: list[dict[str, Any]] = [
        {
            "block": e.position[0],
            "contract": e.contract,
            "event": e.name,
            "args": {k: _plain(v) for k, v in e.args.items()},
            "tx": e.tx_hash,
        }
        for e in history.review
    ]
    low = from_block if from_block is not None else start
    findings = [
        f
        for f in out.items
        if (f.block is None or f.block >= low)
        and (slot is None or f.slot == slot)
        and (who is None or f.party == who)
    ]
    slots = [v for s, v in sorted(out.slots.items()) if slot is None or s == slot]
    return Report(
        chain_id=chain.chain_id,
        from_block=low,
        to_block=to_block,
        addresses={name: checksum(a) for name, a in addresses.items()},
        findings=findings,
        slots=slots,
        households=[h for h in households if who is None or h.account == who],
        review=[r for r in review if r["block"] >= low],
        fetched_blocks=fetched,
        filters={
            "slot": slot,
            "participant": participant,
            "fromBlock": from_block,
            "policy": None if policy is None else str(policy),
            "compareRpc": None if compare_rpc is None else compare_rpc.url,
        },
    )


_ROLE_NAMES = {keccak(text=name): name for name in ROLE_NAMES} | {bytes(32): "DEFAULT_ADMIN_ROLE"}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        if value in _ROLE_NAMES:
            return _ROLE_NAMES[value]
        return "0x" + value.hex()
    return value


def _participant_filter(participant: str | None) -> str | None:
    """The lower-case address of a `--participant` filter; a malformed one is refused."""
    if participant is None:
        return None
    if not is_hex_address(participant):
        raise AuditFilterError("--participant", participant, "not an address (0x + 40 hex digits)")
    return participant.lower()


def read(out: Findings, check: str, what: str, fn: Callable[[], Any], **where: Any) -> Any | None:
    """`fn()`, or None after recording "could not check <what>" as a failure of `check`."""
    try:
        return fn()
    except Exception as exc:  # any failed read is a failure of the check, never a pass
        out.could_not_check(check, what, exc, **where)
        return None


def _key_time(readings: Contract, to_block: int, out: Findings) -> Callable[[int], int] | None:
    """`MeterReadings.meterKeyTime` computed from its timing and gate closure (read once): the
    moment whose meter key and status a slot's readings are verified against."""
    params = read(
        out,
        READINGS,
        f"MeterReadings.timing() and gateClosure() at block {to_block}",
        lambda: (
            readings.functions.timing().call(block_identifier=to_block),
            readings.functions.gateClosure().call(block_identifier=to_block),
        ),
    )
    if params is None:
        return None
    (epoch, length, _window), gate = params

    def key_time(slot: int) -> int:
        starts = int(epoch) + slot * int(length)
        return starts - int(gate) - 1 if starts > int(gate) else 0

    return key_time


def _balances(
    chain: Chain, deployment: Deployment, to_block: int, out: Findings
) -> tuple[int | None, int | None]:
    """totalSupply and the market's balance at `to_block`; None (and a failure) when unread."""
    credit = chain.w3.eth.contract(
        address=to_checksum_address(deployment.addresses["CommunityCredit"]),
        abi=artifacts.load("CommunityCredit")["abi"],
    )
    market = to_checksum_address(deployment.addresses["EnergyMarket"])
    supply = read(
        out,
        CREDITS,
        f"totalSupply at block {to_block}",
        lambda: int(credit.functions.totalSupply().call(block_identifier=to_block)),
    )
    balance = read(
        out,
        ESCROW,
        f"the market's balance at block {to_block}",
        lambda: int(credit.functions.balanceOf(market).call(block_identifier=to_block)),
        party=market.lower(),
    )
    return supply, balance


def _households(history: History) -> list[Household]:
    """Per participant: local bill vs grid-only baseline over its slots (the household ledger)."""
    people = []
    for account, stmt in statements(slot_inputs(history)).items():
        t = stmt.total
        people.append(
            Household(
                account,
                imported_wh=t.imported_wh,
                exported_wh=t.exported_wh,
                paid=t.charges + t.fees,
                received=t.receipts,
                bought_wh=t.bought_local_wh,
                sold_wh=t.sold_local_wh,
                grid_cost=t.utility_bill,
                baseline=t.baseline_bill,
            )
        )
    return people
