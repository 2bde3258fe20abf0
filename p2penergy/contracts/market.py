"""EnergyMarket client: deposit and withdraw credits, place and cancel orders, read a slot's
book, clear and settle slots.

The market keeps an internal credit ledger: `deposit` moves credits from the wallet into the
account's market balance, `withdraw` back; bids lock escrow out of that balance (a placement tops
it up from the wallet when it falls short), and refunds and receipts come back to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3.types import TxReceipt

from p2penergy.chain.deploy import System
from p2penergy.chain.tx import call, events, transact
from p2penergy.domain.orders import OrderInput, OrderWord, order_id
from p2penergy.market import Clearing, Order, Side, clear, escrow_for

MAX_UINT256 = 2**256 - 1
SLOT_STATUS = ("open", "cleared", "settling", "settled")
BOOK_PAGE = 1_000  # order words per `orderWords` call (the default per-slot cap: one call)
# A storage word shared with other households costs 22,100 gas to write when it is zero (a cold
# slot set from zero) and 5,000 when it is not (a cold read, then non-zero to non-zero), and the
# other households' transactions mined first decide which: two orders of a slot share a word
# (ours becomes the first of a fresh pair when another order took the index the estimate saw),
# and four accounts' market balances share one (a neighbour's placement that locks its whole
# balance can leave the word zero before our refund or deposit lands). An estimate made before
# them is this much short for each such word, so the limit carries it on top of the estimate
# and its 20 % (unused gas is not charged). Measured: wallets placing side by side on the local
# node ran out of gas without it.
FRESH_WORD_RACE_GAS = 17_100


def placement_race_gas(order_count: int) -> int:
    """Gas a placement of `order_count` orders carries above its estimate: a fresh pair word
    for each order (`FRESH_WORD_RACE_GAS`)."""
    return FRESH_WORD_RACE_GAS * order_count


@dataclass(frozen=True)
class SlotClearing:
    """A slot's clearing state as stored on chain."""

    status: str
    price: int
    marginal_bid: int
    marginal_offer: int
    bid_marginal_wh: int
    offer_marginal_wh: int
    volume_wh: int


class MarketClient:
    """Operations on the deployed EnergyMarket for one system."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.chain = system.chain
        self.contract = system.market

    # ── orders ──

    def escrow_for(self, orders: Sequence[OrderInput]) -> int:
        """Credits the bids among `orders` will lock at the current network fee."""
        fee = self.tariffs()[2]
        return sum(
            escrow_for(o.energy_wh, o.limit_price, fee) for o in orders if o.side == Side.BID
        )

    def approve_escrow(self, account: LocalAccount, amount: int = MAX_UINT256) -> None:
        """Lets the market take escrow from `account` (once; the default is unlimited)."""
        credit = self.system.credit
        transact(self.chain, account, credit.functions.approve(self.contract.address, amount))

    def deposit(self, account: LocalAccount, amount: int) -> TxReceipt:
        """Moves `amount` of `account`'s credits into its market balance (needs an allowance)."""
        fn = self.contract.functions.deposit(amount)
        return transact(self.chain, account, fn, race_gas=FRESH_WORD_RACE_GAS)

    def withdraw(self, account: LocalAccount, amount: int) -> TxReceipt:
        """Sends `amount` of `account`'s market balance back to its wallet."""
        return transact(self.chain, account, self.contract.functions.withdraw(amount))

    def balance(self, address: str) -> int:
        """`address`'s free credits in the market (escrow locked in orders not included)."""
        return int(call(self.contract.functions.balanceOf(address)))

    def place(self, account: LocalAccount, orders: Sequence[OrderInput]) -> list[int]:
        """Places `orders` in one transaction; returns their ids."""
        fn = self.contract.functions.placeOrders([o.as_tuple() for o in orders])
        receipt = transact(self.chain, account, fn, race_gas=placement_race_gas(len(orders)))
        return [int(e["args"]["orderId"]) for e in events(self.contract, "OrderPlaced", receipt)]

    def cancel(self, account: LocalAccount, order_id_: int) -> TxReceipt:
        """Cancels an order before gate closure (bids get their escrow back)."""
        fn = self.contract.functions.cancelOrder(order_id_)
        return transact(self.chain, account, fn, race_gas=FRESH_WORD_RACE_GAS)

    def slot_orders(self, slot: int) -> list[Order]:
        """The slot's live (not cancelled) orders, as the clearing maths takes them.

        Read `BOOK_PAGE` packed words per call (`orderWords`), not one call per order.
        """
        fns = self.contract.functions
        result: list[Order] = []
        start = 0
        while True:
            words = call(fns.orderWords(slot, start, BOOK_PAGE))
            for index, word in enumerate(words, start):
                order, cancelled = unpack_order(order_id(slot, index), int(word))
                if not cancelled:
                    result.append(order)
            start += len(words)
            if len(words) < BOOK_PAGE:
                return result

    # ── clearing and settlement ──

    def compute_clearing(self, slot: int) -> Clearing:
        """The competitive clearing of the slot's current book (off-chain, O(n log n)).

        Outage slots (island mode) follow the island rule at the slot's price cap.
        """
        return clear(self.slot_orders(slot), outage_cap=self.outage_cap(slot) or None)

    def outage_cap(self, slot: int) -> int:
        """The slot's outage price cap, or 0 when the grid is up."""
        return int(call(self.contract.functions.outageCap(slot)))

    def submit_clearing(self, account: LocalAccount, slot: int, result: Clearing) -> TxReceipt:
        """Submits a clearing description; the contract verifies it in one pass."""
        fn = self.contract.functions.clear(
            slot,
            result.marginal_bid,
            result.marginal_offer,
            result.bid_marginal_wh,
            result.offer_marginal_wh,
        )
        return transact(self.chain, account, fn)

    def clear_slot(self, account: LocalAccount, slot: int) -> Clearing:
        """Computes and submits the slot's clearing."""
        result = self.compute_clearing(slot)
        self.submit_clearing(account, slot, result)
        return result

    def settle_slot(self, account: LocalAccount, slot: int, chunk: int = 0) -> list[TxReceipt]:
        """Settles (or expires) the slot, `chunk` orders per transaction (0 = all at once)."""
        receipts = []
        while True:
            receipt = transact(self.chain, account, self.contract.functions.settle(slot, chunk))
            receipts.append(receipt)
            if events(self.contract, "SlotSettled", receipt):
                return receipts

    # ── views ──

    def clearing(self, slot: int) -> SlotClearing:
        status, price, m_bid, m_offer, bid_wh, offer_wh, volume = call(
            self.contract.functions.clearing(slot)
        )
        return SlotClearing(SLOT_STATUS[status], price, m_bid, m_offer, bid_wh, offer_wh, volume)

    def tariffs(self) -> tuple[int, int, int]:
        """(feed-in, retail, network fee) per kWh in credit base units."""
        feed_in, retail, fee = call(self.contract.functions.tariffs())
        return int(feed_in), int(retail), int(fee)

    def seller_fee(self) -> int:
        """The seller fee per kWh (credit base units) new offers snapshot."""
        return int(call(self.contract.functions.sellerFee()))

    def slot_times(self, slot: int) -> tuple[int, int, int]:
        """(starts at, gate closes at, clearing deadline) of `slot`."""
        start, gate, deadline = call(self.contract.functions.slotTimes(slot))
        return int(start), int(gate), int(deadline)


def pack_order(order: Order, *, cancelled: bool = False) -> int:
    """The contract's one-word order encoding (`domain.orders.OrderWord`)."""
    return OrderWord(
        owner=int(order.owner, 16),
        side=order.side,
        energy_wh=order.energy_wh,
        limit_price=order.limit_price,
        fee_per_kwh=order.fee_per_kwh,
        cancelled=cancelled,
        critical=order.critical,
    ).pack()


def unpack_order(order_id_: int, word: int) -> tuple[Order, bool]:
    """`pack_order` undone: order `order_id_` stored as `word`, and its cancelled bit."""
    fields = OrderWord.unpack(word)
    order = Order(
        order_id=order_id_,
        owner=to_checksum_address(fields.owner.to_bytes(20, "big")),
        side=fields.side,
        energy_wh=fields.energy_wh,
        limit_price=fields.limit_price,
        fee_per_kwh=fields.fee_per_kwh,
        critical=fields.critical,
    )
    return order, fields.cancelled
