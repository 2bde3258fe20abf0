"""Simulated smart meters: each signs its slot readings with its device key.

Signatures are exactly `p2penergy.oracle.sign_reading`'s (a test checks it), but the EIP-712
digest is hashed directly instead of through the generic typed-data encoder, and the meters of a
community sign in a worker process while the chain runs: meters are separate devices anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from eth_account import Account
from eth_utils.crypto import keccak

from p2penergy.domain.readings import READING_TYPE, Reading
from p2penergy.oracle.reading import _EIP712_DOMAIN_TYPE, DOMAIN_NAME, DOMAIN_VERSION, SignedReading

_DOMAIN_TYPEHASH = keccak(
    text="EIP712Domain(" + ",".join(f"{t} {n}" for n, t in _EIP712_DOMAIN_TYPE) + ")"
)
_READING_TYPEHASH = keccak(text="Reading(" + ",".join(f"{t} {n}" for n, t in READING_TYPE) + ")")


def domain_separator(chain_id: int, contract: str) -> bytes:
    """The EIP-712 domain separator of a MeterReadings deployment."""
    return keccak(
        _DOMAIN_TYPEHASH
        + keccak(text=DOMAIN_NAME)
        + keccak(text=DOMAIN_VERSION)
        + chain_id.to_bytes(32, "big")
        + bytes.fromhex(contract[2:]).rjust(32, b"\0")
    )


def digest(reading: Reading, separator: bytes) -> bytes:
    """The EIP-712 digest of `reading` (equals `p2penergy.oracle.reading_digest`)."""
    struct = keccak(_READING_TYPEHASH + b"".join(v.to_bytes(32, "big") for v in reading.as_tuple()))
    return keccak(b"\x19\x01" + separator + struct)


def sign_fast(key: bytes, reading: Reading, separator: bytes) -> SignedReading:
    """Signs like `sign_reading` (canonical low-s, v 27/28) from a precomputed separator."""
    signed = Account.unsafe_sign_hash(digest(reading, separator), key)
    return SignedReading(reading=reading, v=int(signed.v), r=int(signed.r), s=int(signed.s))


def sign_batch(
    keys: Sequence[bytes], readings: Sequence[Reading], separator: bytes
) -> list[SignedReading]:
    """Signs `readings[i]` with `keys[i]`."""
    return [sign_fast(k, r, separator) for k, r in zip(keys, readings, strict=True)]


class MeterFleet:
    """Signs each slot's readings ahead of the chain in a worker process (or inline)."""

    def __init__(self, keys: Sequence[bytes], separator: bytes, workers: int = 1) -> None:
        self.keys = list(keys)
        self.separator = separator
        self._pool = ProcessPoolExecutor(max_workers=workers) if workers > 0 else None

    def submit(self, readings: Sequence[Reading]) -> Future[list[SignedReading]]:
        """Starts signing one slot's readings (one per meter, in key order)."""
        if self._pool is None:
            future: Future[list[SignedReading]] = Future()
            future.set_result(sign_batch(self.keys, readings, self.separator))
            return future
        return self._pool.submit(sign_batch, self.keys, list(readings), self.separator)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
