"""The household ledger's input read from a replayed history (chain data alone).

Shared by the audit's household table and `p2penergy statement`: per slot, the tariffs in force
when it cleared (the head's when it never cleared), the traded energy from `SettlementStarted`,
every `OrderSettled` of the deployed market and the verified meter readings.
"""

from __future__ import annotations

from collections import defaultdict

from p2penergy.audit.cache import AuditCache
from p2penergy.audit.history import History, replay
from p2penergy.chain.deploy import System
from p2penergy.domain.slots import SlotGrid
from p2penergy.ledger import Fill, SlotInput, Statement, Tariffs, statement, statements
from p2penergy.market import Side


def slot_inputs(
    history: History, first: int | None = None, last: int | None = None
) -> list[SlotInput]:
    """One `SlotInput` per slot with a reading or a settled order, within [first, last]."""
    fills: dict[int, list[Fill]] = defaultdict(list)
    for e in history.order_settled:
        if e.contract != "EnergyMarket":
            continue  # a forged market's events are the audit's finding, not anybody's money
        oid = int(e.args["orderId"])
        record = history.orders.get(oid)
        if record is None:
            continue
        fills[record.slot].append(
            Fill(
                order_id=oid,
                owner=str(e.args["owner"]).lower(),
                side=Side(record.side),
                metered_wh=int(e.args["meteredWh"]),
                certificate_wh=int(e.args["certificateWh"]),
                amount=int(e.args["amount"]),
                fee=int(e.args["fee"]),
                refund=int(e.args["refund"]),
            )
        )
    meters: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
    for (owner, slot), value in history.energy().items():
        meters[slot][owner.lower()] = value
    head = history.tariffs_at((history.to_block + 1, 0))
    out = []
    for slot in sorted(set(fills) | set(meters)):
        if (first is not None and slot < first) or (last is not None and slot > last):
            continue
        cleared = history.cleared.get(slot)
        feed_in, retail, _ = history.tariffs_at(cleared.position) if cleared else head
        started = history.started.get(slot)
        out.append(
            SlotInput(
                slot=slot,
                tariffs=Tariffs(feed_in=feed_in, retail=retail),
                traded_wh=int(started.args["tradedWh"]) if started else 0,
                fills=tuple(sorted(fills.get(slot, []), key=lambda f: f.order_id)),
                meters=meters.get(slot, {}),
            )
        )
    return out


def read_history(system: System) -> History:
    """The deployment's history replayed from its logs up to the head (a throw-away cache)."""
    chain, deployment = system.chain, system.deployment
    addresses = {name: a.lower() for name, a in deployment.addresses.items()}
    head = int(chain.w3.eth.block_number)
    store = AuditCache(None)
    try:
        store.sync(
            chain,
            min(deployment.blocks.values()),
            head,
            {"chainId": chain.chain_id, "addresses": addresses},
            None,
        )
        return replay(store, addresses, head)
    finally:
        store.close()


def account_statement(
    history: History, account: str, first: int | None = None, last: int | None = None
) -> Statement:
    """The statement of `account` over slots [first, last]; an account with no reading and no
    settled order in the period gets an empty statement."""
    key = account.lower()
    found = statements(slot_inputs(history, first, last)).get(key)
    return found if found is not None else statement(key, ())


def read_statement(
    system: System, account: str, first: int | None = None, last: int | None = None
) -> Statement:
    """The statement of `account` over slots [first, last], from the chain alone."""
    return account_statement(read_history(system), account, first, last)


def slot_grid(system: System) -> SlotGrid:
    """The deployment's slot grid (`MeterReadings.timing()`)."""
    epoch, length, window = system.readings.functions.timing().call()
    return SlotGrid(int(epoch), int(length), window=int(window))
