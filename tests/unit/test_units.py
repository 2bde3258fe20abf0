import pytest

from p2penergy.units import format_credits, format_wh, parse_credits, parse_kwh


def test_parse_credits_is_exact_to_the_base_unit():
    assert parse_credits("12.345678") == 12_345_678
    assert parse_credits("0.000001") == 1
    assert parse_credits("1_000") == 1_000_000_000


@pytest.mark.parametrize("text", ["1.0000001", "abc", "NaN", "inf", ""])
def test_parse_credits_refuses_what_is_not_an_exact_amount(text):
    with pytest.raises(ValueError):
        parse_credits(text)


def test_parse_kwh_converts_to_whole_wh_and_refuses_fractions_of_a_wh():
    assert parse_kwh("1.25") == 1250
    with pytest.raises(ValueError, match="more than 3 decimals"):
        parse_kwh("0.0005")


def test_format_round_trips():
    assert format_credits(-1_500_001) == "-1.500001"
    assert parse_credits(format_credits(987_654_321).replace(",", "")) == 987_654_321
    assert format_wh(1250) == "1.250 kWh"
