// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyMarket} from "../../contracts/interfaces/IEnergyMarket.sol";
import {IMeterReadings} from "../../contracts/interfaces/IMeterReadings.sol";
import {IParticipantRegistry} from "../../contracts/interfaces/IParticipantRegistry.sol";
import {CommunityCredit} from "../../contracts/CommunityCredit.sol";
import {EnergyCertificate} from "../../contracts/EnergyCertificate.sol";
import {EnergyMarket} from "../../contracts/EnergyMarket.sol";
import {MeterReadings} from "../../contracts/MeterReadings.sol";

import {MarketHandler} from "./MarketHandler.sol";
import {Cheats} from "./Vm.sol";

/// @title A participant that is a contract and tries to re-enter every function that moves value
/// @notice Every receiver hook a token standard could call (ERC-1155 acceptance, ERC-777
/// `tokensReceived`, ERC-1363 `onTransferReceived`, `receive`, `fallback`) counts its call and
/// tries to re-enter cancel, settle, place, redeem and retire. The system has no callback path:
/// CommunityCredit is a plain ERC-20 and EnergyCertificate never calls a receiver, so the hooks
/// must never run.
contract Hostile {
    EnergyMarket internal immutable market;
    CommunityCredit internal immutable credit;
    EnergyCertificate internal immutable certificate;
    uint256 public hookCalls;
    uint256 public reentered;
    uint256 public targetOrder;
    uint256 public targetSlot;

    constructor(EnergyMarket market_, CommunityCredit credit_, EnergyCertificate certificate_) {
        market = market_;
        credit = credit_;
        certificate = certificate_;
    }

    function approveMarket() external {
        credit.approve(address(market), type(uint256).max);
    }

    function place(IEnergyMarket.OrderInput[] calldata orders) external returns (uint256[] memory) {
        return market.placeOrders(orders);
    }

    function cancel(uint256 orderId) external {
        targetOrder = orderId;
        market.cancelOrder(orderId);
    }

    function settle(uint256 slot, uint256 maxOrders) external returns (bool) {
        targetSlot = slot;
        return market.settle(slot, maxOrders);
    }

    function redeem(uint256 amount, bytes32 ref) external {
        credit.redeem(amount, ref);
    }

    function withdraw(uint256 amount) external {
        market.withdraw(amount);
    }

    function retire(uint256 slot, uint256 energyWh) external {
        certificate.retire(slot, energyWh);
    }

    /// @dev Tries every value-moving function again from inside a hook.
    function _attack() internal {
        ++hookCalls;
        IEnergyMarket.OrderInput[] memory none = new IEnergyMarket.OrderInput[](0);
        try market.cancelOrder(targetOrder) {
            ++reentered;
        } catch {}
        try market.settle(targetSlot, 1) {
            ++reentered;
        } catch {}
        try market.placeOrders(none) {
            ++reentered;
        } catch {}
        try credit.redeem(1, keccak256(abi.encode(hookCalls))) {
            ++reentered;
        } catch {}
        try market.withdraw(1) {
            ++reentered;
        } catch {}
        try certificate.retire(targetSlot, 1) {
            ++reentered;
        } catch {}
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        _attack();
        return this.onERC1155Received.selector;
    }

    function onERC1155BatchReceived(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        returns (bytes4)
    {
        _attack();
        return this.onERC1155BatchReceived.selector;
    }

    function tokensReceived(address, address, address, uint256, bytes calldata, bytes calldata) external {
        _attack();
    }

    function onTransferReceived(address, address, uint256, bytes calldata) external returns (bytes4) {
        _attack();
        return this.onTransferReceived.selector;
    }

    receive() external payable {
        _attack();
    }

    fallback() external payable {
        _attack();
    }
}

/// @title Attacks with their expected outcome asserted
contract Adversarial is Cheats {
    MarketHandler internal h;
    EnergyMarket internal market;
    CommunityCredit internal credit;
    EnergyCertificate internal certificate;
    MeterReadings internal readings;
    uint256 internal constant DEVICE_KEY = 0xBAD0DE;

    function setUp() public {
        h = new MarketHandler();
        market = h.market();
        credit = h.credit();
        certificate = h.certificate();
        readings = h.readings();
    }

    function _hostile(bool prosumer) internal returns (Hostile hostile, uint256 meterId) {
        hostile = new Hostile(market, credit, certificate);
        IParticipantRegistry registry = h.registry();
        vm.startPrank(h.operator());
        registry.registerParticipant(
            address(hostile), prosumer ? IParticipantRegistry.Kind.Prosumer : IParticipantRegistry.Kind.Consumer, false
        );
        meterId = registry.registerMeter(vm.addr(DEVICE_KEY + (prosumer ? 1 : 0)), address(hostile), 20_000);
        credit.mint(address(hostile), 100e6, keccak256(abi.encode(address(hostile))));
        vm.stopPrank();
        hostile.approveMarket();
    }

    function _order(uint256 slot, IEnergyMarket.Side side, uint32 wh, uint32 limit)
        internal
        pure
        returns (IEnergyMarket.OrderInput[] memory orders)
    {
        orders = new IEnergyMarket.OrderInput[](1);
        orders[0] = IEnergyMarket.OrderInput(uint64(slot), side, wh, limit);
    }

    function _reading(uint256 key, uint256 meterId, uint256 slot, uint64 importWh, uint64 exportWh)
        internal
        view
        returns (IMeterReadings.SignedReading memory)
    {
        IMeterReadings.Reading memory r =
            IMeterReadings.Reading(uint64(meterId), uint64(slot), importWh, exportWh, importWh, exportWh);
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(key, readings.readingDigest(r));
        return IMeterReadings.SignedReading(r, v, rr, s);
    }

    /// @notice A contract participant's bid is cancelled, and its offer and another bid trade,
    /// settle in chunks and pay it; it withdraws, redeems and retires. No receiver hook ever runs, so none
    /// of its re-entry attempts happens, and it ends with exactly its own money.
    function test_aHostileContractNeverGetsControlWhileValueMoves() public {
        (Hostile seller, uint256 sellerMeter) = _hostile(true);
        (Hostile buyer, uint256 buyerMeter) = _hostile(false);
        uint256 slot = h.currentSlot() + 2;
        uint256[] memory first = buyer.place(_order(slot, IEnergyMarket.Side.Bid, 500, 200_000));
        buyer.cancel(first[0]); // refund: into its market balance
        buyer.place(_order(slot, IEnergyMarket.Side.Bid, 800, 250_000));
        seller.place(_order(slot, IEnergyMarket.Side.Offer, 1_000, 100_000));
        (, uint256 gateClosesAt,) = market.slotTimes(slot);
        vm.warp(gateClosesAt);
        vm.prank(h.keeper());
        market.clear(slot, 250_000, 100_000, 800, 800);
        (uint256 opensAt, uint256 closesAt) = readings.readingWindow(slot);
        vm.warp(opensAt);
        vm.startPrank(h.keeper());
        readings.submitOne(_reading(DEVICE_KEY + 1, sellerMeter, slot, 0, 1_000)); // certificates minted
        readings.submitOne(_reading(DEVICE_KEY, buyerMeter, slot, 800, 0));
        vm.stopPrank();
        vm.warp(closesAt);
        while (!seller.settle(slot, 1)) {}
        require(market.clearing(slot).status == IEnergyMarket.SlotStatus.Settled, "settled");
        // 800 Wh at 0.10 (the midpoint rule gives the offer's limit here) plus the fee, paid into
        // the market balances; withdrawing them is a credit transfer to the contracts. The seller
        // pays the handler's seller fee floor(800 * 12345 / 1000) = 9876 out of its receipt.
        seller.withdraw(market.balanceOf(address(seller)));
        buyer.withdraw(market.balanceOf(address(buyer)));
        require(credit.balanceOf(address(seller)) == 100e6 + 80_000 - 9_876, "seller paid net of the seller fee");
        require(credit.balanceOf(address(buyer)) == 100e6 - 80_000 - 24_000, "buyer charged price and fee");
        require(certificate.balanceOf(address(buyer), slot) == 800, "buyer got the certificates");
        buyer.retire(slot, 800);
        seller.redeem(1, keccak256("hostile redemption"));
        require(seller.hookCalls() == 0 && buyer.hookCalls() == 0, "a receiver hook ran");
        require(seller.reentered() == 0 && buyer.reentered() == 0, "re-entered");
        (address feeAccount, address roundingAccount) = market.accounts();
        require(
            credit.balanceOf(address(market)) == market.balanceOf(feeAccount) + market.balanceOf(roundingAccount),
            "escrow left"
        );
    }

    /// @notice CommunityCredit has no ERC-1363 / ERC-777 call-and-transfer: those selectors
    /// revert, so no token path can hand control to a receiver.
    function test_creditHasNoTransferAndCall() public {
        (Hostile hostile,) = _hostile(false);
        address actor = h.actors(2);
        vm.startPrank(actor);
        (bool ok1,) = address(credit).call(abi.encodeWithSignature("transferAndCall(address,uint256)", address(hostile), 1));
        (bool ok2,) =
            address(credit).call(abi.encodeWithSignature("transferAndCall(address,uint256,bytes)", address(hostile), 1, ""));
        (bool ok3,) = address(credit).call(abi.encodeWithSignature("send(address,uint256,bytes)", address(hostile), 1, ""));
        vm.stopPrank();
        require(!ok1 && !ok2 && !ok3, "a call-and-transfer path exists");
        require(hostile.hookCalls() == 0, "hook ran");
    }

    /// @notice Certificates cannot be transferred by anyone: safeTransferFrom (the ERC-1155 path
    /// that calls the receiver) reverts by name.
    function test_certificatesHaveNoReceiverPath() public {
        (Hostile hostile,) = _hostile(false);
        address actor = h.actors(0);
        vm.prank(actor);
        (bool ok,) = address(certificate).call(
            abi.encodeWithSignature(
                "safeTransferFrom(address,address,uint256,uint256,bytes)", actor, address(hostile), 1, 0, ""
            )
        );
        require(!ok && hostile.hookCalls() == 0, "certificate receiver path");
    }

    /// @notice Cancel at the gate: one second before it closes is the last moment.
    function test_cancelAtTheGateIsExact() public {
        uint256 slot = h.currentSlot() + 2;
        address early = h.actors(2);
        address late = h.actors(3);
        vm.prank(early);
        uint256[] memory a = market.placeOrders(_order(slot, IEnergyMarket.Side.Bid, 100, 100_000));
        vm.prank(late);
        uint256[] memory b = market.placeOrders(_order(slot, IEnergyMarket.Side.Bid, 100, 100_000));
        (, uint256 gateClosesAt,) = market.slotTimes(slot);
        vm.warp(gateClosesAt - 1);
        vm.prank(early);
        market.cancelOrder(a[0]);
        vm.warp(gateClosesAt);
        vm.prank(late);
        (bool ok, bytes memory err) = address(market).call(abi.encodeCall(market.cancelOrder, (b[0])));
        require(!ok && bytes4(err) == IEnergyMarket.MarketGateClosed.selector, "cancelled at the gate");
    }

    /// @notice Many tiny readings: an owner's 15 meters (the registry's cap) each report 1 Wh in
    /// one slot and all count; a 16th meter is refused by name.
    function test_manyTinyReadingsCountUpToTheMeterCap() public {
        address owner = h.actors(1);
        IParticipantRegistry registry = h.registry();
        uint256 already = registry.meterCountOf(owner);
        uint256[] memory ids = new uint256[](15 - already);
        vm.startPrank(h.operator());
        for (uint256 i = 0; i < ids.length; ++i) {
            ids[i] = registry.registerMeter(vm.addr(0x7E57 + i), owner, 1_000);
        }
        (bool ok, bytes memory err) = address(registry).call(
            abi.encodeCall(registry.registerMeter, (vm.addr(0x7E57 + 99), owner, 1_000))
        );
        vm.stopPrank();
        require(!ok && bytes4(err) == IParticipantRegistry.RegistryTooManyMeters.selector, "16th meter");
        uint256 slot = h.currentSlot() + 2;
        (uint256 opensAt,) = readings.readingWindow(slot);
        vm.warp(opensAt);
        IMeterReadings.SignedReading[] memory batch = new IMeterReadings.SignedReading[](ids.length);
        for (uint256 i = 0; i < ids.length; ++i) {
            batch[i] = _reading(0x7E57 + i, ids[i], slot, 1, 1);
        }
        vm.prank(h.keeper());
        uint256 accepted = readings.submit(batch);
        (uint256 importWh, uint256 exportWh, uint256 count) = readings.energyOf(owner, slot);
        require(accepted == ids.length && count == ids.length, "every tiny reading counts");
        require(importWh == ids.length && exportWh == ids.length, "sums");
        require(certificate.balanceOf(owner, slot) == ids.length, "certificates");
    }

    function _clear(address caller, uint256 slot, uint32 mb, uint32 mo, uint64 bw, uint64 ow)
        internal
        returns (bytes4 error)
    {
        vm.prank(caller);
        (bool ok, bytes memory err) = address(market).call(abi.encodeCall(market.clear, (slot, mb, mo, bw, ow)));
        return ok ? bytes4(0) : bytes4(err);
    }

    /// @notice Every way a clearing can be wrong is refused by its own error, and nothing changes.
    function test_everyWrongClearingIsRefusedByName() public {
        uint256 slot = h.currentSlot() + 2;
        vm.prank(h.actors(0));
        market.placeOrders(_order(slot, IEnergyMarket.Side.Offer, 1_000, 100_000));
        vm.prank(h.actors(2));
        market.placeOrders(_order(slot, IEnergyMarket.Side.Bid, 600, 200_000));
        address keeper = h.keeper();
        require(_clear(keeper, slot, 200_000, 100_000, 600, 600) == IEnergyMarket.MarketGateOpen.selector, "gate open");
        (, uint256 gateClosesAt, uint256 deadline) = market.slotTimes(slot);
        vm.warp(gateClosesAt);
        require(_clear(h.stranger(), slot, 200_000, 100_000, 600, 600) == IEnergyMarket.MarketNotAllowed.selector, "stranger");
        bytes4[6] memory expected = [
            IEnergyMarket.MarketClearingMarginalInvalid.selector, // marginal bid below marginal offer
            IEnergyMarket.MarketClearingMarginalInvalid.selector, // prices without budgets
            IEnergyMarket.MarketClearingUnbalanced.selector,
            IEnergyMarket.MarketClearingBudgetUnused.selector,
            IEnergyMarket.MarketClearingNotMaximal.selector, // no trade where one exists
            IEnergyMarket.MarketClearingNotMaximal.selector // less than the maximal volume
        ];
        require(_clear(keeper, slot, 100_000, 200_000, 600, 600) == expected[0], "swapped marginals");
        require(_clear(keeper, slot, 200_000, 100_000, 0, 0) == expected[1], "prices without budgets");
        require(_clear(keeper, slot, 200_000, 100_000, 600, 1_000) == expected[2], "unbalanced");
        require(_clear(keeper, slot, 200_000, 100_001, 600, 600) == expected[3], "budget unused");
        require(_clear(keeper, slot, 0, 0, 0, 0) == expected[4], "no trade");
        require(_clear(keeper, slot, 200_000, 100_000, 599, 599) == expected[5], "short volume");
        require(market.clearing(slot).status == IEnergyMarket.SlotStatus.Open, "unchanged");
        require(_clear(keeper, slot, 200_000, 100_000, 600, 600) == bytes4(0), "the right one");
        require(_clear(keeper, slot, 200_000, 100_000, 600, 600) == IEnergyMarket.MarketWrongSlotStatus.selector, "twice");
        uint256 other = slot + 1;
        vm.prank(h.actors(2));
        market.placeOrders(_order(other, IEnergyMarket.Side.Bid, 600, 200_000));
        (,, uint256 otherDeadline) = market.slotTimes(other);
        vm.warp(otherDeadline);
        deadline;
        require(_clear(keeper, other, 0, 0, 0, 0) == IEnergyMarket.MarketClearingDeadlinePassed.selector, "too late");
    }
}
