"""Presenting a Report: terminal summary (rich), JSON file, self-contained HTML with SVG plots.

The HTML has no external resources (no scripts, fonts or images): the plots are inline SVG
drawn here, so the file can be archived and opened anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from p2penergy.audit.service import Report
from p2penergy.units import format_credits

CREDIT_UNIT = 1_000_000  # base units per credit (6 decimals)
MAX_ROWS = 40  # failures shown in the terminal


def print_summary(report: Report, console: Console) -> None:
    """Checks passed/failed per kind, the failures (slot, party, amount), governance findings."""
    verdict = "[green]PASS[/green]" if report.passed else "[red]FAIL[/red]"
    console.print(
        f"Audit of chain {report.chain_id}, blocks {report.from_block}..{report.to_block} "
        f"({report.fetched_blocks} new blocks read): {verdict}"
    )
    table = Table(title="Checks")
    for column in ("check", "passed", "failed"):
        table.add_column(column, justify="left" if column == "check" else "right")
    for name, (ok, bad) in sorted(report.summary().items()):
        table.add_row(name, str(ok), f"[red]{bad}[/red]" if bad else "0")
    console.print(table)
    if report.failures:
        failures = Table(title="Failures")
        for column in ("check", "slot", "party", "amount", "what"):
            failures.add_column(column)
        for f in report.failures[:MAX_ROWS]:
            failures.add_row(
                f.check,
                "" if f.slot is None else str(f.slot),
                f.party or "",
                "" if f.amount is None else str(f.amount),
                escape_markup(f.message),
            )
        console.print(failures)
        if len(report.failures) > MAX_ROWS:
            console.print(f"... and {len(report.failures) - MAX_ROWS} more (see --json/--html)")
    governance = [f for f in report.findings if f.severity is not None]
    if governance:
        warnings = sum(1 for f in governance if f.severity == "warning")
        table = Table(title=f"Governance ({len(governance)} findings, {warnings} warnings)")
        for column in ("block", "severity", "what"):
            table.add_column(column)
        for f in governance[-MAX_ROWS:]:
            colour = "yellow" if f.severity == "warning" else "cyan"
            table.add_row(
                "" if f.block is None else str(f.block),
                f"[{colour}]{f.severity}[/{colour}]",
                escape_markup(f.message),
            )
        console.print(table)
        if len(governance) > MAX_ROWS:
            console.print(f"(the last {MAX_ROWS} shown; all in --json/--html)")


def escape_markup(text: str) -> str:
    """Text safe for rich markup."""
    return text.replace("[", r"\[")


def write_json(report: Report, path: Path) -> None:
    """Writes the JSON report."""
    path.write_text(json.dumps(report.as_dict(), indent=2, sort_keys=True, default=str) + "\n")


# ───────────────────────────── HTML ─────────────────────────────

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}
.fail{color:#b00020;font-weight:bold}.pass{color:#137333;font-weight:bold}
svg{background:#fafafa;border:1px solid #ddd;margin:0.5em 0}
"""
_W, _H, _PAD = 720, 260, 50
_COLORS = ("#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd")


def line_chart(title: str, xs: Sequence[int], series: dict[str, Sequence[float]], unit: str) -> str:
    """An inline SVG line chart (one polyline per series)."""
    values = [v for s in series.values() for v in s] or [0.0]
    lo, hi = min(0.0, min(values)), max(values) or 1.0
    n = max(len(xs) - 1, 1)

    def px(i: int) -> float:
        return _PAD + (_W - 2 * _PAD) * i / n

    def py(v: float) -> float:
        return _H - _PAD - (_H - 2 * _PAD) * (v - lo) / ((hi - lo) or 1.0)

    parts = [_frame(title, lo, hi, unit)]
    for k, (name, ys) in enumerate(series.items()):
        color = _COLORS[k % len(_COLORS)]
        points = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(ys))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>')
        for i, v in enumerate(ys):
            parts.append(f'<circle cx="{px(i):.1f}" cy="{py(v):.1f}" r="2.5" fill="{color}"/>')
        parts.append(_legend(k, name, color))
    parts.extend(_x_labels([str(x) for x in xs], px))
    return _svg(parts)


def bar_chart(
    title: str, labels: Sequence[str], series: dict[str, Sequence[float]], unit: str
) -> str:
    """An inline SVG grouped bar chart; negative values hang below the zero line."""
    values = [v for s in series.values() for v in s] or [0.0]
    lo, hi = min(0.0, min(values)), max(0.0, max(values)) or 1.0
    groups = max(len(labels), 1)
    width = (_W - 2 * _PAD) / groups
    bar = width * 0.8 / max(len(series), 1)

    def py(v: float) -> float:
        return _H - _PAD - (_H - 2 * _PAD) * (v - lo) / ((hi - lo) or 1.0)

    parts = [_frame(title, lo, hi, unit)]
    zero = py(0.0)
    for k, (name, ys) in enumerate(series.items()):
        color = _COLORS[k % len(_COLORS)]
        for i, v in enumerate(ys):
            x = _PAD + i * width + width * 0.1 + k * bar
            top, bottom = sorted((py(v), zero))
            parts.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{bar:.1f}" height="{bottom - top:.1f}" '
                f'fill="{color}"><title>{escape(name)} {escape(labels[i])}: {v:g}</title></rect>'
            )
        parts.append(_legend(k, name, color))
    parts.extend(_x_labels(list(labels), lambda i: _PAD + (i + 0.5) * width))
    return _svg(parts)


def _frame(title: str, lo: float, hi: float, unit: str) -> str:
    return (
        f'<text x="{_PAD}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>'
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#999"/>'
        f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#999"/>'
        f'<text x="4" y="{_PAD}" font-size="10">{hi:g}</text>'
        f'<text x="4" y="{_H - _PAD}" font-size="10">{lo:g}</text>'
        f'<text x="4" y="{_PAD - 12}" font-size="10">{escape(unit)}</text>'
    )


def _legend(k: int, name: str, color: str) -> str:
    x = _W - _PAD - 150
    y = 20 + 14 * k
    return (
        f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
        f'<text x="{x + 14}" y="{y}" font-size="11">{escape(name)}</text>'
    )


def _x_labels(labels: list[str], px: Callable[[int], float]) -> list[str]:
    step = max(1, len(labels) // 12)
    return [
        f'<text x="{px(i):.1f}" y="{_H - _PAD + 14}" font-size="10" '
        f'text-anchor="middle">{escape(label)}</text>'
        for i, label in enumerate(labels)
        if i % step == 0
    ]


def _svg(parts: list[str]) -> str:
    body = "".join(parts)
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}">{body}</svg>'


def render_html(report: Report) -> str:
    """The self-contained HTML report."""
    verdict = (
        '<span class="pass">PASS</span>' if report.passed else '<span class="fail">FAIL</span>'
    )
    cleared = [s for s in report.slots if s.price is not None]
    xs = [s.slot for s in cleared]
    charts = [
        line_chart(
            "Clearing price vs tariffs per slot",
            xs,
            {
                "clearing price": [(s.price or 0) / CREDIT_UNIT for s in cleared],
                "feed-in tariff": [s.feed_in / CREDIT_UNIT for s in cleared],
                "retail tariff": [s.retail / CREDIT_UNIT for s in cleared],
            },
            "credits/kWh",
        ),
        bar_chart(
            "Volume per slot",
            [str(x) for x in xs],
            {
                "cleared Wh": [float(s.volume_wh) for s in cleared],
                "traded (metered) Wh": [float(s.traded_wh) for s in cleared],
            },
            "Wh",
        ),
        bar_chart(
            "Bill per household vs grid-only baseline",
            [h.account[:8] for h in report.households],
            {
                "with local trading": [h.bill / CREDIT_UNIT for h in report.households],
                "grid only": [h.baseline / CREDIT_UNIT for h in report.households],
            },
            "credits",
        ),
    ]
    rows = "".join(
        f"<tr><td>{escape(n)}</td><td>{ok}</td><td{' class=fail' if bad else ''}>{bad}</td></tr>"
        for n, (ok, bad) in sorted(report.summary().items())
    )
    failures = "".join(
        f"<tr><td>{escape(f.check)}</td><td>{'' if f.slot is None else f.slot}</td>"
        f"<td>{escape(f.party or '')}</td><td>{'' if f.amount is None else f.amount}</td>"
        f"<td style='text-align:left'>{escape(f.message)}</td></tr>"
        for f in report.failures
    )
    slots = "".join(
        f"<tr><td>{s.slot}</td><td>{s.status}</td><td>{s.orders}</td><td>{s.price or ''}</td>"
        f"<td>{s.volume_wh}</td><td>{s.traded_wh}</td><td>{s.escrowed}</td><td>{s.held}</td></tr>"
        for s in report.slots
    )
    homes = "".join(
        f"<tr><td>{escape(h.account)}</td><td>{h.imported_wh}</td><td>{h.exported_wh}</td>"
        f"<td>{h.bought_wh}</td><td>{h.sold_wh}</td><td>{h.bill}</td><td>{h.baseline}</td></tr>"
        for h in report.households
    )
    governance = "".join(
        f"<tr><td>{'' if f.block is None else f.block}</td><td>{escape(f.severity or '')}</td>"
        f"<td style='text-align:left'>{escape(f.message)}</td></tr>"
        for f in report.findings
        if f.severity is not None
    )
    review = "".join(
        f"<tr><td>{r['block']}</td><td>{escape(str(r['contract']))}</td>"
        f"<td>{escape(str(r['event']))}</td>"
        f"<td style='text-align:left'>{escape(describe_args(r['args']))}</td></tr>"
        for r in report.review
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>p2penergy audit</title>
<style>{_CSS}</style></head><body>
<h1>p2penergy audit: {verdict}</h1>
<p>Chain {report.chain_id}, blocks {report.from_block}..{report.to_block}.
Filters: {escape(json.dumps(report.filters))}</p>
<h2>Checks</h2><table><tr><th>check</th><th>passed</th><th>failed</th></tr>{rows}</table>
<h2>Failures</h2><table><tr><th>check</th><th>slot</th><th>party</th><th>amount</th>
<th>what</th></tr>{failures}</table>
<h2>Plots</h2>{"".join(charts)}
<h2>Slots</h2><table><tr><th>slot</th><th>status</th><th>orders</th><th>price /kWh</th>
<th>cleared Wh</th><th>traded Wh</th><th>escrowed</th><th>held</th></tr>{slots}</table>
<h2>Households</h2><p>Money in credit base units; the baseline buys every imported Wh at retail
and sells every exported Wh at feed-in.</p>
<table><tr><th>account</th><th>import Wh</th><th>export Wh</th><th>bought Wh</th>
<th>sold Wh</th><th>bill</th><th>grid-only</th></tr>{homes}</table>
<h2>Governance</h2><table><tr><th>block</th><th>severity</th><th>what</th></tr>
{governance}</table>
<h2>For review</h2><table><tr><th>block</th><th>contract</th><th>event</th><th>details</th></tr>
{review}</table>
</body></html>
"""


def write_html(report: Report, path: Path) -> None:
    """Writes the self-contained HTML report."""
    path.write_text(render_html(report))


_KIND_NAMES = {1: "consumer", 2: "prosumer", 3: "service"}  # the registry's Kind enum


def payment_ref_text(ref: str) -> str:
    """A bytes32 payment reference as people wrote it: its text when it is printable ASCII
    padded with zero bytes (how `load_topups` encodes text references), else the hex."""
    raw = bytes.fromhex(ref.removeprefix("0x")) if ref.startswith("0x") else b""
    text = raw.rstrip(b"\0")
    if len(raw) == 32 and text and all(32 <= b < 127 for b in text):
        return f'"{text.decode()}"'
    return ref


def describe_args(args: dict[str, Any]) -> str:
    """A review event's arguments for people: kinds by name, payment references decoded,
    amounts as credits; role names stay as the history decoded them."""
    parts = []
    for key, value in args.items():
        if key == "kind" and isinstance(value, int):
            shown = _KIND_NAMES.get(value, str(value))
        elif key == "paymentRef" and isinstance(value, str):
            shown = payment_ref_text(value)
        elif key == "amount" and isinstance(value, int):
            shown = f"{format_credits(value)} credits ({value} base units)"
        else:
            shown = str(value)
        parts.append(f"{key}={shown}")
    return ", ".join(parts)
