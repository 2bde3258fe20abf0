// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyMarket} from "../../contracts/interfaces/IEnergyMarket.sol";

import {MarketHandler} from "./MarketHandler.sol";
import {MarketInvariants} from "./Market.invariants.t.sol";
import {Cheats} from "./Vm.sol";

/// @title Fixed sequences through the handler: the campaign's paths exist, and every
/// counterexample the campaigns found is kept here as a regression test.
/// @dev Holds the invariants as a separate contract (not inherited), so forge runs no campaign
/// here: only the fixed sequences, each followed by every invariant.
contract MarketScenarios is Cheats {
    MarketInvariants internal inv;
    MarketHandler internal h;

    function setUp() public {
        inv = new MarketInvariants();
        inv.setUp();
        h = inv.h();
    }

    function _all() internal {
        inv.invariant_handlerExpectationsHold();
        inv.invariant_escrowHeldEqualsLockedPlusUnpaid();
        inv.invariant_creditSupplyIsMintedMinusBurnedIsSumOfBalances();
        inv.invariant_noFillBeyondLimits();
        inv.invariant_settledSlotPaysOutItsEscrowExactly();
        inv.invariant_certificatesAreVerifiedExportMinusRetired();
        inv.invariant_settledSlotNeverChanges();
        inv.invariant_suspendedAccountOnlyWithdrawsItsOwn();
        inv.invariant_everyEscrowedCreditHasAPathBack();
        inv.invariant_orderIdsUniqueAndIncreasing();
        inv.invariant_noReadingRecordedTwice();
    }

    /// @notice An offer and a bid in one slot trade: cleared, metered, settled in chunks, paid.
    function test_tradeClearsSettlesInChunksAndPays() public {
        // prosumer actor0 offers 1,000 Wh at 0.10; consumer actor2 bids 800 Wh at 0.25 (slot +1)
        h.place(0, 1, true, 1_000, 100_000);
        h.place(2, 1, false, 800, 250_000);
        h.place(3, 1, false, 500, 90_000); // below the offer: does not trade
        _all();
        uint256 slot = h.slots(0);
        h.clear(0, 0);
        IEnergyMarket.Clearing memory c = h.market().clearing(slot);
        require(c.status == IEnergyMarket.SlotStatus.Cleared && c.volumeWh == 800, "cleared 800 Wh");
        // readings: actor0 exported 1,000 Wh, actor2 imported 600 Wh (index 0 / 2, slot offset 3 = now+0)
        h.submitReading(0, slot + 3 - h.currentSlot(), 0, 1_000, 0);
        h.submitReading(2, slot + 3 - h.currentSlot(), 600, 0, 0);
        _all();
        h.settle(0, 1, false, 1);
        h.settle(0, 1, true, 1);
        h.settle(0, 1, false, 1);
        require(h.market().clearing(slot).status == IEnergyMarket.SlotStatus.Settled, "settled");
        require(h.receipts(slot) > 0 && h.fees(slot) > 0 && h.refunds(slot) > 0, "paid, fees, refunds");
        _all();
        h.retire(0, 0, 1);
        _all();
    }

    /// @notice Dust orders (1 Wh at the tariff bounds) trade and settle with every identity
    /// intact: rounding goes to the rounding account, never out of thin air.
    function test_dustOrdersSettleWithoutLosingABaseUnit() public {
        h.place(0, 1, true, 1, 80_000);
        h.place(1, 1, true, 1, 80_000);
        h.place(2, 1, false, 1, 300_000);
        h.place(3, 1, false, 1, 300_000);
        uint256 slot = h.slots(0);
        h.clear(0, 0);
        require(h.market().clearing(slot).volumeWh == 2, "both dust bids trade");
        h.submitReading(0, slot + 3 - h.currentSlot(), 0, 1, 0);
        h.submitReading(1, slot + 3 - h.currentSlot(), 0, 1, 0);
        h.submitReading(2, slot + 3 - h.currentSlot(), 1, 0, 0);
        h.submitReading(3, slot + 3 - h.currentSlot(), 1, 0, 0);
        h.settle(0, 1, false, 1);
        h.settle(0, 1, false, 1);
        h.settle(0, 1, false, 1);
        h.settle(0, 1, false, 1);
        require(h.market().clearing(slot).status == IEnergyMarket.SlotStatus.Settled, "settled");
        _all();
    }

    /// @notice A slot nobody clears expires: everything is refunded.
    function test_unclearedSlotExpiresAndRefunds() public {
        h.place(2, 1, false, 800, 250_000);
        h.cancel(0, 0, 0); // the owner cancels it: refunded at once
        h.place(2, 1, false, 700, 200_000);
        h.place(3, 1, false, 500, 90_000);
        h.settle(0, 2, false, 0);
        h.settle(0, 2, false, 0);
        uint256 slot = h.slots(0);
        require(h.market().clearing(slot).status == IEnergyMarket.SlotStatus.Settled, "expired and settled");
        require(h.refunds(slot) == h.liveEscrow(slot) && h.receipts(slot) == 0, "all refunded");
        _all();
    }

    /// @notice Suspended traders: their own refunds and settlement still reach them, they can
    /// redeem, and they move nothing to anyone else.
    function test_suspendedTraderGetsItsOwnBack() public {
        h.place(2, 1, false, 800, 250_000);
        h.suspend(2);
        h.transfer(2, 3, 1, false); // refused
        h.place(2, 8, false, 100, 250_000); // refused
        h.cancel(0, 0, 0); // its own: refunded
        uint256 free = h.market().balanceOf(h.actors(2));
        h.withdraw(2, free); // its own market balance: paid out while suspended
        require(h.market().balanceOf(h.actors(2)) == 0, "a suspended account could not withdraw");
        h.deposit(2, 1); // refused: deposits need an active participant
        h.redeem(2, 1e6);
        _all();
    }

    /// @notice Found by the campaigns: a participant's plain
    /// `transfer` to the market contract stranded the credits outside every order and broke the
    /// escrow identity the audit checks. CommunityCredit now refuses it.
    function test_plainTransferToTheMarketIsRefused() public {
        address actor = h.actors(0);
        address market = address(h.market());
        address credit = address(h.credit());
        vm.prank(actor);
        (bool ok,) = credit.call(abi.encodeWithSignature("transfer(address,uint256)", market, 1));
        require(!ok, "a plain transfer to the market was accepted: the credit is stranded");
    }
}
