"""Exact unit conversions: Wh, credit base units (6 decimals), prices per kWh. No floats."""

from __future__ import annotations

from dataclasses import dataclass
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


# ───────────────────────────── currency ─────────────────────────────

DEFAULT_CURRENCY = "EUR"
DEFAULT_CURRENCY_DECIMALS = 2


@dataclass(frozen=True, slots=True)
class Currency:
    """The community's currency: one credit is one unit of it (`code`), shown with `decimals`
    places to people; amounts stay exact integers of credit base units (6 decimals) inside."""

    code: str = DEFAULT_CURRENCY
    decimals: int = DEFAULT_CURRENCY_DECIMALS

    def __post_init__(self) -> None:
        if not _is_currency_code(self.code):
            raise ValueError(
                f"currency code {self.code!r} is not three capital letters (ISO 4217, e.g. EUR)"
            )
        if not 0 <= self.decimals <= CREDIT_DECIMALS:
            raise ValueError(f"currency decimals {self.decimals} not within 0..{CREDIT_DECIMALS}")

    def money(self, base_units: int) -> str:
        """`879_958` -> `"0.88 EUR"` (rounded half away from zero to the display decimals)."""
        return f"{_rounded(base_units, CREDIT_DECIMALS - self.decimals, self.decimals)} {self.code}"

    def price(self, per_kwh: int) -> str:
        """A price per kWh, two more decimals than money: `65_863` -> `"0.0659 EUR/kWh"`."""
        shown = min(self.decimals + 2, CREDIT_DECIMALS)
        return f"{_rounded(per_kwh, CREDIT_DECIMALS - shown, shown)} {self.code}/kWh"


def _is_currency_code(code: object) -> bool:
    return isinstance(code, str) and len(code) == 3 and all("A" <= c <= "Z" for c in code)


def _rounded(value: int, drop: int, decimals: int) -> str:
    step = 10**drop
    magnitude = (abs(value) + step // 2) // step
    whole, frac = divmod(magnitude, 10**decimals)
    sign = "-" if value < 0 and magnitude else ""
    return f"{sign}{whole:,}" + (f".{frac:0{decimals}d}" if decimals else "")


def decimal_credits(base_units: int) -> str:
    """The exact decimal string of an amount (no separators): `-152_000` -> `"-0.152000"`."""
    sign = "-" if base_units < 0 else ""
    whole, frac = divmod(abs(base_units), BASE_UNITS_PER_CREDIT)
    return f"{sign}{whole}.{frac:0{CREDIT_DECIMALS}d}"


def decimal_kwh(energy_wh: int) -> str:
    """The exact kWh string of an energy: `1250` -> `"1.250"`."""
    sign = "-" if energy_wh < 0 else ""
    whole, frac = divmod(abs(energy_wh), 1000)
    return f"{sign}{whole}.{frac:03d}"


def money_json(base_units: int) -> dict[str, int | str]:
    """An amount for `--json`: base units and the exact decimal string side by side."""
    return {"baseUnits": base_units, "decimal": decimal_credits(base_units)}


def energy_json(energy_wh: int) -> dict[str, int | str]:
    """An energy for `--json`: Wh and the exact kWh string side by side."""
    return {"wh": energy_wh, "kwh": decimal_kwh(energy_wh)}
