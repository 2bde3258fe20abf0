// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {CommunityCredit} from "../../contracts/CommunityCredit.sol";
import {EnergyCertificate} from "../../contracts/EnergyCertificate.sol";
import {EnergyMarket} from "../../contracts/EnergyMarket.sol";
import {Governance} from "../../contracts/Governance.sol";
import {MeterReadings} from "../../contracts/MeterReadings.sol";
import {ParticipantRegistry} from "../../contracts/ParticipantRegistry.sol";
import {IEnergyCertificate} from "../../contracts/interfaces/IEnergyCertificate.sol";
import {IEnergyMarket} from "../../contracts/interfaces/IEnergyMarket.sol";
import {IMeterReadings} from "../../contracts/interfaces/IMeterReadings.sol";
import {IParticipantRegistry} from "../../contracts/interfaces/IParticipantRegistry.sol";
import {MarketMath} from "../../contracts/libraries/MarketMath.sol";
import {Roles} from "../../contracts/libraries/Roles.sol";
import {UniformPriceClearing} from "../../contracts/libraries/UniformPriceClearing.sol";

import {Cheats, Vm} from "./Vm.sol";

/// @title MarketHandler
/// @notice The bounded actions of the invariant campaign (register, suspend, mint, transfer,
/// place, cancel, warp, clear correctly and subtly wrongly, submit good and bad readings, settle
/// in chunks, expire, retire, redeem) on one deployed system, and the ghost ledger the
/// invariants compare with. Every action is `try`-guarded: a refusal the system is entitled to
/// is fine; a refusal or success it is not entitled to is recorded in `violations`.
/// @dev Time only moves forward. An action that needs a later phase of its slot (clearing after
/// the gate, readings after the slot) moves time there, so a 50-call run crosses several slots.
contract MarketHandler is Cheats {
    using MarketMath for uint256;

    // ───────────────────────── configuration ─────────────────────────

    uint32 internal constant SLOT = 300;
    uint32 internal constant WINDOW = 600; // readings accepted until 600 s after the slot's end
    uint32 internal constant GATE = 60;
    uint16 internal constant ORDER_CAP = 4; // live orders per slot: 6 actors can fill it
    uint32 internal constant FEED_IN = 80_000;
    uint32 internal constant RETAIL = 300_000;
    uint32 internal constant FEE = 30_000;
    /// @dev The seller fee every offer snapshots (set as the governance timelock at deployment).
    uint32 internal constant SELLER_FEE = 12_345;
    uint256 internal constant MINT_LIMIT = 10_000e6;
    uint32 internal constant CAPACITY_W = 20_000; // ≤ 1,666 Wh per 300-s slot
    uint256 internal constant ACTORS = 6;
    uint256 internal constant INITIAL_ACTORS = 4;

    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    uint256 internal constant SECP256K1_N =
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    Governance public governance;
    ParticipantRegistry public registry;
    CommunityCredit public credit;
    EnergyCertificate public certificate;
    MeterReadings public readings;
    EnergyMarket public market;

    address public immutable operator = address(0x0BE7A70B);
    address public immutable keeper = address(0x0C0FFEE);
    address public immutable feeAccount = address(0xFEE);
    address public immutable roundingAccount = address(0xD057);
    address public immutable stranger = address(0x57A4);
    uint64 public epoch;

    address[ACTORS] public actors;
    uint256[ACTORS] internal deviceKeys;
    uint256[ACTORS] public meterOf; // 0: none yet

    // ───────────────────────── ghost ledger ─────────────────────────

    uint256 public minted;
    uint256 public burned;
    /// @dev Per account: the credits it must own (wallet plus market balance) from the actions
    /// and the events.
    mapping(address account => uint256) public expectedBalance;
    /// @dev Every slot that ever had an order or a reading, in first-touch order.
    uint256[] public slots;
    mapping(uint256 slot => bool) internal known;
    /// @dev Credits the market paid out of a slot's escrow at settlement (receipts net of seller fees, refunds,
    /// fees, dust), from its events.
    mapping(uint256 slot => uint256) public paidOut;
    mapping(uint256 slot => uint256) public receipts;
    mapping(uint256 slot => uint256) public fees;
    mapping(uint256 slot => uint256) public refunds;
    mapping(uint256 slot => uint256) public dust;
    /// @dev Verified export recorded per slot (accepted readings) and certificates retired.
    mapping(uint256 slot => uint256) public exportRecorded;
    mapping(uint256 slot => uint256) public retired;
    mapping(uint256 meterId => mapping(uint256 slot => uint256)) public recordings;
    mapping(uint256 meterId => uint256) internal lastSlotOf;
    mapping(uint256 meterId => uint256) internal importRegister;
    mapping(uint256 meterId => uint256) internal exportRegister;
    /// @dev Ids handed out per slot, as the handler saw them (the next id's index).
    mapping(uint256 slot => uint256) public idsSeen;
    mapping(uint256 orderId => bool) internal idTaken;
    /// @dev A settled slot's fingerprint when it settled.
    mapping(uint256 slot => bytes32) public settledPrint;
    mapping(uint256 slot => bool) public settledSeen;
    /// @dev Suspended accounts' credits moved other than to themselves (must stay 0).
    uint256 public suspendedOutflow;

    string[] public violations;

    // statistics (reported by the campaign)
    uint256 public placed;
    uint256 public clearedRight;
    uint256 public wrongClearingsRefused;
    uint256 public wrongClearingsAccepted;
    uint256 public badReadingsRefused;
    uint256 public readingsAccepted;
    uint256 public settledSlots;
    uint256 public unsolved;

    constructor() {
        vm.warp(1_800_000_000);
        // Slot 100 starts now: slot numbers stay far from 0 (0 means "no slot yet" here).
        epoch = uint64(block.timestamp - block.timestamp % SLOT - 100 * SLOT);
        _deploy();
        for (uint256 i = 0; i < ACTORS; ++i) {
            actors[i] = vm.addr(0xA11CE + i);
            deviceKeys[i] = 0xDE71CE + i;
            vm.label(actors[i], string(abi.encodePacked("actor", bytes1(uint8(48 + i)))));
        }
        for (uint256 i = 0; i < INITIAL_ACTORS; ++i) {
            _register(i, i < 2 ? IParticipantRegistry.Kind.Prosumer : IParticipantRegistry.Kind.Consumer, i == 3);
            vm.prank(operator);
            credit.mint(actors[i], 1_000e6, keccak256(abi.encode("initial", i)));
            minted += 1_000e6;
            expectedBalance[actors[i]] += 1_000e6;
        }
    }

    function _deploy() private {
        address[] memory proposers = new address[](1);
        proposers[0] = address(this);
        // Nonces of this contract: 1 governance, 2 registry, 3 credit, 4 certificate,
        // 5 readings, 6 market.
        governance = new Governance(1 days, proposers, proposers, address(this));
        IParticipantRegistry.RoleGrant[] memory staff = new IParticipantRegistry.RoleGrant[](2);
        staff[0] = IParticipantRegistry.RoleGrant(Roles.OPERATOR, operator);
        staff[1] = IParticipantRegistry.RoleGrant(Roles.KEEPER, keeper);
        registry = new ParticipantRegistry(address(governance), 1 days, staff);
        credit = new CommunityCredit(registry, _created(6), MINT_LIMIT);
        certificate = new EnergyCertificate(registry, IMeterReadings(_created(5)), _created(6));
        readings = new MeterReadings(registry, certificate, epoch, SLOT, WINDOW, GATE);
        market = new EnergyMarket(
            registry,
            IERC20(address(credit)),
            IEnergyCertificate(address(certificate)),
            readings,
            GATE,
            ORDER_CAP,
            feeAccount,
            roundingAccount,
            IEnergyMarket.Tariffs(FEED_IN, RETAIL, FEE)
        );
        vm.prank(address(governance));
        market.setSellerFee(SELLER_FEE);
        vm.startPrank(operator);
        registry.registerParticipant(feeAccount, IParticipantRegistry.Kind.Service, false);
        registry.registerParticipant(roundingAccount, IParticipantRegistry.Kind.Service, false);
        vm.stopPrank();
    }

    /// @dev CREATE address of this contract's deployment with `nonce` (< 0x80).
    function _created(uint256 nonce) private view returns (address) {
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xd6), bytes1(0x94), address(this), uint8(nonce))))));
    }

    // ───────────────────────── helpers ─────────────────────────

    function _violation(string memory what) internal {
        violations.push(what);
    }

    function violationCount() external view returns (uint256) {
        return violations.length;
    }

    function slotCount() external view returns (uint256) {
        return slots.length;
    }

    function _touch(uint256 slot) internal {
        if (!known[slot]) {
            known[slot] = true;
            slots.push(slot);
        }
    }

    function currentSlot() public view returns (uint256) {
        return (block.timestamp - epoch) / SLOT;
    }

    function slotStart(uint256 slot) public view returns (uint256) {
        return epoch + slot * SLOT;
    }

    /// @dev A slot near now: from 3 slots back to 3 ahead.
    function _nearSlot(uint256 seed) internal view returns (uint256) {
        uint256 now_ = currentSlot();
        uint256 offset = seed % 7;
        return now_ + offset >= 3 ? now_ + offset - 3 : 0;
    }

    function _actor(uint256 seed) internal view returns (uint256 index, address account) {
        index = seed % ACTORS;
        account = actors[index];
    }

    function _active(address account) internal view returns (bool) {
        return registry.isActiveParticipant(account);
    }

    function _register(uint256 i, IParticipantRegistry.Kind kind, bool critical) internal {
        vm.startPrank(operator);
        registry.registerParticipant(actors[i], kind, critical);
        meterOf[i] = registry.registerMeter(vm.addr(deviceKeys[i]), actors[i], CAPACITY_W);
        vm.stopPrank();
        vm.prank(actors[i]);
        credit.approve(address(market), type(uint256).max);
    }

    function _moveTo(uint256 timestamp) internal {
        if (timestamp > block.timestamp) vm.warp(timestamp);
    }

    // ───────────────────────── participants and credits ─────────────────────────

    function register(uint256 actorSeed, bool prosumer, bool critical) external {
        (uint256 i,) = _actor(actorSeed);
        if (meterOf[i] != 0) return;
        _register(i, prosumer ? IParticipantRegistry.Kind.Prosumer : IParticipantRegistry.Kind.Consumer, critical);
    }

    function suspend(uint256 actorSeed) external {
        (, address account) = _actor(actorSeed);
        bool wasActive = _active(account);
        vm.prank(operator);
        try registry.suspendParticipant(account) {
            if (!wasActive) _violation("suspended an account that was not active");
        } catch {}
    }

    function reinstate(uint256 actorSeed) external {
        (, address account) = _actor(actorSeed);
        vm.prank(operator);
        try registry.reinstateParticipant(account) {} catch {}
    }

    function mint(uint256 actorSeed, uint256 amount) external {
        (, address account) = _actor(actorSeed);
        amount = _bound(amount, 0, MINT_LIMIT + 1);
        bytes32 ref = keccak256(abi.encode("topup", minted, burned, block.timestamp, amount, account));
        bool allowed = amount > 0 && amount <= MINT_LIMIT && _active(account);
        vm.prank(operator);
        try credit.mint(account, amount, ref) {
            if (!allowed) _violation("mint accepted that must be refused");
            minted += amount;
            expectedBalance[account] += amount;
        } catch {
            if (allowed) _violation("mint refused that must be accepted");
        }
        // A stranger can never mint.
        vm.prank(stranger);
        try credit.mint(account, 1, keccak256(abi.encode(ref))) {
            _violation("stranger minted");
        } catch {}
    }

    function redeem(uint256 actorSeed, uint256 amount) external {
        (, address account) = _actor(actorSeed);
        uint256 balance = credit.balanceOf(account);
        amount = _bound(amount, 0, balance + 1);
        bytes32 ref = keccak256(abi.encode("redeem", minted, burned, block.timestamp, amount, account));
        vm.prank(account);
        try credit.redeem(amount, ref) {
            if (amount == 0 || amount > balance) _violation("redeem beyond balance accepted");
            burned += amount;
            expectedBalance[account] -= amount;
        } catch {
            if (amount > 0 && amount <= balance) _violation("own redemption refused");
        }
    }

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount, bool toMarket) external {
        (, address from) = _actor(fromSeed);
        (, address to) = _actor(toSeed);
        uint256 balance = credit.balanceOf(from);
        amount = _bound(amount, 0, balance);
        // Credits sent to the market contract outside an order would belong to no order: only
        // the market itself may move credits there, any amount from anyone else is refused.
        if (toMarket) {
            vm.prank(from);
            try credit.transfer(address(market), amount) {
                _violation("credits were sent to the market outside an order");
            } catch {}
            return;
        }
        bool fromActive = _active(from);
        vm.prank(from);
        try credit.transfer(to, amount) {
            if (!fromActive) {
                suspendedOutflow += amount;
                _violation("an account that is not active moved credits");
            }
            expectedBalance[from] -= amount;
            expectedBalance[to] += amount;
        } catch {}
    }

    /// @dev Wallet → market balance: active participants only; what the account owns is unchanged.
    function deposit(uint256 actorSeed, uint256 amount) external {
        (, address account) = _actor(actorSeed);
        uint256 wallet = credit.balanceOf(account);
        amount = _bound(amount, 0, wallet + 1);
        bool allowed = amount > 0 && amount <= wallet && _active(account);
        uint256 inMarket = market.balanceOf(account);
        vm.prank(account);
        try market.deposit(amount) {
            if (!allowed) _violation("deposit accepted that must be refused");
            if (market.balanceOf(account) != inMarket + amount) _violation("deposit not credited");
        } catch {
            if (allowed) _violation("deposit refused that must be accepted");
        }
    }

    /// @dev Market balance → wallet: every registered account, suspended ones included, takes out
    /// its own free credits; never more.
    function withdraw(uint256 actorSeed, uint256 amount) external {
        (, address account) = _actor(actorSeed);
        uint256 inMarket = market.balanceOf(account);
        amount = _bound(amount, 0, inMarket + 1);
        bool registered = registry.participant(account).kind != IParticipantRegistry.Kind.None;
        bool allowed = amount > 0 && amount <= inMarket && registered;
        uint256 wallet = credit.balanceOf(account);
        vm.prank(account);
        try market.withdraw(amount) {
            if (!allowed) _violation("withdrawal accepted that must be refused");
            if (credit.balanceOf(account) != wallet + amount) _violation("withdrawal not paid out");
        } catch {
            if (allowed) _violation("own withdrawal refused");
        }
    }

    // ───────────────────────── orders ─────────────────────────

    function place(uint256 actorSeed, uint256 slotSeed, bool offer, uint256 energyWh, uint256 limit) external {
        (, address account) = _actor(actorSeed);
        // Mostly a slot whose gate is open; one time in eight any slot near now.
        uint256 slot = slotSeed % 8 == 0 ? _nearSlot(slotSeed / 8) + 1 : currentSlot() + 1 + (slotSeed / 8) % 3;
        // Consumers bid; one time in eight they try to offer (refused: MarketNotProsumer).
        if (registry.participant(account).kind != IParticipantRegistry.Kind.Prosumer && energyWh % 8 != 0) {
            offer = false;
        }
        IEnergyMarket.OrderInput[] memory input = new IEnergyMarket.OrderInput[](1);
        input[0] = IEnergyMarket.OrderInput({
            slot: uint64(slot),
            side: offer ? IEnergyMarket.Side.Offer : IEnergyMarket.Side.Bid,
            energyWh: uint32(_bound(energyWh, 0, 3_000)),
            limitPricePerKWh: uint32(_bound(limit, FEED_IN - 1_000, RETAIL + 1_000))
        });
        uint256 escrow = offer ? 0 : uint256(input[0].energyWh).escrow(input[0].limitPricePerKWh, FEE);
        uint256 before = owned(account);
        bool active = _active(account);
        vm.prank(account);
        try market.placeOrders(input) returns (uint256[] memory ids) {
            if (!active) _violation("an account that is not active placed an order");
            if (input[0].limitPricePerKWh < FEED_IN || input[0].limitPricePerKWh > RETAIL) {
                _violation("order outside the tariffs accepted");
            }
            if (block.timestamp >= slotStart(slot) - GATE) _violation("order after the gate accepted");
            _touch(slot);
            uint256 id = ids[0];
            if (id >> 16 != slot || idTaken[id] || (id & 0xFFFF) != idsSeen[slot]) {
                _violation("order id not unique and increasing");
            }
            idTaken[id] = true;
            idsSeen[slot] = (id & 0xFFFF) + 1;
            if (before - owned(account) != escrow) _violation("escrow taken differs from escrowFor");
            expectedBalance[account] -= escrow;
            ++placed;
        } catch {}
    }

    function cancel(uint256 actorSeed, uint256 slotSeed, uint256 indexSeed) external {
        if (slots.length == 0) return;
        uint256 slot = slots[slotSeed % slots.length];
        uint256 n = market.orderCount(slot);
        if (n == 0) return;
        uint256 id = (slot << 16) | (indexSeed % n);
        IEnergyMarket.Order memory o = market.order(id);
        // Mostly the owner; sometimes another actor, who must be refused.
        address caller = actorSeed % 4 == 0 ? actors[(actorSeed / 4) % ACTORS] : o.owner;
        uint256 refund = o.side == IEnergyMarket.Side.Bid
            ? uint256(o.energyWh).escrow(o.limitPricePerKWh, o.feePerKWh)
            : 0;
        uint256 before = owned(o.owner);
        vm.prank(caller);
        try market.cancelOrder(id) {
            if (caller != o.owner) _violation("cancelled someone else's order");
            if (o.cancelled) _violation("cancelled twice");
            if (block.timestamp >= slotStart(slot) - GATE) _violation("cancelled after the gate");
            if (owned(o.owner) - before != refund) _violation("cancel refund differs from escrow");
            expectedBalance[o.owner] += refund;
        } catch {}
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + _bound(seconds_, 1, 2 * SLOT));
    }

    // ───────────────────────── clearing ─────────────────────────

    /// @dev The orders of `slot` and a description the solver finds valid (false: none found).
    function solve(uint256 slot) public returns (bool found, UniformPriceClearing.Description memory d) {
        uint256[] memory words = market.orderWords(slot, 0, type(uint256).max);
        // Candidates: every (bid limit, offer limit) pair with bid ≥ offer; the volume is the
        // largest the two marginal levels allow. The library's own verify decides.
        for (uint256 i = 0; i < words.length; ++i) {
            if (_skip(words[i], false)) continue;
            for (uint256 j = 0; j < words.length; ++j) {
                if (_skip(words[j], true)) continue;
                uint256 mb = UniformPriceClearing.limitOf(words[i]);
                uint256 mo = UniformPriceClearing.limitOf(words[j]);
                if (mb < mo) continue;
                d = _candidate(words, mb, mo);
                if (d.bidMarginalWh == 0) continue;
                if (_valid(words, d)) return (true, d);
            }
        }
        d = UniformPriceClearing.Description(0, 0, 0, 0);
        return (_valid(words, d), d);
    }

    function _skip(uint256 word, bool wantOffer) internal pure returns (bool) {
        return UniformPriceClearing.isCancelled(word) || UniformPriceClearing.isOffer(word) != wantOffer;
    }

    function _candidate(uint256[] memory words, uint256 mb, uint256 mo)
        internal
        pure
        returns (UniformPriceClearing.Description memory d)
    {
        uint256 bidFull;
        uint256 bidAt;
        uint256 offerFull;
        uint256 offerAt;
        for (uint256 k = 0; k < words.length; ++k) {
            uint256 w = words[k];
            if (UniformPriceClearing.isCancelled(w)) continue;
            uint256 e = UniformPriceClearing.energyOf(w);
            uint256 l = UniformPriceClearing.limitOf(w);
            if (!UniformPriceClearing.isOffer(w)) {
                if (l > mb) bidFull += e;
                else if (l == mb) bidAt += e;
            } else {
                if (l < mo) offerFull += e;
                else if (l == mo) offerAt += e;
            }
        }
        uint256 volume = bidFull + bidAt < offerFull + offerAt ? bidFull + bidAt : offerFull + offerAt;
        if (volume <= bidFull || volume <= offerFull) return d;
        return UniformPriceClearing.Description(mb, mo, volume - bidFull, volume - offerFull);
    }

    function _valid(uint256[] memory words, UniformPriceClearing.Description memory d) internal view returns (bool) {
        try this.verifyExternal(words, d) returns (uint256, uint256) {
            return true;
        } catch {
            return false;
        }
    }

    /// @dev The library's verify as an external call, so that a refusal can be caught.
    function verifyExternal(uint256[] memory words, UniformPriceClearing.Description memory d)
        external
        pure
        returns (uint256 price, uint256 volume)
    {
        return UniformPriceClearing.verify(words, d, new uint256[](0));
    }

    function _clearTime(uint256 slot, uint256 seed) internal returns (bool inTime) {
        (, uint256 gateClosesAt, uint256 deadline) = market.slotTimes(slot);
        _moveTo(gateClosesAt + seed % 120);
        return block.timestamp < deadline;
    }

    function clear(uint256 slotSeed, uint256 timeSeed) external {
        if (slots.length == 0) return;
        uint256 slot = slots[slotSeed % slots.length];
        if (market.clearing(slot).status != IEnergyMarket.SlotStatus.Open) return;
        if (!_clearTime(slot, timeSeed)) return;
        (bool found, UniformPriceClearing.Description memory d) = solve(slot);
        if (!found) {
            ++unsolved;
            return;
        }
        vm.prank(keeper);
        try market.clear(slot, uint32(d.marginalBid), uint32(d.marginalOffer), uint64(d.bidMarginalWh), uint64(d.offerMarginalWh)) {
            ++clearedRight;
        } catch {
            _violation("a valid clearing was refused");
        }
    }

    /// @dev A subtly wrong description of a slot (budgets off by one, a marginal price moved by
    /// one, the volume grown, no trade where there is one, marginals swapped). The market must
    /// refuse it, unless the mutant happens to be another valid description.
    function clearWrongly(uint256 slotSeed, uint256 timeSeed, uint256 mutation) external {
        if (slots.length == 0) return;
        uint256 slot = slots[slotSeed % slots.length];
        if (market.clearing(slot).status != IEnergyMarket.SlotStatus.Open) return;
        if (!_clearTime(slot, timeSeed)) return;
        (bool found, UniformPriceClearing.Description memory d) = solve(slot);
        if (!found) return;
        uint256 kind = mutation % 8;
        if (kind == 0) d.bidMarginalWh += 1;
        else if (kind == 1) d.offerMarginalWh += 1;
        else if (kind == 2) (d.bidMarginalWh, d.offerMarginalWh) = (d.bidMarginalWh + 1, d.offerMarginalWh + 1);
        else if (kind == 3 && d.bidMarginalWh > 1 && d.offerMarginalWh > 1) {
            (d.bidMarginalWh, d.offerMarginalWh) = (d.bidMarginalWh - 1, d.offerMarginalWh - 1);
        } else if (kind == 4) d.marginalBid += 1;
        else if (kind == 5 && d.marginalOffer > 0) d.marginalOffer -= 1;
        else if (kind == 6) d = UniformPriceClearing.Description(0, 0, 0, 0);
        else (d.marginalBid, d.marginalOffer) = (d.marginalOffer, d.marginalBid);
        uint256[] memory words = market.orderWords(slot, 0, type(uint256).max);
        bool valid = _valid(words, d);
        vm.prank(keeper);
        try market.clear(slot, uint32(d.marginalBid), uint32(d.marginalOffer), uint64(d.bidMarginalWh), uint64(d.offerMarginalWh)) {
            if (!valid) _violation("an invalid clearing was accepted");
            ++wrongClearingsAccepted;
        } catch {
            if (valid) _violation("a valid (mutated) clearing was refused");
            ++wrongClearingsRefused;
        }
    }

    // ───────────────────────── readings ─────────────────────────

    function _digest(IMeterReadings.Reading memory r, uint256 chainId, address verifier) internal pure returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("p2penergy MeterReadings"), keccak256("1"), chainId, verifier)
        );
        bytes32 structHash = keccak256(abi.encode(readings_TYPEHASH(), r));
        return keccak256(abi.encodePacked(hex"1901", domain, structHash));
    }

    function readings_TYPEHASH() internal pure returns (bytes32) {
        return keccak256(
            "Reading(uint64 meterId,uint64 slot,uint64 importWh,uint64 exportWh,"
            "uint64 importRegisterWh,uint64 exportRegisterWh)"
        );
    }

    function _signed(uint256 key, IMeterReadings.Reading memory r, uint256 chainId, address verifier)
        internal
        pure
        returns (IMeterReadings.SignedReading memory s)
    {
        (uint8 v, bytes32 rr, bytes32 ss) = vm.sign(key, _digest(r, chainId, verifier));
        s = IMeterReadings.SignedReading(r, v, rr, ss);
    }

    /// @notice A good reading of one actor's meter for a slot in its window, followed by a bad
    /// one chosen by `attack` (resubmission, high-s twin, other chain id, other verifying
    /// contract, another meter's key, outside the window, export above capacity), which must be
    /// refused without changing anything.
    function submitReading(uint256 actorSeed, uint256 slotSeed, uint256 importWh, uint256 exportWh, uint256 attack)
        external
    {
        (uint256 i,) = _actor(actorSeed);
        uint256 meterId = meterOf[i];
        if (meterId == 0) return;
        uint256 slot = _nearSlot(slotSeed);
        // Readings go in slot order per meter here (registers only grow).
        if (recordings[meterId][slot] == 0 && lastSlotOf[meterId] != 0 && slot <= lastSlotOf[meterId]) {
            slot = lastSlotOf[meterId] + 1;
        }
        (uint256 opensAt, uint256 closesAt) = readings.readingWindow(slot);
        _moveTo(opensAt + slotSeed % 60);
        if (block.timestamp >= closesAt) return;
        IMeterReadings.Reading memory r = IMeterReadings.Reading({
            meterId: uint64(meterId),
            slot: uint64(slot),
            // up to 20,000 Wh: imports above 16,383 Wh outgrow MeterReadings' 14-bit compact
            // lane, so the campaigns also record slots in the wide word
            importWh: uint64(_bound(importWh, 0, 20_000)),
            exportWh: uint64(_bound(exportWh, 0, 1_666)),
            importRegisterWh: 0,
            exportRegisterWh: 0
        });
        r.importRegisterWh = uint64(importRegister[meterId] + r.importWh);
        r.exportRegisterWh = uint64(exportRegister[meterId] + r.exportWh);
        IMeterReadings.SignedReading memory good = _signed(deviceKeys[i], r, block.chainid, address(readings));
        if (_digest(r, block.chainid, address(readings)) != readings.readingDigest(r)) {
            _violation("EIP-712 digest differs from the contract's");
        }
        bool meterCounts = registry.meterAt(meterId, readings.meterKeyTime(slot)).active;
        bool fresh = recordings[meterId][slot] == 0;
        _touch(slot);
        vm.recordLogs();
        vm.prank(keeper);
        try readings.submitOne(good) {
            if (!fresh) _violation("a reading was recorded twice for (meter, slot)");
            if (!meterCounts) _violation("a reading of a meter not in force at the gate was accepted");
            ++recordings[meterId][slot];
            ++readingsAccepted;
            exportRecorded[slot] += r.exportWh;
            lastSlotOf[meterId] = slot;
            importRegister[meterId] = r.importRegisterWh;
            exportRegister[meterId] = r.exportRegisterWh;
        } catch {
            if (fresh && meterCounts) _violation("a good reading was refused");
        }
        vm.getRecordedLogs();
        _badReading(i, r, good, attack);
    }

    function _badReading(
        uint256 i,
        IMeterReadings.Reading memory r,
        IMeterReadings.SignedReading memory good,
        uint256 attack
    ) internal {
        IMeterReadings.SignedReading memory bad = good;
        uint256 kind = attack % 7;
        if (kind == 1) {
            // the high-s twin: same signer, s' = n - s, v flipped
            bad = IMeterReadings.SignedReading(r, good.v == 27 ? 28 : 27, good.r, bytes32(SECP256K1_N - uint256(good.s)));
        } else if (kind == 2) {
            bad = _signed(deviceKeys[i], r, block.chainid + 1, address(readings));
        } else if (kind == 3) {
            bad = _signed(deviceKeys[i], r, block.chainid, address(market));
        } else if (kind == 4) {
            bad = _signed(deviceKeys[(i + 1) % ACTORS], r, block.chainid, address(readings));
        } else if (kind == 5) {
            r.slot = r.slot + 3; // its window has not opened
            r.importRegisterWh += 1;
            bad = _signed(deviceKeys[i], r, block.chainid, address(readings));
        } else if (kind == 6) {
            r.exportWh = uint64(uint256(CAPACITY_W) * SLOT / 3600 + 1);
            r.exportRegisterWh += r.exportWh;
            bad = _signed(deviceKeys[i], r, block.chainid, address(readings));
        }
        (uint256 importBefore, uint256 exportBefore, uint256 countBefore) =
            readings.energyOf(actors[i], r.slot);
        vm.prank(keeper);
        try readings.submitOne(bad) {
            _violation("a bad reading was accepted");
        } catch {
            ++badReadingsRefused;
        }
        (uint256 importAfter, uint256 exportAfter, uint256 countAfter) = readings.energyOf(actors[i], r.slot);
        if (importAfter != importBefore || exportAfter != exportBefore || countAfter != countBefore) {
            _violation("a refused reading changed the energy");
        }
    }

    // ───────────────────────── settlement ─────────────────────────

    bytes32 internal constant ORDER_SETTLED =
        keccak256("OrderSettled(uint256,address,uint256,uint256,uint256,uint256,uint256,uint256)");
    bytes32 internal constant SLOT_SETTLED = keccak256("SlotSettled(uint256,uint256,uint256,uint256,bool)");

    function settle(uint256 slotSeed, uint256 chunk, bool byParticipant, uint256 timeSeed) external {
        if (slots.length == 0) return;
        uint256 slot = slots[slotSeed % slots.length];
        IEnergyMarket.SlotStatus status = market.clearing(slot).status;
        if (status == IEnergyMarket.SlotStatus.Settled) return;
        // Settlement waits for the reading window (or for every filled trader's reading).
        (, uint256 closesAt) = readings.readingWindow(slot);
        (,, uint256 deadline) = market.slotTimes(slot);
        if (status == IEnergyMarket.SlotStatus.Open) _moveTo(deadline + timeSeed % 60);
        else if (timeSeed % 3 != 0) _moveTo(closesAt + timeSeed % 60);
        address caller = byParticipant ? actors[slotSeed % ACTORS] : keeper;
        _settleOnce(slot, _bound(chunk, 0, 3), caller);
    }

    function _settleOnce(uint256 slot, uint256 maxOrders, address caller) internal returns (bool done) {
        uint256 marketBefore = escrowHeld();
        uint256 tokensBefore = credit.balanceOf(address(market)); // settlement pays internally
        vm.recordLogs();
        vm.prank(caller);
        try market.settle(slot, maxOrders) returns (bool finished) {
            done = finished;
        } catch {
            vm.getRecordedLogs();
            return false;
        }
        uint256 out = _book(slot, vm.getRecordedLogs());
        paidOut[slot] += out;
        if (marketBefore - escrowHeld() != out || credit.balanceOf(address(market)) != tokensBefore) {
            _violation("settlement moved credits its events do not show");
        }
        if (done) {
            ++settledSlots;
            settledSeen[slot] = true;
            settledPrint[slot] = fingerprint(slot);
        }
    }

    /// @dev Books the market's settlement events into the ledger; returns the credits paid out.
    function _book(uint256 slot, Vm.Log[] memory logs) internal returns (uint256 out) {
        for (uint256 k = 0; k < logs.length; ++k) {
            if (logs[k].emitter != address(market)) continue;
            bytes32 topic = logs[k].topics[0];
            if (topic == ORDER_SETTLED) out += _bookOrder(slot, logs[k]);
            else if (topic == SLOT_SETTLED) {
                (, uint256 slotDust,,) = abi.decode(logs[k].data, (uint256, uint256, uint256, bool));
                dust[slot] += slotDust;
                expectedBalance[roundingAccount] += slotDust;
                out += slotDust;
            }
        }
    }

    function _bookOrder(uint256 slot, Vm.Log memory log) internal returns (uint256) {
        address owner = address(uint160(uint256(log.topics[2])));
        (,,, uint256 amount, uint256 fee, uint256 refund) =
            abi.decode(log.data, (uint256, uint256, uint256, uint256, uint256, uint256));
        if (market.order(uint256(log.topics[1])).side == IEnergyMarket.Side.Offer) {
            // the receipt net of the seller fee to the seller, the seller fee to the fee account
            if (fee > amount) _violation("seller fee above the receipt");
            receipts[slot] += amount - fee;
            fees[slot] += fee;
            expectedBalance[owner] += amount - fee;
            expectedBalance[feeAccount] += fee;
            return amount;
        }
        fees[slot] += fee;
        refunds[slot] += refund;
        expectedBalance[owner] += refund;
        expectedBalance[feeAccount] += fee;
        return refund + fee;
    }

    /// @notice What must never change once `slot` is settled: its clearing and its orders.
    function fingerprint(uint256 slot) public view returns (bytes32) {
        return keccak256(
            abi.encode(
                market.clearing(slot),
                market.orderWords(slot, 0, type(uint256).max),
                paidOut[slot],
                certificateFlows(slot)
            )
        );
    }

    /// @notice Every holder's certificates received and given by the market in `slot`.
    function certificateFlows(uint256 slot) public view returns (uint256[] memory flows) {
        address[] memory all = holders();
        flows = new uint256[](2 * all.length);
        for (uint256 i = 0; i < all.length; ++i) {
            (flows[2 * i], flows[2 * i + 1],) = market.certificateFlow(all[i], slot);
        }
    }

    /// @notice Settles every slot to the end as the keeper (after every deadline), as the
    /// "path back" invariant does on a snapshot. Returns false if some slot could not settle.
    /// @dev Every holder takes its whole market balance back to its wallet (suspended ones too).
    function withdrawEverything() external {
        address[] memory all = holders();
        for (uint256 i = 0; i < all.length; ++i) {
            uint256 amount = market.balanceOf(all[i]);
            if (amount == 0) continue;
            vm.prank(all[i]);
            try market.withdraw(amount) {} catch {
                _violation("an account could not withdraw its market balance");
            }
        }
    }

    function settleEverything() external returns (bool) {
        uint256 latest;
        for (uint256 k = 0; k < slots.length; ++k) {
            (,, uint256 deadline) = market.slotTimes(slots[k]);
            if (deadline > latest) latest = deadline;
        }
        _moveTo(latest + 1);
        for (uint256 k = 0; k < slots.length; ++k) {
            uint256 slot = slots[k];
            for (uint256 round = 0; round < 64; ++round) {
                if (market.clearing(slot).status == IEnergyMarket.SlotStatus.Settled) break;
                _settleOnce(slot, 2, keeper);
            }
            if (market.clearing(slot).status != IEnergyMarket.SlotStatus.Settled) return false;
        }
        return true;
    }

    // ───────────────────────── certificates ─────────────────────────

    function retire(uint256 actorSeed, uint256 slotSeed, uint256 amount) external {
        if (slots.length == 0) return;
        (, address account) = _actor(actorSeed);
        uint256 slot = slots[slotSeed % slots.length];
        uint256 balance = certificate.balanceOf(account, slot);
        // A holder with a live order in a slot not settled yet may not retire it (what settlement
        // takes could then exceed what is left): the refusal is part of the rule.
        (,, bool final_) = market.certificateFlow(account, slot);
        amount = _bound(amount, 0, balance + 1);
        vm.prank(account);
        try certificate.retire(slot, amount) {
            if (amount == 0 || amount > balance) _violation("retired beyond the balance");
            if (!final_) _violation("retired before the slot's certificates were final");
            retired[slot] += amount;
        } catch {
            if (amount > 0 && amount <= balance && final_) _violation("retirement of own certificates refused");
        }
    }

    // ───────────────────────── views for the invariants ─────────────────────────

    /// @notice Σ escrow of the live (not cancelled) bids of `slot`, recomputed from its orders.
    function liveEscrow(uint256 slot) public view returns (uint256 total) {
        uint256[] memory words = market.orderWords(slot, 0, type(uint256).max);
        for (uint256 k = 0; k < words.length; ++k) {
            uint256 w = words[k];
            if (UniformPriceClearing.isCancelled(w) || UniformPriceClearing.isOffer(w)) continue;
            total += UniformPriceClearing.energyOf(w).escrow(UniformPriceClearing.limitOf(w), UniformPriceClearing.feeOf(w));
        }
    }

    /// @notice Every account that can hold credits or certificates in this system.
    /// @notice Credits `account` owns: its wallet plus its free balance in the market.
    function owned(address account) public view returns (uint256) {
        return credit.balanceOf(account) + market.balanceOf(account);
    }

    /// @notice Escrow the market holds: its token balance less every holder's market balance.
    function escrowHeld() public view returns (uint256 held) {
        held = credit.balanceOf(address(market));
        address[] memory all = holders();
        for (uint256 i = 0; i < all.length; ++i) {
            held -= market.balanceOf(all[i]);
        }
    }

    function holders() public view returns (address[] memory all) {
        all = new address[](ACTORS + 4);
        for (uint256 i = 0; i < ACTORS; ++i) {
            all[i] = actors[i];
        }
        all[ACTORS] = address(market);
        all[ACTORS + 1] = feeAccount;
        all[ACTORS + 2] = roundingAccount;
        all[ACTORS + 3] = stranger;
    }
}
