"""Simulated smart meters: each signs its slot readings with its device key.

Signatures are exactly `p2penergy.oracle.sign_reading`'s: the meters use the oracle's fast signer
(cached domain separator, libsecp256k1), and the meters of a community sign in a worker process
while the chain runs: meters are separate devices anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from p2penergy.domain.readings import Reading
from p2penergy.oracle.reading import SignedReading, separator_of, sign_with_separator


def domain_separator(chain_id: int, contract: str) -> bytes:
    """The EIP-712 domain separator of a MeterReadings deployment (the oracle's, cached)."""
    return separator_of(chain_id, contract)


def sign_fast(key: bytes, reading: Reading, separator: bytes) -> SignedReading:
    """Signs like `sign_reading` (canonical low-s, v 27/28) from a precomputed separator: the
    oracle's own fast signer."""
    return sign_with_separator(key, reading, separator)


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
