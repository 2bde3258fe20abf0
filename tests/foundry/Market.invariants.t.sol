// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {CommunityCredit} from "../../contracts/CommunityCredit.sol";
import {EnergyCertificate} from "../../contracts/EnergyCertificate.sol";
import {EnergyMarket} from "../../contracts/EnergyMarket.sol";
import {MeterReadings} from "../../contracts/MeterReadings.sol";
import {IEnergyMarket} from "../../contracts/interfaces/IEnergyMarket.sol";
import {UniformPriceClearing} from "../../contracts/libraries/UniformPriceClearing.sol";

import {MarketHandler} from "./MarketHandler.sol";
import {InvariantTest} from "./Vm.sol";

/// @title Invariants of the whole system under random operation
/// @notice forge drives MarketHandler's bounded actions in random sequences and checks every
/// `invariant_*` function after each call. Profiles: foundry.toml (default: CI; `long`).
contract MarketInvariants is InvariantTest {
    MarketHandler public h;
    // The handler's contracts, read once: the invariants run every 10th call of 500,500.
    EnergyMarket internal market;
    CommunityCredit internal credit;
    EnergyCertificate internal certificate;
    MeterReadings internal readings;

    function setUp() public {
        h = new MarketHandler();
        (market, credit, certificate, readings) = (h.market(), h.credit(), h.certificate(), h.readings());
        _targetContract(address(h));
        bytes4[] memory actions = new bytes4[](19);
        actions[0] = MarketHandler.register.selector;
        actions[1] = MarketHandler.suspend.selector;
        actions[2] = MarketHandler.reinstate.selector;
        actions[3] = MarketHandler.mint.selector;
        actions[4] = MarketHandler.redeem.selector;
        actions[5] = MarketHandler.transfer.selector;
        actions[6] = MarketHandler.place.selector;
        actions[7] = MarketHandler.place.selector; // orders twice as often
        actions[8] = MarketHandler.cancel.selector;
        actions[9] = MarketHandler.warp.selector;
        actions[10] = MarketHandler.clear.selector;
        actions[11] = MarketHandler.clearWrongly.selector;
        actions[12] = MarketHandler.submitReading.selector;
        actions[13] = MarketHandler.submitReading.selector;
        actions[14] = MarketHandler.settle.selector;
        actions[15] = MarketHandler.retire.selector;
        actions[16] = MarketHandler.place.selector;
        actions[17] = MarketHandler.deposit.selector;
        actions[18] = MarketHandler.withdraw.selector;
        _targetSelectors(address(h), actions);
    }

    function _check(bool ok, string memory what) internal pure {
        require(ok, what);
    }

    /// @notice The handler saw nothing the system must refuse succeed, nor the reverse.
    function invariant_handlerExpectationsHold() public view {
        if (h.violationCount() > 0) revert(h.violations(0));
    }

    /// @notice escrow held == Σ locked of open bids + charged-but-unpaid of settling slots, where
    /// escrow held is the market's token balance less every account's free market balance.
    function invariant_escrowHeldEqualsLockedPlusUnpaid() public view {
        uint256 expected;
        uint256 slotTotal = h.slotCount();
        for (uint256 k = 0; k < slotTotal; ++k) {
            uint256 slot = h.slots(k);
            expected += h.liveEscrow(slot) - h.paidOut(slot);
        }
        _check(h.escrowHeld() == expected, "escrow held != locked + unpaid");
    }

    /// @notice credit supply == minted − burned == Σ balances.
    function invariant_creditSupplyIsMintedMinusBurnedIsSumOfBalances() public view {
        uint256 supply = credit.totalSupply();
        _check(supply == h.minted() - h.burned(), "supply != minted - burned");
        address[] memory all = h.holders();
        uint256 sum;
        for (uint256 i = 0; i < all.length; ++i) {
            sum += credit.balanceOf(all[i]);
        }
        _check(sum == supply, "sum of balances != supply");
    }

    /// @notice No fill above a bid's limit or below an offer's; both sides' fills equal the
    /// volume; no bid left that could have traded with an offer left (maximal).
    function invariant_noFillBeyondLimits() public view {
        uint256 slotTotal = h.slotCount();
        for (uint256 k = 0; k < slotTotal; ++k) {
            uint256 slot = h.slots(k);
            IEnergyMarket.Clearing memory c = market.clearing(slot);
            if (c.status == IEnergyMarket.SlotStatus.Open || c.volumeWh == 0) continue;
            uint256[] memory words = market.orderWords(slot, 0, type(uint256).max);
            uint256[] memory fills = new uint256[](words.length);
            UniformPriceClearing.Walk memory w = UniformPriceClearing.walk(
                words,
                UniformPriceClearing.Description(c.marginalBid, c.marginalOffer, c.bidMarginalWh, c.offerMarginalWh),
                fills
            );
            for (uint256 i = 0; i < words.length; ++i) {
                if (fills[i] == 0) continue;
                uint256 limit = UniformPriceClearing.limitOf(words[i]);
                if (UniformPriceClearing.isOffer(words[i])) _check(limit <= c.priceCreditsPerKWh, "offer filled below its limit");
                else _check(limit >= c.priceCreditsPerKWh, "bid filled above its limit");
                _check(fills[i] <= UniformPriceClearing.energyOf(words[i]), "fill above the order's energy");
            }
            _check(w.bidWh == c.volumeWh && w.offerWh == c.volumeWh, "fills != volume");
            _check(!(w.hasRemBid && w.hasRemOffer && w.remBidMax >= w.remOfferMin), "clearing not maximal");
        }
    }

    /// @notice Per settled slot: Σ paid to sellers + fees + refunds + dust == Σ escrowed.
    function invariant_settledSlotPaysOutItsEscrowExactly() public view {
        uint256 slotTotal = h.slotCount();
        for (uint256 k = 0; k < slotTotal; ++k) {
            uint256 slot = h.slots(k);
            if (market.clearing(slot).status != IEnergyMarket.SlotStatus.Settled) continue;
            uint256 escrowed = h.liveEscrow(slot);
            _check(h.receipts(slot) + h.fees(slot) + h.refunds(slot) + h.dust(slot) == escrowed, "settled slot: paid + fees + refunds + dust != escrow");
            _check(certificate.balanceOf(address(market), slot) == 0, "settled slot left certificates in the pool");
            // what settlement took from sellers (S) all reached buyers and the rounding account
            uint256[] memory flows = h.certificateFlows(slot);
            uint256 received;
            uint256 given;
            for (uint256 i = 0; i < flows.length; i += 2) {
                received += flows[i];
                given += flows[i + 1];
            }
            _check(received == given, "settled slot: certificates received != given");
        }
    }

    /// @notice Per slot: certificates in existence == verified export − retired.
    function invariant_certificatesAreVerifiedExportMinusRetired() public view {
        address[] memory all = h.holders();
        uint256 slotTotal = h.slotCount();
        for (uint256 k = 0; k < slotTotal; ++k) {
            uint256 slot = h.slots(k);
            uint256 sum;
            uint256 exported;
            for (uint256 i = 0; i < all.length; ++i) {
                sum += certificate.balanceOf(all[i], slot);
                (, uint256 exportWh,) = readings.energyOf(all[i], slot);
                exported += exportWh;
            }
            _check(exported == h.exportRecorded(slot), "recorded export != accepted readings");
            _check(sum == exported - h.retired(slot), "certificates != export - retired");
        }
    }

    /// @notice A settled slot's clearing, orders, payments and pool never change.
    function invariant_settledSlotNeverChanges() public view {
        uint256 slotTotal = h.slotCount();
        for (uint256 k = 0; k < slotTotal; ++k) {
            uint256 slot = h.slots(k);
            if (!h.settledSeen(slot)) continue;
            _check(market.clearing(slot).status == IEnergyMarket.SlotStatus.Settled, "settled slot reopened");
            _check(h.fingerprint(slot) == h.settledPrint(slot), "settled slot changed");
        }
    }

    /// @notice Every account owns (wallet plus market balance) exactly what its own actions and
    /// the market's events give it; an account that is not active moved nothing to anyone else.
    function invariant_suspendedAccountOnlyWithdrawsItsOwn() public view {
        _check(h.suspendedOutflow() == 0, "a suspended account moved credits");
        address[] memory all = h.holders();
        for (uint256 i = 0; i < all.length; ++i) {
            if (all[i] == address(market)) continue;
            _check(h.owned(all[i]) == h.expectedBalance(all[i]), "balance != ledger");
        }
    }

    /// @notice After every deadline, settling everything empties the escrow into the owners'
    /// market balances exactly as the ledger says, and each owner can withdraw all of it (on a
    /// snapshot, reverted afterwards).
    function invariant_everyEscrowedCreditHasAPathBack() public {
        uint256 snapshot = vm.snapshotState();
        bool settled = h.settleEverything();
        bool empty = h.escrowHeld() == 0;
        bool ledger = true;
        address[] memory all = h.holders();
        for (uint256 i = 0; i < all.length; ++i) {
            if (all[i] == address(market)) continue;
            if (h.owned(all[i]) != h.expectedBalance(all[i])) ledger = false;
        }
        h.withdrawEverything();
        empty = empty && credit.balanceOf(address(market)) == 0;
        uint256 violations = h.violationCount();
        vm.revertToState(snapshot);
        _check(settled, "a slot could not be settled after its deadline");
        _check(empty, "credits left in the market after everything settled");
        _check(ledger, "settling everything paid someone not per the ledger");
        _check(violations == h.violationCount(), "settling everything broke an expectation");
    }

    /// @notice Order ids are unique and increasing: the market's count per slot is the number
    /// of ids the handler received, each one above the last.
    function invariant_orderIdsUniqueAndIncreasing() public view {
        uint256 slotTotal = h.slotCount();
        for (uint256 k = 0; k < slotTotal; ++k) {
            uint256 slot = h.slots(k);
            _check(market.orderCount(slot) == h.idsSeen(slot), "order count != ids handed out");
        }
    }

    /// @notice No reading is recorded twice for (meter, slot): each owner's reading count in a
    /// slot equals the readings accepted for its one meter.
    function invariant_noReadingRecordedTwice() public view {
        uint256 slotTotal = h.slotCount();
        for (uint256 k = 0; k < slotTotal; ++k) {
            uint256 slot = h.slots(k);
            for (uint256 i = 0; i < 6; ++i) {
                uint256 meterId = h.meterOf(i);
                if (meterId == 0) continue;
                uint256 n = h.recordings(meterId, slot);
                _check(n <= 1, "reading recorded twice");
                (,, uint256 count) = readings.energyOf(h.actors(i), slot);
                _check(count == n, "reading count != readings accepted");
            }
        }
    }
}
