// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title The local energy market: orders with escrow, verified clearing, settlement
/// @notice Slot `s` delivers during [epoch + s·L, epoch + (s+1)·L). Orders are accepted until gate
/// closure (`slotStart − gateClosure`); a keeper then submits the uniform-price clearing computed
/// off-chain, which the contract accepts only if it is the competitive outcome; after the reading
/// window (or once every filled trader's meter has reported) settlement pays sellers for energy
/// delivered and absorbed, charges buyers, pays the network fee and refunds the rest of escrow.
/// Money moves in an internal credit ledger: participants `deposit` credits (one ERC-20
/// transferFrom) and `withdraw` them; bids lock escrow out of the depositor's balance, and
/// refunds, receipts, fees and dust are credited to balances, with no token call per order.
/// The exact arithmetic is docs/market-rules.md. Units: Wh, credit base units, base units per kWh.
/// @dev Order ids are `slot << 16 | index`, so id order within a slot is time order.
interface IEnergyMarket {
    enum Side {
        Bid,
        Offer
    }

    enum SlotStatus {
        Open,
        Cleared,
        Settling,
        Settled
    }

    /// @notice One order to place.
    /// @param slot the delivery slot
    /// @param side Bid (buy) or Offer (sell)
    /// @param energyWh energy to trade, Wh (> 0)
    /// @param limitPricePerKWh worst acceptable price, credit base units per kWh, within tariffs
    struct OrderInput {
        uint64 slot;
        Side side;
        uint32 energyWh;
        uint32 limitPricePerKWh;
    }

    /// @notice A stored order.
    struct Order {
        address owner;
        Side side;
        bool cancelled;
        bool critical;
        uint32 energyWh;
        uint32 limitPricePerKWh;
        uint32 feePerKWh;
    }

    /// @notice A slot's clearing description (see docs/market-rules.md) and outcome.
    struct Clearing {
        SlotStatus status;
        uint32 priceCreditsPerKWh;
        uint32 marginalBid;
        uint32 marginalOffer;
        uint64 bidMarginalWh;
        uint64 offerMarginalWh;
        uint64 volumeWh;
    }

    /// @notice Tariffs: limit prices must lie in [feedIn, retail]; the network fee per kWh is
    /// paid by buyers to the distribution operator's account.
    struct Tariffs {
        uint32 feedInPerKWh;
        uint32 retailPerKWh;
        uint32 networkFeePerKWh;
    }

    // ───────────────────────────── errors ─────────────────────────────

    /// @notice `account` may not trade (unregistered, suspended, or a service account).
    error MarketNotAllowed(address account);
    /// @notice Only prosumers sell energy.
    error MarketNotProsumer(address account);
    /// @notice Orders for `slot` closed at `gateClosedAt`.
    error MarketGateClosed(uint256 slot, uint256 gateClosedAt);
    /// @notice `slot`'s gate is still open until `gateClosesAt`: it cannot be cleared yet.
    error MarketGateOpen(uint256 slot, uint256 gateClosesAt);
    /// @notice The limit lies outside [feedIn, retail].
    error MarketPriceOutOfRange(uint256 limitPricePerKWh, uint256 feedInPerKWh, uint256 retailPerKWh);
    /// @notice Order energy must be above zero.
    error MarketZeroEnergy();
    /// @notice `slot` already holds `cap` live orders.
    error MarketSlotFull(uint256 slot, uint256 cap);
    /// @notice `slot` handed out all its `idCap` order ids (cancelled orders keep theirs).
    error MarketSlotExhausted(uint256 slot, uint256 idCap);
    /// @notice `account` already placed `limit` orders in `slot` (cancelling does not undo that).
    error MarketPlacementLimit(address account, uint256 slot, uint256 limit);
    /// @notice `token` (credit or certificate) is bound to market `boundMarket`, not this one.
    error MarketNotBound(address token, address boundMarket);
    /// @notice `account` already has an order in `slot` (cancel it to place another).
    error MarketDuplicateOrder(address account, uint256 slot);
    /// @notice `account` holds `balance` credits in the market, less than `needed`.
    error MarketInsufficientBalance(address account, uint256 balance, uint256 needed);
    /// @notice A deposit or top-up would make the market hold `held` base units (at least; a
    /// deposit above the cap is refused before it is pulled), above `cap` (2^64 − 1: market
    /// balances are 64-bit lanes).
    error MarketHoldingCapExceeded(uint256 held, uint256 cap);
    /// @notice A deposit or withdrawal must move more than zero credits.
    error MarketZeroAmount();
    /// @notice No order has id `orderId`.
    error MarketUnknownOrder(uint256 orderId);
    /// @notice Order `orderId` belongs to someone else.
    error MarketNotOrderOwner(uint256 orderId, address caller);
    /// @notice Order `orderId` is already cancelled.
    error MarketOrderCancelled(uint256 orderId);
    /// @notice `slot` is in state `status`, which does not allow this.
    error MarketWrongSlotStatus(uint256 slot, SlotStatus status);
    /// @notice The clearing deadline of `slot` passed at `deadline`: it can only be expired.
    error MarketClearingDeadlinePassed(uint256 slot, uint256 deadline);
    /// @notice Settlement of `slot` must wait until `settleableAt` or until every filled
    /// trader's meter has reported (`account` has not).
    error MarketSettlementTooEarly(uint256 slot, uint256 settleableAt, address account);
    /// @notice The description's marginal values are not canonical (docs/market-rules.md rule 1).
    error MarketClearingMarginalInvalid(
        uint256 marginalBid, uint256 marginalOffer, uint256 bidMarginalWh, uint256 offerMarginalWh
    );
    /// @notice Orders at a marginal limit did not use the whole budget.
    error MarketClearingBudgetUnused(uint256 bidBudgetLeftWh, uint256 offerBudgetLeftWh);
    /// @notice Bid fills and offer fills differ.
    error MarketClearingUnbalanced(uint256 bidWh, uint256 offerWh);
    /// @notice A bid with energy left still crosses an offer with energy left.
    error MarketClearingNotMaximal(uint256 remBidMax, uint256 remOfferMin);
    /// @notice The seller fee per kWh exceeds `maxFeePerKWh`.
    error MarketInvalidSellerFee(uint256 sellerFeePerKWh, uint256 maxFeePerKWh);
    /// @notice An offer's limit lies below the seller fee in force (a seller never pays to sell).
    error MarketLimitBelowFee(uint256 limitPricePerKWh, uint256 feePerKWh);
    /// @notice Tariffs must satisfy feedIn ≤ retail.
    error MarketInvalidTariffs(uint256 feedInPerKWh, uint256 retailPerKWh, uint256 networkFeePerKWh);
    /// @notice Deployment parameters are invalid.
    error MarketInvalidConfig();
    /// @notice An outage must name `fromSlot ≤ toSlot`, at most `maxSlots` slots at once.
    error MarketOutageInvalid(uint256 fromSlot, uint256 toSlot, uint256 maxSlots);
    /// @notice An outage needs a price cap above zero (a cap of 0 marks a normal slot).
    error MarketOutageCapZero();

    // ───────────────────────────── events ─────────────────────────────

    /// @notice `account` moved `amount` of its credits into its market balance (a `deposit`, or
    /// the top-up of a placement whose escrow its balance did not cover).
    event CreditsDeposited(address indexed account, uint256 amount);
    /// @notice `account` took `amount` credits from its market balance back to its wallet.
    event CreditsWithdrawn(address indexed account, uint256 amount);

    /// @notice `owner` placed order `orderId`, locking `escrow` credits of its market balance
    /// (bids only).
    event OrderPlaced(
        uint256 indexed orderId,
        address indexed owner,
        uint256 indexed slot,
        Side side,
        uint256 energyWh,
        uint256 limitPricePerKWh,
        uint256 feePerKWh,
        bool critical,
        uint256 escrow
    );
    /// @notice Order `orderId` was cancelled before gate closure; `refund` credited to its owner's
    /// market balance.
    event OrderCancelled(uint256 indexed orderId, address indexed owner, uint256 refund);
    /// @notice `slot` cleared at `price` for `volumeWh` under the given description.
    event SlotCleared(
        uint256 indexed slot,
        uint256 price,
        uint256 volumeWh,
        uint256 marginalBid,
        uint256 marginalOffer,
        uint256 bidMarginalWh,
        uint256 offerMarginalWh
    );
    /// @notice Settlement of `slot` started: delivered `deliveredWh` (D), absorbed `absorbedWh`
    /// (A), traded `tradedWh` (T = min(D, A)); `certificateWh` (S) collected from sellers.
    event SettlementStarted(
        uint256 indexed slot, uint256 deliveredWh, uint256 absorbedWh, uint256 tradedWh, uint256 certificateWh
    );
    /// @notice Order `orderId` settled: `filledWh` cleared, `meteredWh` delivered (offer) or
    /// absorbed (bid), `certificateWh` moved, `amount` the gross receipt (offer) or the charge
    /// (bid), `fee` the seller fee (offer) or network fee (bid), `refund` (bids). The receipt net
    /// of the seller fee (offers) and the refund (bids) are credited to the owner's market
    /// balance; fees to the fee account's.
    event OrderSettled(
        uint256 indexed orderId,
        address indexed owner,
        uint256 filledWh,
        uint256 meteredWh,
        uint256 certificateWh,
        uint256 amount,
        uint256 fee,
        uint256 refund
    );
    /// @notice `slot` is settled: `fees` went to the fee account's market balance, `dust` to the
    /// rounding account's and `certificateDustWh` to the rounding account; `expired` when it was never cleared (everything refunded).
    event SlotSettled(uint256 indexed slot, uint256 fees, uint256 dust, uint256 certificateDustWh, bool expired);
    /// @notice The operator declared a grid outage for `slot`: island mode, prices capped at
    /// `priceCapPerKWh`, critical loads served first.
    event OutageDeclared(uint256 indexed slot, uint256 priceCapPerKWh);
    /// @notice The operator set new tariffs (they apply to orders placed from now on).
    event TariffsSet(uint256 feedInPerKWh, uint256 retailPerKWh, uint256 networkFeePerKWh);
    /// @notice The operator set the seller fee per kWh (it applies to offers placed from now on).
    event SellerFeeSet(uint256 sellerFeePerKWh);

    // ───────────────────────────── logic ─────────────────────────────

    /// @notice Places orders (a day ahead: 96 slots in one call); bids lock their escrow out of
    /// the caller's market balance; when it does not cover the total, one `transferFrom` tops it
    /// up by the shortfall (approve the market first, or use `placeOrdersWithPermit`).
    /// @dev Requirements: caller is an active consumer or prosumer (offers: prosumer); each
    /// slot's gate is open; limits within tariffs; one live order per account and slot, at most
    /// 4 placements per account and slot; fewer than `orderCap` live orders and ids left in the
    /// slot (`orderLimits`).
    /// @return orderIds the id of each placed order, in input order
    function placeOrders(OrderInput[] calldata orders) external returns (uint256[] memory orderIds);

    /// @notice `placeOrders` with an EIP-2612 permit for `permitValue`, so one transaction suffices.
    function placeOrdersWithPermit(
        OrderInput[] calldata orders,
        uint256 permitValue,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256[] memory orderIds);

    /// @notice Cancels order `orderId` before gate closure; bids get their escrow back into the
    /// owner's market balance.
    function cancelOrder(uint256 orderId) external;

    /// @notice Moves `amount` of the caller's credits into its market balance (one transferFrom:
    /// approve the market first, or use `depositWithPermit`).
    /// @dev Requirements: caller is an active participant; amount > 0.
    function deposit(uint256 amount) external;

    /// @notice `deposit` with an EIP-2612 permit for `amount`, so one transaction suffices.
    function depositWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice Sends `amount` of the caller's market balance back to its wallet.
    /// @dev Requirements: amount > 0 and ≤ the caller's balance (`MarketInsufficientBalance`);
    /// the caller is registered (the token's rule for payouts). A suspended participant may still
    /// withdraw its own credits.
    function withdraw(uint256 amount) external;

    /// @notice Submits the clearing of `slot` (after gate closure); reverts unless it is the
    /// competitive outcome (docs/market-rules.md).
    /// @dev Requirements: caller has KEEPER_ROLE or is an active participant.
    function clear(
        uint256 slot,
        uint32 marginalBid,
        uint32 marginalOffer,
        uint64 bidMarginalWh,
        uint64 offerMarginalWh
    ) external;

    /// @notice Settles (or, if it was never cleared by its deadline, expires) `slot`, processing at
    /// most `maxOrders` orders (0 = all); call again until it returns true. A slot settled before
    /// its reading window closes is settled whole in one call, so its inputs cannot change.
    /// @dev Requirements: caller has KEEPER_ROLE or is a registered participant (suspended ones
    /// too, so that nobody can keep escrow locked by revoking keepers and suspending traders).
    function settle(uint256 slot, uint256 maxOrders) external returns (bool done);

    /// @notice Declares a grid outage for slots `fromSlot..toSlot` (island mode, DESIGN §2.5).
    /// @dev In an outage slot only bids with limit ≥ the cap and offers with limit ≤ the cap take
    /// part; bids of critical loads are filled before all others (then time order), offers by
    /// limit then time; everything trades at the cap. The clearing description's `marginalBid`
    /// is then the marginal bid class (1 = critical loads, 0 = others). docs/market-rules.md.
    /// Requirements: caller is the governance timelock (the registry's default admin), so a
    /// declaration is public for the governance delay first; every slot's gate is still open;
    /// 0 < cap and feedIn ≤ cap ≤ retail; at most 672 slots (a week of 15-minute slots) per call.
    function declareOutage(uint64 fromSlot, uint64 toSlot, uint32 priceCapPerKWh) external;

    /// @notice The price cap of `slot` if the operator declared an outage for it, else 0.
    function outageCap(uint256 slot) external view returns (uint256);

    /// @notice Sets the tariffs for orders placed from now on.
    /// @dev Requirements: caller is the governance timelock (the registry's default admin);
    /// feedIn ≤ retail.
    function setTariffs(uint32 feedInPerKWh, uint32 retailPerKWh, uint32 networkFeePerKWh) external;

    /// @notice Sets the seller fee per kWh for offers placed from now on: a settled seller pays
    /// min(floor(d·T·fee / (D·1000)), receipt) to the fee account out of its receipt.
    /// @dev Requirements: caller is the governance timelock (the registry's default admin);
    /// fee ≤ 2^24 − 1 (the order word's fee field).
    function setSellerFee(uint32 sellerFeePerKWh) external;

    // ───────────────────────────── views ─────────────────────────────

    /// @notice `account`'s free credits in the market's internal ledger (escrow not included).
    function balanceOf(address account) external view returns (uint256);

    /// @notice The order with id `orderId`.
    function order(uint256 orderId) external view returns (Order memory);

    /// @notice The packed words of `slot`'s orders `start .. start + count - 1` (fewer at the end
    /// of the book), as `UniformPriceClearing` reads them: one call reads a whole page of the book.
    function orderWords(uint256 slot, uint256 start, uint256 count) external view returns (uint256[] memory words);

    /// @notice How many orders were placed in `slot` (ids `slot << 16 | 0 ..`), cancelled included.
    function orderCount(uint256 slot) external view returns (uint256);

    /// @notice How many of `slot`'s orders are live (placed and not cancelled): the cap counts these.
    function liveOrderCount(uint256 slot) external view returns (uint256);

    /// @notice How many orders `account` placed in `slot`, and whether one is live.
    function placements(address account, uint256 slot) external view returns (uint256 placed, bool live);

    /// @notice The certificate Wh of `slot` that settlement moved to `account` (a buyer's share,
    /// and the rounding dust for the rounding account) and took from it (a seller's), and whether
    /// they are final (`slot` settled, or its gate closed without a live order of `account`).
    /// @dev Derived from the account's live order in the slot (its index is kept with the
    /// placements), the metered Wh settlement stored for that order and the slot's totals D, A, T
    /// and S, with Settlement's rounding: settlement writes no per-holder certificate storage.
    /// EnergyCertificate.balanceOf reads it; before `final`, retiring the slot is refused.
    function certificateFlow(address account, uint256 slot)
        external
        view
        returns (uint256 receivedWh, uint256 givenWh, bool final_);

    /// @notice Most live orders per slot, most placements per account and slot, most ids per slot.
    function orderLimits() external view returns (uint256 liveCap, uint256 placementsPerAccount, uint256 idCap);

    /// @notice The clearing state of `slot`.
    function clearing(uint256 slot) external view returns (Clearing memory);

    /// @notice The current tariffs.
    function tariffs() external view returns (Tariffs memory);

    /// @notice The seller fee per kWh snapshotted into offers placed from now on.
    function sellerFee() external view returns (uint256);

    /// @notice Credits a bid locks: ceil(energy·limit/1000) + ceil(energy·fee/1000).
    function escrowFor(uint256 energyWh, uint256 limitPricePerKWh, uint256 feePerKWh)
        external
        pure
        returns (uint256);

    /// @notice Start of `slot`, when its gate closes, and until when it may be cleared.
    function slotTimes(uint256 slot)
        external
        view
        returns (uint256 startsAt, uint256 gateClosesAt, uint256 clearingDeadline);
}
