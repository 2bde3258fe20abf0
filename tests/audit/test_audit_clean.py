"""A clean simulated day audits green; the report names slots and households."""

from __future__ import annotations

from p2penergy.audit import audit

from .conftest import TOPUP_REF, Day


def test_a_clean_simulated_day_audits_green(day: Day) -> None:
    report = audit(day.d.system, topups={TOPUP_REF: (None, None)})
    assert report.failures == [], "\n".join(f.message for f in report.failures)
    summary = report.summary()
    for check in ("clearing", "readings", "settlement", "escrow", "certificates", "bytecode"):
        assert summary[check][0] > 0, check
    assert [s.slot for s in report.slots if s.status == "settled"] == day.slots
    assert all(s.price and s.volume_wh for s in report.slots)
