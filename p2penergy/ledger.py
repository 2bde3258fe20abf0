"""The household ledger: one account's local trade, grid bill and saving per slot and period.

Pure (no chain code): the simulation report, the audit and `p2penergy statement` feed it the
same inputs, taken from the chain's settlement events and verified meter readings, and get the
same figures. All amounts are integers: energy in Wh, money in credit base units.

Rules (docs/simulation.md, "Accounting"):
- Local energy: a slot's traded energy T is split over its buyers in proportion to the energy
  their meters absorbed, and over its sellers in proportion to what they delivered, exactly
  (largest remainder, ties by order id), so bought == sold == T in every slot.
- Local money is what the chain moved: `OrderSettled` charges, fees, receipts and refunds; an
  offer's `fee` is its seller fee, paid out of its (gross) receipt.
- The grid: what a meter measured beyond its local trade is billed at the tariffs in force for
  the slot, **per slot**, charges rounded up and credits rounded down to a base unit. That is
  the chain's own rule (settlement rounds each slot's charges up and receipts down), so a period
  is the sum of its slots and a statement for any sub-period adds up to the whole.
- The grid-only baseline bills the same readings to the utility alone; saving = baseline - bill
  = (retail value - charges - fees) + (receipts - seller fees - feed-in value), where the
  retail (feed-in) value is what the local energy took off the grid bill (off the feed-in
  credit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, field, fields

from p2penergy.market import Side
from p2penergy.market._utils import ceil_div


def share_out(total: int, weights: Sequence[int]) -> list[int]:
    """Splits `total` Wh in proportion to `weights` exactly (largest remainder, ties by index)."""
    whole = sum(weights)
    if whole == 0 or total == 0:
        return [0] * len(weights)
    if total >= whole:
        return list(weights)
    parts = [w * total // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(weights[i] * total % whole), i))
    for i in remainders[: total - sum(parts)]:
        parts[i] += 1
    return parts


def grid_charge(energy_wh: int, price_per_kwh: int) -> int:
    """What the utility charges for `energy_wh` imported (rounded up to a base unit)."""
    return ceil_div(energy_wh * price_per_kwh, 1000)


def grid_credit(energy_wh: int, price_per_kwh: int) -> int:
    """What the utility credits for `energy_wh` exported (rounded down to a base unit)."""
    return energy_wh * price_per_kwh // 1000


@dataclass(frozen=True, slots=True)
class Tariffs:
    """The grid tariffs of a slot, per kWh in credit base units."""

    feed_in: int
    retail: int


@dataclass(frozen=True, slots=True)
class Fill:
    """One order's settlement as `OrderSettled` reported it."""

    order_id: int
    owner: str
    side: Side
    metered_wh: int
    certificate_wh: int
    amount: int
    fee: int = 0
    refund: int = 0


@dataclass(frozen=True, slots=True)
class SlotInput:
    """Everything the ledger needs about one slot: tariffs, traded energy, fills, meters."""

    slot: int
    tariffs: Tariffs
    traded_wh: int = 0
    fills: tuple[Fill, ...] = ()
    meters: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # owner -> (imp, exp)


@dataclass(frozen=True, slots=True)
class Entry:
    """One account's figures over a slot or a period (Wh and credit base units)."""

    imported_wh: int = 0
    exported_wh: int = 0
    bought_local_wh: int = 0
    sold_local_wh: int = 0
    charges: int = 0  # energy charges for local purchases
    fees: int = 0  # network fees on local purchases
    receipts: int = 0  # payments for local sales
    refunds: int = 0  # escrow returned at settlement
    certificates_in_wh: int = 0
    certificates_out_wh: int = 0
    retail_value: int = 0  # what the local purchases took off the grid bill
    feed_in_value: int = 0  # what the local sales would have earned at feed-in
    utility_bill: int = 0  # grid imports at retail minus grid exports at feed-in
    baseline_bill: int = 0  # the same readings billed to the utility alone
    seller_fees: int = 0  # seller fees taken out of the receipts of local sales

    def __add__(self, other: Entry) -> Entry:
        return Entry(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def grid_import_wh(self) -> int:
        return self.imported_wh - self.bought_local_wh

    @property
    def grid_export_wh(self) -> int:
        return self.exported_wh - self.sold_local_wh

    @property
    def paid(self) -> int:
        """All-in local payments: energy charges plus network fees."""
        return self.charges + self.fees

    @property
    def net_receipts(self) -> int:
        """What local sales paid out: receipts less seller fees."""
        return self.receipts - self.seller_fees

    @property
    def credits_moved(self) -> int:
        """The account's net credit movement through the market for these slots."""
        return self.net_receipts - self.charges - self.fees

    @property
    def bill(self) -> int:
        return self.utility_bill + self.charges + self.fees - self.net_receipts

    @property
    def saving(self) -> int:
        return self.baseline_bill - self.bill

    def as_dict(self) -> dict[str, int]:
        """Every stored and derived figure, by name (for JSON and CSV)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        derived = ("grid_import_wh", "grid_export_wh", "paid", "net_receipts", "credits_moved")
        for name in (*derived, "bill", "saving"):
            out[name] = getattr(self, name)
        return out


@dataclass(frozen=True, slots=True)
class SlotEntry:
    """An account's entry for one slot."""

    slot: int
    entry: Entry


@dataclass(frozen=True, slots=True)
class Statement:
    """An account's ledger over a period: the slots it took part in and their total."""

    account: str
    slots: tuple[SlotEntry, ...]
    total: Entry


def slot_entries(slot: SlotInput) -> dict[str, Entry]:
    """Every account's entry in one slot (accounts with a reading or a settled order)."""
    fills = sorted(slot.fills, key=lambda f: f.order_id)
    local: dict[str, list[int]] = {}
    for side in (Side.BID, Side.OFFER):
        members = [f for f in fills if f.side == side]
        shares = share_out(slot.traded_wh, [f.metered_wh for f in members])
        for f, wh in zip(members, shares, strict=True):
            local.setdefault(f.owner.lower(), [0, 0])[0 if side == Side.BID else 1] += wh
    money: dict[str, list[int]] = {}
    for f in fills:
        m = money.setdefault(f.owner.lower(), [0] * 7)
        if f.side == Side.BID:
            m[0] += f.amount
            m[1] += f.fee
            m[4] += f.certificate_wh
        else:
            m[2] += f.amount
            m[6] += f.fee
            m[5] += f.certificate_wh
        m[3] += f.refund
    meters = {owner.lower(): value for owner, value in slot.meters.items()}
    t = slot.tariffs
    out: dict[str, Entry] = {}
    for account in sorted(set(meters) | set(local) | set(money)):
        imp, exp = meters.get(account, (0, 0))
        bought, sold = local.get(account, (0, 0))
        charges, fees, receipts, refunds, cert_in, cert_out, seller_fees = money.get(
            account, [0] * 7
        )
        utility = grid_charge(imp - bought, t.retail) - grid_credit(exp - sold, t.feed_in)
        out[account] = Entry(
            imported_wh=imp,
            exported_wh=exp,
            bought_local_wh=bought,
            sold_local_wh=sold,
            charges=charges,
            fees=fees,
            receipts=receipts,
            refunds=refunds,
            certificates_in_wh=cert_in,
            certificates_out_wh=cert_out,
            retail_value=grid_charge(imp, t.retail) - grid_charge(imp - bought, t.retail),
            feed_in_value=grid_credit(exp, t.feed_in) - grid_credit(exp - sold, t.feed_in),
            utility_bill=utility,
            baseline_bill=grid_charge(imp, t.retail) - grid_credit(exp, t.feed_in),
            seller_fees=seller_fees,
        )
    return out


def statements(slots: Iterable[SlotInput]) -> dict[str, Statement]:
    """Every account's statement over `slots` (keyed by lower-case account)."""
    lines: dict[str, list[SlotEntry]] = {}
    for slot in sorted(slots, key=lambda s: s.slot):
        for account, entry in slot_entries(slot).items():
            lines.setdefault(account, []).append(SlotEntry(slot.slot, entry))
    return {account: statement(account, rows) for account, rows in sorted(lines.items())}


def statement(account: str, rows: Iterable[SlotEntry]) -> Statement:
    """The statement of `account` made of `rows` (its total is their sum)."""
    ordered = tuple(sorted(rows, key=lambda r: r.slot))
    total = Entry()
    for row in ordered:
        total = total + row.entry
    return Statement(account.lower(), ordered, total)
