"""The one retry loop of the services: `Backoff.attempt` (no chain, no sleeping: a set stop
event makes every wait return at once)."""

from __future__ import annotations

import threading

import pytest

from p2penergy._retry import RETRIED, Backoff
from p2penergy.exceptions import ContractRevert, NodeUnreachable, OutboxWriteFailed


def _stopped() -> threading.Event:
    stop = threading.Event()
    stop.set()
    return stop


def _fails(exc: Exception):  # type: ignore[no-untyped-def]
    def work() -> int:
        raise exc

    return work


def test_a_transient_failure_is_retried_with_the_delay_doubling_up_to_the_maximum():
    backoff = Backoff(maximum=8.0)
    told: list[float] = []
    for _ in range(5):
        outcome = backoff.attempt(
            _fails(ConnectionError()), _stopped(), on_retry=lambda _e, d: told.append(d)
        )
        assert outcome is RETRIED
    assert told == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_success_returns_the_value_and_resets_the_delay():
    backoff = Backoff(maximum=8.0, initial=2.0)
    backoff.attempt(_fails(TimeoutError()), _stopped())
    assert backoff.delay == 4.0
    assert backoff.attempt(lambda: 42, _stopped()) == 42
    assert backoff.delay == 2.0


def test_a_full_outbox_disk_is_transient_but_a_contract_refusal_is_not():
    backoff = Backoff()
    assert backoff.attempt(_fails(OutboxWriteFailed("x.db", "disk full")), _stopped()) is RETRIED
    refusal = ContractRevert("MarketGateOpen", {"slot": 1})
    with pytest.raises(ContractRevert) as raised:
        backoff.attempt(_fails(refusal), _stopped())
    assert raised.value is refusal


def test_a_caller_may_say_what_is_transient():
    backoff = Backoff()
    assert backoff.attempt(_fails(KeyError()), _stopped(), transient=lambda e: True) is RETRIED
    with pytest.raises(ConnectionError):
        backoff.attempt(_fails(ConnectionError()), _stopped(), transient=lambda e: False)


def test_failures_for_longer_than_give_up_after_raise_node_unreachable():
    backoff = Backoff(give_up_after=0.0)
    with pytest.raises(NodeUnreachable) as raised:
        backoff.attempt(_fails(ConnectionError()), _stopped())
    assert isinstance(raised.value.__cause__, ConnectionError)


def test_a_non_transient_failure_asks_health_whether_the_chain_changed_first():
    calls: list[str] = []

    def health() -> None:
        calls.append("health")
        raise NodeUnreachable("http://x", "down")  # not a mismatch: the original error wins

    with pytest.raises(ValueError):
        Backoff().attempt(_fails(ValueError("garbage")), _stopped(), health=health)
    assert calls == ["health"]


def test_the_wait_ends_early_when_stop_is_set():
    stop = threading.Event()
    backoff = Backoff(maximum=60.0, initial=60.0)
    timer = threading.Timer(0.05, stop.set)
    timer.start()
    assert backoff.attempt(_fails(ConnectionError()), stop) is RETRIED  # not 60 s
    timer.join()
