"""Exact unit conversions: Wh, credit base units (6 decimals), prices per kWh. No floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

CREDIT_DECIMALS = 6
BASE_UNITS_PER_CREDIT = 10**CREDIT_DECIMALS
# Sanity limits of typed amounts (docs/proofs.md): far above any real use, far inside the
# contracts' integer fields, so a slip of the finger (1e30) is refused before anything is signed.
MAX_CREDITS = 10**9  # one billion credits
MAX_KWH = 4_294_967  # an order's energy is a uint32 of Wh


def format_credits(base_units: int) -> str:
    """`12_345_678` -> `"12.345678"` (exact)."""
    sign = "-" if base_units < 0 else ""
    whole, frac = divmod(abs(base_units), BASE_UNITS_PER_CREDIT)
    return f"{sign}{whole:,}.{frac:0{CREDIT_DECIMALS}d}"


def parse_credits(text: str) -> int:
    """`"12.5"` -> `12_500_000` base units; refuses more than 6 decimals, non-numbers and
    amounts above `MAX_CREDITS` (either sign)."""
    return _parse_fixed(text, CREDIT_DECIMALS, "credit amount", MAX_CREDITS)


def parse_kwh(text: str) -> int:
    """`"1.25"` kWh -> `1250` Wh; refuses fractions of a Wh and more than `MAX_KWH`."""
    return _parse_fixed(text, 3, "energy in kWh", MAX_KWH)


def format_wh(energy_wh: int) -> str:
    """`1250` -> `"1.250 kWh"`."""
    whole, frac = divmod(abs(energy_wh), 1000)
    return f"{'-' if energy_wh < 0 else ''}{whole:,}.{frac:03d} kWh"


def _parse_fixed(text: str, decimals: int, what: str, limit: int) -> int:
    try:
        value = Decimal(text.strip().replace("_", ""))
    except InvalidOperation:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{what} {text!r} is not a number")
    if abs(value) > limit:
        raise ValueError(f"{what} {text!r} is above the sanity limit of {limit:,}")
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {text!r} has more than {decimals} decimals")
    return int(scaled)
