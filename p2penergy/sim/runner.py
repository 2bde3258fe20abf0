"""Runs a modelled community through the real system on a chain, slot by slot.

Everything moves through the contracts and the services that run them in production: the
operator deploys, sets a seller fee through the governance timelock when the scenario has one,
registers households and their meters, mints credits, households place one
day-ahead batch each, and for every slot the `Keeper` clears at gate closure, the meters' signed
readings go into the oracle's SQLite outbox and the `Relayer` submits them after the slot ends,
and the `Keeper` settles. The operator declares the scenario's outage slots first (island mode).
The auditor checks the run at the end.

Keys are derived from the seed, so addresses, signatures and gas are the same on every run.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.types import TxReceipt

from p2penergy.audit import AuditCache, audit
from p2penergy.audit import Report as AuditReport
from p2penergy.chain.connect import Chain, embedded
from p2penergy.chain.deploy import MarketConfig, System, deploy_system
from p2penergy.chain.readmany import BALANCE_OF, read_many
from p2penergy.chain.tx import events, send_value, transact
from p2penergy.contracts.governance import GovernanceClient
from p2penergy.contracts.market import MarketClient
from p2penergy.domain.orders import slot_of
from p2penergy.domain.participants import Kind
from p2penergy.domain.readings import Reading
from p2penergy.energy import model
from p2penergy.energy.model import Community, Home
from p2penergy.energy.scenario import Scenario
from p2penergy.exceptions import P2PEnergyError
from p2penergy.keeper.keeper import Action, Keeper, Outcome
from p2penergy.market import Order, Side, escrow_for
from p2penergy.oracle.outbox import REJECTED, Outbox
from p2penergy.oracle.reading import SignedReading
from p2penergy.oracle.recorded import recorded_in
from p2penergy.oracle.relayer import Relayer
from p2penergy.oracle.sources import SimulatedMeters
from p2penergy.sim.meters import MeterFleet, domain_separator
from p2penergy.sim.strategy import PlannedOrder, day_ahead_orders, to_inputs
from p2penergy.wallet.trading import Wallet

GAS_MONEY_WEI = 10**18
# The keeper and the relayer are service accounts with keys of their own (as in production):
# each starts with SERVICE_GAS_WEI and is topped up by the operator to it whenever it falls
# below SERVICE_TOP_UP_BELOW_WEI, checked once per slot. A slot costs a service at most a few
# transactions of TX_GAS_LIMIT (what an account must hold to send one), so a run of any length
# never stops for gas.
SERVICE_GAS_WEI = 10 * 10**18
SERVICE_TOP_UP_BELOW_WEI = 2 * 10**18
READINGS_PER_BATCH = 64
GATE_CLOSURE_S = 300
LEAD_TIME_S = 3600  # the first simulated slot starts at least this long after the chain's clock
# Set-up mines a block per transaction (fund, register, meter, mints: about four per household),
# each at least a second after the last: a large community needs more lead than an hour, or its
# set-up would run past the first gate on the chain's clock.
SETUP_SECONDS_PER_HOUSEHOLD = 8
# Governed changes (the island scenario's outage, a seller fee) wait this long in the timelock:
# well inside the lead time, so a change scheduled at setup is executed before the first gate.
GOVERNANCE_DELAY_S = 60
# Simulation transactions carry a fixed gas limit instead of an estimate: py-evm estimates by
# binary search (~15 executions per transaction), which was 80% of the run time. Gas *used* is
# unaffected and is what the report shows.
TX_GAS_LIMIT = 20_000_000
# Up to this many households a slot settles in one transaction within TX_GAS_LIMIT; a larger
# community settles SETTLE_CHUNK orders per transaction.
SETTLE_AT_ONCE_HOUSEHOLDS = 100
SETTLE_CHUNK = 100
# The escrow permits' expiry: a fixed value instead of "an hour from the chain's clock", which
# follows the wall clock and would change the calldata, the signature and so the gas from run to
# run (same seed, same report). Each permit is spent in the transaction that carries it.
PERMIT_DEADLINE = 2**256 - 1
# Meters prepared per `prepareMeters` transaction at set-up (about 22,500 gas each: 100 stay
# far inside TX_GAS_LIMIT)
PREPARE_CHUNK = 100
SYNC_EVERY = 8  # blocks between audit-cache syncs during setup (see `sync_audit_cache`)


class SimulationError(P2PEnergyError):
    """The simulated community and the chain disagree (a reading was refused, a slot stuck)."""


def derived_key(seed: int, role: str, index: int = 0) -> LocalAccount:
    """A deterministic key for `role` (never use outside simulations: anyone can derive it)."""
    account: LocalAccount = Account.from_key(keccak(text=f"p2penergy-sim/{seed}/{role}/{index}"))
    return account


@dataclass
class Actors:
    admin: LocalAccount
    keeper: LocalAccount
    relayer: LocalAccount
    fee_account: str
    rounding_account: str
    households: list[LocalAccount]
    meters: list[LocalAccount]
    meter_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class SlotOutcome:
    """What happened in one slot on chain (for the progress display and the report)."""

    slot: int
    outage: bool
    orders: int
    price: int  # the clearing price and volume, from the slot's SlotCleared event
    cleared_wh: int
    readings_accepted: int
    traded_wh: int


@dataclass
class RunResult:
    """Everything the report needs: the model, what the chain did, and what it cost in gas."""

    community: Community
    actors: Actors
    system: System
    orders: dict[int, tuple[int, Order]] = field(default_factory=dict)  # id -> (home, order)
    # home -> slot -> order id: each household's own record of its orders (`orders` by home)
    home_orders: dict[int, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    outcomes: list[SlotOutcome] = field(default_factory=list)
    settled: dict[int, dict[str, int]] = field(default_factory=dict)  # order id -> event args
    slot_settled: dict[int, dict[str, int]] = field(default_factory=dict)
    balances_before: dict[str, int] = field(default_factory=dict)
    balances_after: dict[str, int] = field(default_factory=dict)
    minted: dict[str, int] = field(default_factory=dict)
    # payment reference (0x hex) -> (account, amount): one per mint, the operator's ledger
    topups: dict[str, tuple[str, int]] = field(default_factory=dict)
    gas: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    audit: AuditReport | None = None  # the auditor's verdict on the whole run
    audit_cache: AuditCache | None = field(default=None, repr=False)  # synced as the run goes
    # home -> its wallet, kept from day to day as a household's wallet app would be (it reads
    # the fixed slot grid and the token's EIP-712 domain once, not every day)
    wallets: dict[int, Wallet] = field(default_factory=dict, repr=False)


ProgressHook = Callable[[SlotOutcome], None]


# ───────────────────────────── the run ─────────────────────────────


def simulate(
    scenario: Scenario,
    chain: Chain | None = None,
    progress: ProgressHook | None = None,
    sign_workers: int = 1,
    *,
    with_audit: bool = True,
    workdir: Path | None = None,
    settle_chunk: int | None = None,
) -> RunResult:
    """Models the community, runs every simulated slot through the contracts, then audits.

    The oracle's outbox is an SQLite file in `workdir` (a temporary folder by default). The
    audit is `p2penergy.audit.audit` on the run's chain and deployment, with the top-ups the
    operator minted as the payment ledger (`topup_ledger`).

    `settle_chunk` is the keeper's settlement chunk: 0 settles each slot in one transaction as
    soon as its readings are in; N > 0 settles N orders per transaction once the slot's reading
    window has closed. By default 0 up to SETTLE_AT_ONCE_HOUSEHOLDS households, else
    SETTLE_CHUNK.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="p2penergy-sim-") as folder:
            return simulate(
                scenario,
                chain,
                progress,
                sign_workers,
                with_audit=with_audit,
                workdir=Path(folder),
                settle_chunk=settle_chunk,
            )
    community = model.build(scenario)
    chain = chain or embedded()
    plans = day_ahead_orders(community)
    # On disk in the work folder, not in memory: it holds every log of the run (measured: the
    # in-memory cache was the largest thing that grew with the days after the chain itself).
    (workdir / "audit-cache.sqlite").unlink(missing_ok=True)  # a fresh chain
    cache = AuditCache(workdir / "audit-cache.sqlite") if with_audit else None
    result = _setup(chain, community, plans, cache)
    market = MarketClient(result.system)
    actors = result.actors
    spd = scenario.slots_per_day
    days = sorted({s // spd for s in community.slots})
    _, first_gate, _ = market.slot_times(community.slots[0])
    if chain.now() >= first_gate:
        raise SimulationError(
            f"set-up ended at chain time {chain.now()}, past the first slot's gate {first_gate}"
        )
    _place_day(result, market, plans, days[0])
    book = _book(result)
    fleet = MeterFleet(
        [device.key for device in actors.meters],
        domain_separator(chain.chain_id, result.system.readings.address),
        workers=sign_workers,
    )
    try:
        signing: list[Future[list[SignedReading]] | None] = [
            fleet.submit(batch) for batch in meter_readings(community, actors.meter_ids)
        ]
        if settle_chunk is None:
            large = len(community.homes) > SETTLE_AT_ONCE_HOUSEHOLDS
            settle_chunk = SETTLE_CHUNK if large else 0
        services = Services.open(result, workdir, settle_chunk)
        try:
            _run_slots(result, market, plans, signing, book, progress, services, cache)
            result.balances_after = _balances(result)
            if cache is not None:
                result.audit = audit(result.system, cache=cache, topups=topup_ledger(result))
        finally:
            services.outbox.close()
            if cache is not None:
                cache.close()
    finally:
        fleet.close()
    return result


def sync_audit_cache(cache: AuditCache, system: System) -> None:
    """Caches the blocks mined since the last call, the way `audit` does before it checks.

    Done after every slot, because on the embedded chain (eth-tester) looking a transaction up
    by hash scans the blocks from the head backwards: syncing while the transactions are recent
    costs a few blocks each, syncing a whole day at the end costs the whole chain each (minutes).
    """
    deployment = system.deployment
    identity = {
        "chainId": system.chain.chain_id,
        "addresses": {name: a.lower() for name, a in deployment.addresses.items()},
    }
    head = int(system.chain.w3.eth.block_number)
    cache.sync(system.chain, min(deployment.blocks.values()), head, identity)


def topup_ledger(result: RunResult) -> dict[str, tuple[str | None, int | None]]:
    """The operator's payment ledger of the run: each household's top-up reference, account
    and amount, as the auditor's top-up check takes it (`load_topups`' format)."""
    return {ref: (account, amount) for ref, (account, amount) in result.topups.items()}


def _topup_ref(home: int, part: int = 0) -> bytes:
    suffix = f":{part}" if part else ""
    return f"sim-topup:{home}{suffix}".encode().ljust(32, b"\0")


def meter_readings(community: Community, meter_ids: Sequence[int]) -> list[list[Reading]]:
    """Every slot's readings, one per meter: the slot's Wh and the cumulative registers, as the
    oracle's `SimulatedMeters` source produces them."""
    source = SimulatedMeters()
    result = []
    for k, slot in enumerate(community.slots):
        for home, flows in zip(community.homes, community.actual, strict=True):
            source.record(meter_ids[home.index], slot, flows.import_wh[k], flows.export_wh[k])
        result.append([row.reading for batch in source.poll() for row in batch.rows])
    return result


@dataclass
class Services:
    """The oracle's outbox and relayer and the keeper, working for the run's chain."""

    outbox: Outbox
    relayer: Relayer
    keeper: Keeper

    @classmethod
    def open(cls, result: RunResult, folder: Path, settle_chunk: int = 0) -> Services:
        system, actors = result.system, result.actors
        path = folder / "outbox.sqlite"
        path.unlink(missing_ok=True)  # a fresh chain: an old outbox belongs to another one
        outbox = Outbox(path, system.chain.chain_id, str(system.readings.address))
        relayer = Relayer(
            system, actors.relayer, outbox, batch_size=READINGS_PER_BATCH, gas_limit=TX_GAS_LIMIT
        )
        keeper = Keeper(
            system,
            actors.keeper,
            chunk=settle_chunk,
            slots=result.community.slots,
            gas_limit=TX_GAS_LIMIT,
        )
        return cls(outbox, relayer, keeper)

    def relay(self, result: RunResult, slot: int, signed: Sequence[SignedReading]) -> int:
        """Stores the slot's signed readings in the outbox and relays what is due; returns how
        many the chain recorded."""
        with self.outbox.transaction() as db:
            for reading in signed:
                self.outbox.add(db, reading, f"simulation:{slot}")
        done = self._blocks(result, "submitReadings", self.relayer.relay)
        rejected = self.outbox.counts()[REJECTED]
        if rejected:
            raise SimulationError(
                f"slot {slot}: the readings contract rejected {rejected} readings"
            )
        return sum(len(recorded_in(result.system.readings, r)) for r in done)

    def step(self, result: RunResult, slot: int, op: str, want: Outcome) -> list[TxReceipt]:
        """One keeper step for `slot` that must end in `want`; returns its receipts."""
        actions: list[Action] = []
        receipts = self._blocks(result, op, lambda: actions.append(self.keeper.step(slot)))
        if actions[0].outcome != want:
            raise SimulationError(f"slot {slot}: the keeper {actions[0]} instead of {want}")
        return receipts

    @staticmethod
    def _blocks(result: RunResult, op: str, act: Callable[[], object]) -> list[TxReceipt]:
        """Runs `act` and returns the receipts of the blocks it mined (gas recorded as `op`)."""
        w3 = result.system.chain.w3
        first = int(w3.eth.block_number) + 1
        act()
        receipts = []
        for number in range(first, int(w3.eth.block_number) + 1):
            for tx in w3.eth.get_block(number)["transactions"]:
                receipt = w3.eth.get_transaction_receipt(tx)  # type: ignore[arg-type]
                result.gas[op].append(int(receipt["gasUsed"]))
                receipts.append(receipt)
        return receipts


def _run_slots(
    result: RunResult,
    market: MarketClient,
    plans: list[list[PlannedOrder]],
    signing: list[Future[list[SignedReading]] | None],
    book: dict[int, list[Order]],
    progress: ProgressHook | None,
    services: Services,
    audit_cache: AuditCache | None = None,
) -> None:
    community, chain = result.community, result.system.chain
    scenario = community.scenario
    spd = scenario.slots_per_day
    days = sorted({s // spd for s in community.slots})
    placed = {days[0]}
    if community.slots[0] % spd >= spd // 2 and days[0] + 1 in days:
        # The run starts after noon: the next day's batch goes in now, before its gates close.
        _place_day(result, market, plans, days[0] + 1)
        placed.add(days[0] + 1)
        book = _book(result)
    for k, slot in enumerate(community.slots):
        _top_up_services(result)
        start, gate, _ = market.slot_times(slot)
        chain.set_time(gate)
        cleared = services.step(result, slot, "clear", Outcome.CLEARED)
        [event] = [e for r in cleared for e in events(market.contract, "SlotCleared", r)]
        chain.set_time(start + scenario.slot_seconds)
        future = signing[k]
        if future is None:
            raise SimulationError(f"slot {slot}: its readings were relayed already")
        signed = future.result()
        signing[k] = None  # relayed: the outbox has them, memory need not (long runs)
        accepted = services.relay(result, slot, signed)
        if accepted != len(signed):
            raise SimulationError(
                f"slot {slot}: the readings contract skipped {len(signed) - accepted} of "
                f"{len(signed)} meter readings (see its ReadingSkipped events)"
            )
        if services.keeper.chunk:
            # Chunks only once the window is closed (the market settles an open window's slot in
            # one call, since a later reading could change it between chunks). The next slot can
            # still clear: its deadline is its own window's close, later than this one.
            _, closes_at = result.system.readings.functions.readingWindow(slot).call()
            chain.set_time(int(closes_at))
        receipts = services.step(result, slot, "settle", Outcome.SETTLED)
        traded = _record_settlement(result, slot, receipts)
        outcome = SlotOutcome(
            slot=slot,
            outage=community.outage[k],
            orders=len(book.get(slot, [])),
            price=int(event["args"]["price"]),
            cleared_wh=int(event["args"]["volumeWh"]),
            readings_accepted=accepted,
            traded_wh=traded,
        )
        result.outcomes.append(outcome)
        if audit_cache is not None:
            sync_audit_cache(audit_cache, result.system)
        if progress is not None:
            progress(outcome)
        # Day-ahead: from noon of each day (the first slot processed after it), the households
        # place their orders for the next day, if it is simulated and not placed yet.
        next_day = slot // spd + 1
        if slot % spd >= spd // 2 and next_day in days and next_day not in placed:
            _place_day(result, market, plans, next_day)
            placed.add(next_day)
            book = _book(result)


def _setup(
    chain: Chain,
    community: Community,
    plans: list[list[PlannedOrder]],
    audit_cache: AuditCache | None = None,
) -> RunResult:
    scenario = community.scenario
    seed = scenario.seed
    lead = max(LEAD_TIME_S, SETUP_SECONDS_PER_HOUSEHOLD * len(community.homes) + GATE_CLOSURE_S)
    first_start = _aligned(chain.now() + lead, scenario.slot_seconds)
    epoch = first_start - community.slots[0] * scenario.slot_seconds
    t = scenario.tariffs
    config = MarketConfig(
        epoch=epoch,
        slot_length=scenario.slot_seconds,
        reading_window=4 * 3600,
        gate_closure=GATE_CLOSURE_S,
        feed_in_per_kwh=t.feed_in,
        retail_per_kwh=t.retail,
        network_fee_per_kwh=t.network_fee,
        governance_delay=GOVERNANCE_DELAY_S,
    )
    admin = chain.faucet[0]
    keeper = derived_key(seed, "keeper")
    relayer = derived_key(seed, "relayer")
    actors = Actors(
        admin=admin,
        keeper=keeper,
        relayer=relayer,
        fee_account=derived_key(seed, "fee-account").address,
        rounding_account=derived_key(seed, "rounding-account").address,
        households=[derived_key(seed, "household", h.index) for h in community.homes],
        meters=[derived_key(seed, "meter", h.index) for h in community.homes],
    )
    system = deploy_system(
        chain,
        admin,
        config=config,
        fee_account=actors.fee_account,
        rounding_account=actors.rounding_account,
        keepers=(keeper.address, relayer.address),  # staff: the relayer may submit readings
    )
    result = RunResult(community=community, actors=actors, system=system, audit_cache=audit_cache)
    for name, gas_used in system.deployment.gas_used.items():
        result.gas[f"deploy {name}"].append(gas_used)
    _fund(result, keeper.address, SERVICE_GAS_WEI)
    _fund(result, relayer.address, SERVICE_GAS_WEI)
    market = system.market.functions
    governance = GovernanceClient(system)
    if t.seller_fee:
        # A community that splits the fee: the operator sets the seller fee through the timelock
        # before any order, so every offer snapshots it (none is scheduled when it is 0, so a
        # community without it runs, and reports, exactly as before).
        salt = keccak(text=f"p2penergy-sim/{seed}/seller-fee")
        scheduled = governance.schedule(admin, market.setSellerFee(t.seller_fee), salt=salt)
        _record(result, "schedule (governance)", scheduled.receipt)
        chain.set_time(scheduled.ready_at)
        _record(result, "setSellerFee", governance.execute(admin, scheduled.operation_id))
    for first, last in outage_ranges(community):
        # The operator schedules the outage in the governance timelock; after the delay it is
        # executed, still before the slots' gates close (here: before any order). The salt comes
        # from the seed like the keys: a random one changes the calldata's gas from run to run.
        salt = keccak(text=f"p2penergy-sim/{seed}/outage/{first}-{last}")
        fn = market.declareOutage(first, last, t.outage_cap)
        scheduled = governance.schedule(admin, fn, salt=salt)
        _record(result, "schedule (governance)", scheduled.receipt)
        chain.set_time(scheduled.ready_at)
        _record(result, "declareOutage", governance.execute(admin, scheduled.operation_id))
    registry, credit = system.registry.functions, system.credit.functions
    mint_limit = int(credit.mintLimit().call())
    for home, account, device, orders in zip(
        community.homes, actors.households, actors.meters, plans, strict=True
    ):
        _fund(result, account.address)
        kind = Kind.PROSUMER if home.kind == "prosumer" else Kind.CONSUMER
        _tx(
            result,
            admin,
            "registerParticipant",
            registry.registerParticipant(account.address, kind, home.critical),
        )
        receipt = _tx(
            result,
            admin,
            "registerMeter",
            registry.registerMeter(device.address, account.address, home.meter_capacity_w),
        )
        registered = events(system.registry, "MeterRegistered", receipt)
        actors.meter_ids.append(int(registered[0]["args"]["meterId"]))
        top_up = _top_up(orders, t.network_fee)
        # One mint per payment, each at most the deployment's per-mint limit.
        for part, start in enumerate(range(0, top_up, mint_limit)):
            amount, ref = min(mint_limit, top_up - start), _topup_ref(home.index, part)
            _tx(result, admin, "mint", credit.mint(account.address, amount, ref))
            result.topups["0x" + ref.hex()] = (account.address.lower(), amount)
        result.minted[account.address] = top_up
    # As the operator's registration does (`RegistryClient.register_meter`): each meter's word
    # in MeterReadings is written now, so that its first reading updates it instead of creating
    # it. Existing function, many ids a call: PREPARE_CHUNK meters per transaction.
    readings = system.readings.functions
    for low in range(0, len(actors.meter_ids), PREPARE_CHUNK):
        ids = actors.meter_ids[low : low + PREPARE_CHUNK]
        _tx(result, admin, "prepareMeters", readings.prepareMeters(ids))
    result.balances_before = _balances(result)
    return result


def outage_ranges(community: Community) -> list[tuple[int, int]]:
    """The run's outage slots as contiguous (first, last) ranges, one declaration each."""
    ranges: list[tuple[int, int]] = []
    for slot, down in zip(community.slots, community.outage, strict=True):
        if not down:
            continue
        if ranges and ranges[-1][1] == slot - 1:
            ranges[-1] = (ranges[-1][0], slot)
        else:
            ranges.append((slot, slot))
    return ranges


def _top_up(orders: list[PlannedOrder], fee: int) -> int:
    """Credits a household needs for all its escrow, rounded up to whole credits, plus one."""
    escrow = sum(escrow_for(o.energy_wh, o.limit_price, fee) for o in orders if o.side == Side.BID)
    return (escrow // 1_000_000 + 2) * 1_000_000


def _place_day(
    result: RunResult, market: MarketClient, plans: list[list[PlannedOrder]], day: int
) -> None:
    """Each household's day-ahead batch for `day`, through its wallet: the wallet checks it as
    the CLI does and sends one transaction (bids' escrow from the household's market balance, the
    shortfall deposited through an EIP-2612 permit)."""
    spd = result.community.scenario.slots_per_day
    for home, account, orders in zip(
        result.community.homes, result.actors.households, plans, strict=True
    ):
        todays = [o for o in orders if o.slot // spd == day]
        if not todays:
            continue
        wallet = result.wallets.get(home.index)
        if wallet is None:
            wallet = result.wallets[home.index] = Wallet(result.system, account.address)
        # The household's own record of its open orders (it placed every one of them; slots
        # before this day are past their gates): the wallet need not rebuild it from the logs.
        mine = result.home_orders[home.index]
        open_orders = {slot: oid for slot, oid in mine.items() if slot // spd >= day}
        plan = wallet.plan(to_inputs(todays, 0), None, open_orders)
        receipt = wallet.send(account, plan, TX_GAS_LIMIT, permit_deadline=PERMIT_DEADLINE)
        _record(result, "placeOrdersWithPermit" if plan.top_up else "placeOrders", receipt)
        for event in events(market.contract, "OrderPlaced", receipt):
            a = event["args"]
            result.home_orders[home.index][slot_of(int(a["orderId"]))] = int(a["orderId"])
            result.orders[int(a["orderId"])] = (
                home.index,
                Order(
                    order_id=int(a["orderId"]),
                    owner=str(a["owner"]),
                    side=Side(int(a["side"])),
                    energy_wh=int(a["energyWh"]),
                    limit_price=int(a["limitPricePerKWh"]),
                    fee_per_kwh=int(a["feePerKWh"]),
                    critical=bool(a["critical"]),
                ),
            )


def _book(result: RunResult) -> dict[int, list[Order]]:
    book: dict[int, list[Order]] = defaultdict(list)
    for oid in sorted(result.orders):
        book[slot_of(oid)].append(result.orders[oid][1])
    return dict(book)


def _record_settlement(result: RunResult, slot: int, receipts: list[TxReceipt]) -> int:
    market = result.system.market
    traded = 0
    for receipt in receipts:
        for event in events(market, "OrderSettled", receipt):
            a = event["args"]
            result.settled[int(a["orderId"])] = {
                key: int(a[key])
                for key in ("filledWh", "meteredWh", "certificateWh", "amount", "fee", "refund")
            }
        for event in events(market, "SettlementStarted", receipt):
            traded = int(event["args"]["tradedWh"])
        for event in events(market, "SlotSettled", receipt):
            a = event["args"]
            result.slot_settled[slot] = {
                key: int(a[key]) for key in ("fees", "dust", "certificateDustWh", "expired")
            }
    return traded


def _balances(result: RunResult) -> dict[str, int]:
    """Each account's credits, wallet and market balance together, and under the market's address
    the escrow it holds: its token balance less every account's market balance (households, fee
    and rounding accounts are the only ones that hold any)."""
    w3 = result.system.chain.w3
    credit, market = result.system.credit.address, result.system.market.address
    accounts = [a.address for a in result.actors.households] + [
        result.actors.fee_account,
        result.actors.rounding_account,
    ]
    # two eth_calls per ~500 accounts (`read_many`), not two per account
    inside = dict(zip(accounts, read_many(w3, market, BALANCE_OF, accounts), strict=True))
    wallets = read_many(w3, credit, BALANCE_OF, [*accounts, market])
    balances = {a: wallets[i] + inside[a] for i, a in enumerate(accounts)}
    balances[market] = wallets[-1] - sum(inside.values())
    return balances


def _fund(result: RunResult, address: str, wei: int = GAS_MONEY_WEI) -> None:
    receipt = send_value(result.system.chain, result.actors.admin, address, wei)
    result.gas["fund"].append(int(receipt["gasUsed"]))


def _top_up_services(result: RunResult) -> None:
    """The operator tops the keeper's and the relayer's gas money back up to SERVICE_GAS_WEI."""
    w3 = result.system.chain.w3
    for account in (result.actors.keeper, result.actors.relayer):
        balance = int(w3.eth.get_balance(account.address))
        if balance < SERVICE_TOP_UP_BELOW_WEI:
            _fund(result, account.address, SERVICE_GAS_WEI - balance)


def _tx(result: RunResult, account: LocalAccount, op: str, fn: object) -> TxReceipt:
    receipt = transact(result.system.chain, account, fn, gas=TX_GAS_LIMIT)  # type: ignore[arg-type]
    _record(result, op, receipt)
    return receipt


def _record(result: RunResult, op: str, receipt: TxReceipt) -> None:
    """Counts the transaction's gas under `op`; keeps the audit cache close behind the head."""
    result.gas[op].append(int(receipt["gasUsed"]))
    cache = result.audit_cache
    if cache is not None and int(receipt["blockNumber"]) - (cache.synced_to or 0) >= SYNC_EVERY:
        sync_audit_cache(cache, result.system)


def _aligned(timestamp: int, step: int) -> int:
    return -(-timestamp // step) * step


__all__ = ["Home", "RunResult", "Services", "SlotOutcome", "simulate"]
