"""Replays cached logs and calldata into the system's history (orders, clearings, readings...).

Only events and calldata are used, never storage, so the history survives changes to storage
layout. Events are decoded with the shipped ABIs of the five contracts; any other contract that
was granted MARKET_ROLE is replayed as a market too, because it can move credits and
certificates like one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3

from p2penergy.audit.cache import AuditCache, RawLog, RawTx
from p2penergy.chain import artifacts
from p2penergy.chain.eventdata import EventLayout
from p2penergy.domain.readings import InvalidReading
from p2penergy.exceptions import ToolchainError
from p2penergy.oracle.reading import SignedReading, unpack_batch
from p2penergy.oracle.recorded import unpack_recorded

MARKET_ROLE = "0x" + keccak(text="MARKET_ROLE").hex()
ZERO = "0x" + "00" * 20

# (block, log index): where in the chain something happened, for "in force at" questions.
Position = tuple[int, int]


def _event_table(abi: list[dict[str, Any]]) -> dict[str, EventLayout]:
    """Each event's layout (its ABI worked out once, not per log), by its topic."""
    return {
        "0x" + event_abi_to_log_topic(item).hex(): EventLayout.of({"anonymous": False, **item})  # type: ignore[arg-type]
        for item in abi
        if item.get("type") == "event"
    }


def decode_log(table: dict[str, EventLayout], log: RawLog) -> tuple[str, dict[str, Any]] | None:
    """(event name, arguments) of `log` under an event table, or None when not in it; decoded
    as web3's `get_event_data` decodes (`chain.eventdata.EventLayout`), addresses in lower case
    as everywhere in the audit (so they are not checksummed first)."""
    if not log.topics:
        return None
    decoder = table.get(log.topics[0])
    if decoder is None:
        return None
    topics = [bytes.fromhex(topic[2:]) for topic in log.topics[1:]]
    decoded = decoder.args(topics, bytes.fromhex(log.data[2:]), checksum=False)
    if decoded is None:
        return None  # same signature, different indexing (e.g. ERC-721 Transfer)
    args = {
        key: value.lower() if isinstance(value, str) and is_address(value) else value
        for key, value in decoded.items()
    }
    return str(decoder.abi["name"]), args


@dataclass
class OrderRecord:
    """An order as OrderPlaced told it, plus what happened to it later."""

    order_id: int
    owner: str
    slot: int
    side: int
    energy_wh: int
    limit_price: int
    fee_per_kwh: int
    critical: bool
    escrow: int
    block: int
    cancel_refund: int | None = None
    log_index: int = 0
    cancel_tx: str | None = None


@dataclass
class ReadingRecord:
    """A recorded reading (a record of ReadingsRecorded) with the signed reading found in its
    calldata."""

    meter_id: int
    slot: int
    owner: str
    import_wh: int
    export_wh: int
    position: Position
    tx_hash: str
    signed: tuple[Any, ...] | None = None  # ((meterId, slot, imp, exp, impReg, expReg), v, r, s)


@dataclass
class Event:
    """A decoded event of interest, kept for the review list and the checks."""

    contract: str
    name: str
    args: dict[str, Any]
    position: Position
    tx_hash: str
    sender: str | None = None  # who sent the transaction (kept for governance events)


# Governance events of OpenZeppelin 5 (AccessControl, AccessControlDefaultAdminRules,
# TimelockController): decoded from any contract, with or without a shipped artifact, so that
# a timelock in the address book is reviewed even when its ABI is not shipped.
def _event(name: str, *inputs: tuple[str, str, bool]) -> dict[str, Any]:
    return {
        "type": "event",
        "name": name,
        "inputs": [{"name": n, "type": t, "indexed": i} for n, t, i in inputs],
    }


GOVERNANCE_ABI: list[dict[str, Any]] = [
    _event("RoleGranted", ("role", "bytes32", True), ("account", "address", True),
           ("sender", "address", True)),
    _event("RoleRevoked", ("role", "bytes32", True), ("account", "address", True),
           ("sender", "address", True)),
    _event("RoleAdminChanged", ("role", "bytes32", True), ("previousAdminRole", "bytes32", True),
           ("newAdminRole", "bytes32", True)),
    _event("DefaultAdminTransferScheduled", ("newAdmin", "address", True),
           ("acceptSchedule", "uint48", False)),
    _event("DefaultAdminTransferCanceled"),
    _event("DefaultAdminDelayChangeScheduled", ("newDelay", "uint48", False),
           ("effectSchedule", "uint48", False)),
    _event("DefaultAdminDelayChangeCanceled"),
    _event("CallScheduled", ("id", "bytes32", True), ("index", "uint256", True),
           ("target", "address", False), ("value", "uint256", False), ("data", "bytes", False),
           ("predecessor", "bytes32", False), ("delay", "uint256", False)),
    _event("CallExecuted", ("id", "bytes32", True), ("index", "uint256", True),
           ("target", "address", False), ("value", "uint256", False), ("data", "bytes", False)),
    _event("CallSalt", ("id", "bytes32", True), ("salt", "bytes32", False)),
    _event("Cancelled", ("id", "bytes32", True)),
    _event("MinDelayChange", ("oldDuration", "uint256", False), ("newDuration", "uint256", False)),
]  # fmt: skip


@dataclass
class History:
    """Everything the audit recomputes from, rebuilt from logs and calldata alone."""

    addresses: dict[str, str]  # contract name -> lower-case address
    to_block: int
    orders: dict[int, OrderRecord] = field(default_factory=dict)
    cleared: dict[int, Event] = field(default_factory=dict)
    clear_calls: dict[int, tuple[int, ...]] = field(default_factory=dict)  # slot -> calldata
    started: dict[int, Event] = field(default_factory=dict)
    order_settled: list[Event] = field(default_factory=list)
    slot_settled: dict[int, Event] = field(default_factory=dict)
    readings: list[ReadingRecord] = field(default_factory=list)
    skipped: list[Event] = field(default_factory=list)
    meter_keys: dict[int, list[tuple[Position, str]]] = field(default_factory=dict)
    meter_owner: dict[int, str] = field(default_factory=dict)
    meter_active: dict[int, list[tuple[Position, bool]]] = field(default_factory=dict)
    tariffs: list[tuple[Position, int, int, int]] = field(default_factory=list)
    seller_fees: list[tuple[Position, int]] = field(default_factory=list)  # SellerFeeSet
    outages: dict[int, int] = field(default_factory=dict)  # slot -> price cap (island mode)
    credit_transfers: list[Event] = field(default_factory=list)
    deposits: list[Event] = field(default_factory=list)  # CreditsDeposited (market ledger)
    withdrawals: list[Event] = field(default_factory=list)  # CreditsWithdrawn (market ledger)
    credit_mints: list[Event] = field(default_factory=list)
    credit_burns: list[Event] = field(default_factory=list)
    certificate_transfers: list[Event] = field(default_factory=list)  # TransferSingle, split
    retirements: list[Event] = field(default_factory=list)
    review: list[Event] = field(default_factory=list)
    markets: set[str] = field(default_factory=set)  # every MARKET_ROLE holder
    duplicate_readings: list[ReadingRecord] = field(default_factory=list)
    malformed_records: list[Event] = field(default_factory=list)  # ReadingsRecorded, not whole
    recorded: set[tuple[int, int]] = field(default_factory=set)  # (meter, slot)
    participants: set[str] = field(default_factory=set)  # every ParticipantRegistered account
    governance: list[Event] = field(default_factory=list)  # role, key, status, tariff... changes
    unknown: list[Event] = field(default_factory=list)  # undecodable logs of address-book contracts
    missing_abi: dict[str, str] = field(default_factory=dict)  # contract name -> address
    block_times: dict[int, int] = field(default_factory=dict)  # block -> timestamp
    fee_account: str | None = None  # from the market's constructor calldata
    rounding_account: str | None = None
    _by_slot: dict[int, list[ReadingRecord]] | None = field(default=None, repr=False)

    @property
    def market(self) -> str:
        return self.addresses["EnergyMarket"]

    @property
    def readings_address(self) -> str:
        return self.addresses["MeterReadings"]

    def accounts(self) -> set[str]:
        """Every account the history names: participants, traders, meter owners, credit holders."""
        seen = set(self.participants) | set(self.meter_owner.values())
        seen |= {r.owner for r in self.orders.values()}
        for e in self.credit_transfers:
            seen |= {e.args["from"], e.args["to"]}
        for e in self.certificate_transfers:
            seen |= {e.args["from"], e.args["to"]}
        seen.discard(ZERO)
        return seen

    def knows_slot(self, slot: int) -> bool:
        """Whether `slot` had an order, a clearing or a settlement."""
        return any(r.slot == slot for r in self.orders.values()) or any(
            slot in events for events in (self.cleared, self.started, self.slot_settled)
        )

    def tariffs_at(self, position: Position) -> tuple[int, int, int]:
        """(feed-in, retail, network fee) in force at `position`."""
        current = (0, 0, 0)
        for pos, feed_in, retail, fee in self.tariffs:
            if pos > position:
                break
            current = (feed_in, retail, fee)
        return current

    def seller_fee_at(self, position: Position) -> int:
        """The seller fee per kWh in force at `position` (0 before any SellerFeeSet)."""
        current = 0
        for pos, fee in self.seller_fees:
            if pos > position:
                break
            current = fee
        return current

    def key_at(self, meter_id: int, position: Position) -> str | None:
        """The device key registered for `meter_id` just before `position`."""
        current = None
        for pos, device in self.meter_keys.get(meter_id, []):
            if pos >= position:
                break
            current = device
        return current

    def meter_at_time(self, meter_id: int, timestamp: int) -> tuple[str | None, bool]:
        """(device key, active) of `meter_id` in force at `timestamp`, as the registry's
        `meterAt` answers it: the last change made in a block stamped at or before it."""
        key = None
        for pos, device in self.meter_keys.get(meter_id, []):
            if self.block_times.get(pos[0], 0) > timestamp:
                break
            key = device
        active = False
        for pos, flag in self.meter_active.get(meter_id, []):
            if self.block_times.get(pos[0], 0) > timestamp:
                break
            active = flag
        return key, active

    def active_at(self, meter_id: int, position: Position) -> bool:
        """Whether `meter_id` was registered and active just before `position`."""
        current = False
        for pos, active in self.meter_active.get(meter_id, []):
            if pos >= position:
                break
            current = active
        return current

    def energy(self) -> dict[tuple[str, int], tuple[int, int]]:
        """Verified (import, export) Wh per (owner, slot): ReadingRecorded summed per owner."""
        return self._energy(self.readings)

    def slot_energy(self, slot: int, before: Position) -> dict[str, tuple[int, int]]:
        """Verified (import, export) Wh per owner in `slot` from readings recorded before
        `before` (what the market saw when settlement started)."""
        readings = [r for r in self.readings_by_slot().get(slot, []) if r.position < before]
        return {owner: v for (owner, _), v in self._energy(readings).items()}

    def readings_by_slot(self) -> dict[int, list[ReadingRecord]]:
        """Recorded readings grouped by slot (computed once per history)."""
        if self._by_slot is None:
            grouped: dict[int, list[ReadingRecord]] = defaultdict(list)
            for r in self.readings:
                grouped[r.slot].append(r)
            self._by_slot = dict(grouped)
        return self._by_slot

    @staticmethod
    def _energy(readings: Iterable[ReadingRecord]) -> dict[tuple[str, int], tuple[int, int]]:
        totals: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        for r in readings:
            totals[(r.owner, r.slot)][0] += r.import_wh
            totals[(r.owner, r.slot)][1] += r.export_wh
        return {key: (v[0], v[1]) for key, v in totals.items()}


# Events reviewed as governance findings (each with a severity); see `audit.governance`.
GOVERNANCE_EVENTS = {
    "RoleGranted",
    "RoleRevoked",
    "RoleAdminChanged",
    "DefaultAdminTransferScheduled",
    "DefaultAdminTransferCanceled",
    "DefaultAdminDelayChangeScheduled",
    "DefaultAdminDelayChangeCanceled",
    "MeterKeyRotated",
    "MeterStatusSet",
    "OutageDeclared",
    "TariffsSet",
    "SellerFeeSet",
    "ParticipantSuspended",
    "ParticipantReinstated",
    "CallScheduled",
    "CallExecuted",
    "Cancelled",
    "MinDelayChange",
}

_REVIEW = {
    "RoleGranted",
    "RoleRevoked",
    "TariffsSet",
    "SellerFeeSet",
    "OutageDeclared",
    "ParticipantRegistered",
    "ParticipantSuspended",
    "ParticipantReinstated",
    "CriticalLoadSet",
    "MeterRegistered",
    "MeterKeyRotated",
    "MeterStatusSet",
    "CreditMinted",
    "CreditBurned",
    "CreditRedeemed",
}


def replay(cache: AuditCache, addresses: dict[str, str], to_block: int) -> History:
    """Rebuilds the history of the system at `addresses` up to `to_block` from the cache."""
    addrs = {name: a.lower() for name, a in addresses.items()}
    history = History(addresses=addrs, to_block=to_block)
    governance = _event_table(GOVERNANCE_ABI)
    tables: dict[str, dict[str, EventLayout]] = {}
    for name, address in addrs.items():
        try:
            tables[address] = governance | _event_table(artifacts.load(name)["abi"])
        except ToolchainError:
            history.missing_abi[name] = address
            tables[address] = governance
    market_table = _event_table(artifacts.load("IEnergyMarket")["abi"])
    w3 = Web3()
    readings_fns = w3.eth.contract(abi=artifacts.load("IMeterReadings")["abi"])
    market_fns = w3.eth.contract(abi=artifacts.load("IEnergyMarket")["abi"])
    names = {address: name for name, address in addrs.items()}
    history.markets.add(addrs["EnergyMarket"])
    tx_calls: dict[str, list[tuple[Any, ...]]] = {}
    history.block_times = {n: b.timestamp for n, b in cache.blocks(to_block).items()}

    for log in cache.logs(to_block):
        table = tables.get(log.address)
        if table is None and log.address in history.markets:
            table = market_table
        if table is None:
            continue
        decoded = decode_log(table, log)
        contract = names.get(log.address, log.address)
        if decoded is None:
            if contract in addrs and contract not in history.missing_abi:
                topic = log.topics[0] if log.topics else "no topic"
                args = {"topic0": topic, "data": log.data}
                position = (log.block, log.log_index)
                history.unknown.append(Event(contract, "unknown", args, position, log.tx_hash))
            continue
        name, args = decoded
        event = Event(contract, name, args, (log.block, log.log_index), log.tx_hash)
        if name in _REVIEW and contract in addrs:
            history.review.append(event)
        if contract in addrs and (name in GOVERNANCE_EVENTS or "paymentRef" in args):
            tx = cache.transaction(log.tx_hash)
            event.sender = tx.sender if tx is not None else None
            history.governance.append(event)
        _apply(history, event, log, cache, tx_calls, readings_fns, market_fns)
    return history


def _calls(
    cache: AuditCache, tx_hash: str, target: str, fns: Any, tx_calls: dict[str, list[Any]]
) -> list[Any]:
    """The decoded call of transaction `tx_hash` when it went straight to `target`."""
    if tx_hash not in tx_calls:
        tx = cache.transaction(tx_hash)
        calls: list[Any] = []
        if tx is not None and tx.target == target and len(tx.input) >= 10:
            try:
                fn, params = fns.decode_function_input(tx.input)
                calls = [(fn.fn_name, params)]
            except ValueError:
                calls = []
        tx_calls[tx_hash] = calls
    return tx_calls[tx_hash]


def _signed_reading(calls: list[Any], meter_id: int, slot: int) -> tuple[Any, ...] | None:
    for fn_name, params in calls:
        if fn_name == "submitPacked":
            found = _packed_index(params.get("packed")).get((meter_id, slot))
            if found is not None:
                return found
            continue
        batch = params["batch"] if fn_name == "submit" else [params.get("signed")]
        for signed in batch:
            if signed is None:
                continue
            reading, v, r, s = _tuple(signed)
            reading = _tuple(reading)
            if int(reading[0]) == meter_id and int(reading[1]) == slot:
                return (tuple(int(x) for x in reading), int(v), bytes(r), bytes(s))
    return None


def _packed_index(data: Any) -> dict[tuple[int, int], tuple[Any, ...]]:
    """`submitPacked`'s signed readings by (meter, slot), the first of each as `_signed_reading`
    returns it. Every record of a batch looks its reading up in the same calldata: unpacked
    once per transaction instead of once per record (quadratic in the batch size)."""
    try:
        return _packed_index_of(bytes(data))
    except TypeError:  # no bytes argument: the call recorded nothing
        return {}


@lru_cache(maxsize=4)
def _packed_index_of(data: bytes) -> dict[tuple[int, int], tuple[Any, ...]]:
    index: dict[tuple[int, int], tuple[Any, ...]] = {}
    for packed in _unpacked(data):
        values = packed.reading
        if (values.meter_id, values.slot) not in index:
            r, s = packed.r.to_bytes(32, "big"), packed.s.to_bytes(32, "big")
            index[(values.meter_id, values.slot)] = (values.as_tuple(), packed.v, r, s)
    return index


def _unpacked(data: Any) -> list[SignedReading]:
    """The signed readings of `submitPacked`'s argument; none when it is not whole readings
    (the contract refused such a call, so it recorded nothing)."""
    try:
        return unpack_batch(bytes(data))
    except (InvalidReading, TypeError):
        return []


def _tuple(value: Any) -> tuple[Any, ...]:
    if isinstance(value, dict):
        return tuple(value.values())
    return tuple(value)


@dataclass(frozen=True)
class _Replay:
    """What a handler needs to fold one event into the history."""

    h: History
    e: Event
    log: RawLog
    cache: AuditCache
    tx_calls: dict[str, list[Any]]
    readings_fns: Any
    market_fns: Any


def _apply(
    h: History,
    e: Event,
    log: RawLog,
    cache: AuditCache,
    tx_calls: dict[str, list[Any]],
    readings_fns: Any,
    market_fns: Any,
) -> None:
    """Folds `e` into `h` with the handler for its name (and contract, where only the shipped
    contract counts); credit burns and redemptions are known by their payment reference."""
    replay = _Replay(h, e, log, cache, tx_calls, readings_fns, market_fns)
    handler = _HANDLERS.get((e.name, e.contract)) or _HANDLERS.get((e.name, None))
    if handler is not None:
        handler(replay)
    elif "paymentRef" in e.args and e.contract == "CommunityCredit":
        h.credit_burns.append(e)


def _role_granted(r: _Replay) -> None:
    if r.e.args["role"] == bytes.fromhex(MARKET_ROLE[2:]):
        r.h.markets.add(r.e.args["account"])


def _meter_registered(r: _Replay) -> None:
    a, position = r.e.args, r.e.position
    r.h.meter_keys.setdefault(a["meterId"], []).append((position, a["device"]))
    r.h.meter_owner[a["meterId"]] = a["owner"]
    r.h.meter_active.setdefault(a["meterId"], []).append((position, True))


def _tariffs_set(r: _Replay) -> None:
    a = r.e.args
    first = not r.h.tariffs
    r.h.tariffs.append((r.e.position, a["feedInPerKWh"], a["retailPerKWh"], a["networkFeePerKWh"]))
    if first:
        _market_accounts(r.h, r.cache.transaction(r.e.tx_hash))


def _order_placed(r: _Replay) -> None:
    a = r.e.args
    r.h.orders[a["orderId"]] = OrderRecord(
        a["orderId"],
        a["owner"],
        a["slot"],
        a["side"],
        a["energyWh"],
        a["limitPricePerKWh"],
        a["feePerKWh"],
        a["critical"],
        a["escrow"],
        r.log.block,
        log_index=r.log.log_index,
    )


def _order_cancelled(r: _Replay) -> None:
    order = r.h.orders.get(r.e.args["orderId"])
    if order is not None:
        order.cancel_refund = r.e.args["refund"]
        order.cancel_tx = r.e.tx_hash


def _slot_cleared(r: _Replay) -> None:
    slot = r.e.args["slot"]
    r.h.cleared[slot] = r.e
    for fn_name, params in _calls(r.cache, r.e.tx_hash, r.h.market, r.market_fns, r.tx_calls):
        if fn_name == "clear" and int(params["slot"]) == slot:
            r.h.clear_calls[slot] = (
                int(params["marginalBid"]),
                int(params["marginalOffer"]),
                int(params["bidMarginalWh"]),
                int(params["offerMarginalWh"]),
            )


def _reading_calls(r: _Replay) -> list[Any]:
    return _calls(r.cache, r.e.tx_hash, r.h.readings_address, r.readings_fns, r.tx_calls)


def _readings_recorded(r: _Replay) -> None:
    """One `ReadingRecord` per record of the event (all at the event's position)."""
    try:
        recorded = unpack_recorded(bytes(r.e.args["records"]))
    except InvalidReading:
        # The shipped contract writes whole records only; anything else is not its event.
        r.h.malformed_records.append(r.e)
        return
    calls = _reading_calls(r)
    for one in recorded:
        record = ReadingRecord(
            one.meter_id,
            one.slot,
            one.owner.lower(),  # the audit's decoder gives addresses in lower case
            one.import_wh,
            one.export_wh,
            r.e.position,
            r.e.tx_hash,
            _signed_reading(calls, one.meter_id, one.slot),
        )
        if (record.meter_id, record.slot) in r.h.recorded:
            r.h.duplicate_readings.append(record)
        r.h.recorded.add((record.meter_id, record.slot))
        r.h.readings.append(record)


def _reading_skipped(r: _Replay) -> None:
    a = r.e.args
    a["signed"] = _signed_reading(_reading_calls(r), a["meterId"], a["slot"])
    r.h.skipped.append(r.e)


def _transfer_batch(r: _Replay) -> None:
    a, e = r.e.args, r.e
    for token_id, value in zip(a["ids"], a["values"], strict=True):
        split = dict(a, id=token_id, value=value)
        r.h.certificate_transfers.append(
            Event(e.contract, "TransferSingle", split, e.position, e.tx_hash)
        )


def _append_to(attribute: str) -> Callable[[_Replay], None]:
    def handler(r: _Replay) -> None:
        getattr(r.h, attribute).append(r.e)

    return handler


def _keep_by_slot(attribute: str) -> Callable[[_Replay], None]:
    def handler(r: _Replay) -> None:
        getattr(r.h, attribute)[r.e.args["slot"]] = r.e

    return handler


def _outage_declared(r: _Replay) -> None:
    r.h.outages[r.e.args["slot"]] = r.e.args["priceCapPerKWh"]


# (event name, contract): the handler. A contract of None takes the event from any contract;
# market events count only from the shipped EnergyMarket.
_HANDLERS: dict[tuple[str, str | None], Callable[[_Replay], None]] = {
    ("RoleGranted", None): _role_granted,
    ("ParticipantRegistered", None): lambda r: r.h.participants.add(r.e.args["account"]),
    ("MeterRegistered", None): _meter_registered,
    ("MeterStatusSet", None): lambda r: r.h.meter_active.setdefault(r.e.args["meterId"], []).append(
        (r.e.position, r.e.args["active"])
    ),
    ("MeterKeyRotated", None): lambda r: r.h.meter_keys.setdefault(r.e.args["meterId"], []).append(
        (r.e.position, r.e.args["newDevice"])
    ),
    ("TariffsSet", "EnergyMarket"): _tariffs_set,
    ("SellerFeeSet", "EnergyMarket"): lambda r: r.h.seller_fees.append(
        (r.e.position, r.e.args["sellerFeePerKWh"])
    ),
    ("OutageDeclared", "EnergyMarket"): _outage_declared,
    ("OrderPlaced", "EnergyMarket"): _order_placed,
    ("OrderCancelled", "EnergyMarket"): _order_cancelled,
    ("SlotCleared", "EnergyMarket"): _slot_cleared,
    ("SettlementStarted", "EnergyMarket"): _keep_by_slot("started"),
    ("OrderSettled", None): _append_to("order_settled"),
    ("SlotSettled", "EnergyMarket"): _keep_by_slot("slot_settled"),
    ("ReadingsRecorded", "MeterReadings"): _readings_recorded,
    ("ReadingSkipped", "MeterReadings"): _reading_skipped,
    ("CreditsDeposited", "EnergyMarket"): _append_to("deposits"),
    ("CreditsWithdrawn", "EnergyMarket"): _append_to("withdrawals"),
    ("Transfer", "CommunityCredit"): _append_to("credit_transfers"),
    ("CreditMinted", "CommunityCredit"): _append_to("credit_mints"),
    ("TransferSingle", "EnergyCertificate"): _append_to("certificate_transfers"),
    ("TransferBatch", "EnergyCertificate"): _transfer_batch,
    ("CertificateRetired", None): _append_to("retirements"),
}


# EnergyMarket's constructor arguments are all static: 8 words and a 3-word tuple, at the end of
# the creation calldata; the fee and rounding accounts are words 7 and 8.
_MARKET_CONSTRUCTOR_WORDS = 11


def _market_accounts(h: History, tx: RawTx | None) -> None:
    """The fee and rounding accounts from the market's creation transaction (constructor args)."""
    if tx is None or tx.target is not None:
        return
    data = bytes.fromhex(tx.input[2:])
    if len(data) < 32 * _MARKET_CONSTRUCTOR_WORDS:
        return
    args = data[-32 * _MARKET_CONSTRUCTOR_WORDS :]
    h.fee_account = "0x" + args[6 * 32 + 12 : 7 * 32].hex()
    h.rounding_account = "0x" + args[7 * 32 + 12 : 8 * 32].hex()


def checksum(address: str) -> str:
    """Checksummed form of a lower-case address (for people)."""
    return str(to_checksum_address(address))
