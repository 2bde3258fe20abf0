"""How the keeper names what it did to a slot (no chain: the race rule is pure)."""

from __future__ import annotations

import pytest

from p2penergy.keeper import Action, Outcome
from p2penergy.keeper.keeper import after_race


def test_outcomes_print_as_the_words_the_cli_shows():
    assert [str(o) for o in Outcome] == [
        "cleared",
        "settled",
        "expired",
        "done by another keeper",
        "waiting",
        "finished",
        "retrying",
        "refused",
    ]
    assert f"{Outcome.DONE_BY_OTHER}" == "done by another keeper"


@pytest.mark.parametrize(
    ("outcome", "slot_status", "finished"),
    [
        (Outcome.FINISHED, None, True),
        (Outcome.SETTLED, None, True),
        (Outcome.EXPIRED, None, True),
        (Outcome.DONE_BY_OTHER, "settled", True),
        (Outcome.DONE_BY_OTHER, "cleared", False),
        (Outcome.CLEARED, None, False),
        (Outcome.WAITING, None, False),
        (Outcome.RETRYING, None, False),
        (Outcome.REFUSED, None, False),
    ],
)
def test_a_slot_is_dropped_from_the_watch_only_once_settled(outcome, slot_status, finished):
    assert Action(7, outcome, slot_status=slot_status).finished is finished


def test_a_slot_whose_status_moved_was_done_by_another_keeper():
    action = after_race(7, "open", "cleared", "MarketWrongSlotStatus")
    assert action == Action(
        7, Outcome.DONE_BY_OTHER, "MarketWrongSlotStatus; slot is cleared", "cleared"
    )
    assert after_race(7, "cleared", "settled", "reverted on chain").finished


def test_a_passed_clearing_deadline_waits_for_expiry_and_anything_else_is_retried():
    assert after_race(7, "open", "open", "MarketClearingDeadlinePassed").outcome is Outcome.WAITING
    retry = after_race(7, "open", "open", "reverted on chain")
    assert retry.outcome is Outcome.RETRYING and retry.detail.endswith("still open")
