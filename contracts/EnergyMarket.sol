// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {ICommunityCredit} from "./interfaces/ICommunityCredit.sol";
import {IEnergyCertificate} from "./interfaces/IEnergyCertificate.sol";
import {IEnergyMarket} from "./interfaces/IEnergyMarket.sol";
import {IMeterReadings} from "./interfaces/IMeterReadings.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {UniformPriceClearing} from "./libraries/UniformPriceClearing.sol";
import {MarketMath} from "./libraries/MarketMath.sol";
import {OrderLane, OrderLanes, OrderWord, OrderWords} from "./libraries/OrderWord.sol";
import {Roles} from "./libraries/Roles.sol";
import {Settlement} from "./libraries/Settlement.sol";

/// @title EnergyMarket
/// @notice Per-slot order books with escrow, verified uniform-price clearing and min-of-two pool
/// settlement, over an internal credit ledger. See IEnergyMarket and docs/market-rules.md.
/// @dev Internal ledger: the market holds every credit deposited into it; the packed balance
/// words say whose each free credit is, and escrow is the rest. Placing a bid moves balance to escrow; cancelling
/// and settling move escrow back to balances (refunds, receipts, fees, dust). Only `deposit`,
/// `withdraw` and a placement's top-up move ERC-20 credits, so a settlement makes no token call
/// and the token balance of the market is always Σ balances + escrow held.
/// @dev Balances are packed four to a word (64-bit lanes) by position: 0 is the fee account's, 1
/// the rounding account's, and a participant's is its registry number + 1 (numbers are handed out
/// in order of registration and never change). Neighbours in registration share a word, so a
/// first-time seller's proceeds land in a word a neighbour already made non-zero, and a lane
/// emptied at placement does not empty the word (a refill costs 2.9k, not 20k). The number comes
/// with the registry's `participant` record, which placing and depositing read anyway; an order's
/// lane carries its owner's number, which settlement reads anyway (and then reads the owner's
/// address from `_accounts`, which it needs for the readings and the events), and the account's
/// placement word keeps a copy, which cancelling reads anyway. A 64-bit lane cannot overflow:
/// deposits and top-ups are refused (`MarketHoldingCapExceeded`) once the market would hold more
/// than 2^64 − 1 base units, and every balance is a part of what the market holds.
/// @dev Storage is packed so that orders share words: the first order of each pair in a slot
/// takes a fresh word, the second joins it. An order is a 128-bit lane (OrderLane), two a word,
/// with the owner's registry number in place of its address (`_accounts` maps the number back,
/// written once per account, at its first deposit or placement); order counts are 16 per word;
/// an account's placements per slot (count, live bit and the index of its latest order) are 20
/// bits, 11 slots per word, whose top 32 bits hold the account's registry number. Outside
/// storage (clearing, views, events) an order is its full OrderWord.
/// @dev Certificates: settlement stores each certificate-moving order's metered Wh (8 per word,
/// per slot) and the slot's certificate dust; EnergyCertificate derives every holder's balance
/// from them through `certificateFlow`, so settlement writes no per-holder certificate storage.
///
/// Order cap: at most `orderCap` live (placed and not cancelled) orders per slot, so a cancelled
/// order frees its place. Ids stay unique and increasing, so cancelled orders still take an id:
/// each account may place at most `_MAX_PLACEMENTS` orders per slot (one live at a time, so at
/// most three re-places after cancelling), and a slot holds at most `orderCap × _MAX_PLACEMENTS`
/// ids (≤ 65,535). One participant's place-and-cancel loop therefore neither fills a slot nor
/// exhausts its ids, and the clearing, which reads every id, stays bounded.
contract EnergyMarket is IEnergyMarket, ReentrancyGuardTransient {
    using MarketMath for uint256;

    // ───────────────────────────── storage ─────────────────────────────

    /// @dev Working state of one slot (clearing description, settlement progress).
    struct SlotState {
        // word 1: the clearing
        SlotStatus status;
        bool expired;
        uint32 price;
        uint32 marginalBid;
        uint32 marginalOffer;
        uint64 bidMarginalWh;
        uint64 offerMarginalWh;
        // word 2: settlement totals (D, A, S) and the volume
        uint64 volumeWh;
        uint64 deliveredWh;
        uint64 absorbedWh;
        uint64 certificateWh;
        // word 3: settlement cursor, the marginal budgets left at the cursor, outage price cap
        // (cursor, budgets and word 4 are written only between the chunks of a slot settled in
        // several calls: a slot settled in one call keeps its totals in memory)
        uint32 cursor;
        uint32 outageCap; // 0: normal slot
        uint64 bidBudgetLeft;
        uint64 offerBudgetLeft;
        uint64 buyerCertificateWh;
        // word 4: money totals across settlement chunks
        uint96 charges;
        uint96 receipts;
        uint64 fees;
        // word 5: certificate Wh left by rounding, given to the rounding account (written only
        // when above zero, by the last settlement call), and the sellers' certificates pooled so
        // far (written only between chunks of the offer sweep)
        uint64 certificateDustWh;
        uint64 sellerCertificateWh;
    }

    uint256 private constant _MAX_FEE = UniformPriceClearing.MAX_FEE;
    uint256 private constant _MAX_OUTAGE_SLOTS = 672;
    /// @dev Orders one account may place in one slot (its first and up to three re-places).
    uint256 private constant _MAX_PLACEMENTS = 4;
    /// @dev An account's 20-bit placement lane per slot: the low 3 bits count its placements
    /// (≤ _MAX_PLACEMENTS < 8, so the count never carries into the live bit), this bit marks a
    /// live order, and bits 4-19 hold the index of its latest order in the slot.
    uint256 private constant _LIVE_BIT = 8;
    // Literal masks: a constant built from other constants is recomputed, with an overflow
    // check, wherever it is used (about 240 gas per placed order for these two).
    uint256 private constant _COUNT_MASK = 7; // _LIVE_BIT - 1
    uint256 private constant _PLACEMENT_BITS = 20;
    uint256 private constant _PLACEMENT_MASK = (1 << 20) - 1; // _PLACEMENT_BITS wide
    uint256 private constant _PLACEMENTS_PER_WORD = 11;
    /// @dev The account's registry number in its placement words (bits 224-255, above 11 lanes).
    uint256 private constant _NUMBER_SHIFT = 224;
    /// @dev Metered Wh per order stored at settlement: 32-bit lanes (metered ≤ energy < 2^32).
    uint256 private constant _METERED_BITS = 32;
    uint256 private constant _METERED_PER_WORD = 8;
    /// @dev Market balances: 64-bit lanes, four a word, by account position.
    uint256 private constant _BALANCE_BITS = 64;
    uint256 private constant _BALANCES_PER_WORD = 4;
    uint256 private constant _MAX_HELD = type(uint64).max;
    /// @dev Marks an offer's entry in phase 1's metered array (metered Wh < 2^32: no clash).
    uint256 private constant _OFFER_TAG = 1 << 255;
    // The registry's DEFAULT_ADMIN_ROLE, held by the governance timelock alone.
    bytes32 private constant _GOVERNANCE_ROLE = 0x00;

    IParticipantRegistry private immutable _registry;
    IERC20 private immutable _credit;
    IEnergyCertificate private immutable _certificate;
    IMeterReadings private immutable _readings;
    uint64 private immutable _epoch;
    uint32 private immutable _slotLength;
    uint32 private immutable _readingWindow;
    uint32 private immutable _gateClosure;
    uint16 private immutable _orderCap;
    uint16 private immutable _idCap;
    address private immutable _feeAccount;
    address private immutable _roundingAccount;
    /// @dev Balance positions of the fee and rounding accounts (a participant's: its number + 1).
    /// One account that is both has one balance: the fee lane (`_roundingPosition` is then 0).
    uint256 private constant _FEE_POSITION = 0;
    uint256 private immutable _roundingPosition;

    Tariffs private _tariffs;
    /// @dev The seller fee per kWh snapshotted into offers placed from now on (≤ _MAX_FEE).
    uint32 private _sellerFeePerKWh;
    /// @dev The orders, two 128-bit lanes a word (OrderLane): key `orderId >> 1`, i.e.
    /// `slot << 15 | index >> 1`; the lane holds the owner's registry number, not its address.
    mapping(uint256 pairKey => uint256 pair) private _orderPairs;
    /// @dev The account of each registry number that has deposited or placed an order here
    /// (written once; a number never changes hands): the owner of an order lane.
    mapping(uint256 number => address account) private _accounts;
    /// @dev Ids handed out per slot (placed orders, cancelled ones included), 16 bits each.
    mapping(uint256 slotGroup => uint256 counts) private _orderCounts;
    /// @dev Cancelled orders per slot, 16 bits each: live = placed − cancelled.
    mapping(uint256 slotGroup => uint256 counts) private _cancelCounts;
    /// @dev Per account, a 20-bit lane per slot (11 a word): placement count, live bit, index;
    /// bits 224-255 hold the account's registry number (for cancelling: the owner check and its
    /// balance lane).
    mapping(address account => mapping(uint256 slotWord => uint256 lanes)) private _placements;
    /// @dev Per slot and 8 orders (key `slot << 13 | index >> 3`), the metered Wh (d or a) of
    /// each order that moved certificates when it settled; 0 for every other order. With the
    /// slot's D, A, T and S it gives the holder's certificates (`certificateFlow`).
    mapping(uint256 slotAndGroup => uint256 lanes) private _meteredWh;
    mapping(uint256 slot => SlotState) private _slots;
    /// @dev Free credits in the internal ledger (not locked in any order): per word, four 64-bit
    /// lanes, the lane of position p being word p / 4, bits (p % 4) × 64.
    mapping(uint256 word => uint256 lanes) private _balanceWords;

    /// @param registry roles and participants
    /// @param credit the escrow currency (CommunityCredit)
    /// @param certificate the slot certificates moved at settlement
    /// @param readings verified meter energy per account and slot; also defines the slot grid
    /// @param gateClosure seconds before slot start at which orders close
    /// @param orderCap most live orders per slot (≤ 16,383, so that `orderCap × 4` ids fit in 16
    /// bits; 1,000 keeps clearing in one block)
    /// @param feeAccount the distribution operator's account (network fees)
    /// @param roundingAccount receives rounding dust (credits and certificate Wh)
    /// @param initialTariffs feed-in, retail and network fee per kWh
    constructor(
        IParticipantRegistry registry,
        IERC20 credit,
        IEnergyCertificate certificate,
        IMeterReadings readings,
        uint32 gateClosure,
        uint16 orderCap,
        address feeAccount,
        address roundingAccount,
        Tariffs memory initialTariffs
    ) {
        if (
            orderCap == 0 || orderCap * _MAX_PLACEMENTS > type(uint16).max || feeAccount == address(0)
                || roundingAccount == address(0)
        ) {
            revert MarketInvalidConfig();
        }
        // Credits and certificates are bound to this market's address at their construction.
        _checkBound(ICommunityCredit(address(credit)).market(), address(credit));
        _checkBound(certificate.market(), address(certificate));
        _registry = registry;
        _credit = credit;
        _certificate = certificate;
        _readings = readings;
        (_epoch, _slotLength, _readingWindow) = readings.timing();
        _gateClosure = gateClosure;
        _orderCap = orderCap;
        _idCap = uint16(orderCap * _MAX_PLACEMENTS);
        _feeAccount = feeAccount;
        _roundingAccount = roundingAccount;
        _roundingPosition = roundingAccount == feeAccount ? _FEE_POSITION : 1;
        _setTariffs(initialTariffs.feedInPerKWh, initialTariffs.retailPerKWh, initialTariffs.networkFeePerKWh);
    }

    // ───────────────────────────── ledger ─────────────────────────────

    /// @inheritdoc IEnergyMarket
    function deposit(uint256 amount) external nonReentrant {
        _deposit(amount);
    }

    /// @inheritdoc IEnergyMarket
    // slither-disable-next-line reentrancy-benign
    function depositWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        // A front-run permit (same signature already used) must not block the deposit: if the
        // allowance is in place anyway, transferFrom succeeds; otherwise it reverts by name.
        try IERC20Permit(address(_credit)).permit(msg.sender, address(this), amount, deadline, v, r, s) {}
            catch {}
        _deposit(amount);
    }

    /// @inheritdoc IEnergyMarket
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert MarketZeroAmount();
        (bool known, uint256 position) = _positionOfAccount(msg.sender);
        uint256 balance = known ? _balanceAt(position) : 0;
        if (balance < amount) revert MarketInsufficientBalance(msg.sender, balance, amount);
        _setBalance(position, balance - amount);
        emit CreditsWithdrawn(msg.sender, amount);
        // The token pays out to any registered account, suspended ones included: nobody can
        // keep a participant's own credits in the market by suspending it.
        bool ok = _credit.transfer(msg.sender, amount);
        ok; // OpenZeppelin's ERC20 reverts instead of returning false
    }

    // ───────────────────────────── orders ─────────────────────────────

    /// @inheritdoc IEnergyMarket
    function placeOrders(OrderInput[] calldata orders) external nonReentrant returns (uint256[] memory orderIds) {
        return _placeOrders(orders);
    }

    /// @inheritdoc IEnergyMarket
    // slither-disable-next-line reentrancy-benign
    function placeOrdersWithPermit(
        OrderInput[] calldata orders,
        uint256 permitValue,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint256[] memory orderIds) {
        // A front-run permit (same signature already used) must not block the orders: if the
        // allowance is in place anyway, transferFrom succeeds; otherwise it reverts by name.
        try IERC20Permit(address(_credit)).permit(msg.sender, address(this), permitValue, deadline, v, r, s) {}
            catch {}
        return _placeOrders(orders);
    }

    /// @inheritdoc IEnergyMarket
    function cancelOrder(uint256 orderId) external nonReentrant {
        uint256 pairKey = OrderLanes.pairKey(orderId);
        uint256 pair = _orderPairs[pairKey];
        OrderLane lane = OrderLanes.laneOf(pair, orderId);
        if (lane.isEmpty()) revert MarketUnknownOrder(orderId);
        uint256 slot = OrderWords.slotOf(orderId);
        // The caller's placement word of the slot carries its registry number (0 if it never
        // placed near this slot; every order's number is ≥ 1): the owner check needs no lookup.
        uint256 placementWord = _placements[msg.sender][slot / _PLACEMENTS_PER_WORD];
        uint256 number = placementWord >> _NUMBER_SHIFT;
        if (lane.number() != number) revert MarketNotOrderOwner(orderId, msg.sender);
        if (lane.isCancelled()) revert MarketOrderCancelled(orderId);
        uint256 gateClosesAt = _gateClosesAt(slot);
        if (block.timestamp >= gateClosesAt) revert MarketGateClosed(slot, gateClosesAt);

        _orderPairs[pairKey] = OrderLanes.withLane(pair, orderId, lane.cancelled());
        _placements[msg.sender][slot / _PLACEMENTS_PER_WORD] = placementWord & ~(_LIVE_BIT << _placementShift(slot));
        // cancelled ≤ placed ≤ 65,535: no carry into the next slot's count
        _cancelCounts[slot >> 4] += uint256(1) << ((slot & 15) * 16);
        OrderWord packed = lane.body();
        uint256 refund = packed.isOffer() ? 0 : packed.energyWh().escrow(packed.limitPerKWh(), packed.feePerKWh());
        if (refund > 0) _addBalance(_positionFor(msg.sender, number), refund);
        emit OrderCancelled(orderId, msg.sender, refund);
    }

    // ───────────────────────────── clearing ─────────────────────────────

    /// @inheritdoc IEnergyMarket
    function clear(
        uint256 slot,
        uint32 marginalBid,
        uint32 marginalOffer,
        uint64 bidMarginalWh,
        uint64 offerMarginalWh
    ) external onlyKeeperOrParticipant {
        SlotState storage state = _slots[slot];
        if (state.status != SlotStatus.Open) revert MarketWrongSlotStatus(slot, state.status);
        (, uint256 gateClosesAt, uint256 deadline) = _slotTimes(slot);
        if (block.timestamp < gateClosesAt) revert MarketGateOpen(slot, gateClosesAt);
        if (block.timestamp >= deadline) revert MarketClearingDeadlinePassed(slot, deadline);

        UniformPriceClearing.Description memory d =
            UniformPriceClearing.Description(marginalBid, marginalOffer, bidMarginalWh, offerMarginalWh);
        uint256 cap = state.outageCap;
        (uint256 price, uint256 volume) = cap == 0
            ? UniformPriceClearing.verify(_loadOrders(slot), d, new uint256[](0))
            : UniformPriceClearing.verifyIsland(_loadOrders(slot), d, cap, new uint256[](0));
        state.status = SlotStatus.Cleared;
        state.price = uint32(price); // ≤ marginalBid, a uint32
        state.marginalBid = marginalBid;
        state.marginalOffer = marginalOffer;
        state.bidMarginalWh = bidMarginalWh;
        state.offerMarginalWh = offerMarginalWh;
        state.volumeWh = uint64(volume); // ≤ 65,535 orders × 2^32 Wh < 2^64
        emit SlotCleared(slot, price, volume, marginalBid, marginalOffer, bidMarginalWh, offerMarginalWh);
    }

    /// @dev The slot's orders in id order, as packed words without their owners (the clearing
    /// reads none), one storage read per pair.
    function _loadOrders(uint256 slot) private view returns (uint256[] memory orders) {
        orders = new uint256[](orderCount(slot));
        uint256 pair;
        for (uint256 i = 0; i < orders.length; ++i) {
            uint256 orderId = OrderWords.id(slot, i);
            if (i & 1 == 0) pair = _orderPairs[OrderLanes.pairKey(orderId)];
            orders[i] = OrderWord.unwrap(OrderLanes.laneOf(pair, orderId).body());
        }
    }

    // ───────────────────────────── settlement ─────────────────────────────

    /// @inheritdoc IEnergyMarket
    function settle(uint256 slot, uint256 maxOrders)
        external
        nonReentrant
        onlyKeeperOrRegistered
        returns (bool done)
    {
        SlotState storage state = _slots[slot];
        SlotStatus status = state.status;
        if (status == SlotStatus.Settled) revert MarketWrongSlotStatus(slot, status);
        if (status == SlotStatus.Open) {
            (,, uint256 deadline) = _slotTimes(slot);
            if (block.timestamp < deadline) revert MarketWrongSlotStatus(slot, status);
            // Never cleared by its deadline: expire it, every bid is refunded in full.
            state.expired = true;
            status = SlotStatus.Cleared;
        }
        // The first call meters every filled order; its chunk reuses those amounts (the
        // readings cannot change within one transaction), later chunks read them again.
        uint256[] memory metered;
        if (status == SlotStatus.Cleared) {
            metered = _startSettlement(slot, state);
            // Settling early (every filled trader reported, window still open): a later reading
            // could change a metered amount between chunks, so the whole slot settles now.
            (, uint256 windowClosesAt) = _readings.readingWindow(slot);
            if (block.timestamp < windowClosesAt) maxOrders = 0;
        }
        return _settleChunk(slot, state, maxOrders, metered);
    }

    /// @dev Phase 1 (first call): the pool totals D, A, T and S (sellers' certificate Wh).
    function _startSettlement(uint256 slot, SlotState storage state) private returns (uint256[] memory metered) {
        uint256 n = orderCount(slot);
        uint256 delivered;
        uint256 absorbed;
        (metered, delivered, absorbed) = _meterAll(slot, state, n);
        uint256 traded = delivered < absorbed ? delivered : absorbed;
        uint256 certificates;
        if (traded > 0) {
            for (uint256 i = 0; i < n; ++i) {
                // offers' entries carry the tag (set by _meterAll): no second read of the order
                uint256 entry = metered[i];
                if (entry & _OFFER_TAG == 0) continue;
                certificates += Settlement.sellerCertificates(entry & ~_OFFER_TAG, traded, delivered);
            }
        }
        state.status = SlotStatus.Settling;
        state.deliveredWh = uint64(delivered); // ≤ volume < 2^64
        state.absorbedWh = uint64(absorbed);
        state.certificateWh = uint64(certificates);
        emit SettlementStarted(slot, delivered, absorbed, traded, certificates);
    }

    /// @dev Each filled order's metered energy: delivered (offers, tagged with `_OFFER_TAG` so
    /// that phase 1 need not read the order again) or absorbed (bids), and D, A.
    function _meterAll(uint256 slot, SlotState storage state, uint256 n)
        private
        view
        returns (uint256[] memory metered, uint256 delivered, uint256 absorbed)
    {
        metered = new uint256[](n);
        if (state.expired || state.volumeWh == 0) return (metered, 0, 0);
        (, uint256 openWindowClosesAt) = _readings.readingWindow(slot);
        if (block.timestamp >= openWindowClosesAt) openWindowClosesAt = 0; // closed: no check
        Totals memory t; // only the budgets and the cap are used here
        t.bidBudget = state.bidMarginalWh;
        t.offerBudget = state.offerMarginalWh;
        t.cap = state.outageCap;
        UniformPriceClearing.Description memory d = _description(state);
        uint256 pair;
        for (uint256 i = 0; i < n; ++i) {
            if (i & 1 == 0) pair = _orderPairs[OrderLanes.pairKey(OrderWords.id(slot, i))];
            OrderLane lane = OrderLanes.laneOf(pair, OrderWords.id(slot, i));
            uint256 fill;
            (fill, t.bidBudget, t.offerBudget) = _fillAt(d, t.cap, lane.body(), t.bidBudget, t.offerBudget);
            if (fill == 0) continue;
            uint256 amount = _metered(slot, _accounts[lane.number()], lane.isOffer(), fill, openWindowClosesAt);
            if (lane.isOffer()) {
                delivered += amount;
                metered[i] = amount | _OFFER_TAG;
            } else {
                absorbed += amount;
                metered[i] = amount;
            }
        }
    }

    /// @dev min(fill, the owner's metered import (bid) or export (offer)). While the reading
    /// window is open (`openWindowClosesAt` > 0) the owner must have reported.
    function _metered(uint256 slot, address owner, bool offer, uint256 fill, uint256 openWindowClosesAt)
        private
        view
        returns (uint256)
    {
        (uint256 importWh, uint256 exportWh, uint256 reports) = _readings.energyOf(owner, slot);
        if (openWindowClosesAt != 0 && reports == 0) revert MarketSettlementTooEarly(slot, openWindowClosesAt, owner);
        uint256 measured = offer ? exportWh : importWh;
        return fill < measured ? fill : measured;
    }

    /// @dev Phase 2 (chunked): two sweeps in id order from the cursor — first every offer (pay the
    /// seller, its certificates into the pool), then every bid (charge, fee, refund, certificates
    /// out of the pool) — so the pool never runs short, whatever the order of ids. The cursor
    /// counts positions 0..2n; `maxOrders` bounds the orders settled in this call.
    // Payments are credits to internal balances, written before the certificate moves; the last
    // chunk's `_finish` writes the status after them. The only call goes to this system's
    // EnergyCertificate (fixed at construction, no hooks into other code) and `settle` is
    // nonReentrant (docs/security.md).
    // slither-disable-next-line reentrancy-no-eth
    function _settleChunk(uint256 slot, SlotState storage state, uint256 maxOrders, uint256[] memory metered)
        private
        returns (bool)
    {
        uint256 n = orderCount(slot);
        Totals memory t = Totals({
            price: state.price,
            delivered: state.deliveredWh,
            absorbed: state.absorbedWh,
            traded: 0,
            certificates: state.certificateWh,
            bidBudget: 0,
            offerBudget: 0,
            fees: 0,
            charges: 0,
            receipts: 0,
            sellerCertificates: 0,
            buyerCertificates: 0,
            cap: state.outageCap,
            metered: metered
        });
        t.traded = t.delivered < t.absorbed ? t.delivered : t.absorbed;
        bool trades = !state.expired && state.volumeWh > 0;
        uint256 limit = maxOrders == 0 || maxOrders > n ? n : maxOrders;
        UniformPriceClearing.Description memory d = _description(state);
        // one entry per settled order, and one more for the rounding account's certificate dust
        Moves memory m = Moves({
            sellers: new address[](limit),
            sellerWh: new uint256[](limit),
            buyers: new address[](limit + 1),
            buyerWh: new uint256[](limit + 1),
            settled: 0
        });
        // The cursor is 0 only before the first chunk (every chunk moves it on): the first starts
        // from the marginal budgets, a later one from those its predecessor stored.
        uint256 start = state.cursor;
        (t.bidBudget, t.offerBudget) =
            start == 0 ? (d.bidMarginalWh, d.offerMarginalWh) : (state.bidBudgetLeft, state.offerBudgetLeft);
        uint256 position = start;
        for (; position < 2 * n && m.settled < limit; ++position) {
            _settleAt(slot, d, position, n, trades, t, m);
        }
        // Step over what the next call would skip anyway, so the last call is never empty.
        while (position < 2 * n && _skipped(slot, position, n)) ++position;
        bool done = position == 2 * n;
        if (!done) {
            // The next chunk goes on from here. A slot settled in one call never writes these.
            state.cursor = uint32(position); // ≤ 2 × orderCap
            state.bidBudgetLeft = uint64(t.bidBudget);
            state.offerBudgetLeft = uint64(t.offerBudget);
            // Totals fit: Σ charges ≤ Σ escrow, itself bounded by the credit supply held here.
            state.charges += uint96(t.charges);
            state.receipts += uint96(t.receipts);
            state.fees += uint64(t.fees);
            state.buyerCertificateWh += uint64(t.buyerCertificates);
            // the pool's intake so far; once the offer sweep is over it is S (certificateFlow)
            if (position < n) state.sellerCertificateWh += uint64(t.sellerCertificates);
        }
        if (t.fees > 0) _addBalance(_FEE_POSITION, t.fees);
        bool moved = t.sellerCertificates > 0 || t.buyerCertificates > 0;
        if (done && _finish(slot, state, t, start > 0, m)) moved = true;
        // Interaction last: the certificate only emits the moves as events (their amounts are
        // already stored here as metered Wh and dust, from which its balances derive).
        if (moved) _moveCertificates(slot, m);
        return done;
    }

    /// @dev Hands one settlement call's certificate moves to the certificate, which emits them.
    function _moveCertificates(uint256 slot, Moves memory m) private {
        _certificate.marketMove(slot, m.sellers, m.sellerWh, m.buyers, m.buyerWh);
    }

    /// @dev Last chunk done: rounding dust (credits and certificate Wh) to the rounding account.
    /// `t` holds this chunk's totals; `chunked` adds the earlier chunks' stored ones. The
    /// certificate dust is stored for `certificateFlow` and put in the last entry of `m`'s buyers
    /// (returns true when there is any).
    function _finish(uint256 slot, SlotState storage state, Totals memory t, bool chunked, Moves memory m)
        private
        returns (bool)
    {
        if (chunked) {
            t.charges += state.charges;
            t.receipts += state.receipts;
            t.fees += state.fees;
            t.buyerCertificates += state.buyerCertificateWh;
        }
        state.status = SlotStatus.Settled;
        uint256 dust = t.charges - t.receipts; // charges round up, receipts down: ≥ 0
        uint256 certificateDust = t.certificates - t.buyerCertificates; // floors: ≥ 0
        if (dust > 0) _addBalance(_roundingPosition, dust);
        emit SlotSettled(slot, t.fees, dust, certificateDust, state.expired);
        if (certificateDust == 0) return false;
        state.certificateDustWh = uint64(certificateDust); // ≤ S < 2^64
        uint256 last = m.buyers.length - 1;
        (m.buyers[last], m.buyerWh[last]) = (_roundingAccount, certificateDust);
        return true;
    }

    /// @dev Certificate moves collected in one settlement chunk.
    struct Moves {
        address[] sellers;
        uint256[] sellerWh;
        address[] buyers;
        uint256[] buyerWh;
        uint256 settled;
    }

    /// @dev True when sweep position `position` holds nothing to settle (cancelled or other side).
    function _skipped(uint256 slot, uint256 position, uint256 n) private view returns (bool) {
        bool offerSweep = position < n;
        return _skips(_laneAt(OrderWords.id(slot, offerSweep ? position : position - n)), offerSweep);
    }

    /// @dev True when `lane` is not settled in this sweep (cancelled or the other side).
    function _skips(OrderLane lane, bool offerSweep) private pure returns (bool) {
        return lane.isCancelled() || lane.isOffer() != offerSweep;
    }

    /// @dev Settles the order at sweep position `position` if it belongs to that sweep.
    function _settleAt(
        uint256 slot,
        UniformPriceClearing.Description memory d,
        uint256 position,
        uint256 n,
        bool trades,
        Totals memory t,
        Moves memory m
    ) private {
        bool offerSweep = position < n;
        uint256 index = offerSweep ? position : position - n;
        OrderLane lane = _laneAt(OrderWords.id(slot, index));
        // cancelled orders were refunded when cancelled; each side has its own sweep
        if (_skips(lane, offerSweep)) return;
        uint256 fill;
        if (trades) (fill, t.bidBudget, t.offerBudget) = _fillAt(d, t.cap, lane.body(), t.bidBudget, t.offerBudget);
        uint256 metered;
        // metered even when nothing traded (T = 0): OrderSettled reports each order's metered
        // energy as the rules define it, whatever the pools (the payments are 0 then)
        if (fill > 0) {
            // a later chunk meters again (the owner's second read below is then warm)
            metered = t.metered.length > 0
                ? t.metered[index] & ~_OFFER_TAG
                : _metered(slot, _accounts[lane.number()], offerSweep, fill, 0);
        }
        (address holder, uint256 wh) = _settleOrder(OrderWords.id(slot, index), lane, fill, metered, t);
        // The holder's certificates derive from this stored amount (certificateFlow).
        if (wh > 0) _storeMetered(slot, index, metered);
        if (offerSweep) (m.sellers[m.settled], m.sellerWh[m.settled]) = (holder, wh);
        else (m.buyers[m.settled], m.buyerWh[m.settled]) = (holder, wh);
        ++m.settled;
    }

    /// @dev Running values of one settlement chunk.
    struct Totals {
        uint256 price;
        uint256 delivered;
        uint256 absorbed;
        uint256 traded;
        uint256 certificates;
        uint256 bidBudget;
        uint256 offerBudget;
        uint256 fees;
        uint256 charges;
        uint256 receipts;
        uint256 sellerCertificates;
        uint256 buyerCertificates;
        uint256 cap; // the outage price cap, 0 in a normal slot
        uint256[] metered; // per index, when metered in this transaction; else empty
    }

    /// @dev Settles one order; returns its owner and the certificate Wh it gives (offers) or
    /// receives (bids), or (0, 0) when it moves none.
    /// `metered` is 0 unless the order filled and the slot traded (T > 0).
    function _settleOrder(uint256 orderId, OrderLane lane, uint256 fill, uint256 metered, Totals memory t)
        private
        returns (address holder, uint256 certificateWh)
    {
        uint256 number = lane.number();
        address owner = _accounts[number];
        OrderWord packed = lane.body();
        // the lane's number gives the balance position: no read of the owner's placement word
        uint256 position = _positionFor(owner, number);
        if (packed.isOffer()) {
            uint256 receipt;
            uint256 feeTaken;
            if (metered > 0) {
                (receipt, feeTaken) = Settlement.seller(metered, t.traded, t.delivered, t.price, packed.feePerKWh());
                certificateWh = Settlement.sellerCertificates(metered, t.traded, t.delivered);
                t.receipts += receipt;
                t.fees += feeTaken;
                t.sellerCertificates += certificateWh;
            }
            // the seller fee ≤ receipt (Settlement.seller): the seller is credited the rest
            if (receipt > feeTaken) _addBalance(position, receipt - feeTaken);
            emit OrderSettled(orderId, owner, fill, metered, certificateWh, receipt, feeTaken, 0);
            return (certificateWh > 0 ? owner : address(0), certificateWh);
        }
        uint256 escrow = packed.energyWh().escrow(packed.limitPerKWh(), packed.feePerKWh());
        uint256 charge;
        uint256 fee;
        if (metered > 0) {
            (charge, fee) = Settlement.buyer(metered, t.traded, t.absorbed, t.price, packed.feePerKWh());
            certificateWh = Settlement.buyerCertificates(metered, t.absorbed, t.certificates);
            t.charges += charge;
            t.fees += fee;
            t.buyerCertificates += certificateWh;
        }
        uint256 refund = escrow - charge - fee; // price ≤ limit and T ≤ A: charge + fee ≤ escrow
        if (refund > 0) _addBalance(position, refund);
        emit OrderSettled(orderId, owner, fill, metered, certificateWh, charge, fee, refund);
        return (certificateWh > 0 ? owner : address(0), certificateWh);
    }

    // ───────────────────────────── governance (delayed) ─────────────────────────────

    /// @inheritdoc IEnergyMarket
    function setTariffs(uint32 feedInPerKWh, uint32 retailPerKWh, uint32 networkFeePerKWh)
        external
        onlyGovernance
    {
        _setTariffs(feedInPerKWh, retailPerKWh, networkFeePerKWh);
    }

    /// @inheritdoc IEnergyMarket
    function setSellerFee(uint32 sellerFeePerKWh) external onlyGovernance {
        if (sellerFeePerKWh > _MAX_FEE) revert MarketInvalidSellerFee(sellerFeePerKWh, _MAX_FEE);
        _sellerFeePerKWh = sellerFeePerKWh;
        emit SellerFeeSet(sellerFeePerKWh);
    }

    /// @inheritdoc IEnergyMarket
    function declareOutage(uint64 fromSlot, uint64 toSlot, uint32 priceCapPerKWh) external onlyGovernance {
        // A cap of 0 would read as "no outage" (outageCap 0 marks a normal slot).
        if (priceCapPerKWh == 0) revert MarketOutageCapZero();
        if (fromSlot > toSlot || toSlot - fromSlot >= _MAX_OUTAGE_SLOTS) {
            revert MarketOutageInvalid(fromSlot, toSlot, _MAX_OUTAGE_SLOTS);
        }
        Tariffs memory tariff = _tariffs;
        if (priceCapPerKWh < tariff.feedInPerKWh || priceCapPerKWh > tariff.retailPerKWh) {
            revert MarketPriceOutOfRange(priceCapPerKWh, tariff.feedInPerKWh, tariff.retailPerKWh);
        }
        // The rule of a slot may change only while its orders may still change.
        uint256 gateClosesAt = _gateClosesAt(fromSlot);
        if (block.timestamp >= gateClosesAt) revert MarketGateClosed(fromSlot, gateClosesAt);
        for (uint256 slot = fromSlot; slot <= toSlot; ++slot) {
            _slots[slot].outageCap = priceCapPerKWh;
            emit OutageDeclared(slot, priceCapPerKWh);
        }
    }

    // ───────────────────────────── views ─────────────────────────────

    /// @inheritdoc IEnergyMarket
    function balanceOf(address account) external view returns (uint256) {
        (bool known, uint256 position) = _positionOfAccount(account);
        return known ? _balanceAt(position) : 0;
    }

    /// @inheritdoc IEnergyMarket
    function outageCap(uint256 slot) external view returns (uint256) {
        return _slots[slot].outageCap;
    }

    /// @inheritdoc IEnergyMarket
    function order(uint256 orderId) external view returns (Order memory) {
        OrderLane lane = _laneAt(orderId);
        if (lane.isEmpty()) revert MarketUnknownOrder(orderId);
        return lane.toWord(_accounts[lane.number()]).unpack();
    }

    /// @inheritdoc IEnergyMarket
    function orderWords(uint256 slot, uint256 start, uint256 count) external view returns (uint256[] memory words) {
        uint256 n = orderCount(slot);
        if (start > n) start = n;
        if (count > n - start) count = n - start;
        words = new uint256[](count);
        for (uint256 i = 0; i < count; ++i) {
            OrderLane lane = _laneAt(OrderWords.id(slot, start + i));
            words[i] = OrderWord.unwrap(lane.toWord(_accounts[lane.number()]));
        }
    }

    /// @inheritdoc IEnergyMarket
    function orderCount(uint256 slot) public view returns (uint256) {
        return uint16(_orderCounts[slot >> 4] >> ((slot & 15) * 16));
    }

    /// @inheritdoc IEnergyMarket
    function clearing(uint256 slot) external view returns (Clearing memory) {
        SlotState storage s = _slots[slot];
        return Clearing({
            status: s.status,
            priceCreditsPerKWh: s.price,
            marginalBid: s.marginalBid,
            marginalOffer: s.marginalOffer,
            bidMarginalWh: s.bidMarginalWh,
            offerMarginalWh: s.offerMarginalWh,
            volumeWh: s.volumeWh
        });
    }

    /// @inheritdoc IEnergyMarket
    function tariffs() external view returns (Tariffs memory) {
        return _tariffs;
    }

    /// @inheritdoc IEnergyMarket
    function sellerFee() external view returns (uint256) {
        return _sellerFeePerKWh;
    }

    /// @inheritdoc IEnergyMarket
    function escrowFor(uint256 energyWh, uint256 limitPricePerKWh, uint256 feePerKWh) external pure returns (uint256) {
        return energyWh.escrow(limitPricePerKWh, feePerKWh);
    }

    /// @inheritdoc IEnergyMarket
    function slotTimes(uint256 slot)
        external
        view
        returns (uint256 startsAt, uint256 gateClosesAt, uint256 clearingDeadline)
    {
        return _slotTimes(slot);
    }

    /// @notice The accounts that receive network fees and rounding dust.
    function accounts() external view returns (address feeAccount, address roundingAccount) {
        return (_feeAccount, _roundingAccount);
    }

    /// @notice Gate closure (seconds before slot start) and the per-slot cap on live orders.
    function rules() external view returns (uint32 gateClosure, uint16 orderCap) {
        return (_gateClosure, _orderCap);
    }

    /// @inheritdoc IEnergyMarket
    function orderLimits() external view returns (uint256 liveCap, uint256 placementsPerAccount, uint256 idCap) {
        return (_orderCap, _MAX_PLACEMENTS, _idCap);
    }

    /// @inheritdoc IEnergyMarket
    function liveOrderCount(uint256 slot) public view returns (uint256) {
        return orderCount(slot) - uint16(_cancelCounts[slot >> 4] >> ((slot & 15) * 16));
    }

    /// @inheritdoc IEnergyMarket
    function placements(address account, uint256 slot) external view returns (uint256 placed, bool live) {
        uint256 lane = _placementLane(account, slot);
        return (lane & _COUNT_MASK, lane & _LIVE_BIT != 0);
    }

    /// @inheritdoc IEnergyMarket
    function certificateFlow(address account, uint256 slot)
        external
        view
        returns (uint256 receivedWh, uint256 givenWh, bool final_)
    {
        SlotState storage state = _slots[slot];
        if (account == address(this)) return _poolFlow(state, slot);
        uint256 lane = _placementLane(account, slot);
        bool live = lane & _LIVE_BIT != 0;
        if (live) {
            uint256 index = lane >> 4;
            uint256 metered = _meteredOf(slot, index);
            if (metered > 0) {
                // Stored only when the order moved certificates, so the slot has D, A, T and S.
                uint256 delivered = state.deliveredWh;
                uint256 absorbed = state.absorbedWh;
                uint256 traded = delivered < absorbed ? delivered : absorbed;
                if (_laneAt(OrderWords.id(slot, index)).isOffer()) {
                    givenWh = Settlement.sellerCertificates(metered, traded, delivered);
                } else {
                    receivedWh = Settlement.buyerCertificates(metered, absorbed, state.certificateWh);
                }
            }
        }
        if (account == _roundingAccount) receivedWh += state.certificateDustWh;
        final_ = state.status == SlotStatus.Settled || (!live && block.timestamp >= _gateClosesAt(slot));
    }

    // ───────────────────────────── internal ─────────────────────────────

    function _placeOrders(OrderInput[] calldata orders) private returns (uint256[] memory orderIds) {
        IParticipantRegistry.Participant memory p = _registry.participant(msg.sender);
        bool trader = p.kind == IParticipantRegistry.Kind.Consumer || p.kind == IParticipantRegistry.Kind.Prosumer;
        if (!p.active || !trader) revert MarketNotAllowed(msg.sender);
        Tariffs memory tariff = _tariffs;
        uint256 totalEscrow;
        orderIds = new uint256[](orders.length);
        for (uint256 k = 0; k < orders.length; ++k) {
            uint256 escrow;
            (orderIds[k], escrow) = _placeOne(orders[k], p, tariff);
            totalEscrow += escrow;
        }
        if (totalEscrow > 0) _lock(_positionFor(msg.sender, p.number), totalEscrow);
    }

    /// @dev Moves `amount` of the caller's balance into escrow, first depositing the shortfall
    /// (one transferFrom) when the balance does not cover it, so placing stays one transaction.
    function _lock(uint256 position, uint256 amount) private {
        uint256 balance = _balanceAt(position);
        if (balance >= amount) {
            _setBalance(position, balance - amount);
            return;
        }
        // The whole balance goes into escrow (a stored zero is left as it is: no write), then
        // the shortfall is pulled from the wallet.
        if (balance > 0) _setBalance(position, 0);
        uint256 shortfall = amount - balance;
        emit CreditsDeposited(msg.sender, shortfall);
        _pull(shortfall);
    }

    /// @dev Deposits `amount` of the caller's credits: the caller must be an active participant.
    function _deposit(uint256 amount) private {
        if (amount == 0) revert MarketZeroAmount();
        // The market would hold at least `amount`: refused before it is added to a 64-bit lane.
        if (amount > _MAX_HELD) revert MarketHoldingCapExceeded(amount, _MAX_HELD);
        IParticipantRegistry.Participant memory p = _registry.participant(msg.sender);
        if (!p.active || p.kind == IParticipantRegistry.Kind.None) revert MarketNotAllowed(msg.sender);
        _recordAccount(p.number);
        _addBalance(_positionFor(msg.sender, p.number), amount);
        emit CreditsDeposited(msg.sender, amount);
        _pull(amount);
    }

    /// @dev Takes `amount` credits from the caller into the market (allowance or permit).
    function _pull(uint256 amount) private {
        // Our own token: no callbacks; reverts (e.g. ERC20InsufficientAllowance) undo all.
        bool ok = _credit.transferFrom(msg.sender, address(this), amount);
        ok; // OpenZeppelin's ERC20 reverts instead of returning false
        // Every balance is part of what the market holds: bounding that keeps each 64-bit lane
        // from overflowing, so no settlement or refund credit can revert.
        uint256 held = _credit.balanceOf(address(this));
        if (held > _MAX_HELD) revert MarketHoldingCapExceeded(held, _MAX_HELD);
    }

    function _placeOne(
        OrderInput calldata input,
        IParticipantRegistry.Participant memory p,
        Tariffs memory tariff
    ) private returns (uint256 orderId, uint256 escrow) {
        _checkOrder(input, p.kind, tariff);
        // A bid snapshots the network fee in force, an offer the seller fee in force; an offer's
        // limit must cover its fee, so a seller never pays to sell.
        uint256 fee = input.side == Side.Bid ? tariff.networkFeePerKWh : _sellerFeePerKWh;
        if (input.limitPricePerKWh < fee) revert MarketLimitBelowFee(input.limitPricePerKWh, fee);
        orderId = _appendOrder(
            input.slot,
            OrderWords.pack(msg.sender, input.side, input.energyWh, input.limitPricePerKWh, fee, p.criticalLoad),
            p.number
        );
        if (input.side == Side.Bid) escrow = uint256(input.energyWh).escrow(input.limitPricePerKWh, fee);
        emit OrderPlaced(
            orderId, msg.sender, input.slot, input.side, input.energyWh, input.limitPricePerKWh, fee, p.criticalLoad, escrow
        );
    }

    function _checkOrder(OrderInput calldata input, IParticipantRegistry.Kind kind, Tariffs memory tariff)
        private
        view
    {
        uint256 gateClosesAt = _gateClosesAt(input.slot);
        if (block.timestamp >= gateClosesAt) revert MarketGateClosed(input.slot, gateClosesAt);
        if (input.energyWh == 0) revert MarketZeroEnergy();
        if (input.limitPricePerKWh < tariff.feedInPerKWh || input.limitPricePerKWh > tariff.retailPerKWh) {
            revert MarketPriceOutOfRange(input.limitPricePerKWh, tariff.feedInPerKWh, tariff.retailPerKWh);
        }
        if (input.side == Side.Offer && kind != IParticipantRegistry.Kind.Prosumer) {
            revert MarketNotProsumer(msg.sender);
        }
    }

    /// @dev Stores the order in its lane (with the owner's number), bumps the slot's count, marks
    /// the owner's placement (and keeps the owner's registry `number` in its placement word, for
    /// cancelling).
    function _appendOrder(uint256 slot, OrderWord packed, uint256 number) private returns (uint256 orderId) {
        uint256 laneShift = _placementShift(slot);
        uint256 word = _placements[msg.sender][slot / _PLACEMENTS_PER_WORD];
        // A number in the placement word means an earlier placement here recorded the account.
        if (word >> _NUMBER_SHIFT == 0) _recordAccount(number);
        uint256 lane = (word >> laneShift) & _PLACEMENT_MASK;
        if (lane & _LIVE_BIT != 0) revert MarketDuplicateOrder(msg.sender, slot);
        uint256 placed = lane & _COUNT_MASK;
        if (placed >= _MAX_PLACEMENTS) revert MarketPlacementLimit(msg.sender, slot, _MAX_PLACEMENTS);

        uint256 shift = (slot & 15) * 16;
        uint256 counts = _orderCounts[slot >> 4];
        uint256 index = uint16(counts >> shift);
        // live ≤ index: the cancel count is read only once the ids alone reach the cap.
        if (index >= _orderCap && index - uint16(_cancelCounts[slot >> 4] >> shift) >= _orderCap) {
            revert MarketSlotFull(slot, _orderCap);
        }
        if (index >= _idCap) revert MarketSlotExhausted(slot, _idCap);
        _orderCounts[slot >> 4] = counts + (uint256(1) << shift); // index < idCap ≤ 65,535: no carry
        // The live bit, one more placement (< _MAX_PLACEMENTS + 1 < 8) and the order's index.
        lane = (index << 4) | _LIVE_BIT | (placed + 1);
        _placements[msg.sender][slot / _PLACEMENTS_PER_WORD] =
            (word & ~(_PLACEMENT_MASK << laneShift)) | (lane << laneShift) | (number << _NUMBER_SHIFT);

        orderId = OrderWords.id(slot, index);
        OrderLane stored = OrderLanes.fromWord(packed, number);
        uint256 pairKey = OrderLanes.pairKey(orderId);
        // Ids increase: the first order of a pair finds its word empty (no read), the second
        // adds its lane to the word the first wrote.
        _orderPairs[pairKey] = index & 1 == 0
            ? OrderLanes.withLane(0, orderId, stored)
            : OrderLanes.withLane(_orderPairs[pairKey], orderId, stored);
    }

    /// @dev The market's own certificates of `slot`: the pool sellers give into and buyers (and
    /// the rounding account) receive from, in the offer sweep then the bid sweep. It holds
    /// certificates only between the chunks of a slot settled in several calls.
    function _poolFlow(SlotState storage state, uint256 slot)
        private
        view
        returns (uint256 receivedWh, uint256 givenWh, bool final_)
    {
        SlotStatus status = state.status;
        if (status == SlotStatus.Settled) return (state.certificateWh, state.certificateWh, true);
        if (status != SlotStatus.Settling) return (0, 0, false);
        // between chunks: the offer sweep is over once the cursor passed the slot's n offers' ids
        receivedWh = state.cursor >= orderCount(slot) ? state.certificateWh : state.sellerCertificateWh;
        return (receivedWh, state.buyerCertificateWh, false);
    }

    /// @dev The balance position of `account`, whose registry number is `number` (≥ 1 unless it
    /// is the fee or rounding account): the service accounts keep their own lanes even when
    /// they are also registered, so each account has exactly one balance.
    function _positionFor(address account, uint256 number) private view returns (uint256) {
        if (account == _feeAccount) return _FEE_POSITION;
        if (account == _roundingAccount) return _roundingPosition;
        return number + 1;
    }

    /// @dev Records the caller as the account of registry number `number`, the owner of every
    /// order lane carrying it, unless already recorded (numbers never change hands). Depositing
    /// records it too, so that a trader who deposits first (the documented flow) pays the fresh
    /// word there and not with its first order.
    function _recordAccount(uint256 number) private {
        if (_accounts[number] == address(0)) _accounts[number] = msg.sender;
    }

    /// @dev The stored lane of order `orderId` (zero: no such order).
    function _laneAt(uint256 orderId) private view returns (OrderLane) {
        return OrderLanes.load(_orderPairs, orderId);
    }

    /// @dev `account`'s balance position, asking the registry; `known` is false for an account
    /// that is neither registered nor a service account (its balance is 0).
    function _positionOfAccount(address account) private view returns (bool known, uint256 position) {
        if (account == _feeAccount) return (true, _FEE_POSITION);
        if (account == _roundingAccount) return (true, _roundingPosition);
        uint256 number = _registry.participant(account).number;
        return (number != 0, number + 1);
    }

    /// @dev The free credits at balance position `position`.
    function _balanceAt(uint256 position) private view returns (uint256) {
        return uint64(_balanceWords[position / _BALANCES_PER_WORD] >> _balanceShift(position));
    }

    /// @dev Sets the free credits at `position` to `balance` (≤ the market's holding, < 2^64).
    function _setBalance(uint256 position, uint256 balance) private {
        uint256 shift = _balanceShift(position);
        uint256 key = position / _BALANCES_PER_WORD;
        _balanceWords[key] = (_balanceWords[key] & ~(uint256(type(uint64).max) << shift)) | (balance << shift);
    }

    /// @dev Adds `amount` to the free credits at `position`: the sum is part of what the market
    /// holds (≤ _MAX_HELD), so it never carries into the next lane.
    function _addBalance(uint256 position, uint256 amount) private {
        _balanceWords[position / _BALANCES_PER_WORD] += amount << _balanceShift(position);
    }

    function _balanceShift(uint256 position) private pure returns (uint256) {
        return (position % _BALANCES_PER_WORD) * _BALANCE_BITS;
    }

    /// @dev The bit offset of `slot`'s placement lane in its word.
    function _placementShift(uint256 slot) private pure returns (uint256) {
        return (slot % _PLACEMENTS_PER_WORD) * _PLACEMENT_BITS;
    }

    /// @dev `account`'s placement lane of `slot` (count, live bit, index of its latest order).
    function _placementLane(address account, uint256 slot) private view returns (uint256) {
        return (_placements[account][slot / _PLACEMENTS_PER_WORD] >> _placementShift(slot)) & _PLACEMENT_MASK;
    }

    /// @dev The metered Wh stored at settlement for the `index`-th order of `slot` (0: none).
    function _meteredOf(uint256 slot, uint256 index) private view returns (uint256) {
        uint256 word = _meteredWh[(slot << 13) | (index / _METERED_PER_WORD)];
        return uint32(word >> ((index % _METERED_PER_WORD) * _METERED_BITS));
    }

    /// @dev Stores `metered` (< 2^32) for the `index`-th order of `slot`, whose lane is still 0
    /// (each order settles once).
    function _storeMetered(uint256 slot, uint256 index, uint256 metered) private {
        _meteredWh[(slot << 13) | (index / _METERED_PER_WORD)] |=
            metered << ((index % _METERED_PER_WORD) * _METERED_BITS);
    }

    /// @dev The fill of the order `packed` under the slot's description, consuming the budgets.
    function _fillAt(
        UniformPriceClearing.Description memory d,
        uint256 cap,
        OrderWord packed,
        uint256 bidBudget,
        uint256 offerBudget
    ) private pure returns (uint256, uint256, uint256) {
        return cap == 0
            ? UniformPriceClearing.fillOf(OrderWord.unwrap(packed), d, bidBudget, offerBudget)
            : UniformPriceClearing.fillOfIsland(OrderWord.unwrap(packed), d, cap, bidBudget, offerBudget);
    }

    /// @dev The slot's stored clearing description.
    function _description(SlotState storage state) private view returns (UniformPriceClearing.Description memory) {
        return UniformPriceClearing.Description(
            state.marginalBid, state.marginalOffer, state.bidMarginalWh, state.offerMarginalWh
        );
    }

    function _setTariffs(uint32 feedIn, uint32 retail, uint32 fee) private {
        if (feedIn > retail || fee > _MAX_FEE) revert MarketInvalidTariffs(feedIn, retail, fee);
        _tariffs = Tariffs({feedInPerKWh: feedIn, retailPerKWh: retail, networkFeePerKWh: fee});
        emit TariffsSet(feedIn, retail, fee);
    }

    function _slotTimes(uint256 slot)
        private
        view
        returns (uint256 startsAt, uint256 gateClosesAt, uint256 clearingDeadline)
    {
        startsAt = _epoch + slot * _slotLength;
        gateClosesAt = startsAt > _gateClosure ? startsAt - _gateClosure : 0;
        clearingDeadline = startsAt + _slotLength + _readingWindow;
    }

    function _gateClosesAt(uint256 slot) private view returns (uint256 gateClosesAt) {
        (, gateClosesAt,) = _slotTimes(slot);
    }

    // ───────────────────────────── access ─────────────────────────────
    // Every role check of the market is one of these three modifiers; the roles live in the
    // registry (docs/security.md).

    /// @dev The caller must be the registry's default admin (the governance timelock).
    modifier onlyGovernance() {
        if (!_registry.hasRole(_GOVERNANCE_ROLE, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, _GOVERNANCE_ROLE);
        }
        _;
    }

    /// @dev Clearing: a keeper (the operator's service) or any active participant.
    modifier onlyKeeperOrParticipant() {
        if (!_isKeeper(msg.sender) && !_registry.isActiveParticipant(msg.sender)) revert MarketNotAllowed(msg.sender);
        _;
    }

    /// @dev Settlement only applies the stored clearing and the readings, so every registered
    /// account may trigger it, suspended ones included: revoking the keepers and suspending the
    /// traders cannot keep escrow locked in the market.
    modifier onlyKeeperOrRegistered() {
        if (!_isKeeper(msg.sender) && _registry.participant(msg.sender).kind == IParticipantRegistry.Kind.None) {
            revert MarketNotAllowed(msg.sender);
        }
        _;
    }

    function _isKeeper(address account) private view returns (bool) {
        return _registry.hasRole(Roles.KEEPER, account);
    }

    function _checkBound(address boundMarket, address token) private view {
        if (boundMarket != address(this)) revert MarketNotBound(token, boundMarket);
    }

}
