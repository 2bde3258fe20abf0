"""The embedded chain's backend: py-evm through eth-tester, with revert data kept as data.

eth-tester turns a reverted `eth_call` into `TransactionFailed` whose only argument is the
revert data printed as text; this backend raises it from py-evm's `Revert`, whose data is the
revert's return data, so `chain.tx.revert_from` decodes custom errors from bytes, not text.
"""

from __future__ import annotations

from typing import Any

from eth.exceptions import Revert
from eth.vm.spoof import SpoofTransaction
from eth_tester import PyEVMBackend
from eth_tester.backends.pyevm.main import _execute_and_revert_transaction
from eth_tester.exceptions import TransactionFailed


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
