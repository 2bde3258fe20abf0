"""The embedded chain's backend: py-evm through eth-tester, with revert data kept as data.

eth-tester turns a reverted `eth_call` into `TransactionFailed` whose only argument is the
revert data printed as text; this backend raises it from py-evm's `Revert`, whose data is the
revert's return data, so `chain.tx.revert_from` decodes custom errors from bytes, not text.

`fast_keccak` points eth-hash at its pysha3 backend (a C extension) where it is installed:
py-evm hashes every trie node it reads or writes, and eth-hash's automatic choice, pycryptodome,
spends ~10x longer per hash in its ctypes wrapper. The digests are the same.
"""

from __future__ import annotations

from typing import Any

import eth_hash.auto
from eth.exceptions import Revert
from eth.vm.spoof import SpoofTransaction
from eth_tester import PyEVMBackend
from eth_tester.backends.pyevm.main import _execute_and_revert_transaction
from eth_tester.exceptions import TransactionFailed


def fast_keccak() -> bool:
    """Makes eth-hash's shared `keccak` (py-evm's, trie's, eth-utils') use pysha3 when it is
    installed; True when it does. Checked against a known digest before the switch."""
    try:
        from eth_hash.backends import pysha3
    except ImportError:  # safe-pysha3 is not installed: keep the automatic backend
        return False
    backend = pysha3.backend
    if backend.keccak256(b"") != _KECCAK_OF_EMPTY:
        return False
    # eth-hash swaps these two attributes itself after its first run (its stubs type them as
    # plain functions, the backend's as methods)
    eth_hash.auto.keccak.hasher = backend.keccak256  # type: ignore[assignment]
    eth_hash.auto.keccak.preimage = backend.preimage  # type: ignore[assignment]
    return True


_KECCAK_OF_EMPTY = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


class RevertDataBackend(PyEVMBackend):  # type: ignore[misc]
    """`PyEVMBackend` whose failed calls carry py-evm's error as their cause."""

    def call(self, transaction: dict[str, Any], block_number: Any = "latest") -> bytes:
        tx = dict(transaction)
        if "gas" not in tx:
            tx["gas"] = self._max_available_gas()
        unsigned = self._get_normalized_and_unsigned_evm_transaction(tx, block_number)
        spoofed = SpoofTransaction(unsigned, from_=transaction["from"])
        computation = _execute_and_revert_transaction(self.chain, spoofed, block_number)
        if computation.is_error:
            error = computation.error
            raise TransactionFailed(str(error)) from error
        return bytes(computation.output)


def revert_data(exc: BaseException) -> bytes | None:
    """The return data of the py-evm `Revert` behind an eth-tester failure, or None when the
    failure was not a revert (an invalid opcode, out of gas)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, Revert):
            data = current.args[0] if current.args else b""  # Revert(computation.output)
            return bytes(data) if isinstance(data, bytes | bytearray) else b""
        seen.add(id(current))
        nested = current.args[0] if current.args else None
        # `replace_exceptions` wraps the py-evm error as the argument (and the cause).
        current = (
            nested
            if isinstance(nested, BaseException)
            else (current.__cause__ or current.__context__)
        )
    return None
