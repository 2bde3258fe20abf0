"""Helpers shared by the oracle and keeper integration tests: traders with meters, slot times."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount

from p2penergy.chain.connect import Chain
from p2penergy.chain.deploy import System
from p2penergy.chain.tx import events, transact
from p2penergy.contracts.market import MarketClient

from ..conftest import topup_ref

CREDITS = 50_000_000
CONSUMER, PROSUMER = 1, 2


@dataclass(eq=False)
class Trader:
    account: LocalAccount
    device: LocalAccount
    meter_id: int


def new_trader(
    chain: Chain, system: System, operator: LocalAccount, kind: int, capacity_w: int = 20_000
) -> Trader:
    """A registered, funded participant with a meter and unlimited escrow approval."""
    account, device = Account.create(), Account.create()
    chain.fund(account.address, 10**20)
    registry = system.registry.functions
    transact(chain, operator, registry.registerParticipant(account.address, kind, False))
    receipt = transact(
        chain, operator, registry.registerMeter(device.address, account.address, capacity_w)
    )
    meter_id = int(events(system.registry, "MeterRegistered", receipt)[0]["args"]["meterId"])
    transact(chain, operator, system.credit.functions.mint(account.address, CREDITS, topup_ref()))
    MarketClient(system).approve_escrow(account)
    return Trader(account, device, meter_id)


def current_slot(chain: Chain, system: System) -> int:
    epoch, length, _ = system.readings.functions.timing().call()
    return int((chain.now() - epoch) // length)


def slot_start_iso(system: System, slot: int) -> str:
    from datetime import UTC, datetime

    epoch, length, _ = system.readings.functions.timing().call()
    return datetime.fromtimestamp(epoch + slot * length, UTC).isoformat().replace("+00:00", "Z")


def advance_to(chain: Chain, timestamp: int) -> None:
    """Moves chain time to `timestamp` and mines a block there, so `chain.now()` shows it (the
    services read time from the latest block, as they must on a real network)."""
    if chain.now() >= timestamp:
        return
    chain.set_time(timestamp)
    if chain.now() < timestamp:  # the embedded chain only stamps the next block
        chain.fund(chain.faucet[1].address, 1)


def to_slot_end(chain: Chain, system: System, slot: int) -> None:
    epoch, length, _ = system.readings.functions.timing().call()
    advance_to(chain, epoch + (slot + 1) * length)
