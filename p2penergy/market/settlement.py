"""Min-of-two pool settlement: who is paid, charged, refunded and credited certificates.

The rules are in docs/market-rules.md ("Settlement"). Sellers are paid only for energy their
meters prove they exported, buyers are charged only for energy their meters prove they imported,
and the traded energy is the smaller of the two pools. Rounding favours nobody but the rounding
account: receipts round down, charges and buyers' fees round up. A seller's fee rounds down and
is capped at its receipt, so a seller never pays more than it receives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from p2penergy.market._utils import ceil_div, in_id_order
from p2penergy.market.clearing import escrow_for
from p2penergy.market.models import Clearing, MarketInputError, Order, Side


@dataclass(frozen=True, slots=True)
class SettlementLine:
    """One order's settlement.

    For an offer, `delivered_wh` is `d_i`, `energy_wh` the certificate Wh it gives (`s_i`),
    `amount` its gross receipt (`r_i`) and `fee` its seller fee (`f_i ≤ r_i`); it is paid
    `amount - fee` (`paid`). For a bid, `delivered_wh` is the absorbed `a_j`, `energy_wh` the
    certificate Wh it receives (`b_j`), `amount` its energy charge (`c_j`), `fee` its network fee
    (`φ_j`), and `escrow - amount - fee` comes back as `refund`.
    """

    order_id: int
    owner: str
    side: Side
    filled_wh: int
    delivered_wh: int
    energy_wh: int
    amount: int
    fee: int = 0
    refund: int = 0
    escrow: int = 0

    @property
    def paid(self) -> int:
        """Credits an offer's owner is paid: the receipt net of the seller fee (0 for a bid)."""
        return self.amount - self.fee if self.side == Side.OFFER else 0


@dataclass(frozen=True, slots=True)
class Settlement:
    """A slot's settlement: the pools, every order's line (in id order) and the totals.

    `receipts_total` is the sellers' gross receipts, `seller_fees_total` the part of them paid as
    seller fees, `fees_total` every fee (buyers' and sellers'), all of it to the fee account.
    Invariants: `escrow_total == paid_total + fees_total + refunds_total + dust`, where
    `paid_total == receipts_total - seller_fees_total`, and
    `certificates_wh == Σ bid certificates + certificate_dust_wh`.
    """

    traded_wh: int
    delivered_total: int
    absorbed_total: int
    lines: tuple[SettlementLine, ...]
    fees_total: int
    dust: int
    certificate_dust_wh: int
    price: int
    escrow_total: int
    receipts_total: int
    charges_total: int
    refunds_total: int
    certificates_wh: int
    seller_fees_total: int = 0

    @property
    def paid_total(self) -> int:
        """Credits paid to sellers: gross receipts less seller fees."""
        return self.receipts_total - self.seller_fees_total


def settle(
    orders: Sequence[Order], clearing: Clearing, readings: Mapping[str, tuple[int, int]]
) -> Settlement:
    """Settle a cleared slot from its fills and the owners' verified `(import_wh, export_wh)`.

    An owner without a reading counts as `(0, 0)`. Owners match case-insensitively, so a reading
    keyed by a lower-case address is not silently lost against a checksummed order owner.
    """
    ordered = in_id_order(orders)
    import_left, export_left = _readings_by_owner(readings)
    price = clearing.price

    fills: dict[int, int] = {}
    consumed: dict[int, int] = {}
    for order in ordered:
        fill = clearing.fills.get(order.order_id)
        if fill is None or not 0 <= fill <= order.energy_wh:
            raise MarketInputError(f"order {order.order_id}: fill {fill} is not in the clearing")
        fills[order.order_id] = fill
        # A reading is consumed by the owner's orders of that side in id order.
        owner = order.owner.lower()
        pool = export_left if order.side == Side.OFFER else import_left
        used = min(fill, pool.get(owner, 0))
        if used:
            pool[owner] -= used
        consumed[order.order_id] = used

    delivered = sum(consumed[o.order_id] for o in ordered if o.side == Side.OFFER)
    absorbed = sum(consumed[o.order_id] for o in ordered if o.side == Side.BID)
    traded = min(delivered, absorbed)
    certificates = (
        sum(consumed[o.order_id] * traded // delivered for o in ordered if o.side == Side.OFFER)
        if delivered
        else 0
    )

    lines: list[SettlementLine] = []
    for order in ordered:
        used = consumed[order.order_id]
        if order.side == Side.OFFER:
            receipt = used * traded * price // (delivered * 1000) if delivered else 0
            seller_fee = (
                min(used * traded * order.fee_per_kwh // (delivered * 1000), receipt)
                if delivered
                else 0
            )
            given = used * traded // delivered if delivered else 0
            lines.append(
                SettlementLine(
                    order_id=order.order_id,
                    owner=order.owner,
                    side=order.side,
                    filled_wh=fills[order.order_id],
                    delivered_wh=used,
                    energy_wh=given,
                    amount=receipt,
                    fee=seller_fee,
                )
            )
            continue
        charge = fee = received = 0
        if absorbed:
            charge = ceil_div(used * traded * price, absorbed * 1000)
            fee = ceil_div(used * traded * order.fee_per_kwh, absorbed * 1000)
            received = used * certificates // absorbed
        escrow = escrow_for(order.energy_wh, order.limit_price, order.fee_per_kwh)
        refund = escrow - charge - fee
        if refund < 0:
            raise MarketInputError(
                f"bid {order.order_id}: clearing price {price} exceeds its limit "
                f"{order.limit_price}"
            )
        lines.append(
            SettlementLine(
                order_id=order.order_id,
                owner=order.owner,
                side=order.side,
                filled_wh=fills[order.order_id],
                delivered_wh=used,
                energy_wh=received,
                amount=charge,
                fee=fee,
                refund=refund,
                escrow=escrow,
            )
        )

    offer_lines = [line for line in lines if line.side == Side.OFFER]
    bid_lines = [line for line in lines if line.side == Side.BID]
    receipts = sum(line.amount for line in offer_lines)
    charges = sum(line.amount for line in bid_lines)
    seller_fees = sum(line.fee for line in offer_lines)
    return Settlement(
        traded_wh=traded,
        delivered_total=delivered,
        absorbed_total=absorbed,
        lines=tuple(lines),
        fees_total=sum(line.fee for line in bid_lines) + seller_fees,
        dust=charges - receipts,
        certificate_dust_wh=certificates - sum(line.energy_wh for line in bid_lines),
        price=price,
        escrow_total=sum(line.escrow for line in bid_lines),
        receipts_total=receipts,
        charges_total=charges,
        refunds_total=sum(line.refund for line in bid_lines),
        certificates_wh=certificates,
        seller_fees_total=seller_fees,
    )


def _readings_by_owner(
    readings: Mapping[str, tuple[int, int]],
) -> tuple[dict[str, int], dict[str, int]]:
    """Split readings into import and export pools keyed by the lower-cased owner."""
    imports: dict[str, int] = {}
    exports: dict[str, int] = {}
    for owner, (import_wh, export_wh) in readings.items():
        key = owner.lower()
        if key in imports:
            raise MarketInputError(f"two readings for owner {owner}")
        if import_wh < 0 or export_wh < 0:
            raise MarketInputError(f"reading of {owner} is negative: {(import_wh, export_wh)}")
        imports[key] = import_wh
        exports[key] = export_wh
    return imports, exports
