"""On-chain runtime code against the shipped artifacts, immutables masked then checked.

Solidity writes immutable values into the runtime code at deployment; the artifact's
`immutableReferences` says where (by AST id). The code must equal the artifact with those
ranges masked, every range of one immutable must hold the same value, and the values we can
predict (the addresses of the contracts it was wired to, its own address for EIP-712) must be
among them.
"""

from __future__ import annotations

from typing import Any

from p2penergy.audit.checks import BYTECODE, Findings
from p2penergy.chain import artifacts
from p2penergy.chain.connect import Chain
from p2penergy.exceptions import ToolchainError

# Contract name -> names in the address book whose address it must hold as an immutable.
WIRING: dict[str, tuple[str, ...]] = {
    "CommunityCredit": ("ParticipantRegistry",),
    "EnergyCertificate": ("ParticipantRegistry",),
    "MeterReadings": ("ParticipantRegistry", "EnergyCertificate"),
    "EnergyMarket": (
        "ParticipantRegistry",
        "CommunityCredit",
        "EnergyCertificate",
        "MeterReadings",
    ),
}


def immutable_values(artifact: dict[str, Any], code: bytes) -> dict[str, set[bytes]]:
    """The values written at each immutable's ranges of `code`, by AST id."""
    values: dict[str, set[bytes]] = {}
    for ast_id, refs in artifact.get("immutableReferences", {}).items():
        values[ast_id] = {code[ref["start"] : ref["start"] + ref["length"]] for ref in refs}
    return values


def masked(artifact: dict[str, Any], code: bytes) -> bytes:
    """`code` with every immutable range zeroed."""
    buffer = bytearray(code)
    for refs in artifact.get("immutableReferences", {}).values():
        for ref in refs:
            buffer[ref["start"] : ref["start"] + ref["length"]] = bytes(ref["length"])
    return bytes(buffer)


def check_bytecode(chain: Chain, addresses: dict[str, str], to_block: int, out: Findings) -> None:
    """Compares each deployed contract's runtime code with its shipped artifact."""
    for name, address in sorted(addresses.items()):
        try:
            artifact = artifacts.load(name)
        except ToolchainError as exc:
            out.could_not_check(BYTECODE, f"the code of {name} (no artifact)", exc, party=address)
            continue
        expected = bytes.fromhex(str(artifact["deployedBytecode"]).removeprefix("0x"))
        try:
            code = bytes(chain.w3.eth.get_code(_checksum(address), block_identifier=to_block))
        except Exception as exc:  # any failed read is reported, never taken as a pass
            out.could_not_check(BYTECODE, f"the code of {name}", exc, party=address)
            continue
        where = {"party": address.lower(), "amount": len(code)}
        if len(code) != len(expected) or masked(artifact, code) != masked(artifact, expected):
            first = next(
                (i for i, (x, y) in enumerate(zip(code, expected, strict=False)) if x != y),
                min(len(code), len(expected)),
            )
            out.add(
                BYTECODE,
                False,
                f"{name}: runtime code ({len(code)} bytes) differs from the artifact "
                f"({len(expected)} bytes) from byte {first}",
                **where,
            )
            continue
        values = immutable_values(artifact, code)
        uneven = sorted(ast_id for ast_id, found in values.items() if len(found) != 1)
        if uneven:
            out.add(BYTECODE, False, f"{name}: immutables {uneven} hold different values", **where)
            continue
        present = {next(iter(found)) for found in values.values()}
        wanted = {dep: addresses[dep] for dep in WIRING.get(name, ()) if dep in addresses}
        if any(item.get("name") == "eip712Domain" for item in artifact["abi"]):
            wanted["itself (EIP-712 domain)"] = address
        missing = [dep for dep, a in wanted.items() if _word(a) not in present]
        if missing:
            out.add(BYTECODE, False, f"{name}: not wired to {', '.join(missing)}", **where)
        else:
            out.add(
                BYTECODE,
                True,
                f"{name}: code equals the artifact; immutables hold {', '.join(wanted) or '-'}",
                **where,
            )


def _word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address.lower().removeprefix("0x"))


def _checksum(address: str) -> Any:
    from eth_utils.address import to_checksum_address

    return to_checksum_address(address)
