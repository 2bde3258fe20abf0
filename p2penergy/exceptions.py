"""The exception tree: one root, a subclass per area, contract reverts decoded by name."""

from __future__ import annotations

from typing import Any


class P2PEnergyError(Exception):
    """Root of every error p2penergy raises on purpose."""


class ToolchainError(P2PEnergyError):
    """The Solidity toolchain (solc, node packages) is missing or failed."""


class ChainError(P2PEnergyError):
    """The chain could not be reached or answered something unexpected."""


class DeploymentError(ChainError):
    """No deployment is known for this chain, or its address book is inconsistent."""


class ContractRevert(P2PEnergyError):
    """A contract call reverted with a custom error; `name` and `args` say which and why."""

    def __init__(self, name: str, args: dict[str, Any], contract: str | None = None) -> None:
        self.name = name
        self.error_args = args
        self.contract = contract
        rendered = ", ".join(f"{key}={_render(value)}" for key, value in args.items())
        super().__init__(f"{name}({rendered})")


class AccessDenied(ContractRevert, PermissionError):
    """The caller lacks the role the function needs."""


class RegistryError(ContractRevert):
    """The participant registry refused the change."""


class CreditError(ContractRevert):
    """The community credit token refused the transfer, mint or burn."""


class CertificateError(ContractRevert):
    """The energy certificate contract refused the change."""


class MarketError(ContractRevert):
    """The energy market refused the order, clearing or settlement."""


class ReadingsError(ContractRevert):
    """The meter readings contract refused the reading."""


class GovernanceError(P2PEnergyError):
    """A governance (timelock) action could not be scheduled, executed or cancelled."""


class GovernanceRevert(GovernanceError, ContractRevert):
    """The governance timelock refused the call (e.g. `TimelockUnexpectedOperationState`)."""


class UnknownOperation(GovernanceError, LookupError):
    """No call with this operation id was ever scheduled in the governance timelock."""

    def __init__(self, operation_id: str) -> None:
        self.operation_id = operation_id
        super().__init__(f"no scheduled governance operation {operation_id}")


class UnknownRevert(ContractRevert):
    """A revert whose error selector is in no shipped ABI (or a plain revert)."""


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        from eth_utils.address import to_checksum_address

        return str(to_checksum_address(value))
    return str(value)


class OracleError(P2PEnergyError):
    """The oracle could not read, sign, store or relay meter readings."""


class KeeperError(P2PEnergyError):
    """The keeper could not clear, settle or expire a slot."""
