"""The simulation report: energy, money, prices, island service and gas, from what the chain did.

Accounting rules (docs/simulation.md):
- Local trade per order comes from the chain's `OrderSettled` events. The settlement pays a seller
  for `d_i·T/D` Wh and charges a buyer for `a_j·T/A` Wh; for the energy accounts these shares
  are made whole Wh by largest remainder (ties by order id), so bought == sold == T exactly.
- What a meter measured beyond its local trade is the utility's: imports at the retail tariff
  (which includes the network fee), exports at the feed-in tariff, per household and slot,
  charges rounded up and credits rounded down to a base unit, as the chain rounds settlement
  (`p2penergy.ledger`, shared with the audit and `p2penergy statement`). In outage slots that energy
  physically came from (went to) neighbours outside the market ("island untraded"); it counts as
  local for self-sufficiency, and the utility, still the balancing party, settles it.
- Bill = utility charges - utility credits + local charges + network fees - local receipts
  + seller fees.
  The grid-only baseline bills the same meter readings to the utility alone (same PV, same
  battery: only the local market is missing). Saving = baseline - bill.
- The network fee is paid by buyers on every locally traded kWh, to the distribution operator;
  the strategy caps bids at retail - fee so a local kWh never costs more than a grid kWh. A
  community may split the fee: the seller fee (scenario `tariffs.seller_fee`, 0 by default)
  comes out of each seller's receipt, to the same fee account, and the strategy asks at least
  feed-in + seller fee. Fee income = network fees + seller fees. The seller-fee figures
  (`seller_fee`, `seller_fees`) appear only when the scenario has a seller fee, so a report
  without one reads as before, byte for byte.
- CO2 avoided = locally traded energy x the scenario's grid emission factor (the traded energy is
  certificate-backed local PV that the buyers' grid supply would otherwise have covered).
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from dataclasses import fields
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from p2penergy.energy.model import Home
from p2penergy.exceptions import P2PEnergyError
from p2penergy.sim import accounting as accounts
from p2penergy.sim.accounting import (
    CommunityTotals,
    HouseholdAccount,
    HouseholdMoney,
    IslandService,
)
from p2penergy.sim.accounting import HouseholdLedger as HouseholdLedger
from p2penergy.sim.accounting import ledgers as ledgers
from p2penergy.sim.runner import RunResult
from p2penergy.units import Currency, format_wh

REPORT_VERSION = 1


def build_report(result: RunResult) -> dict[str, Any]:
    """The whole report as plain JSON-able data (integers, strings and 4-decimal ratios)."""
    community = result.community
    scenario = community.scenario
    t = scenario.tariffs
    typed = accounts.households(result)
    reasons = accounts.no_sales_reasons(result, typed)
    split = t.seller_fee > 0
    households = [
        _household_json(home, account, reason, split)
        for home, account, reason in zip(community.homes, typed, reasons, strict=True)
    ]
    totals = accounts.community_totals(result, typed, reasons)
    slots = accounts.slot_figures(result, ledgers(result))
    prices = [(int(s.price), int(s.cleared_wh)) for s in slots if s.price is not None]
    volume = sum(wh for _, wh in prices)
    vwap = sum(price * wh for price, wh in prices) // volume if volume else None
    island = accounts.island_service(result)
    seller_fee = {"seller_fee": t.seller_fee} if split else {}
    return {
        "version": REPORT_VERSION,
        "scenario": {
            "name": scenario.name,
            "seed": scenario.seed,
            "date": scenario.date.isoformat(),
            "days": scenario.days,
            "slot_seconds": scenario.slot_seconds,
            "first_slot": community.slots[0],
            "slots": len(community.slots),
            "households": len(community.homes),
            "prosumers": sum(h.kind == "prosumer" for h in community.homes),
            "batteries": sum(h.battery is not None for h in community.homes),
            "critical_loads": sum(h.critical for h in community.homes),
            "heat_pumps": sum(h.heat_kwh > 0 for h in community.homes),
            "weather": (
                {"model": "clouds", "cloudiness": scenario.weather.cloudiness}
                if scenario.weather.file is None
                else {
                    "model": "file",
                    "file": Path(scenario.weather.file).name,
                    "format": scenario.weather.format,
                }
            ),
            "location": {
                "latitude": scenario.location.latitude,
                "longitude": scenario.location.longitude,
                "timezone": scenario.location.timezone,
            },
            "tariffs_per_kwh": {
                "feed_in": t.feed_in,
                "retail": t.retail,
                "network_fee": t.network_fee,
                **seller_fee,
            },
            "emission_factor_g_per_kwh": scenario.emission_factor_g_per_kwh,
            "outage_slots": sum(community.outage),
            "currency": {
                "code": result.system.deployment.currency,
                "display_decimals": result.system.deployment.currency_decimals,
            },
        },
        "community": _community_json(totals, split),
        "prices": {
            "feed_in": t.feed_in,
            "retail": t.retail,
            "network_fee": t.network_fee,
            **seller_fee,
            "volume_weighted_clearing_price": vwap,
            "min_clearing_price": min((price for price, _ in prices), default=None),
            "max_clearing_price": max((price for price, _ in prices), default=None),
            "slots_with_trade": len(prices),
        },
        "tariff_bands": [_flat(b) for b in accounts.tariff_bands(result)],
        "island": None if island is None else _island_json(island),
        "audit": _audit(result),
        "gas": {
            op: {"count": len(g), "total": sum(g), "mean": sum(g) // len(g)}
            for op, g in sorted(result.gas.items())
            if g
        },
        "households": households,
        "days": [_flat(d) for d in accounts.day_figures(result, slots)],
        "slots": [_flat(s) for s in slots],
    }


# ───────────────────────────── JSON ─────────────────────────────


def _flat(figures: Any) -> dict[str, Any]:
    """A flat dataclass's fields as a dict (field name: value)."""
    return {f.name: getattr(figures, f.name) for f in fields(figures)}


def _money_json(money: HouseholdMoney, split: bool) -> dict[str, Any]:
    """A household's (or the community's) money; `seller_fees` only when the fee is split."""
    out = _flat(money)
    if not split:
        del out["seller_fees"]
    return out


def _household_json(
    home: Home, account: HouseholdAccount, why: str | None, split: bool
) -> dict[str, Any]:
    return {
        "name": home.name,
        "kind": home.kind,
        "critical": home.critical,
        "annual_kwh": int(home.annual_kwh),
        "pv_kwp": None if home.pv is None else home.pv.kwp,
        "battery_kwh": None if home.battery is None else home.battery.capacity_wh / 1000,
        "heat_pump_annual_heat_kwh": home.heat_kwh or None,
        "eagerness_permille": home.eagerness_permille,
        "energy": _flat(account.energy),
        "money": _money_json(HouseholdMoney.of(account), split),
        "why_no_sales": why,
    }


def _community_json(c: CommunityTotals, split: bool) -> dict[str, Any]:
    out: dict[str, Any] = {**_flat(c.energy), **_money_json(c.money, split)}
    for key, value in _flat(c).items():
        if key == "saving_by_kind":
            out[key] = {kind: _flat(k) for kind, k in c.saving_by_kind.items()}
        elif key not in ("energy", "money"):
            out[key] = value
    return out


def _island_json(island: IslandService) -> dict[str, Any]:
    return {
        "outage_slots": island.outage_slots,
        "price_cap": island.price_cap,
        "rule": island.rule,
        "classes": {
            key: {
                **_flat(c),
                "unserved_wh": c.unserved_wh,
                "served_share": c.served_share,
                "filled_share": c.filled_share,
            }
            for key, c in island.classes.items()
        },
    }


def _audit(result: RunResult) -> dict[str, Any] | None:
    """The auditor's verdict on the run: pass/fail, findings per check, every failure."""
    report = result.audit
    if report is None:
        return None
    failures = [{"check": f.check, "slot": f.slot, "message": f.message} for f in report.failures]
    verdict: dict[str, Any] = {
        "passed": report.passed,
        "checks": len(report.findings),
        "failed": len(failures),
        "by_check": {
            name: {"passed": ok, "failed": bad}
            for name, (ok, bad) in sorted(report.summary().items())
        },
        "failures": failures,
    }
    return verdict


# ───────────────────────────── files ─────────────────────────────


def to_json(report: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, fixed indentation, newline at the end."""
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def plots(report: dict[str, Any]) -> dict[str, bytes]:
    """PNG plots (matplotlib, Agg): energy per slot, prices per slot, bills per household."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    slots = report["slots"]
    x = list(range(len(slots)))
    labels = _labels(report)
    step = max(1, len(slots) // 12)
    out: dict[str, bytes] = {}

    def shade(ax: Any) -> None:
        """Grey bands over the outage slots (island mode), labelled once."""
        label = "grid outage"
        k = 0
        while k < len(slots):
            if not slots[k]["outage"]:
                k += 1
                continue
            end = k
            while end + 1 < len(slots) and slots[end + 1]["outage"]:
                end += 1
            ax.axvspan(k - 0.5, end + 0.5, color="grey", alpha=0.2, label=label)
            label = "_nolegend_"
            k = end + 1

    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(x, [s["demand_wh"] / 1000 for s in slots], label="demand")
    ax.plot(x, [s["generation_wh"] / 1000 for s in slots], label="PV generation")
    ax.bar(x, [s["traded_wh"] / 1000 for s in slots], label="traded locally", alpha=0.5)
    ax.plot(x, [s["grid_import_wh"] / 1000 for s in slots], label="bought from grid")
    ax.plot(x, [s["grid_export_wh"] / 1000 for s in slots], label="exported to grid")
    if any(s["unserved_wh"] for s in slots):
        ax.bar(x, [s["unserved_wh"] / 1000 for s in slots], label="unserved", color="red")
    shade(ax)
    ax.set_ylabel("kWh per slot")
    ax.set_xticks(x[::step], labels[::step], rotation=30)
    ax.legend()
    ax.set_title(
        f"{report['scenario']['name']}: community energy per slot from {report['scenario']['date']}"
    )
    out["energy.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(10, 4))
    p = report["prices"]
    ax.axhline(p["retail"] / 1e6, color="red", linestyle="--", label="retail")
    ax.axhline(
        (p["retail"] - p["network_fee"]) / 1e6, color="orange", linestyle=":", label="retail - fee"
    )
    ax.axhline(p["feed_in"] / 1e6, color="green", linestyle="--", label="feed-in")
    if "seller_fee" in p:
        floor = (p["feed_in"] + p["seller_fee"]) / 1e6
        ax.axhline(floor, color="green", linestyle=":", label="feed-in + seller fee")
    ax.plot(
        [i for i, s in zip(x, slots, strict=True) if s["price"] is not None],
        [s["price"] / 1e6 for s in slots if s["price"] is not None],
        "o",
        label="clearing price",
    )
    shade(ax)
    ax.set_ylabel(f"{report['scenario']['currency']['code']} per kWh")
    ax.set_xticks(x[::step], labels[::step], rotation=30)
    ax.legend()
    ax.set_title("clearing prices against the tariffs")
    out["prices.png"] = _png(fig)

    # savings as a distribution per kind: readable at 1,000 households, unlike one bar each
    homes = report["households"]
    fig, ax = plt.subplots(figsize=(10, 4))
    kinds = sorted({h["kind"] for h in homes})
    values = [[h["money"]["saving"] / 1e6 for h in homes if h["kind"] == k] for k in kinds]
    bins = min(40, max(5, len(homes) // 4))
    ax.hist(values, bins=bins, stacked=True, label=[f"{k}s" for k in kinds])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"saving against the grid-only bill ({report['scenario']['currency']['code']})")
    ax.set_ylabel("households")
    ax.legend()
    ax.set_title("how much each household saved: distribution by kind")
    out["bills.png"] = _png(fig)
    return out


def _labels(report: dict[str, Any]) -> list[str]:
    """Slot start labels: the time of day, with the date when the run spans several days."""
    scenario = report["scenario"]
    spd = 86_400 // scenario["slot_seconds"]
    slots = report["slots"]
    first_day = slots[0]["slot"] // spd if slots else 0
    start = date.fromisoformat(scenario["date"])
    many = len({s["slot"] // spd for s in slots}) > 1
    out = []
    for s in slots:
        day = start + timedelta(days=s["slot"] // spd - first_day)
        clock = s["time"][-5:]
        out.append(f"{day:%m-%d} {clock}" if many else clock)
    return out


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def to_html(report: dict[str, Any], images: dict[str, bytes]) -> str:
    """One self-contained page: headline figures, the plots inline, the household table."""
    c, s, p = report["community"], report["scenario"], report["prices"]
    e = html.escape
    currency = Currency(s["currency"]["code"], s["currency"]["display_decimals"])
    money, price = currency.money, currency.price
    fee_split = "seller_fee" in p  # the community splits the fee between buyers and sellers

    def kwh(wh: int) -> str:
        return f"{wh / 1000:,.1f} kWh"

    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{e(str(v))}</td>"
            for v in (
                h["name"],
                h["kind"] + (" (critical)" if h["critical"] else ""),
                kwh(h["energy"]["demand_wh"]),
                kwh(h["energy"]["generation_wh"]),
                _traded(
                    money,
                    h["energy"]["bought_local_wh"],
                    h["money"]["local_charges"] + h["money"]["network_fees"],
                    "retail",
                    h["money"]["retail_value_of_local_purchases"],
                ),
                _traded(
                    money,
                    h["energy"]["sold_local_wh"],
                    h["money"]["local_receipts"],
                    "feed-in",
                    h["money"]["feed_in_value_of_local_sales"],
                ),
                *([money(h["money"]["seller_fees"])] if fee_split else []),
                money(h["money"]["baseline_bill"]),
                money(h["money"]["bill"]),
                money(h["money"]["saving"]),
            )
        )
        + "</tr>"
        for h in report["households"]
    )

    def with_without(key: str) -> str:
        return f"{c[key]:.1%} (without the market {c[key + '_without_market']:.1%})"

    vwap = p["volume_weighted_clearing_price"]
    tariffs = ", ".join(
        f"{label} {price(p[key])}"
        for label, key in (
            ("feed-in", "feed_in"),
            ("retail", "retail"),
            ("fee", "network_fee"),
            *([("seller fee", "seller_fee")] if fee_split else []),
        )
    )
    all_in = c["buyers_all_in_price"]
    split = "; ".join(
        f"{kind}s ({k['households']}): {money(k['saving'])}"
        for kind, k in c["saving_by_kind"].items()
    )
    headline = [
        ("energy traded locally", kwh(c["traded_local_wh"])),
        (
            "local sale share",
            f"{c['local_sale_share']:.1%} of the prosumers' export sold to neighbours; "
            f"{kwh(c['export_to_grid_wh'])} exported to the grid",
        ),
        ("self-sufficiency", with_without("self_sufficiency")),
        ("self-consumption", with_without("self_consumption")),
        ("saving by kind", split),
        (
            "sales concentration",
            f"top seller {c['top_seller_share']:.1%} of local sales; {c['sellers']} sellers; "
            f"{c['prosumers_without_sales']} prosumers sold nothing"
            + "".join(f"; {n}: {why}" for why, n in c["why_no_sales"].items()),
        ),
        (
            "buyers' all-in local price",
            "n/a"
            if all_in is None
            else f"{price(all_in)} (energy + fee) vs retail {price(p['retail'])}",
        ),
        (
            ("fee income", _fee_income(money, c))
            if fee_split
            else ("network fee income", money(c["fee_income"]))
        ),
        ("grid import avoided", kwh(c["grid_import_avoided_wh"])),
        (
            "CO2 avoided",
            f"{c['co2_avoided_g'] / 1000:,.1f} kg at {s['emission_factor_g_per_kwh']} g/kWh",
        ),
        ("community saving", money(c["saving"])),
        (
            "clearing price (volume-weighted)",
            "n/a" if vwap is None else price(vwap),
        ),
        ("tariffs per kWh", tariffs),
    ]
    if report["island"]:
        island = report["island"]
        headline.append(
            (
                "island mode",
                f"{island['outage_slots']} outage slots at a price cap of "
                f"{price(island['price_cap'])}",
            )
        )
        for name, cls in island["classes"].items():
            served = f"served {kwh(cls['served_wh'])} of {kwh(cls['needed_wh'])}"
            filled = f"bids filled {kwh(cls['filled_wh'])} of {kwh(cls['eligible_bid_wh'])}"
            headline.append(
                (
                    f"island: {name} loads",
                    f"{served}, unserved {kwh(cls['unserved_wh'])}; {filled}",
                )
            )
    verdict = report.get("audit")
    if verdict is not None:
        headline.append(("audit", _verdict_line(verdict)))
    facts = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in headline)
    figures = "".join(
        f'<p><img alt="{e(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode()}"></p>'
        for name, data in sorted(images.items())
    )
    gas = "".join(
        _row(op, g["count"], f"{g['mean']:,}", f"{g['total']:,}") for op, g in report["gas"].items()
    )
    weather = s["weather"]
    sky = (
        f"modelled clouds (mean cover {weather['cloudiness']:g})"
        if weather["model"] == "clouds"
        else f"weather from {weather['file']} ({weather['format']})"
    )
    intro = (
        f"{s['households']} households ({s['prosumers']} with PV, {s['batteries']} with "
        f"batteries, {s['heat_pumps']} with heat pumps, {s['critical_loads']} critical loads), "
        f"{s['slots']} slots of {s['slot_seconds']} s from {s['date']}, {sky}, seed {s['seed']}."
    )
    household_head = _row(
        "household",
        "kind",
        "demand",
        "PV",
        "bought locally for (incl. fee)",
        "sold locally for",
        *(["seller fee paid"] if fee_split else []),
        "grid-only bill",
        "bill",
        "saving",
        cell="th",
    )
    gas_head = _row("operation", "count", "mean", "total", cell="th")
    bands_head = _row(
        "grid tariffs",
        "retail",
        "feed-in",
        "slots",
        "bought from the grid",
        "exported to the grid",
        "bought locally",
        "utility bill",
        "bill",
        "grid-only bill",
        "saving",
        cell="th",
    )
    bands = "".join(
        _row(
            _band_name(b, len(report["tariff_bands"])),
            price(b["retail"]),
            price(b["feed_in"]),
            b["slots"],
            kwh(b["grid_import_wh"]),
            kwh(b["grid_export_wh"]),
            kwh(b["bought_local_wh"]),
            money(b["utility_bill"]),
            money(b["bill"]),
            money(b["baseline_bill"]),
            money(b["saving"]),
        )
        for b in report["tariff_bands"]
    )
    title = f"p2penergy simulation: {e(s['name'])}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{_CSS}</style></head>
<body><h1>{title}</h1>
<p>{e(intro)}</p>
<table>{facts}</table>{figures}
<h2>Households: statements</h2>
<p>What each household bought and sold locally, what it paid or received, and what the same
energy would have cost at retail or earned at feed-in; the bill against the grid-only bill.
Per period: <code>p2penergy statement --account ADDRESS</code>.</p>
<table>{household_head}{rows}</table>
<h2>Grid tariffs by time of day</h2>
<p>The utility's tariffs in each band (local time, the end excluded) and what they priced: the
community's grid energy and bills in the band's slots. Local trades clear between the
contract's flat tariffs.</p>
<table>{bands_head}{bands}</table>
<h2>Appendix</h2>
<h3>Gas per operation</h3><table>{gas_head}{gas}</table>
{_audit_html(verdict)}</body></html>
"""


def _fee_income(money: Callable[[int], str], c: dict[str, Any]) -> str:
    """`4.20 EUR (network fees 3.00 EUR from buyers + seller fees 1.20 EUR from sellers)`."""
    return (
        f"{money(c['fee_income'])} (network fees {money(c['network_fees'])} from buyers + "
        f"seller fees {money(c['seller_fees'])} from sellers)"
    )


def _band_name(band: dict[str, Any], bands: int) -> str:
    if band["start"] is not None:
        return f"{band['start']}-{band['end']}"
    return "flat (outside the bands)" if bands > 1 else "flat, every slot"


def _traded(
    money: Callable[[int], str], energy_wh: int, amount: int, tariff: str, at_tariff: int
) -> str:
    """`27.900 kWh for 3.10 EUR (feed-in 2.23 EUR)`, or `-` when nothing was traded."""
    if not energy_wh:
        return "-"
    return f"{format_wh(energy_wh)} for {money(amount)} ({tariff} {money(at_tariff)})"


def _verdict_line(verdict: dict[str, Any]) -> str:
    """One line: PASS/FAIL, how many checks, how many failed."""
    word = "PASS" if verdict["passed"] else "FAIL"
    return f"{word}: {verdict['checks']} checks, {verdict['failed']} failed"


def _audit_html(verdict: dict[str, Any] | None) -> str:
    if verdict is None:
        return ""
    head = _row("check", "passed", "failed", cell="th")
    rows = "".join(_row(k, v["passed"], v["failed"]) for k, v in verdict["by_check"].items())
    failures = "".join(
        _row(f["check"], "" if f["slot"] is None else f["slot"], f["message"])
        for f in verdict["failures"]
    )
    listing = (
        f"<h3>Failures</h3><table>{_row('check', 'slot', 'message', cell='th')}{failures}</table>"
        if failures
        else ""
    )
    return (
        f"<h3>Audit: {html.escape(_verdict_line(verdict))}</h3>"
        f"<table>{head}{rows}</table>{listing}\n"
    )


_CSS = (
    "body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{text-align:left}"
)


def _row(*values: object, cell: str = "td") -> str:
    return "<tr>" + "".join(f"<{cell}>{html.escape(str(v))}</{cell}>" for v in values) + "</tr>"


class ReportNotWritable(P2PEnergyError, OSError):
    """The report folder cannot be created or written."""


def check_writable(folder: Path) -> None:
    """Creates `folder` if needed and proves a file can be written in it (checked before a long
    simulation, not after); raises `ReportNotWritable` otherwise."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ReportNotWritable(f"--out {folder} is not writable: {exc.strerror or exc}") from None


def write(report: dict[str, Any], folder: Path, *, with_plots: bool = True) -> list[Path]:
    """Writes report.json, the PNG plots and report.html into `folder`; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "report.json"]
    paths[0].write_text(to_json(report))
    images = plots(report) if with_plots else {}
    for name, data in sorted(images.items()):
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    page = folder / "report.html"
    page.write_text(to_html(report, images))
    paths.append(page)
    return paths
