"""Decodes contract revert data into `ContractRevert` subclasses by custom-error name."""

from __future__ import annotations

from functools import cache

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import collapse_if_tuple
from eth_utils.crypto import keccak

from p2penergy.chain import artifacts
from p2penergy.exceptions import (
    AccessDenied,
    CertificateError,
    ContractRevert,
    CreditError,
    GovernanceRevert,
    MarketError,
    ReadingsError,
    RegistryError,
    UnknownRevert,
)

# Longest prefix first: the area of an error follows from its name.
_AREAS: list[tuple[str, type[ContractRevert]]] = [
    ("AccessControl", AccessDenied),
    ("Registry", RegistryError),
    ("Credit", CreditError),
    ("ERC20", CreditError),
    ("ERC2612", CreditError),
    ("Certificate", CertificateError),
    ("ERC1155", CertificateError),
    ("Market", MarketError),
    ("Readings", ReadingsError),
    ("Timelock", GovernanceRevert),
    ("Governance", GovernanceRevert),
]

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


@cache
def _selectors() -> dict[bytes, tuple[str, list[str], list[str]]]:
    table: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for abi in artifacts.all_abis().values():
        for item in abi:
            if item.get("type") != "error":
                continue
            types = [collapse_if_tuple(p) for p in item["inputs"]]
            signature = f"{item['name']}({','.join(types)})"
            names = [p["name"] or f"arg{i}" for i, p in enumerate(item["inputs"])]
            table[keccak(text=signature)[:4]] = (item["name"], types, names)
    return table


def error_class(name: str) -> type[ContractRevert]:
    """The exception class for a custom error called `name`."""
    for prefix, cls in _AREAS:
        if name.startswith(prefix):
            return cls
    return UnknownRevert


def decode_revert(data: bytes | str | None, contract: str | None = None) -> ContractRevert:
    """Turns raw revert data into the matching exception (never raises itself)."""
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x")) if data.startswith("0x") else data.encode()
    data = data or b""
    selector, payload = data[:4], data[4:]
    if selector == _ERROR_STRING:
        (message,) = abi_decode(["string"], payload)
        return UnknownRevert("Error", {"message": message}, contract)
    if selector == _PANIC:
        (code,) = abi_decode(["uint256"], payload)
        return UnknownRevert("Panic", {"code": hex(code)}, contract)
    known = _selectors().get(selector)
    if known is None:
        return UnknownRevert("Revert", {"data": data}, contract)
    name, types, names = known
    try:
        values = abi_decode(types, payload)
    except Exception:  # malformed payload: keep the name, show the raw bytes
        return error_class(name)(name, {"data": payload}, contract)
    return error_class(name)(name, dict(zip(names, values, strict=True)), contract)
