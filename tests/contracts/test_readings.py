"""MeterReadings: signed readings recorded once per (meter, slot); bad ones named and skipped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.contract import Contract

from p2penergy.chain import artifacts
from p2penergy.chain.deploy import create_address
from p2penergy.chain.tx import call, deploy, events, transact
from p2penergy.domain.readings import Reading
from p2penergy.exceptions import ReadingsError
from p2penergy.oracle import SignedReading, reading_digest, sign_reading
from p2penergy.oracle.reading import pack_batch
from p2penergy.oracle.recorded import RecordedReading, recorded_in
from p2penergy.oracle.relayer import SUBMIT_GAS_BASE, SUBMIT_GAS_PER_READING

from ..conftest import GAS_MONEY, PROSUMER, Deployed, govern

SLOT_LENGTH = 900
WINDOW = 4 * SLOT_LENGTH
CAPACITY_W = 4_000  # 1,000 Wh per 15-minute slot
MAX_WH = CAPACITY_W * SLOT_LENGTH // 3600
REGISTER_STEP = 10_000  # registers grow by this much per slot: every test reading is consistent
MAX_SLOT_WH = 2**30 - 1  # an owner's import or export per slot fits 30 bits
GATE_CLOSURE = 300
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass
class Meter:
    meter_id: int
    device: LocalAccount
    owner: str


@dataclass
class Readings:
    """A MeterReadings deployment on top of the session system, with four meters."""

    d: Deployed
    contract: Contract
    certificate: Contract  # the certificate contract bound to `contract`
    epoch: int
    a: Meter  # the prosumer's first meter
    a2: Meter  # the prosumer's second meter
    b: Meter  # the consumer's meter
    c: Meter  # a second prosumer's meter

    @property
    def relayer(self) -> LocalAccount:
        return self.d.actors.keeper

    def window(self, slot: int) -> tuple[int, int]:
        opens = self.epoch + (slot + 1) * SLOT_LENGTH
        return opens, opens + WINDOW

    def open_slot(self) -> int:
        """The slot that is running now, with chain time moved just inside its reading window.

        One second in: `set_time` fixes the next block's time, and calls run on the latest one.
        """
        slot = (self.d.chain.now() - self.epoch) // SLOT_LENGTH
        self.d.chain.set_time(self.window(slot)[0] + 1)
        return slot

    def sign(
        self,
        meter: Meter,
        slot: int,
        import_wh: int = 300,
        export_wh: int = 700,
        *,
        key: LocalAccount | None = None,
        chain_id: int | None = None,
        contract: str | None = None,
        registers: tuple[int, int] | None = None,
    ) -> SignedReading:
        register = REGISTER_STEP * (slot + 1)
        import_register, export_register = registers or (register, register)
        reading = Reading(
            meter.meter_id, slot, import_wh, export_wh, import_register, export_register
        )
        return sign_reading(
            (key or meter.device).key,
            reading,
            self.d.chain.chain_id if chain_id is None else chain_id,
            contract or self.contract.address,
        )

    def submit_one(self, signed: SignedReading, relayer: LocalAccount | None = None):
        fn = self.contract.functions.submitOne(signed.as_tuple())
        return transact(self.d.chain, relayer or self.relayer, fn)

    def submit(self, batch: list[SignedReading], relayer: LocalAccount | None = None):
        fn = self.contract.functions.submit([s.as_tuple() for s in batch])
        return transact(self.d.chain, relayer or self.relayer, fn)

    def submit_packed(self, batch: list[SignedReading], relayer: LocalAccount | None = None):
        fn = self.contract.functions.submitPacked(pack_batch(batch))
        return transact(self.d.chain, relayer or self.relayer, fn)

    def send(self, encoding: str, batch: list[SignedReading]):
        return (self.submit_packed if encoding == "packed" else self.submit)(batch)

    def energy(self, account: str, slot: int) -> tuple[int, int, int]:
        return tuple(self.contract.functions.energyOf(account, slot).call())

    def certificates(self, account: str, slot: int) -> int:
        return int(self.certificate.functions.balanceOf(account, slot).call())

    def recorded(self, meter: Meter, slot: int) -> bool:
        return bool(self.contract.functions.isRecorded(meter.meter_id, slot).call())


def _selector(name: str) -> bytes:
    """The 4-byte selector of the custom error `name`, from the shipped ABI."""
    (item,) = [
        i
        for i in artifacts.load("MeterReadings")["abi"]
        if i["type"] == "error" and i["name"] == name
    ]
    types = ",".join(p["type"] for p in item["inputs"])
    return keccak(text=f"{name}({types})")[:4]


def _deploy_readings(d: Deployed, *args: object) -> str:
    art = artifacts.load("MeterReadings")
    address, _ = deploy(d.chain, d.actors.admin, art["abi"], art["bytecode"], *args)
    return address


def _deploy_bound_certificate(d: Deployed) -> str:
    """A certificate contract bound to the MeterReadings the admin deploys next."""
    admin, art = d.actors.admin, artifacts.load("EnergyCertificate")
    nonce = d.chain.w3.eth.get_transaction_count(admin.address, "pending")
    readings = create_address(admin.address, nonce + 1)
    market = d.system.market.address  # never moves these certificates
    address, _ = deploy(
        d.chain, admin, art["abi"], art["bytecode"], d.system.registry.address, readings, market
    )
    return address


def _register_meter(d: Deployed, owner: str) -> Meter:
    device = Account.create()
    registry = d.system.registry
    receipt = transact(
        d.chain,
        d.actors.operator,
        registry.functions.registerMeter(device.address, owner, CAPACITY_W),
    )
    meter_id = events(registry, "MeterRegistered", receipt)[0]["args"]["meterId"]
    return Meter(meter_id=meter_id, device=device, owner=owner)


@pytest.fixture(scope="module")
def readings_base(deployed_base: Deployed) -> Iterator[Readings]:
    """MeterReadings deployed once per chain for this module; removed again afterwards."""
    d = deployed_base
    snapshot = d.chain.snapshot()
    epoch = (d.chain.now() // SLOT_LENGTH - 10) * SLOT_LENGTH
    certificate = _deploy_bound_certificate(d)
    address = _deploy_readings(
        d, d.system.registry.address, certificate, epoch, SLOT_LENGTH, WINDOW, GATE_CLOSURE
    )
    second_prosumer = Account.create()
    d.chain.fund(second_prosumer.address, GAS_MONEY)
    transact(
        d.chain,
        d.actors.operator,
        d.system.registry.functions.registerParticipant(second_prosumer.address, PROSUMER, False),
    )
    a = d.actors
    meters = {
        "a": _register_meter(d, a.prosumer.address),
        "a2": _register_meter(d, a.prosumer.address),
        "b": _register_meter(d, a.consumer.address),
        "c": _register_meter(d, second_prosumer.address),
    }
    # Readings verify against the meters in force when their slot's gate closed: move on a
    # window and a slot, so every slot the tests read (from `open_slot` back to the oldest slot
    # still inside its window) closed its gate after registration.
    d.chain.set_time(d.chain.now() + WINDOW + 2 * SLOT_LENGTH)
    yield Readings(
        d=d,
        contract=d.chain.w3.eth.contract(
            address=address, abi=artifacts.load("MeterReadings")["abi"]
        ),
        certificate=d.chain.w3.eth.contract(
            address=certificate, abi=artifacts.load("EnergyCertificate")["abi"]
        ),
        epoch=epoch,
        **meters,
    )
    d.chain.revert(snapshot)


@pytest.fixture
def readings(readings_base: Readings, deployed: Deployed) -> Readings:
    """The module's deployment, rolled back after each test by `deployed`."""
    return readings_base


# ───────────────────────────── recording ─────────────────────────────


def test_valid_reading_is_recorded_with_energy_certificates_and_event(readings: Readings):
    r = readings
    slot = r.open_slot()
    assert not r.recorded(r.a, slot)
    receipt = r.submit_one(r.sign(r.a, slot, import_wh=300, export_wh=700))
    (event,) = events(r.contract, "ReadingsRecorded", receipt)
    # meterId uint64 | slot uint32 | owner | importWh uint32 | exportWh uint32, big-endian
    assert bytes(event["args"]["records"]) == (
        r.a.meter_id.to_bytes(8, "big")
        + slot.to_bytes(4, "big")
        + bytes.fromhex(r.a.owner[2:])
        + (300).to_bytes(4, "big")
        + (700).to_bytes(4, "big")
    )
    assert recorded_in(r.contract, receipt) == [
        RecordedReading(r.a.meter_id, slot, r.a.owner, 300, 700)
    ]
    assert r.energy(r.a.owner, slot) == (300, 700, 1)
    assert r.recorded(r.a, slot)
    assert r.certificates(r.a.owner, slot) == 700
    register = REGISTER_STEP * (slot + 1)
    assert tuple(r.contract.functions.latestReading(r.a.meter_id).call()) == (
        True,
        slot,
        register,
        register,
    )


def test_energy_of_sums_an_owners_meters_and_counts_them(readings: Readings):
    r = readings
    slot = r.open_slot()
    receipt = r.submit(
        [
            r.sign(r.a, slot, import_wh=100, export_wh=400),
            r.sign(r.a2, slot, import_wh=20, export_wh=1_000),
            r.sign(r.b, slot, import_wh=900, export_wh=0),
        ]
    )
    assert len(events(r.contract, "ReadingsRecorded", receipt)) == 1  # one event a batch
    assert len(recorded_in(r.contract, receipt)) == 3
    assert r.energy(r.a.owner, slot) == (120, 1_400, 2)
    assert r.energy(r.b.owner, slot) == (900, 0, 1)
    assert r.certificates(r.a.owner, slot) == 1_400
    assert r.certificates(r.b.owner, slot) == 0  # no export, nothing minted


def test_energy_of_keeps_each_slot_apart_in_the_packed_word(readings: Readings):
    # Slots slot-3 .. slot are all inside their window and cover the four lanes of a word (and a
    # word boundary unless slot % 4 == 3); full fields must not bleed into their neighbours.
    r = readings
    slot = r.open_slot()
    values = {
        slot - 3: (MAX_SLOT_WH, 0),
        slot - 2: (0, MAX_WH),
        slot - 1: (1, 1),
        slot: (MAX_SLOT_WH, MAX_WH),
    }
    register = 0
    for s, (import_wh, export_wh) in values.items():
        register += MAX_SLOT_WH
        r.submit_one(r.sign(r.a, s, import_wh, export_wh, registers=(register, register)))
        r.submit_one(r.sign(r.b, s, import_wh=s % 7, export_wh=0))
    for s, (import_wh, export_wh) in values.items():
        assert r.energy(r.a.owner, s) == (import_wh, export_wh, 1)
        assert r.energy(r.b.owner, s) == (s % 7, 0, 1)
        assert r.certificates(r.a.owner, s) == export_wh
    assert r.energy(r.a.owner, slot + 1) == (0, 0, 0)
    assert r.energy(r.a.owner, slot - 4) == (0, 0, 0)


COMPACT_WH = 2**14 - 1  # a slot's sums stay in the owner's compact lane up to this


def test_a_slot_whose_sums_outgrow_the_compact_lane_moves_to_the_wide_word_intact(
    readings: Readings,
):
    # slot-1: sums that fit, then a reading that takes the import past 14 bits (the slot moves
    # with its sums so far); slot: a first reading past 14 bits, then one added in the wide
    # word; slot-2 and slot+1 share the compact word and must not change. Both encodings.
    r = readings
    slot = r.open_slot()
    totals = {r.a.meter_id: [0, 0], r.a2.meter_id: [0, 0]}

    def sign(meter: Meter, s: int, import_wh: int, export_wh: int) -> SignedReading:
        total = totals[meter.meter_id]
        total[0] += import_wh
        total[1] += export_wh
        return r.sign(meter, s, import_wh, export_wh, registers=(total[0], total[1]))

    r.submit_packed([sign(r.a, slot - 2, 7, 8)])
    r.submit_packed([sign(r.a, slot - 1, COMPACT_WH, 700)])
    assert r.energy(r.a.owner, slot - 1) == (COMPACT_WH, 700, 1)
    r.submit_one(sign(r.a2, slot - 1, 1, 300))
    r.submit_packed([sign(r.a2, slot, COMPACT_WH + 1, 0)])
    assert r.energy(r.a.owner, slot) == (COMPACT_WH + 1, 0, 1)
    r.submit_packed([sign(r.a, slot, 5, 900)])
    assert r.energy(r.a.owner, slot - 2) == (7, 8, 1)
    assert r.energy(r.a.owner, slot - 1) == (COMPACT_WH + 1, 1_000, 2)
    assert r.energy(r.a.owner, slot) == (COMPACT_WH + 6, 900, 2)
    assert r.energy(r.a.owner, slot + 1) == (0, 0, 0)
    assert [r.certificates(r.a.owner, s) for s in (slot - 2, slot - 1, slot)] == [8, 1_000, 900]


def test_the_dearest_reading_fits_the_relayers_gas_reserve_per_reading(readings: Readings):
    # Meters never prepared, first readings, imports past the compact lane: each reading creates
    # its meter's word, the owner's compact word and the owner's wide word (three owners).
    r = readings
    slot = r.open_slot()
    big = COMPACT_WH + 1
    batch = [
        r.sign(meter, slot, import_wh=big, export_wh=MAX_WH, registers=(big, MAX_WH))
        for meter in (r.a, r.b, r.c)
    ]
    for meter in (r.a, r.b, r.c):
        assert not r.contract.functions.latestReading(meter.meter_id).call()[0]
    receipt = r.submit_packed(batch)
    assert [one.import_wh for one in recorded_in(r.contract, receipt)] == [big] * 3
    assert r.energy(r.a.owner, slot) == (big, MAX_WH, 1)
    # Beyond the transaction's intrinsic gas, every reading fits the relayer's reserve.
    assert (receipt["gasUsed"] - 21_000) / 3 < SUBMIT_GAS_PER_READING
    assert receipt["gasUsed"] <= SUBMIT_GAS_BASE + 3 * SUBMIT_GAS_PER_READING


def test_an_owners_import_beyond_the_packed_field_is_refused_as_implausible(readings: Readings):
    r = readings
    slot = r.open_slot()
    big = MAX_SLOT_WH - 10
    r.submit_one(r.sign(r.a, slot, import_wh=big, registers=(big, REGISTER_STEP)))
    with pytest.raises(ReadingsError) as info:
        r.submit_one(r.sign(r.a2, slot, import_wh=11, registers=(11, REGISTER_STEP)))
    assert info.value.name == "ReadingsImplausible"
    assert info.value.error_args == {"meterId": r.a2.meter_id, "slot": slot}
    r.submit_one(r.sign(r.a2, slot, import_wh=10, registers=(10, REGISTER_STEP)))
    assert r.energy(r.a.owner, slot) == (MAX_SLOT_WH, 1_400, 2)


def test_submit_returns_how_many_readings_were_accepted(readings: Readings):
    r = readings
    slot = r.open_slot()
    good, also_good = r.sign(r.a, slot), r.sign(r.b, slot)
    batch = [good.as_tuple(), good.as_tuple(), also_good.as_tuple()]
    fn = r.contract.functions.submit(batch)
    assert fn.call({"from": r.relayer.address}) == 2


def test_a_late_reading_inside_the_window_counts_and_keeps_the_latest_registers(
    readings: Readings,
):
    r = readings
    slot = r.open_slot()
    late = slot - 3  # its window closes one slot from now
    r.submit_one(r.sign(r.a, slot))
    r.submit_one(r.sign(r.a, late))
    assert r.recorded(r.a, late) and r.recorded(r.a, slot)
    assert not r.recorded(r.a, slot - 1)
    assert r.energy(r.a.owner, late) == (300, 700, 1)
    latest = tuple(r.contract.functions.latestReading(r.a.meter_id).call())
    assert latest[:3] == (True, slot, REGISTER_STEP * (slot + 1))


def test_any_registered_participant_may_relay(readings: Readings):
    r = readings
    slot = r.open_slot()
    r.submit_one(r.sign(r.c, slot), relayer=r.d.actors.consumer)  # not the meter's owner
    assert r.recorded(r.c, slot)


def test_is_recorded_names_history_older_than_the_bitmap(readings: Readings):
    r = readings
    first = r.open_slot()
    r.submit_one(r.sign(r.a, first))
    r.d.chain.set_time(r.window(first + 100)[0] + 1)
    r.submit_one(r.sign(r.a, first + 100))
    assert r.recorded(r.a, first + 100)
    assert not r.recorded(r.a, first + 5)  # 95 slots back: still known
    assert not r.recorded(r.a, first + 101)
    with pytest.raises(ReadingsError) as info:
        call(r.contract.functions.isRecorded(r.a.meter_id, first))
    assert info.value.name == "ReadingsHistoryPruned"
    assert info.value.error_args == {
        "meterId": r.a.meter_id,
        "slot": first,
        "oldestKnown": first + 100 - 95,
    }


# ───────────────────────────── rejections ─────────────────────────────

# Each case prepares the chain if needed and returns meter a's bad reading for `slot` and the
# error it must be rejected with.
Case = Callable[[Readings, int], tuple[SignedReading, str]]


def _replay(r: Readings, slot: int) -> tuple[SignedReading, str]:
    signed = r.sign(r.a, slot)
    r.submit_one(signed)
    return signed, "ReadingsAlreadyRecorded"


def _replay_with_other_values(r: Readings, slot: int) -> tuple[SignedReading, str]:
    r.submit_one(r.sign(r.a, slot))
    return r.sign(r.a, slot, import_wh=1, export_wh=2), "ReadingsAlreadyRecorded"


def _malleated(r: Readings, slot: int) -> tuple[SignedReading, str]:
    good = r.sign(r.a, slot)
    flipped = SignedReading(good.reading, 55 - good.v, good.r, SECP256K1_N - good.s)
    return flipped, "ReadingsInvalidSignature"


def _bad_v(r: Readings, slot: int) -> tuple[SignedReading, str]:
    good = r.sign(r.a, slot)
    return SignedReading(good.reading, good.v - 27, good.r, good.s), "ReadingsInvalidSignature"


def _wrong_key(r: Readings, slot: int) -> tuple[SignedReading, str]:
    return r.sign(r.a, slot, key=Account.create()), "ReadingsWrongSigner"


def _inactive_meter(r: Readings, slot: int) -> tuple[SignedReading, str]:
    # Deactivated before the gate of slot + 2 closed; `slot` stays inside its window.
    govern(r.d, r.d.system.registry.functions.setMeterActive(r.a.meter_id, False))
    r.d.chain.set_time(r.window(slot + 2)[0] + 1)
    return r.sign(r.a, slot + 2), "ReadingsInactiveMeter"


def _unknown_meter(r: Readings, slot: int) -> tuple[SignedReading, str]:
    ghost = Meter(meter_id=10_000, device=Account.create(), owner=r.a.owner)
    return r.sign(ghost, slot), "ReadingsUnknownMeter"


def _register_backwards(r: Readings, slot: int) -> tuple[SignedReading, str]:
    r.submit_one(r.sign(r.a, slot))
    above_latest = REGISTER_STEP * (slot + 1) + 1
    late = r.sign(r.a, slot - 1, registers=(above_latest, above_latest))
    return late, "ReadingsRegisterBackwards"


def _register_behind_latest_plus_energy(r: Readings, slot: int) -> tuple[SignedReading, str]:
    r.submit_one(r.sign(r.a, slot - 1))
    latest = REGISTER_STEP * slot
    return (
        r.sign(r.a, slot, export_wh=700, registers=(latest + 300, latest + 699)),
        "ReadingsRegisterBackwards",
    )


def _register_below_own_energy(r: Readings, slot: int) -> tuple[SignedReading, str]:
    return r.sign(r.a, slot, import_wh=300, registers=(299, 10_000)), "ReadingsRegisterBackwards"


def _export_above_capacity(r: Readings, slot: int) -> tuple[SignedReading, str]:
    return r.sign(r.a, slot, export_wh=MAX_WH + 1), "ReadingsExportAboveCapacity"


def _import_beyond_the_packed_field(r: Readings, slot: int) -> tuple[SignedReading, str]:
    registers = (MAX_SLOT_WH + 1, REGISTER_STEP)
    return r.sign(r.a, slot, import_wh=MAX_SLOT_WH + 1, registers=registers), "ReadingsImplausible"


def _before_window(r: Readings, slot: int) -> tuple[SignedReading, str]:
    return r.sign(r.a, slot + 1), "ReadingsOutsideWindow"


def _after_window(r: Readings, slot: int) -> tuple[SignedReading, str]:
    return r.sign(r.a, slot - WINDOW // SLOT_LENGTH), "ReadingsOutsideWindow"


def _other_chain(r: Readings, slot: int) -> tuple[SignedReading, str]:
    return r.sign(r.a, slot, chain_id=r.d.chain.chain_id + 1), "ReadingsWrongSigner"


def _other_contract(r: Readings, slot: int) -> tuple[SignedReading, str]:
    return r.sign(r.a, slot, contract=Account.create().address), "ReadingsWrongSigner"


CASES: dict[str, Case] = {
    "replay": _replay,
    "replay_with_other_values": _replay_with_other_values,
    "malleated_high_s": _malleated,
    "v_not_27_or_28": _bad_v,
    "wrong_key": _wrong_key,
    "inactive_meter": _inactive_meter,
    "unknown_meter": _unknown_meter,
    "late_register_above_latest": _register_backwards,
    "register_behind_latest_plus_energy": _register_behind_latest_plus_energy,
    "register_below_own_energy": _register_below_own_energy,
    "export_above_capacity": _export_above_capacity,
    "import_beyond_the_packed_field": _import_beyond_the_packed_field,
    "before_window_opens": _before_window,
    "after_window_closes": _after_window,
    "other_chain_id": _other_chain,
    "other_contract": _other_contract,
}


@pytest.mark.parametrize("case", list(CASES))
def test_submit_one_rejects_a_bad_reading_by_name(readings: Readings, case: str):
    r = readings
    slot = r.open_slot()
    bad, error = CASES[case](r, slot)
    meter_slot = bad.reading.slot
    before = (r.energy(r.a.owner, meter_slot), r.certificates(r.a.owner, meter_slot))
    with pytest.raises(ReadingsError) as info:
        r.submit_one(bad)
    assert info.value.name == error
    assert (r.energy(r.a.owner, meter_slot), r.certificates(r.a.owner, meter_slot)) == before


def _malleated_compact(r: Readings, slot: int) -> tuple[SignedReading, str]:
    # The twin's s (N - s) is at least 2^255 for all but a negligible share of low s, so an
    # EIP-2098 compact signature cannot carry it; the high s it can carry (up to 2^255) is
    # refused by the same check.
    good = r.sign(r.a, slot)
    high = SignedReading(good.reading, 55 - good.v, good.r, SECP256K1_N // 2 + 1)
    return high, "ReadingsInvalidSignature"


def _malleated_truncated(r: Readings, slot: int) -> tuple[SignedReading, str]:
    # The twin with its top bit dropped to fit the compact form is another signature: it
    # recovers some other key.
    good = r.sign(r.a, slot)
    twin_s = (SECP256K1_N - good.s) % 2**255
    return SignedReading(good.reading, 55 - good.v, good.r, twin_s), "ReadingsWrongSigner"


# The compact signature (EIP-2098) has no room for a v other than 27 or 28, nor for the twin's
# s: those cases are `submit`'s; the compact form's own malleations replace them.
PACKED_CASES: dict[str, Case] = {
    **{name: case for name, case in CASES.items() if name != "v_not_27_or_28"},
    "malleated_high_s": _malleated_compact,
    "malleated_twin_truncated": _malleated_truncated,
}
ENCODED_CASES = [("abi", case) for case in CASES] + [("packed", case) for case in PACKED_CASES]


@pytest.mark.parametrize(("encoding", "case"), ENCODED_CASES)
def test_submit_skips_a_bad_reading_naming_the_reason_and_keeps_the_good_ones(
    readings: Readings, encoding: str, case: str
):
    r = readings
    slot = r.open_slot()
    bad, error = (PACKED_CASES if encoding == "packed" else CASES)[case](r, slot)
    bad_slot = bad.reading.slot
    before = (r.energy(r.a.owner, bad_slot), r.certificates(r.a.owner, bad_slot))
    batch = [r.sign(r.b, slot, export_wh=10), bad, r.sign(r.c, slot, export_wh=20)]
    receipt = r.send(encoding, batch)
    (skipped,) = events(r.contract, "ReadingSkipped", receipt)
    assert dict(skipped["args"]) == {
        "meterId": bad.reading.meter_id,
        "slot": bad_slot,
        "reason": _selector(error),
    }
    recorded = recorded_in(r.contract, receipt)
    assert [one.meter_id for one in recorded] == [r.b.meter_id, r.c.meter_id]
    assert r.certificates(r.b.owner, slot) == 10
    assert r.certificates(r.c.owner, slot) == 20
    assert (r.energy(r.a.owner, bad_slot), r.certificates(r.a.owner, bad_slot)) == before


def test_a_packed_batch_records_what_the_abi_batch_records(readings: Readings):
    """The same readings through `submitPacked` give the same events, sums and certificates."""
    r = readings
    slot = r.open_slot()
    batch = [r.sign(r.a, slot, 300, 700), r.sign(r.a2, slot, 0, 5), r.sign(r.b, slot, 40, 0)]
    receipt = r.submit_packed(batch)
    recorded = recorded_in(r.contract, receipt)
    assert recorded == [
        RecordedReading(s.reading.meter_id, slot, m.owner, s.reading.import_wh, s.reading.export_wh)
        for s, m in zip(batch, (r.a, r.a2, r.b), strict=True)
    ]
    assert r.energy(r.a.owner, slot) == (300, 705, 2)
    assert r.energy(r.b.owner, slot) == (40, 0, 1)
    assert r.certificates(r.a.owner, slot) == 705
    assert (
        r.contract.functions.submitPacked(pack_batch(batch)).call({"from": r.relayer.address}) == 0
    )  # all recorded now: nothing more would be accepted


@pytest.mark.parametrize("length", [1, 111, 113, 223])
def test_a_packed_batch_of_a_partial_reading_is_refused_whole(readings: Readings, length: int):
    r = readings
    slot = r.open_slot()
    data = pack_batch([r.sign(r.a, slot), r.sign(r.b, slot)])[:length]
    with pytest.raises(ReadingsError) as info:
        transact(r.d.chain, r.relayer, r.contract.functions.submitPacked(data))
    assert info.value.name == "ReadingsMalformedBatch"
    assert info.value.error_args == {"length": length}
    assert not r.recorded(r.a, slot)


def test_a_duplicate_inside_one_batch_is_recorded_once(readings: Readings):
    r = readings
    slot = r.open_slot()
    signed = r.sign(r.a, slot)
    receipt = r.submit([signed, signed])
    assert len(recorded_in(r.contract, receipt)) == 1
    (skipped,) = events(r.contract, "ReadingSkipped", receipt)
    assert skipped["args"]["reason"] == _selector("ReadingsAlreadyRecorded")
    assert r.energy(r.a.owner, slot) == (300, 700, 1)
    assert r.certificates(r.a.owner, slot) == 700


@pytest.mark.parametrize("encoding", ["abi", "packed"])
def test_resubmitting_an_identical_batch_changes_nothing(readings: Readings, encoding: str):
    r = readings
    slot = r.open_slot()
    batch = [r.sign(m, slot, import_wh=5, export_wh=50) for m in (r.a, r.a2, r.b, r.c)]
    r.send(encoding, batch)
    owners = sorted({m.owner for m in (r.a, r.b, r.c)})
    state = [(r.energy(o, slot), r.certificates(o, slot)) for o in owners]
    receipt = r.send(encoding, batch)
    assert events(r.contract, "ReadingsRecorded", receipt) == []  # no empty event either
    assert events(r.certificate, "TransferSingle", receipt) == []
    reasons = {e["args"]["reason"] for e in events(r.contract, "ReadingSkipped", receipt)}
    assert reasons == {_selector("ReadingsAlreadyRecorded")}
    assert [(r.energy(o, slot), r.certificates(o, slot)) for o in owners] == state


@pytest.mark.parametrize("who", ["stranger", "suspended"])
def test_a_relayer_that_may_not_transact_is_refused(readings: Readings, who: str):
    r = readings
    slot = r.open_slot()
    relayer = getattr(r.d.actors, who)
    for send in (
        r.submit_one,
        lambda s, relayer: r.submit([s], relayer),
        lambda s, relayer: r.submit_packed([s], relayer),
    ):
        with pytest.raises(ReadingsError) as info:
            send(r.sign(r.a, slot), relayer=relayer)
        assert info.value.name == "ReadingsRelayerNotAllowed"
        assert info.value.error_args == {"relayer": relayer.address.lower()}
    assert not r.recorded(r.a, slot)


def test_only_exporting_readings_mint_and_each_mints_its_export(readings: Readings):
    r = readings
    slot = r.open_slot()
    receipt = r.submit(
        [r.sign(r.a, slot, export_wh=400), r.sign(r.b, slot, export_wh=0), r.sign(r.c, slot)]
    )
    mints = [
        (e["args"]["operator"], e["args"]["from"], e["args"]["to"], e["args"]["value"])
        for e in events(r.certificate, "TransferSingle", receipt)
    ]
    zero = "0x" + "00" * 20
    assert mints == [
        (r.contract.address, zero, r.a.owner, 400),
        (r.contract.address, zero, r.c.owner, 700),
    ]


def test_a_rotated_key_signs_the_slots_whose_gate_closes_after_the_rotation_only(
    readings: Readings,
):
    r = readings
    slot = r.open_slot()
    new_device = Account.create()
    govern(r.d, r.d.system.registry.functions.rotateMeterKey(r.a.meter_id, new_device.address))
    # `slot`'s gate closed before the rotation: the old key still signs it, the new one cannot
    with pytest.raises(ReadingsError) as info:
        r.submit_one(r.sign(r.a, slot, key=new_device))
    assert info.value.name == "ReadingsWrongSigner"
    assert info.value.error_args["signer"] == new_device.address.lower()
    r.submit_one(r.sign(r.a, slot))
    # two slots on, the gate closed after the rotation: only the new key signs
    later = slot + 2
    r.d.chain.set_time(r.window(later)[0] + 1)
    with pytest.raises(ReadingsError) as info:
        r.submit_one(r.sign(r.a, later))
    assert info.value.name == "ReadingsWrongSigner"
    assert info.value.error_args["signer"] == r.a.device.address.lower()
    r.submit_one(r.sign(r.a, later, key=new_device))
    assert r.recorded(r.a, slot) and r.recorded(r.a, later)


def test_a_meter_counts_from_the_first_slot_whose_gate_closes_after_its_registration(
    readings: Readings,
):
    r = readings
    slot = r.open_slot()
    late = _register_meter(r.d, r.a.owner)
    with pytest.raises(ReadingsError) as info:
        r.submit_one(r.sign(late, slot))
    assert info.value.name == "ReadingsUnknownMeter"
    later = slot + 2
    r.d.chain.set_time(r.window(later)[0] + 1)
    r.submit_one(r.sign(late, later))
    assert r.recorded(late, later)


def test_a_prepared_meters_first_reading_records_the_same_for_less_gas(readings: Readings):
    r = readings
    slot = r.open_slot()
    # Three new meters of owners without readings in the slot: two prepared at registration
    # (one read through the packed fast path, one through submitOne's general path), one not.
    packed, general = _register_meter(r.d, r.a.owner), _register_meter(r.d, r.c.owner)
    plain = _register_meter(r.d, r.b.owner)
    ids = [packed.meter_id, general.meter_id]
    transact(r.d.chain, r.d.actors.operator, r.contract.functions.prepareMeters(ids))
    # Idempotent: preparing again (with a meter already prepared) changes nothing.
    transact(r.d.chain, r.relayer, r.contract.functions.prepareMeters(ids[:1]))
    for meter in (packed, general, plain):
        latest = tuple(r.contract.functions.latestReading(meter.meter_id).call())
        assert latest == (False, 0, 0, 0)
    later = slot + 2  # the first slot whose gate closed after the registrations
    r.d.chain.set_time(r.window(later)[0] + 1)
    assert not r.recorded(packed, later)
    gas = {}
    for meter, send in ((packed, r.submit_packed), (plain, r.submit_packed)):
        receipt = send([r.sign(meter, later, import_wh=300, export_wh=700)])
        (event,) = recorded_in(r.contract, receipt)
        assert event.owner == meter.owner
        gas[meter.meter_id] = receipt["gasUsed"]
    r.submit_one(r.sign(general, later, import_wh=300, export_wh=700))
    register = REGISTER_STEP * (later + 1)
    for meter in (packed, general, plain):
        assert r.recorded(meter, later)
        assert r.energy(meter.owner, later) == (300, 700, 1)
        assert r.certificates(meter.owner, later) == 700
        latest = tuple(r.contract.functions.latestReading(meter.meter_id).call())
        assert latest == (True, later, register, register)
    # Updating the prepared word instead of creating it: 20,000 - 2,900 gas (EIP-2200).
    assert gas[plain.meter_id] - gas[packed.meter_id] > 16_000
    # Preparing a meter that has read leaves its word alone; its next slot checks as usual.
    transact(r.d.chain, r.relayer, r.contract.functions.prepareMeters(ids))
    assert tuple(r.contract.functions.latestReading(packed.meter_id).call())[1] == later
    r.d.chain.set_time(r.window(later + 1)[0] + 1)
    r.submit_one(r.sign(packed, later + 1))
    assert r.recorded(packed, later + 1) and r.recorded(packed, later)


def test_prepare_meters_refuses_an_unknown_meter_and_a_caller_who_may_not_transact(
    readings: Readings,
):
    r = readings
    unknown = int(r.d.system.registry.functions.meterCount().call()) + 1
    with pytest.raises(ReadingsError) as info:
        transact(r.d.chain, r.relayer, r.contract.functions.prepareMeters([r.a.meter_id, unknown]))
    assert info.value.name == "ReadingsUnknownMeter"
    assert info.value.error_args == {"meterId": unknown}
    stranger = r.d.actors.stranger
    with pytest.raises(ReadingsError) as info:
        transact(r.d.chain, stranger, r.contract.functions.prepareMeters([r.a.meter_id]))
    assert info.value.name == "ReadingsRelayerNotAllowed"


def test_errors_carry_the_offending_values(readings: Readings):
    r = readings
    slot = r.open_slot()
    with pytest.raises(ReadingsError) as info:
        r.submit_one(r.sign(r.a, slot, export_wh=MAX_WH + 1))
    assert info.value.error_args == {
        "meterId": r.a.meter_id,
        "exportWh": MAX_WH + 1,
        "maxWh": MAX_WH,
    }
    with pytest.raises(ReadingsError) as info:
        r.submit_one(r.sign(r.a, slot + 1))
    assert info.value.error_args == {
        "slot": slot + 1,
        "opensAt": r.window(slot + 1)[0],
        "closesAt": r.window(slot + 1)[1],
    }


# ───────────────────────────── signing and configuration ─────────────────────────────


def test_python_digest_equals_the_contracts_reading_digest(readings: Readings):
    r = readings
    reading = Reading(r.a.meter_id, 12, 1, 2**64 - 1, 3, 2**63)
    on_chain = r.contract.functions.readingDigest(reading.as_tuple()).call()
    assert bytes(on_chain) == reading_digest(reading, r.d.chain.chain_id, r.contract.address)


def test_the_domain_is_the_documented_one(readings: Readings):
    r = readings
    domain = r.contract.functions.eip712Domain().call()
    assert domain[1:5] == [
        "p2penergy MeterReadings",
        "1",
        r.d.chain.chain_id,
        r.contract.address,
    ]
    type_string = (
        "Reading(uint64 meterId,uint64 slot,uint64 importWh,uint64 exportWh,"
        "uint64 importRegisterWh,uint64 exportRegisterWh)"
    )
    assert bytes(r.contract.functions.READING_TYPEHASH().call()) == keccak(text=type_string)


def test_timing_and_reading_window_follow_the_slot_grid(readings: Readings):
    r = readings
    assert tuple(r.contract.functions.timing().call()) == (r.epoch, SLOT_LENGTH, WINDOW)
    assert tuple(r.contract.functions.readingWindow(7).call()) == r.window(7)
    assert r.contract.functions.dependencies().call() == [
        r.d.system.registry.address,
        r.certificate.address,
    ]
    assert r.certificate.functions.readings().call() == r.contract.address


@pytest.mark.parametrize(
    ("slot_length", "window", "fault"),
    [
        (600, 600, None),
        (900, 0, None),
        (900, 96 * 900 + 1, None),
        (300, 96 * 300 + 1, None),
        (900, 900, "zero registry"),
        (900, 900, "zero certificate"),
        (900, 900, "certificate without code"),
        (900, 900, "certificate bound to another readings contract"),
    ],
)
def test_deployment_rejects_invalid_configuration(
    deployed: Deployed, slot_length: int, window: int, fault: str | None
):
    system, zero = deployed.system, "0x" + "00" * 20
    certificate = {
        "zero certificate": zero,
        "certificate without code": Account.create().address,
        "certificate bound to another readings contract": system.certificate.address,
    }.get(fault or "") or _deploy_bound_certificate(deployed)
    registry = zero if fault == "zero registry" else system.registry.address
    with pytest.raises(ReadingsError) as info:
        _deploy_readings(deployed, registry, certificate, 0, slot_length, window, GATE_CLOSURE)
    assert info.value.name == "ReadingsInvalidConfig"


@pytest.mark.parametrize("slot_length", [300, 900, 1800, 3600])
def test_deployment_accepts_every_slot_length_with_the_longest_window(
    deployed: Deployed, slot_length: int
):
    system = deployed.system
    certificate = _deploy_bound_certificate(deployed)
    address = _deploy_readings(
        deployed,
        system.registry.address,
        certificate,
        0,
        slot_length,
        96 * slot_length,
        GATE_CLOSURE,
    )
    contract = deployed.chain.w3.eth.contract(
        address=address, abi=artifacts.load("MeterReadings")["abi"]
    )
    assert tuple(contract.functions.timing().call()) == (0, slot_length, 96 * slot_length)
