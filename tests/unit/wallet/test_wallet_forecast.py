"""The household forecast behind `bid/offer --forecast`: the profile, the physics, the orders."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from p2penergy.domain.orders import Side
from p2penergy.domain.slots import SlotGrid
from p2penergy.wallet import forecast as fc

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PROSUMER = EXAMPLES / "household-prosumer.yaml"
CONSUMER = EXAMPLES / "household-consumer.yaml"
MIDSUMMER = dt.date(2026, 6, 21)


def test_the_shipped_profiles_load_with_their_defaults():
    p = fc.load_profile(PROSUMER)
    assert p.location.timezone == "Europe/Berlin" and p.annual_kwh == 4200
    assert p.pv == fc.PV(kwp=6.5, tilt_deg=30, azimuth_deg=180, performance_ratio=0.85)
    assert p.battery is not None and p.battery.capacity_kwh == 5
    assert (p.bid_price, p.offer_price) == (220_000, 120_000)  # exact base units
    c = fc.load_profile(CONSUMER)
    assert c.pv is None and c.battery is None and c.offer_price is None
    assert c.location.altitude_m == 0 and c.cloud_cover == 0.25


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("location"), "location is missing"),
        (lambda r: r.update(garden="yes"), "unknown key 'garden'"),
        (lambda r: r["location"].update(timezone="Mars/Olympus"), "not an IANA time zone"),
        (lambda r: r["location"].update(latitude=123), "location.latitude = 123 is outside"),
        (lambda r: r.update(annual_kwh="lots"), "annual_kwh must be a number, not 'lots'"),
        (lambda r: r.update(annual_kwh=True), "annual_kwh must be a number"),
        (lambda r: r["pv"].pop("kwp"), "pv.kwp is missing"),
        (lambda r: r["pv"].update(tilt_deg=95), "pv.tilt_deg = 95 is outside 0 .. 90"),
        (lambda r: r.update(battery=[5, 2]), "battery must be a mapping"),
        (lambda r: r.update(cloud_cover=1.5), "cloud_cover = 1.5 is outside 0 .. 1"),
        (
            lambda r: r["prices"].update(bid="cheap"),
            "prices.bid: credit amount 'cheap'",
        ),
        (lambda r: r["prices"].update(sell="0.1"), "unknown key prices.sell"),
    ],
)
def test_a_bad_profile_is_refused_naming_the_key(tmp_path: Path, change, message):
    raw = yaml.safe_load(PROSUMER.read_text())
    change(raw)
    path = tmp_path / "house.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(fc.ProfileError, match=re.escape(message)):
        fc.load_profile(path)


def test_unreadable_and_non_mapping_profiles_are_refused(tmp_path: Path):
    with pytest.raises(fc.ProfileError, match="cannot read the household profile"):
        fc.load_profile(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(fc.ProfileError, match="a household profile is a YAML mapping"):
        fc.load_profile(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("location: [\n")
    with pytest.raises(fc.ProfileError, match="is not valid YAML"):
        fc.load_profile(tmp_path / "broken.yaml")


@pytest.mark.parametrize("slot_seconds", [900, 3600])
def test_every_slot_balances_in_integer_wh_from_local_midnight(slot_seconds: int):
    slots = fc.forecast_day(fc.load_profile(PROSUMER), MIDSUMMER, slot_seconds)
    assert len(slots) == 86_400 // slot_seconds
    midnight = dt.datetime(2026, 6, 21, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # CEST
    assert [s.start for s in slots] == [
        int(midnight.timestamp()) + k * slot_seconds for k in range(len(slots))
    ]
    for s in slots:
        charge, discharge = max(s.battery_wh, 0), max(-s.battery_wh, 0)
        assert s.demand_wh == s.self_consumed_wh + discharge + s.import_wh
        assert s.generation_wh == s.self_consumed_wh + charge + s.export_wh
        assert min(s.import_wh, s.export_wh) == 0  # never both in one slot
    night = [s for s in slots if dt.datetime.fromtimestamp(s.start, dt.UTC).hour in (0, 1)]
    assert all(s.generation_wh == 0 for s in night)
    assert sum(s.export_wh for s in slots) > 20_000  # a sunny June day sells
    hourly = fc.forecast_day(fc.load_profile(PROSUMER), MIDSUMMER, 3600)
    assert sum(s.demand_wh for s in slots) == pytest.approx(sum(s.demand_wh for s in hourly), abs=1)


def test_clouds_take_pv_away_and_a_consumer_bids_its_whole_demand():
    profile = fc.load_profile(PROSUMER)
    clear = sum(s.generation_wh for s in fc.forecast_day(profile, MIDSUMMER, 900, 0.0))
    grey = sum(s.generation_wh for s in fc.forecast_day(profile, MIDSUMMER, 900, 1.0))
    assert grey < clear * 0.3
    consumer = fc.forecast_day(fc.load_profile(CONSUMER), MIDSUMMER, 900)
    assert all(s.import_wh == s.demand_wh > 0 and s.export_wh == 0 for s in consumer)
    # the annual consumption scales demand one to one
    double = dataclasses.replace(fc.load_profile(CONSUMER), annual_kwh=5600)
    total = sum(s.demand_wh for s in consumer)
    assert sum(s.demand_wh for s in fc.forecast_day(double, MIDSUMMER, 900)) in (
        2 * total - 1,
        2 * total,
        2 * total + 1,
    )
    with pytest.raises(fc.ProfileError, match="cloud cover 2 is outside"):
        fc.forecast_day(fc.load_profile(CONSUMER), MIDSUMMER, 900, 2)


def test_orders_follow_the_forecast_and_leave_out_closed_gates_and_crumbs():
    slots = fc.forecast_day(fc.load_profile(PROSUMER), MIDSUMMER, 900)
    epoch = slots[0].start - 1000 * 900  # the market opened 1,000 slots before that midnight
    clock = SlotGrid(epoch, 900, 300)
    sunny = [k for k, s in enumerate(slots) if s.export_wh > 0]
    now = slots[sunny[3]].start - 300  # the first four sunny slots' gates have closed
    planned = fc.forecast_orders(slots, Side.OFFER, 120_000, clock, now, min_wh=100)
    small = [k for k in sunny[4:] if slots[k].export_wh < 100]
    assert planned.gate_closed == 4 and planned.too_small == len(small)
    assert [(o.slot, o.energy_wh) for o in planned.orders] == [
        (1000 + k, slots[k].export_wh) for k in sunny[4:] if k not in small
    ]
    assert {(o.side, o.limit_price) for o in planned.orders} == {(Side.OFFER, 120_000)}
    bids = fc.forecast_orders(slots, Side.BID, 220_000, clock, slots[0].start - 3600)
    assert [o.energy_wh for o in bids.orders] == [s.import_wh for s in slots if s.import_wh >= 10]


def test_a_market_grid_that_does_not_meet_local_midnight_is_refused():
    slots = fc.forecast_day(fc.load_profile(CONSUMER), MIDSUMMER, 900)
    clock = SlotGrid(slots[0].start - 450, 900, 300)  # slots start at :07:30
    with pytest.raises(fc.WalletError, match="is not the start of a slot"):
        fc.forecast_orders(slots, Side.BID, 220_000, clock, 0)


def test_dates_minimums_and_tomorrow():
    assert fc.parse_date("2026-11-23") == dt.date(2026, 11, 23)
    with pytest.raises(fc.WalletError, match="write it as YYYY-MM-DD"):
        fc.parse_date("23.11.2026")
    assert fc.min_order_wh("0.05") == 50
    assert fc.min_order_wh("0") == 1
    with pytest.raises(fc.WalletError, match="negative"):
        fc.min_order_wh("-1")
    profile = fc.load_profile(CONSUMER)
    late = dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)  # 00:30 on the 23rd in Berlin
    assert fc.tomorrow(profile, late) == dt.date(2026, 11, 24)
