"""The pure domain: the order id and word codec, the slot grid (no chain)."""

from __future__ import annotations

import pytest

from p2penergy.domain.orders import OrderWord, Side, index_of, order_id, slot_of
from p2penergy.domain.participants import KIND_NAMES, KINDS, Kind
from p2penergy.domain.slots import OffGrid, SlotGrid, epoch_at_midnight


def test_an_order_id_is_its_slot_and_its_place_in_time():
    oid = order_id(1_234, 7)
    assert oid == 1_234 * 65_536 + 7
    assert (slot_of(oid), index_of(oid)) == (1_234, 7)


@pytest.mark.parametrize("cancelled", [False, True])
def test_an_order_word_round_trips_at_the_widths_of_its_fields(cancelled: bool):
    word = OrderWord(
        owner=2**160 - 1,
        side=Side.OFFER,
        energy_wh=2**32 - 1,
        limit_price=2**32 - 2,
        fee_per_kwh=2**24 - 1,
        cancelled=cancelled,
        critical=True,
    )
    packed = word.pack()
    assert packed < 2**251
    assert OrderWord.unpack(packed) == word


def test_kinds_are_numbered_as_the_registry_numbers_them():
    assert KINDS == {"consumer": 1, "prosumer": 2, "service": 3}
    assert KIND_NAMES[int(Kind.SERVICE)] == "service"


GRID = SlotGrid(epoch=1_000_000 - 1_000_000 % 86_400, slot_length=900, gate_closure=300, window=60)


def test_a_slot_start_maps_to_its_slot_and_a_time_off_the_grid_is_typed():
    assert GRID.slot_at(GRID.start(5)) == 5
    with pytest.raises(OffGrid) as off:
        GRID.slot_at(GRID.start(5) + 10)
    assert not off.value.before_epoch and off.value.previous_start == GRID.start(5)
    with pytest.raises(OffGrid) as early:
        GRID.slot_at(GRID.epoch - 900)
    assert early.value.before_epoch and isinstance(early.value, ValueError)


def test_gates_and_reading_windows_follow_the_grid():
    assert GRID.gate_closes_at(2) == GRID.start(2) - 300
    assert GRID.is_open(2, GRID.start(2) - 301) and not GRID.is_open(2, GRID.start(2) - 300)
    assert GRID.next_open_slot(GRID.start(2) - 300) == 3
    assert (GRID.opens_at(2), GRID.closes_at(2)) == (GRID.start(3), GRID.start(3) + 60)
    assert epoch_at_midnight(GRID.epoch + 86_399) == GRID.epoch
