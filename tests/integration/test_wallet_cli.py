"""The wallet and operator CLI through click's runner against our own node (one community).

Everything is set up the way an operator would: `admin deploy` into a temporary address book,
`admin register`, `register-meter`, `mint-credit`; households trade with `bid`/`offer` from a
keystore unlocked through --password-file. Clearing and settlement use MarketClient directly.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from eth_utils.address import is_checksum_address

from p2penergy.chain.deploy import Deployment
from p2penergy.chain.node import free_port
from p2penergy.cli._utils import exit_code_for
from p2penergy.contracts.governance import GovernanceClient
from p2penergy.contracts.market import MarketClient
from p2penergy.exceptions import MarketError
from p2penergy.oracle.outbox import Outbox
from p2penergy.units import Currency, format_credits
from p2penergy.wallet.forecast import forecast_day, load_profile
from p2penergy.wallet.keystore import Keystore
from p2penergy.wallet.trading import Wallet
from tests.integration.wallet_world import GOVERNANCE_DELAY, PASSWORD, World, make_world

BERLIN = ZoneInfo("Europe/Berlin")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROSUMER_PROFILE = EXAMPLES / "household-prosumer.yaml"
CONSUMER_PROFILE = EXAMPLES / "household-consumer.yaml"


LOG = io.StringIO()


@pytest.fixture(scope="module")
def world(hardhat_node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The community; every log record of the module (DEBUG and up) is kept for secret checks."""
    handler = logging.StreamHandler(LOG)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield make_world(hardhat_node, tmp_path_factory.mktemp("wallet-world"))
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def clock_of(world: World) -> Wallet:
    return Wallet(world.system(), world.accounts["li"])


def open_slot(world: World, ahead: int = 2) -> int:
    """A slot whose gate stays open for a while (`ahead` slots after the next open one)."""
    wallet = clock_of(world)
    return wallet.clock.next_open_slot(world.chain.now() + 1) + ahead


def local(world: World, slot: int) -> str:
    start = clock_of(world).clock.start(slot)
    return datetime.fromtimestamp(start, BERLIN).strftime("%Y-%m-%d %H:%M")


def err(world: World, *args: object, code: int = 1) -> str:
    """Runs a command that must fail with `code`; returns its one-line error."""
    result = world.run(*args, *world.conn(), "--yes")
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:], result.stderr  # exactly one error line, the last one
    assert "Traceback" not in result.output
    return lines[-1]


# ───────────────────────────── operator ─────────────────────────────


def test_admin_deploy_wrote_the_address_book(world: World) -> None:
    book = json.loads((world.deployments / "31337.json").read_text())
    assert set(book["addresses"]) >= {"EnergyMarket", "CommunityCredit", "ParticipantRegistry"}
    assert book["admin"] == world.accounts["operator"]


def test_admin_deploy_json_and_oracle_status_json_name_the_deployment_alike(
    world: World, tmp_path: Path
) -> None:
    """Both carry the chain id as a number and checksummed addresses, so a script can compare
    them as they are; the deployment's currency is in the JSON and the address book."""
    deployed = world.deployed
    assert type(deployed["chain_id"]) is int
    assert all(is_checksum_address(a) for a in deployed["contracts"].values())
    assert deployed["currency"] == {"code": "CHF", "decimals": 2}
    assert Deployment.load(world.deployments, world.chain.chain_id).money == Currency("CHF", 2)
    readings = deployed["contracts"]["MeterReadings"]
    outbox = tmp_path / "outbox.sqlite"
    Outbox(outbox, world.chain.chain_id, readings.lower()).close()  # as `oracle run` binds it
    status = world.run("oracle", "status", "--outbox", outbox, "--json")
    assert status.exit_code == 0, status.output
    bound = json.loads(status.stdout)
    assert (bound["chain_id"], bound["contract"]) == (deployed["chain_id"], readings)
    human = world.run("balance", "-a", "li", *world.conn())
    assert " CHF (" in human.stdout  # money in the deployment's currency


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--currency", "euro", "currency code 'euro' is not three capital letters"),
        ("--currency-decimals", "7", "currency decimals 7 not within 0..6"),
    ],
)
def test_admin_deploy_refuses_a_malformed_currency_before_signing(
    world: World, option: str, value: str, says: str
) -> None:
    line = err(world, "admin", "deploy", "-a", "operator", "--force", option, value)
    assert says in line
    assert Deployment.load(world.deployments, world.chain.chain_id).currency == "CHF"


def test_admin_deploy_refuses_to_hide_a_live_deployment(world: World) -> None:
    line = err(world, "admin", "deploy", "-a", "operator")
    assert "already points at a live deployment: pass --force" in line


def test_admin_register_suspend_and_reinstate(world: World) -> None:
    li = world.accounts["li"]
    assert world.ok("admin", "suspend", li, "-a", "operator") == {"account": li, "active": False}
    line = err(world, "bid", "-a", "li", "--slot", open_slot(world), "--kwh", "1", "--price", "0.2")
    assert f"account {li} is suspended: ask the operator to reinstate it" in line
    assert world.ok("admin", "suspend", li, "--reinstate", "-a", "operator")["active"] is True
    line = err(world, "admin", "register", li, "--kind", "consumer", "-a", "operator")
    assert "already registered as a consumer" in line


def test_admin_commands_need_the_operator_role(world: World) -> None:
    line = err(world, "admin", "mint-credit", world.accounts["li"], "5", "--ref", "x",
               "-a", "stranger")  # fmt: skip
    assert (
        f"account {world.accounts['stranger']} does not hold OPERATOR_ROLE: ask the admin" in line
    )


def test_the_operator_cannot_burn_and_mint_refuses_a_reused_reference_or_the_limit(
    world: World,
) -> None:
    jane = world.accounts["jane"]
    line = err(world, "admin", "burn-credit", jane, "1", "--ref", "payout-1", "-a", "operator")
    assert "the operator cannot burn a household's credits" in line
    assert "p2penergy redeem --amount AMOUNT --ref REF" in line
    line = err(world, "admin", "mint-credit", jane, "20000", "--ref", "big", "-a", "operator")
    assert line == (
        "error: 20,000.000000 is above the per-mint limit of 10,000.000000: "
        "split the top-up, each part with its own reference"
    )
    line = err(world, "admin", "mint-credit", jane, "5", "--ref", "topup-jane", "-a", "operator")
    assert "payment reference 'topup-jane' was already used" in line
    out = world.ok("admin", "mint-credit", jane, "0.5", "--ref", "topup-2", "-a", "operator")
    assert out == {"account": jane, "mint": 500_000, "balance": 50_500_000}
    world.ok("redeem", "--amount", "0.5", "--ref", "payout-0", "-a", "jane")  # back to 50


def test_a_household_redeems_its_own_credits_once_per_reference_even_suspended(
    world: World,
) -> None:
    jane = world.accounts["jane"]
    line = err(world, "redeem", "--amount", "1000", "--ref", "payout-1", "-a", "jane")
    assert "not enough credits: need 1,000.000000, have 50.000000" in line
    out = world.ok("redeem", "--amount", "12.50", "--ref", "payout-1", "-a", "jane")
    assert out == {
        "account": jane,
        "redeemed": 12_500_000,
        "ref": "payout-1",
        "balance": 37_500_000,
    }
    line = err(world, "redeem", "--amount", "1", "--ref", "payout-1", "-a", "jane")
    assert "payment reference 'payout-1' was already used" in line
    line = err(world, "redeem", "--amount", "0", "--ref", "payout-2", "-a", "jane")
    assert "must be above 0" in line
    world.ok("admin", "suspend", jane, "-a", "operator")
    out = world.ok("redeem", "--amount", "7.5", "--ref", "payout-2", "-a", "jane")
    assert out["balance"] == 30_000_000
    world.ok("admin", "suspend", jane, "--reinstate", "-a", "operator")
    world.ok("admin", "mint-credit", jane, "20", "--ref", "topup-3", "-a", "operator")  # back to 50


def _pending(world: World) -> list[dict[str, object]]:
    """`admin pending --json` (no key needed)."""
    conn = ["--rpc", world.url, "--deployments", str(world.deployments)]
    result = world.run("admin", "pending", *conn, "--json")
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def test_admin_declare_outage_is_scheduled_public_and_cancelled_by_the_guardian(
    world: World,
) -> None:
    line = err(world, "admin", "declare-outage", "--from-slot", 10**6, "--to-slot", 10**6 + 3,
               "--cap", "0.31", "-a", "operator")  # fmt: skip
    assert "must be above 0 and lie between the feed-in tariff" in line
    out = world.ok("admin", "declare-outage", "--from-slot", 10**6, "--to-slot", 10**6 + 3,
                   "--cap", "0.2", "-a", "operator")  # fmt: skip
    assert {k: out[k] for k in ("from_slot", "to_slot", "cap")} == {
        "from_slot": 10**6,
        "to_slot": 10**6 + 3,
        "cap": 200_000,
    }
    assert out["ready_at"] >= world.chain.now() + GOVERNANCE_DELAY - 1
    op = out["operation_id"]
    pending = _pending(world)
    assert [(p["operation_id"], p["state"]) for p in pending] == [(op, "waiting")]
    assert pending[0]["call"].startswith("EnergyMarket.declareOutage(1000000, 1000003, 200000")
    line = err(world, "admin", "cancel", op, "-a", "operator")
    assert (
        f"account {world.accounts['operator']} does not hold the timelock's CANCELLER_ROLE" in line
    )
    cancelled = world.ok("admin", "cancel", op, "-a", "guardian")
    assert cancelled["state"] == "cancelled"
    assert _pending(world) == []
    world.chain.set_time(out["ready_at"] + 1)
    line = err(world, "admin", "execute", op, "-a", "operator", code=4)
    assert "not in the state this needs" in line
    assert MarketClient(world.system()).outage_cap(10**6) == 0
    line = err(world, "admin", "execute", "0x" + "ab" * 32, "-a", "operator")
    assert "no scheduled governance operation 0x" + "ab" * 32 in line


def test_admin_set_tariffs_and_rotate_meter_key_are_scheduled_then_executed(
    world: World,
) -> None:
    line = err(world, "admin", "set-tariffs", "--feed-in", "0.4", "--retail", "0.3",
               "--network-fee", "0.03", "-a", "operator")  # fmt: skip
    assert "must not exceed the retail tariff" in line
    # the same tariffs again (later tests price with them): scheduled, executed, re-emitted
    out = world.ok("admin", "set-tariffs", "--feed-in", "0.08", "--retail", "0.30",
                   "--network-fee", "0.03", "-a", "operator")  # fmt: skip
    assert {k: out[k] for k in ("feed_in", "retail", "network_fee")} == {
        "feed_in": 80_000,
        "retail": 300_000,
        "network_fee": 30_000,
    }
    tariffs = out["operation_id"]
    line = err(world, "admin", "execute", tariffs, "-a", "operator", code=4)
    assert "not in the state this needs (not ready yet" in line
    from eth_account import Account

    new_device = Account.create()
    meter = world.meter_ids["li"]
    out = world.ok("admin", "rotate-meter-key", meter, new_device.address, "-a", "operator")
    assert out["old_device"] == world.devices["li"].address
    world.chain.set_time(out["ready_at"])
    for op in (tariffs, out["operation_id"]):
        assert world.ok("admin", "execute", op, "-a", "operator")["state"] == "done"
    system = world.system()
    assert system.market.events.TariffsSet().get_logs(
        from_block=world.chain.w3.eth.block_number - 1
    )
    assert system.registry.functions.meter(meter).call()[0] == new_device.address
    world.devices["li"] = new_device  # signs every slot whose gate closes from now on
    line = err(world, "admin", "rotate-meter-key", 999, new_device.address, "-a", "operator")
    assert "there is no meter #999" in line


def test_admin_set_seller_fee_is_scheduled_then_executed_and_bad_input_changes_nothing(
    world: World,
) -> None:
    """The fee split: `admin set-seller-fee` goes through the timelock like the tariffs; bad
    input is one line and exit 1 with nothing scheduled; the contract's own refusals (a fee
    above the order word's 24 bits at execution, an offer below the fee) read as one line and
    exit 4."""
    system = world.system()
    market = system.market.functions
    before = _pending(world)
    for fee, says in (
        ("abc", "write prices in credits per kWh, e.g. 0.25"),
        ("-0.01", "price -0.01 per kWh is out of range"),
        ("16.777216", "seller fee 16.777216 per kWh is above the most an order can carry, "
         "16.777215 per kWh (2^24 - 1 base units)"),
    ):  # fmt: skip
        line = err(world, "admin", "set-seller-fee", "--fee", fee, "-a", "operator")
        assert says in line
    line = err(world, "admin", "set-seller-fee", "--fee", "0.1", "-a", "stranger")
    assert "does not hold the timelock's PROPOSER_ROLE" in line
    assert _pending(world) == before and market.sellerFee().call() == 0
    out = world.ok("admin", "set-seller-fee", "--fee", "0.1", "-a", "operator")
    assert set(out) == {"seller_fee", "operation_id", "ready_at", "eta"}
    assert out["seller_fee"] == 100_000
    assert [op["operation_id"] for op in _pending(world)] == [
        *(op["operation_id"] for op in before),
        out["operation_id"],
    ]
    world.chain.set_time(out["ready_at"])
    assert world.ok("admin", "execute", out["operation_id"], "-a", "operator")["state"] == "done"
    assert market.sellerFee().call() == 100_000
    [event] = system.market.events.SellerFeeSet().get_logs(
        from_block=world.chain.w3.eth.block_number
    )
    assert event["args"]["sellerFeePerKWh"] == 100_000
    # an offer that does not cover the fee is refused before signing ...
    line = err(world, "offer", "-a", "jane", "--slot", open_slot(world, 20), "--kwh", "1",
               "--price", "0.09")  # fmt: skip
    assert "limit price 0.090000 per kWh is below the seller fee of 0.100000 per kWh" in line
    # ... and the chain's refusal (the fee rose between the check and the block) reads alike
    refused = Wallet(system, world.accounts["jane"]).explain(
        MarketError("MarketLimitBelowFee", {"limitPricePerKWh": 90_000, "feePerKWh": 100_000})
    )
    assert exit_code_for(refused) == 4
    assert str(refused) == (
        "limit price 0.090000 per kWh is below the seller fee of 0.100000 per kWh now in force: "
        "offer at a limit that covers it"
    )
    # the contract bounds the fee itself: scheduled past the CLI's check, execution is refused
    operator = Keystore(world.keys).unlock(world.accounts["operator"], PASSWORD)
    raw = GovernanceClient(system).schedule(operator, market.setSellerFee(2**24))
    world.chain.set_time(raw.ready_at)
    line = err(world, "admin", "execute", raw.operation_id, "-a", "operator", code=4)
    says = "the seller fee 16.777216 per kWh is above the most an order can carry, 16.777215"
    assert line.startswith("error: cannot execute ") and line.endswith(f": {says} per kWh")
    assert market.sellerFee().call() == 100_000
    # back to no split (the later tests price without a seller fee)
    out = world.ok("admin", "set-seller-fee", "--fee", "0", "-a", "operator")
    world.chain.set_time(out["ready_at"])
    assert world.ok("admin", "execute", out["operation_id"], "-a", "operator")["state"] == "done"
    assert market.sellerFee().call() == 0


# ───────────────────────────── households ─────────────────────────────


def test_bid_at_a_local_time_shows_the_escrow_and_cancel_refunds_it(world: World) -> None:
    slot = open_slot(world)
    result = world.run(
        "bid", "-a", "li", "--at", local(world, slot), "--tz", "Europe/Berlin",
        "--kwh", "1.5", "--price", "0.20", *world.conn(), "--yes", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # ceil(1500 Wh x 0.20) + ceil(1500 Wh x 0.03 fee) = 0.300000 + 0.045000
    assert "escrow locked now: 0.345000 credits" in result.stderr
    placed = json.loads(result.stdout)
    assert placed["escrow"] == 345_000
    assert placed["orders"] == [
        {"slot": slot, "side": "bid", "energy_wh": 1500, "limit_price_per_kwh": 200_000,
         "starts_at": clock_of(world).clock.start(slot)}
    ]  # fmt: skip
    (order_id,) = placed["order_ids"]
    orders = world.ok("orders", "-a", "li")
    assert {"order_id": order_id, "status": "open", "escrow": 345_000}.items() <= orders[-1].items()
    balance = world.ok("balance", "-a", "li")
    assert balance["locked_in_bids"] == 345_000
    assert balance["credits"] == 50_000_000 - 345_000
    assert world.ok("cancel", order_id, "-a", "li") == {"order_id": order_id, "refund": 345_000}
    assert world.ok("orders", "-a", "li")[-1]["status"] == "cancelled"
    # the refund goes to li's market balance; withdrawing brings it back to the wallet
    balance = world.ok("balance", "-a", "li")
    assert (balance["credits"], balance["market"]) == (50_000_000 - 345_000, 345_000)
    assert world.ok("withdraw", "-a", "li", "--amount", "0.345") == {
        "account": balance["account"],
        "withdrawn": 345_000,
        "wallet": 50_000_000,
    }
    balance = world.ok("balance", "-a", "li")
    assert (balance["credits"], balance["market"]) == (50_000_000, 0)


def test_deposit_moves_wallet_credits_into_the_market_and_a_bid_uses_them(world: World) -> None:
    before = world.ok("balance", "-a", "li")
    out = world.ok("deposit", "-a", "li", "--amount", "2")
    assert out == {"account": before["account"], "deposited": 2_000_000,
                   "market": before["market"] + 2_000_000}  # fmt: skip
    slot = open_slot(world, 12)  # a slot no other test of li bids in (one order per slot)
    result = world.run(
        "bid", "-a", "li", "--slot", slot, "--kwh", "1", "--price", "0.2",
        *world.conn(), "--yes", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "0.000000 moved from the wallet into the market" in result.stderr
    after = world.ok("balance", "-a", "li")
    # 1 kWh x 0.20 + 1 kWh x 0.03 fee came out of the market balance, none from the wallet
    assert after["credits"] == before["credits"] - 2_000_000
    assert after["market"] == before["market"] + 2_000_000 - 230_000
    line = err(world, "withdraw", "-a", "li", "--amount", "1000")
    assert "not enough credits in the market" in line
    line = err(world, "deposit", "-a", "li", "--amount", "0")
    assert "must be above 0" in line


def test_people_tables_are_printed_without_json(world: World) -> None:
    # li's own cancelled order: the test holds alone, not only after the bid-and-cancel test
    placed = world.ok("bid", "-a", "li", "--slot", open_slot(world, 16), "--kwh", "1",
                      "--price", "0.2")  # fmt: skip
    world.ok("cancel", placed["order_ids"][0], "-a", "li")
    for command in ("balance", "orders", "trades", "certificates"):
        result = world.run(command, "-a", "li", *world.conn())
        assert result.exit_code == 0, result.output
    result = world.run("orders", "-a", "li", *world.conn(), "--tz", "Europe/Berlin")
    assert "cancelled" in result.stdout


def test_declining_the_confirmation_signs_nothing(world: World) -> None:
    before = len(world.ok("orders", "-a", "li"))
    result = world.run(
        "bid", "-a", "li", "--slot", open_slot(world, 6), "--kwh", "1", "--price", "0.2",
        *world.conn(), input="n\n",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "Sign and send?" in result.stderr
    assert len(world.ok("orders", "-a", "li")) == before


def test_a_slot_beyond_the_horizon_needs_confirmation(world: World) -> None:
    # The horizon is 7 days (CONFIRM_HORIZON_DAYS); slots of 15 minutes, 96 a day.
    far = open_slot(world) + 8 * 96
    near = open_slot(world) + 6 * 96
    order = ("-a", "li", "--kwh", "1", "--price", "0.2", *world.conn())
    before = len(world.ok("orders", "-a", "li"))
    # no terminal, no --yes: one line, exit 1, nothing signed
    result = world.run("bid", "--slot", far, *order, input="y\n")
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        f"error: slot {far} starts 8 days from now, beyond the 7-day horizon that needs "
        "confirmation: check the date, then add --yes"
    ]
    assert len(world.ok("orders", "-a", "li")) == before
    # inside the horizon only the usual question is asked
    result = world.run("bid", "--slot", near, *order, "--json", input="y\n")
    assert result.exit_code == 0, result.output
    assert "horizon" not in result.stderr and "Sign and send?" in result.stderr
    # --yes confirms the far slot
    placed = world.ok("bid", "--slot", far, "-a", "li", "--kwh", "1", "--price", "0.2")
    for order_id in [*json.loads(result.stdout)["order_ids"], *placed["order_ids"]]:
        world.ok("cancel", order_id, "-a", "li")
    assert len(world.ok("orders", "-a", "li")) == before + 2


def test_offer_by_a_consumer_is_refused_before_signing(world: World) -> None:
    line = err(world, "offer", "-a", "li", "--slot", open_slot(world), "--kwh", "1",
               "--price", "0.1")  # fmt: skip
    assert "only prosumers can offer; ask the operator" in line


def test_not_enough_credits_says_need_and_have(world: World) -> None:
    balance = world.ok("balance", "-a", "li")
    have = balance["credits"] + balance["market"]
    line = err(world, "bid", "-a", "li", "--slot", open_slot(world, 3), "--kwh", "200",
               "--price", "0.30")  # fmt: skip
    assert f"not enough credits: need 66.000000, have {format_credits(have)}" in line


def test_an_unregistered_account_is_told_to_ask_the_operator(world: World) -> None:
    line = err(world, "bid", "-a", "stranger", "--slot", open_slot(world), "--kwh", "1",
               "--price", "0.2")  # fmt: skip
    assert "is not registered in this market: ask the operator to register it" in line


def test_gate_closed_names_the_next_open_slot(world: World) -> None:
    wallet = clock_of(world)
    now = world.chain.now() + 1
    closed = wallet.clock.next_open_slot(now) - 1
    nxt = wallet.clock.next_open_slot(now)
    line = err(world, "bid", "-a", "li", "--slot", closed, "--kwh", "1", "--price", "0.2")
    assert "gate closed for slot " in line and f"(slot {closed}): next open slot is" in line
    assert line.endswith(f"(slot {nxt})")


def test_times_are_checked_against_the_slot_grid_and_the_zone(world: World) -> None:
    slot = open_slot(world)
    off_grid = local(world, slot)[:-2] + "07"
    line = err(world, "bid", "-a", "li", "--at", off_grid, "--tz", "Europe/Berlin",
               "--kwh", "1", "--price", "0.2")  # fmt: skip
    assert "is not the start of a slot: slots are 15 min long" in line
    line = err(world, "bid", "-a", "li", "--at", local(world, slot), "--tz", "Mars/Olympus",
               "--kwh", "1", "--price", "0.2")  # fmt: skip
    assert "unknown time zone 'Mars/Olympus'" in line
    line = err(world, "bid", "-a", "li", "--slot", slot, "--kwh", "1.0005", "--price", "0.2")
    assert "more than 3 decimals" in line
    line = err(world, "bid", "-a", "li", "--slot", slot, "--kwh", "1", "--price", "0.5")
    assert "outside the tariffs: choose between 0.080000 (feed-in) and 0.300000 (retail)" in line


def test_a_day_ahead_schedule_from_csv_is_one_transaction(world: World) -> None:
    first = open_slot(world, ahead=40)
    csv = world.root / "day.csv"
    rows = ["start,kwh,price"] + [f"{local(world, first + i)},0.{i + 1},0.25" for i in range(4)]
    csv.write_text("\n".join(rows) + "\n")
    out = world.ok("bid", "-a", "li", "--schedule", csv, "--tz", "Europe/Berlin")
    assert [o["slot"] for o in out["orders"]] == [first + i for i in range(4)]
    assert [o["energy_wh"] for o in out["orders"]] == [100, 200, 300, 400]
    assert len(out["order_ids"]) == 4
    line = err(world, "bid", "-a", "li", "--schedule", csv, "--tz", "Europe/Berlin")
    assert f"you already have order {out['order_ids'][0]} for slot" in line
    assert f"cancel it first (p2penergy cancel {out['order_ids'][0]})" in line


def forecast_day_of(world: World, days_ahead: int) -> str:
    """A local day in Berlin `days_ahead` after the chain's today (no other test trades there)."""
    today = datetime.fromtimestamp(world.chain.now(), BERLIN).date()
    return (today + timedelta(days=days_ahead)).isoformat()


def test_offer_and_bid_a_day_from_the_household_forecast(world: World) -> None:
    day = forecast_day_of(world, 3)
    wallet = clock_of(world)
    planned = {}
    for name, path in (("jane", PROSUMER_PROFILE), ("li", CONSUMER_PROFILE)):
        slots = forecast_day(load_profile(path), date.fromisoformat(day), 900, cloud_cover=0.0)
        planned[name] = {
            wallet.clock.slot_at(f.start): f.import_wh if name == "li" else f.export_wh
            for f in slots
        }
    offered = world.ok("offer", "-a", "jane", "--forecast", PROSUMER_PROFILE, "--date", day,
                       "--cloud-cover", "0")  # fmt: skip
    # one order per sunny slot, exactly the forecast surplus, at the profile's offer price
    assert {o["slot"]: o["energy_wh"] for o in offered["orders"]} == {
        slot: wh for slot, wh in planned["jane"].items() if wh >= 10
    }
    assert {o["limit_price_per_kwh"] for o in offered["orders"]} == {120_000}
    assert offered["escrow"] == 0 and len(offered["order_ids"]) == len(offered["orders"]) > 0
    result = world.run("bid", "-a", "li", "--forecast", CONSUMER_PROFILE, "--date", day,
                       "--cloud-cover", "0", "--price", "0.25", "--min-kwh", "0.05",
                       *world.conn(), "--yes", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    bid = json.loads(result.stdout)
    wanted = {slot: wh for slot, wh in planned["li"].items() if wh >= 50}
    assert {o["slot"]: o["energy_wh"] for o in bid["orders"]} == wanted
    assert {o["limit_price_per_kwh"] for o in bid["orders"]} == {250_000}
    small = len(planned["li"]) - len(wanted)
    if small:
        assert f"left out: {small} slots under 0.050 kWh" in result.stderr
    assert bid["escrow"] == sum(-(-wh * 250_000 // 1000) + -(-wh * 30_000 // 1000)
                                for wh in wanted.values())  # fmt: skip
    # the same day again: the slots are taken, one order per slot
    line = err(world, "bid", "-a", "li", "--forecast", CONSUMER_PROFILE, "--date", day)
    assert "you already have order" in line


def test_forecast_orders_say_what_is_missing_or_wrong(world: World) -> None:
    day = forecast_day_of(world, 4)
    line = err(world, "offer", "-a", "jane", "--forecast", CONSUMER_PROFILE, "--date", day,
               "--price", "0.1")  # fmt: skip
    assert f"the forecast for {day} has no surplus to offer in slots still open" in line
    no_price = world.root / "no-price.yaml"
    no_price.write_text(CONSUMER_PROFILE.read_text().replace('  bid: "0.22"\n', ""))
    line = err(world, "bid", "-a", "li", "--forecast", no_price, "--date", day)
    assert f"give --price, or prices: bid: in the household profile {no_price}" in line
    line = err(world, "bid", "-a", "li", "--forecast", CONSUMER_PROFILE, "--kwh", "1")
    assert "--forecast replaces --at/--slot/--kwh/--schedule" in line
    line = err(world, "bid", "-a", "li", "--slot", open_slot(world), "--kwh", "1",
               "--price", "0.2", "--date", day)  # fmt: skip
    assert "--date, --cloud-cover and --min-kwh go with --forecast" in line
    broken = world.root / "broken.yaml"
    broken.write_text("annual_kwh: 3000\n")
    line = err(world, "bid", "-a", "li", "--forecast", broken, "--date", day)
    assert f"error: {broken}: location is missing" in line
    line = err(world, "bid", "-a", "li", "--forecast", CONSUMER_PROFILE, "--date", "tomorrow")
    assert "cannot read the date 'tomorrow': write it as YYYY-MM-DD" in line
    yesterday = forecast_day_of(world, -1)
    line = err(world, "bid", "-a", "li", "--forecast", CONSUMER_PROFILE, "--date", yesterday)
    assert f"the forecast for {yesterday} has no deficit to bid for in slots still open" in line


def test_the_forecast_command_shows_the_day_without_a_chain(world: World) -> None:
    result = world.run("forecast", PROSUMER_PROFILE, "--date", "2026-06-21", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    expected = forecast_day(load_profile(PROSUMER_PROFILE), date(2026, 6, 21), 900)
    assert [s["offer_wh"] for s in shown["slots"]] == [f.export_wh for f in expected]
    assert [s["bid_wh"] for s in shown["slots"]] == [f.import_wh for f in expected]
    table = world.run("forecast", PROSUMER_PROFILE, "--date", "2026-06-21", "--slot-minutes", "60")
    assert table.exit_code == 0 and "kWh per hour" in table.stdout
    hourly = forecast_day(load_profile(PROSUMER_PROFILE), date(2026, 6, 21), 3600)
    day_total = sum(f.export_wh for f in hourly)
    assert f"{day_total // 1000}.{day_total % 1000:03d}" in table.stdout
    missing = world.run("forecast", world.root / "nowhere.yaml")
    assert missing.exit_code == 1
    assert "cannot read the household profile" in missing.stderr


def test_a_wrong_password_is_one_line_and_signs_nothing(world: World) -> None:
    orders_before = len(world.ok("orders", "-a", "li"))
    wrong = world.root / "wrong"
    wrong.write_text("not-the-password\n")
    args = [a if a != str(world.password_file) else str(wrong) for a in world.conn()]
    result = world.run("bid", "-a", "li", "--slot", open_slot(world, 5), "--kwh", "1",
                       "--price", "0.2", *args, "--yes")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: wrong password for li")
    assert len(world.ok("orders", "-a", "li")) == orders_before


def test_connection_problems_say_what_to_do(world: World) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = world.run("balance", "-a", "li", "--rpc", dead, "--deployments", world.deployments,
                       "--keystore-dir", world.keys)  # fmt: skip
    assert result.exit_code == 3
    assert "unreachable" in result.stderr and "start the node or pass --rpc" in result.stderr
    result = world.run("admin", "deploy", "-a", "operator", "--rpc", dead, "--yes")
    assert result.exit_code == 3 and "start the node or pass --rpc" in result.stderr
    result = world.run("balance", "-a", "li", *world.conn(), "--chain-id", "1")
    assert result.exit_code == 3
    assert "serves chain id 31337, expected 1: wrong network" in result.stderr
    result = world.run("balance", "-a", "li", "--rpc", world.url, "--deployments",
                       world.root / "nowhere", "--keystore-dir", world.keys)  # fmt: skip
    assert result.exit_code == 3
    assert "run `p2penergy admin deploy`" in result.stderr


def test_a_traded_slot_shows_in_trades_certificates_and_retire(world: World) -> None:
    slot = open_slot(world, 8)
    world.ok("offer", "-a", "jane", "--slot", slot, "--kwh", "2", "--price", "0.10")
    world.ok("bid", "-a", "li", "--slot", slot, "--kwh", "2", "--price", "0.20")
    system = world.system()
    market = MarketClient(system)
    start, gate, _ = market.slot_times(slot)
    world.chain.set_time(gate)
    line = err(world, "bid", "-a", "jane", "--slot", slot, "--kwh", "1", "--price", "0.2")
    assert "gate closed" in line
    market.clear_slot(world.keeper, slot)  # price (0.10 + 0.20) / 2
    world.chain.set_time(start + 900)
    world.report(slot, {"jane": (0, 1_500), "li": (2_500, 0)})
    # jane exported 1.5 kWh, but her offer is not settled yet: what it gives may still change
    line = err(world, "retire", "-a", "jane", "--slot", slot, "--kwh", "1")
    assert "not final yet" in line and "has not been settled" in line
    market.settle_slot(world.keeper, slot)
    (li_trade,) = [t for t in world.ok("trades", "-a", "li") if t["slot"] == slot]
    # D = 1500 (jane delivered), A = 2000, T = 1500 at 0.15: li pays 0.225 + fee 0.045,
    # escrow 0.46 -> refund 0.19 (docs/market-rules.md, worked example).
    assert {"side": "bid", "price": 150_000, "filled_wh": 2000, "metered_wh": 2000,
            "amount": 225_000, "fee": 45_000, "refund": 190_000,
            "certificate_wh": 1500}.items() <= li_trade.items()  # fmt: skip
    (jane_trade,) = [t for t in world.ok("trades", "-a", "jane") if t["slot"] == slot]
    assert {"side": "offer", "amount": 225_000, "metered_wh": 1500}.items() <= jane_trade.items()
    table = world.run("trades", "-a", "li", *world.conn(), "--tz", "Europe/Berlin").stdout
    assert "Settled trades of" in table and "bid" in table
    certs = world.ok("certificates", "-a", "li")
    assert {"slot": slot, "held_wh": 1500, "retired_wh": 0} in certs
    line = err(world, "retire", "-a", "li", "--slot", slot, "--kwh", "2")
    assert "not enough certificates" in line and "need 2.000 kWh, have 1.500 kWh" in line
    assert world.ok("retire", "-a", "li", "--slot", slot, "--kwh", "1") == {
        "slot": slot,
        "retired_wh": 1000,
    }
    certs = world.ok("certificates", "-a", "li")
    assert {"slot": slot, "held_wh": 500, "retired_wh": 1000} in certs


def test_no_secret_appears_in_any_output_or_log(world: World) -> None:
    secrets = world.secrets()
    assert len(secrets) == 6  # operator, jane, li, stranger, guardian keys and the password
    assert LOG.getvalue()  # web3 logged requests at DEBUG level throughout the module
    text = "\n".join([*world.outputs, LOG.getvalue()]).lower()
    assert len(world.outputs) > 40
    for secret in secrets:
        assert secret.lower() not in text
