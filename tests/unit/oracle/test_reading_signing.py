"""Reading model and EIP-712 signing, checked against an independent encoding (no chain)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from p2penergy.chain.toolchain import repo_root
from p2penergy.domain.readings import InvalidReading, Reading
from p2penergy.exceptions import P2PEnergyError
from p2penergy.oracle import SignedReading, reading_digest, sign_reading, typed_data
from p2penergy.oracle.reading import (
    PACKED_READING_BYTES,
    SECP256K1_HALF_N,
    pack_batch,
    recover_signer,
    separator_of,
    sign_with_separator,
    signing_key,
    unpack_batch,
)
from tests.budget import examples

CHAIN_ID = 31337
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
KEY = Account.from_key("0x" + "11" * 32)
READING = Reading(7, 1_234, 250, 1_000, 98_765, 43_210)
BIG = Reading(2**64 - 1, 2**53 + 1, 1, 2**63, 2**64 - 2, 2**53 + 3)  # not exact as doubles
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _independent_digest(reading: Reading, chain_id: int, contract: str) -> bytes:
    """EIP-712 written out by hand from the spec, to cross-check eth-account's encoder."""
    domain_type = keccak(
        text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    domain = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                domain_type,
                keccak(text="p2penergy MeterReadings"),
                keccak(text="1"),
                chain_id,
                contract,
            ],
        )
    )
    reading_type = keccak(
        text="Reading(uint64 meterId,uint64 slot,uint64 importWh,uint64 exportWh,"
        "uint64 importRegisterWh,uint64 exportRegisterWh)"
    )
    struct = keccak(encode(["bytes32"] + ["uint64"] * 6, [reading_type, *reading.as_tuple()]))
    return bytes(keccak(b"\x19\x01" + domain + struct))


def test_digest_matches_a_hand_written_eip712_encoding():
    assert reading_digest(READING, CHAIN_ID, CONTRACT) == _independent_digest(
        READING, CHAIN_ID, CONTRACT
    )
    extreme = Reading(2**64 - 1, 0, 2**64 - 1, 0, 2**64 - 1, 1)
    assert reading_digest(extreme, 1, CONTRACT.lower()) == _independent_digest(extreme, 1, CONTRACT)


def test_digest_depends_on_chain_id_contract_and_every_field():
    base = reading_digest(READING, CHAIN_ID, CONTRACT)
    assert reading_digest(READING, CHAIN_ID + 1, CONTRACT) != base
    assert reading_digest(READING, CHAIN_ID, "0x" + "22" * 20) != base
    values = READING.as_tuple()
    for i in range(len(values)):
        changed = list(values)
        changed[i] += 1
        assert reading_digest(Reading(*changed), CHAIN_ID, CONTRACT) != base


def test_typed_data_is_the_eth_sign_typed_data_v4_json_and_round_trips():
    data = typed_data(READING, CHAIN_ID, CONTRACT)
    assert data["primaryType"] == "Reading"
    assert data["domain"] == {
        "name": "p2penergy MeterReadings",
        "version": "1",
        "chainId": CHAIN_ID,
        "verifyingContract": CONTRACT,
    }
    assert [f["name"] for f in data["types"]["EIP712Domain"]] == [
        "name",
        "version",
        "chainId",
        "verifyingContract",
    ]
    # uint64 fields are decimal strings: a JavaScript double loses them above 2^53
    assert data["message"] == {
        "meterId": "7",
        "slot": "1234",
        "importWh": "250",
        "exportWh": "1000",
        "importRegisterWh": "98765",
        "exportRegisterWh": "43210",
    }
    again = json.loads(json.dumps(data))
    assert again == data
    assert Reading.from_message(again["message"]) == READING
    assert Reading.from_message(READING.as_message()) == READING  # numbers are accepted too


def test_decimal_string_fields_sign_exactly_as_the_numbers_did():
    """The strings change the JSON, not the signature: eth-account encodes both alike."""
    as_numbers = {**typed_data(BIG, CHAIN_ID, CONTRACT), "message": BIG.as_message()}
    signed = sign_reading(KEY.key, BIG, CHAIN_ID, CONTRACT)
    by_numbers = Account.sign_typed_data(KEY.key, full_message=as_numbers)
    assert (signed.v, signed.r, signed.s) == (by_numbers.v, by_numbers.r, by_numbers.s)
    assert reading_digest(BIG, CHAIN_ID, CONTRACT) == _independent_digest(BIG, CHAIN_ID, CONTRACT)


_ETHERS_DIGEST = """
const { _TypedDataEncoder } = require("@ethersproject/hash");
const data = JSON.parse(require("fs").readFileSync(0, "utf8"));
const types = { ...data.types };
delete types.EIP712Domain;
process.stdout.write(_TypedDataEncoder.hash(data.domain, types, data.message));
"""


def test_ethers_hashes_the_json_above_2_53_to_the_contracts_digest():
    """ethers (the encoder wallets and dApps use) reads the JSON as a browser would."""
    digest = "0x" + _independent_digest(BIG, CHAIN_ID, CONTRACT).hex()
    data = typed_data(BIG, CHAIN_ID, CONTRACT)
    assert _ethers_digest(data).stdout == digest
    # the same JSON with numbers: JSON.parse rounds them to doubles and ethers refuses them
    as_numbers = _ethers_digest({**data, "message": BIG.as_message()})
    assert as_numbers.returncode != 0 and as_numbers.stdout != digest


def _ethers_digest(data: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", "-e", _ETHERS_DIGEST],
        input=json.dumps(data),
        cwd=repo_root(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_signature_recovers_to_the_device_key_and_is_canonical():
    signed = sign_reading(KEY.key, READING, CHAIN_ID, CONTRACT)
    assert signed.reading == READING
    assert signed.v in (27, 28)
    assert 0 < signed.s <= SECP256K1_N // 2  # low s, as the contract demands
    message = encode_typed_data(full_message=typed_data(READING, CHAIN_ID, CONTRACT))
    vrs = (signed.v, signed.r, signed.s)
    assert Account.recover_message(message, vrs=vrs) == KEY.address
    assert signed == sign_reading(KEY.key.hex(), READING, CHAIN_ID, CONTRACT)  # deterministic


_UINT64 = st.integers(0, 2**64 - 1)
_READINGS = st.builds(Reading, _UINT64, _UINT64, _UINT64, _UINT64, _UINT64, _UINT64)
_KEYS = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
# both spellings is_address accepts: all lower case, and the EIP-55 checksum
_CONTRACTS = st.tuples(st.binary(min_size=20, max_size=20), st.booleans()).map(
    lambda c: to_checksum_address(c[0]) if c[1] else "0x" + c[0].hex()
)


@settings(max_examples=examples(60), deadline=None)
@given(
    reading=_READINGS,
    key=_KEYS,
    chain_id=st.one_of(st.integers(0, 2**64), st.integers(0, 2**256 - 1)),
    contract=_CONTRACTS,
)
def test_fast_signature_is_identical_to_eth_accounts_typed_data_signature(
    reading: Reading, key: bytes, chain_id: int, contract: str
):
    """The hot-path signer (cached separator, coincurve) against the generic reference path."""
    reference = Account.sign_typed_data(key, full_message=typed_data(reading, chain_id, contract))
    signed = sign_reading(key, reading, chain_id, contract)
    assert (signed.v, signed.r, signed.s) == (reference.v, reference.r, reference.s)
    message = encode_typed_data(full_message=typed_data(reading, chain_id, contract))
    vrs = (signed.v, signed.r, signed.s)
    assert Account.recover_message(message, vrs=vrs) == Account.from_key(key).address


def _reference_signer(reading: Reading, v: int, r: int, s: int) -> str | None:
    """eth-account's recovery from the generic typed-data digest, with the contract's rules:
    v 27 or 28 and a low s, else no signer."""
    if v not in (27, 28) or s > SECP256K1_HALF_N:
        return None
    try:
        digest = reading_digest(reading, CHAIN_ID, CONTRACT)
        return str(Account._recover_hash(digest, vrs=(v, r, s))).lower()
    except (BadSignature, ValueError):
        return None


@settings(max_examples=examples(60), deadline=None)
@given(
    reading=_READINGS,
    key=_KEYS,
    tamper=st.sampled_from(["none", "field", "r", "s", "high s", "v", "zero r", "zero s"]),
    other=st.integers(0, 2**256 - 1),
)
def test_fast_recovery_is_eth_accounts_recovery_with_the_contracts_rules(
    reading: Reading, key: bytes, tamper: str, other: int
):
    """The audit's signer recovery (cached separator, libsecp256k1) against eth-account's, for
    genuine signatures and for each way a submitted one can be wrong."""
    signed = sign_reading(key, reading, CHAIN_ID, CONTRACT)
    v, r, s = signed.v, signed.r, signed.s
    if tamper == "field":
        reading = replace(reading, export_wh=(reading.export_wh + 1) % 2**64)
    elif tamper == "r":
        r = other % SECP256K1_N
    elif tamper == "s":
        s = other % SECP256K1_N
    elif tamper == "high s":
        s = SECP256K1_N - s  # the malleable twin: valid for eth-account, refused by the contract
    elif tamper == "v":
        v = other % 256
    elif tamper == "zero r":
        r = 0
    elif tamper == "zero s":
        s = 0
    got = recover_signer(reading, v, r, s, separator_of(CHAIN_ID, CONTRACT))
    assert got == _reference_signer(reading, v, r, s)
    if tamper == "none":
        assert got == Account.from_key(key).address.lower()
    if tamper in ("high s", "v", "zero r", "zero s") and not (tamper == "v" and v in (27, 28)):
        assert got is None


def test_fast_signer_takes_the_key_as_bytes_hex_or_int_and_refuses_bad_keys():
    signed = sign_reading(KEY.key, READING, CHAIN_ID, CONTRACT)
    assert sign_reading("0x" + KEY.key.hex(), READING, CHAIN_ID, CONTRACT) == signed
    assert sign_reading(int.from_bytes(KEY.key, "big"), READING, CHAIN_ID, CONTRACT) == signed
    for bad in (b"\0" * 32, SECP256K1_N.to_bytes(32, "big"), b"\1" * 31, "0xzz", -1, 1.5):
        with pytest.raises(InvalidReading):
            sign_reading(bad, READING, CHAIN_ID, CONTRACT)  # type: ignore[arg-type]
    for bad_chain in (True, -1, 2**256):
        with pytest.raises(InvalidReading):
            sign_reading(KEY.key, READING, bad_chain, CONTRACT)
    with pytest.raises(InvalidReading):
        sign_reading(KEY.key, READING, CHAIN_ID, CONTRACT.lower()[:-1] + "G")


def test_a_key_object_built_once_signs_as_the_raw_key_does():
    key = signing_key(KEY.key)
    separator = separator_of(CHAIN_ID, CONTRACT)
    for reading in (READING, replace(READING, slot=READING.slot + 1)):
        expected = sign_reading(KEY.key, reading, CHAIN_ID, CONTRACT)
        assert sign_with_separator(key, reading, separator) == expected
    for bad in (b"\0" * 32, SECP256K1_N.to_bytes(32, "big"), "0xzz"):
        with pytest.raises(InvalidReading):
            signing_key(bad)


def test_signed_reading_as_tuple_is_the_abi_tuple():
    signed = sign_reading(KEY.key, READING, CHAIN_ID, CONTRACT)
    reading, v, r, s = signed.as_tuple()
    assert reading == (7, 1_234, 250, 1_000, 98_765, 43_210)
    assert v == signed.v
    assert r == signed.r.to_bytes(32, "big") and len(r) == 32
    assert s == signed.s.to_bytes(32, "big") and len(s) == 32


def test_packed_reading_is_six_uint64_then_the_eip2098_compact_signature():
    signed = sign_reading(KEY.key, BIG, CHAIN_ID, CONTRACT)
    data = signed.packed()
    assert len(data) == PACKED_READING_BYTES == 112
    # written out by hand: six big-endian uint64, r, then yParity in bit 255 over s
    fields = b"".join(v.to_bytes(8, "big") for v in BIG.as_tuple())
    parity_and_s = ((signed.v - 27) << 255) | signed.s
    assert data == fields + signed.r.to_bytes(32, "big") + parity_and_s.to_bytes(32, "big")
    assert SignedReading.unpack(data) == signed


@given(
    readings=st.lists(_READINGS, max_size=4),
    key=_KEYS,
    chain_id=st.integers(0, 2**256 - 1),
    contract=_CONTRACTS,
)
@settings(max_examples=examples(50), deadline=None)
def test_packed_batches_round_trip_and_keep_both_y_parities(
    readings: list[Reading], key: bytes, chain_id: int, contract: str
):
    batch = [sign_reading(key, r, chain_id, contract) for r in readings]
    data = pack_batch(batch)
    assert len(data) == PACKED_READING_BYTES * len(batch)
    assert unpack_batch(data) == batch


def test_a_signature_without_a_compact_form_is_refused_by_name():
    signed = sign_reading(KEY.key, READING, CHAIN_ID, CONTRACT)
    for bad in (
        SignedReading(READING, 0, signed.r, signed.s),  # v not 27 or 28
        SignedReading(READING, 29, signed.r, signed.s),
        SignedReading(READING, signed.v, signed.r, SECP256K1_N - signed.s),  # s >= 2^255
    ):
        with pytest.raises(InvalidReading):
            bad.packed()
    for length in (1, 111, 113):
        with pytest.raises(InvalidReading):
            unpack_batch(b"\1" * length)
    with pytest.raises(InvalidReading):
        SignedReading.unpack(b"\1" * 224)


@pytest.mark.parametrize(
    "value", [-1, 2**64, True, 1.0, "5", None], ids=["neg", "2**64", "bool", "float", "str", "None"]
)
@pytest.mark.parametrize("field", range(6))
def test_reading_rejects_values_outside_uint64(field: int, value: object):
    values: list[object] = [1, 2, 3, 4, 5, 6]
    values[field] = value
    with pytest.raises(InvalidReading):
        Reading(*values)  # type: ignore[arg-type]


def test_invalid_reading_is_a_p2penergy_error_and_a_value_error():
    with pytest.raises(P2PEnergyError, match=r"meter_id must be in \[0, 2\*\*64\)"):
        Reading(2**64, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError):
        Reading(0, -5, 0, 0, 0, 0)


def test_reading_is_frozen():
    with pytest.raises(AttributeError):
        READING.slot = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("v", "r", "s"),
    [(256, 1, 1), (-1, 1, 1), (27, 2**256, 1), (27, 1, -1), (27, b"\x01", 1)],
)
def test_signed_reading_rejects_out_of_range_signature_parts(v: object, r: object, s: object):
    with pytest.raises(InvalidReading):
        SignedReading(READING, v, r, s)  # type: ignore[arg-type]


def test_signed_reading_needs_a_reading():
    with pytest.raises(InvalidReading):
        SignedReading(READING.as_tuple(), 27, 1, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("contract", ["0x1234", "not an address", 5, CONTRACT + "00"])
def test_typed_data_rejects_a_malformed_contract_address(contract: object):
    with pytest.raises(InvalidReading):
        typed_data(READING, CHAIN_ID, contract)  # type: ignore[arg-type]


@pytest.mark.parametrize("chain_id", [-1, 2**256, "31337", True])
def test_typed_data_rejects_a_malformed_chain_id(chain_id: object):
    with pytest.raises(InvalidReading):
        typed_data(READING, chain_id, CONTRACT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "message",
    [
        {"meterId": 1, "slot": 2, "importWh": 3, "exportWh": 4, "importRegisterWh": 5},
        {**READING.as_message(), "extra": 1},
        {**READING.as_message(), "slot": "0x10"},
        {**READING.as_message(), "slot": "-1"},
    ],
    ids=["missing", "extra", "hex-string", "negative-string"],
)
def test_from_message_rejects_malformed_messages(message: dict[str, object]):
    with pytest.raises(InvalidReading):
        Reading.from_message(message)
