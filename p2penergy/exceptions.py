"""The exception tree: one root, a subclass per area, contract reverts decoded by name.

Every error p2penergy raises on purpose derives from `P2PEnergyError`; callers decide by type
and by the data the exception carries, never by its message. The cross-cutting classes live
here; an area's own refusals live beside its code and derive from a class here:

    P2PEnergyError
    ├── ToolchainError
    ├── ChainError
    │   ├── DeploymentError ── DeploymentGone
    │   ├── NodeUnreachable, WrongChain, TransactionFailed, GasBalanceTooLow
    │   ├── chain.supervisor.RpcError
    │   └── chain.gateway.UndecodableTransaction (also ValueError)
    ├── ContractRevert (decoded by `chain.errors.decode_revert`)
    │   ├── AccessDenied ── SenderNotAuthorized
    │   ├── RegistryError, CreditError, CertificateError, MarketError, ReadingsError
    │   ├── GovernanceRevert (also GovernanceError)
    │   └── UnknownRevert
    ├── GovernanceError ── UnknownOperation
    ├── OracleError ── SourceUnreadable, OutboxWriteFailed, oracle.identity.DeviceKeyError,
    │                  oracle.outbox.OutboxMismatch, oracle.outbox.ReadingConflict
    ├── KeeperError
    ├── Stopped (a service's stop event was set while it waited for the node)
    ├── KeystoreError ── WrongPassword (key files: `chain.keyfile`)
    ├── wallet.errors.WalletError ── PreflightError, wallet.forecast.ProfileError
    ├── network.errors.NetworkError ── InvalidNetworkInput, OutputNotEmpty, OutputNotWritable,
    │                                  PermApiDisabled, AddressBookMismatch, PermRequestFailed
    ├── market.models.MarketInputError, market.clearing.ClearingRejected (also ValueError)
    ├── oracle.reading.InvalidReading (also ValueError)
    ├── audit.service.AuditError ── AuditFilterError; audit.governance.PolicyError
    └── sim.runner.SimulationError, energy.scenario.ScenarioError
"""

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


class NodeUnreachable(ChainError):
    """The node at `url` did not answer (down, restarting, or the network is cut)."""

    def __init__(self, url: str | None, cause: str) -> None:
        self.url = url
        self.cause = cause
        super().__init__(f"node at {url} is unreachable: {cause}")


class WrongChain(ChainError):
    """The node at `url` serves chain `actual`, not the `expected` one."""

    def __init__(self, url: str | None, expected: int, actual: int) -> None:
        self.url = url
        self.expected = expected
        self.actual = actual
        super().__init__(f"node at {url} serves chain id {actual}, expected {expected}")


class DeploymentGone(DeploymentError):
    """The address book's contracts are not on this chain: no code at `address`, or the block
    the deployment was anchored to (`block`) is no longer the same (a reset or empty node)."""

    def __init__(self, chain_id: int, address: str | None, block: int | None, why: str) -> None:
        self.chain_id = chain_id
        self.address = address
        self.block = block
        super().__init__(why)


class TransactionFailed(ChainError):
    """A transaction was mined but failed (receipt status 0); carries its hash and receipt."""

    def __init__(self, tx_hash: str, receipt: Any) -> None:
        self.tx_hash = tx_hash
        self.receipt = receipt
        super().__init__(f"transaction {tx_hash} failed on chain (status 0)")


class GasBalanceTooLow(ChainError):
    """`account` holds `balance_wei`, less than the `needed_wei` one more transaction may cost."""

    def __init__(self, account: str, balance_wei: int, needed_wei: int) -> None:
        self.account = account
        self.balance_wei = balance_wei
        self.needed_wei = needed_wei
        super().__init__(
            f"account {account} holds {balance_wei} wei of gas money, less than the "
            f"{needed_wei} wei its next transaction may cost: fund it, then restart"
        )


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


class SenderNotAuthorized(AccessDenied):
    """The node refused the transaction before mining it: the registry's `transactionAllowed`
    does not allow its sender (JSON-RPC error -32007, as Besu's account permissioning)."""

    def __init__(self, sender: str) -> None:
        super().__init__("SenderNotAuthorized", {"sender": sender}, "ParticipantRegistry")


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


class SourceUnreadable(OracleError):
    """An oracle input (`path`) cannot be read at all."""

    def __init__(self, path: str, why: str) -> None:
        self.path = path
        super().__init__(f"source {path} {why}")


class OutboxWriteFailed(OracleError):
    """The outbox at `path` could not be written (disk full, read-only, locked): transient."""

    def __init__(self, path: str, error: str) -> None:
        self.path = path
        self.error = error
        super().__init__(f"outbox {path} could not be written: {error}")


class KeeperError(P2PEnergyError):
    """The keeper could not clear, settle or expire a slot."""


class KeystoreError(P2PEnergyError):
    """A key file (keystore, raw key, password file) is missing, unreadable or corrupted."""


class WrongPassword(KeystoreError, PermissionError):
    """The password does not decrypt the keystore (its MAC does not match)."""


class Stopped(P2PEnergyError):
    """A service's stop event was set while it waited for the node."""
