"""The household ledger: exact local split, per-slot grid rounding, saving identities."""

from __future__ import annotations

from p2penergy.domain.orders import Side
from p2penergy.ledger import Entry, Fill, SlotInput, Tariffs, slot_entries, statements
from p2penergy.sim import accounting as a
from p2penergy.units import Currency, energy_json, money_json

JANE, NEIGHBOUR, OTHER = "0xJANE", "0xneighbour", "0xother"
TARIFFS = Tariffs(feed_in=80_000, retail=300_001)


def slot(number: int) -> SlotInput:
    """Jane metered 1,200 Wh of export; the buyers absorbed only 1,000 Wh (T = 1,000)."""
    return SlotInput(
        slot=number,
        tariffs=TARIFFS,
        traded_wh=1_000,
        fills=(
            Fill((number << 16) + 2, NEIGHBOUR, Side.BID, 600, 600, 90_000, 30_000, 5_000),
            Fill((number << 16) + 1, JANE, Side.OFFER, 1_200, 1_000, 150_000),
            Fill((number << 16) + 3, OTHER, Side.BID, 400, 400, 60_000, 20_000, 0),
        ),
        meters={JANE: (0, 1_200), NEIGHBOUR: (701, 0), OTHER: (400, 0)},
    )


def test_jane_is_paid_for_what_the_buyers_absorbed_and_the_rest_goes_to_the_grid() -> None:
    jane = slot_entries(slot(7))[JANE.lower()]
    assert (jane.sold_local_wh, jane.grid_export_wh) == (1_000, 200)
    assert jane.receipts == 150_000
    assert jane.feed_in_value == 80_000  # the same 1 kWh at feed-in
    assert jane.utility_bill == -16_000  # 200 Wh exported to the grid at feed-in
    assert jane.saving == 150_000 - 80_000


def test_a_seller_fee_comes_off_janes_receipt_bill_and_saving() -> None:
    base = slot(7)
    with_fee = SlotInput(
        base.slot,
        base.tariffs,
        base.traded_wh,
        tuple(
            Fill(f.order_id, f.owner, f.side, f.metered_wh, f.certificate_wh, f.amount, 9_999)
            if f.side == Side.OFFER
            else f
            for f in base.fills
        ),
        base.meters,
    )
    plain, jane = slot_entries(base)[JANE.lower()], slot_entries(with_fee)[JANE.lower()]
    assert (jane.receipts, jane.seller_fees, jane.net_receipts) == (150_000, 9_999, 140_001)
    assert jane.credits_moved == plain.credits_moved - 9_999 == 140_001
    assert jane.bill == plain.bill + 9_999
    assert jane.saving == plain.saving - 9_999
    assert jane.as_dict()["seller_fees"] == 9_999
    # the buyers' figures do not change
    assert slot_entries(with_fee)[NEIGHBOUR] == slot_entries(base)[NEIGHBOUR]


def test_grid_charges_round_up_and_credits_down_per_slot() -> None:
    neighbour = slot_entries(slot(7))[NEIGHBOUR]
    # 101 Wh from the grid at 300,001 per kWh = 30,300.101 -> 30,301 (rounded up, per slot)
    assert neighbour.utility_bill == 30_301
    assert neighbour.baseline_bill == 210_301  # 701 Wh x 300,001 = 210,300.701 -> up
    assert neighbour.retail_value == 210_301 - 30_301
    assert neighbour.saving == neighbour.retail_value - neighbour.paid
    # two slots are billed as two slots: the period is the sum of its slots, to the base unit
    book = statements([slot(7), slot(8)])[NEIGHBOUR]
    assert book.total.utility_bill == 2 * 30_301
    assert book.total == book.slots[0].entry + book.slots[1].entry


def test_bought_equals_sold_equals_traded_in_every_slot() -> None:
    lopsided = SlotInput(
        slot=1,
        tariffs=TARIFFS,
        traded_wh=701,  # T <= min(D = 758, A = 1,734)
        fills=tuple(
            Fill(i, f"0x{i}", Side.BID if i % 2 else Side.OFFER, w, 0, 0)
            for i, w in enumerate([13, 400, 77, 1_000, 333, 334, 335])
        ),
    )
    entries = slot_entries(lopsided).values()
    assert sum(e.bought_local_wh for e in entries) == 701
    assert sum(e.sold_local_wh for e in entries) == 701
    assert Entry().saving == 0


def test_currency_renders_money_and_json_keeps_base_units_beside_decimals() -> None:
    eur = Currency()
    assert eur.money(879_958) == "0.88 EUR"
    assert eur.money(-152_000) == "-0.15 EUR"
    assert eur.money(-4_000) == "0.00 EUR"
    assert eur.price(65_863) == "0.0659 EUR/kWh"
    assert Currency("CHF", 0).money(1_500_000) == "2 CHF"
    assert money_json(-152_000) == {"baseUnits": -152_000, "decimal": "-0.152000"}
    assert energy_json(1_250) == {"wh": 1_250, "kwh": "1.250"}


def test_a_prosumer_that_sold_nothing_is_told_why() -> None:
    def settled(filled: int, metered: int, certificate: int) -> dict[str, int]:
        return {"filledWh": filled, "meteredWh": metered, "certificateWh": certificate}

    assert a.no_sales_reason([]) == a.NO_OFFER
    assert a.no_sales_reason([settled(0, 0, 0), None]) == a.NOT_MATCHED
    assert a.no_sales_reason([settled(500, 0, 0)]) == a.NOTHING_DELIVERED
    assert a.no_sales_reason([settled(500, 400, 0)]) == a.NOTHING_ABSORBED
    assert a.no_sales_reason([settled(0, 0, 0), settled(500, 400, 1)]) is None
