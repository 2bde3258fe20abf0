"""The audit HTML's review list names kinds, decodes payment references and shows credits."""

from __future__ import annotations

from p2penergy.audit.report import describe_args, payment_ref_text


def test_payment_references_written_as_text_read_as_text_and_others_stay_hex() -> None:
    text_ref = "0x" + b"INV-2026-0042".ljust(32, b"\0").hex()
    assert payment_ref_text(text_ref) == '"INV-2026-0042"'
    hashed = "0x" + "ab" * 32
    assert payment_ref_text(hashed) == hashed


def test_review_arguments_name_the_kind_and_the_amount_in_credits() -> None:
    line = describe_args(
        {"account": "0xabc", "kind": 2, "criticalLoad": False, "amount": 1_500_000}
    )
    assert line == (
        "account=0xabc, kind=prosumer, criticalLoad=False, amount=1.500000 credits "
        "(1500000 base units)"
    )
