"""A deployment names its currency; address books written before read as EUR with 2 decimals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from p2penergy.chain.deploy import Deployment
from p2penergy.units import Currency

OLD_BOOK = {
    "chain_id": 1337,
    "addresses": {"EnergyMarket": "0x" + "11" * 20},
    "blocks": {"EnergyMarket": 3},
    "admin": "0x" + "22" * 20,
    "gas_used": {},
}


def test_an_address_book_without_a_currency_reads_as_eur_and_keeps_one_when_saved(
    tmp_path: Path,
) -> None:
    (tmp_path / "1337.json").write_text(json.dumps(OLD_BOOK))
    book = Deployment.load(tmp_path, 1337)
    assert book.money == Currency("EUR", 2)
    chf = Deployment(**{**OLD_BOOK, "currency": "CHF", "currency_decimals": 2})
    chf.save(tmp_path / "new")
    assert Deployment.load(tmp_path / "new", 1337).money.money(1_234_567) == "1.23 CHF"


def test_more_display_decimals_than_base_units_are_refused() -> None:
    with pytest.raises(ValueError):
        Currency("EUR", 7)


@pytest.mark.parametrize("code", ["eur", "EURO", "E1R", "", "€"])
def test_a_currency_code_is_three_capital_letters(code: str) -> None:
    with pytest.raises(ValueError, match="not three capital letters"):
        Currency(code, 2)
    assert Currency("JPY", 0).money(1_499_999) == "1 JPY"
