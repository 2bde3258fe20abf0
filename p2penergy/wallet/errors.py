"""Errors of the wallet: keystores and the checks made before signing."""

from __future__ import annotations

from p2penergy.exceptions import ContractRevert, P2PEnergyError


class WalletError(P2PEnergyError):
    """A wallet operation cannot go ahead; the message says what to do instead."""


class PreflightError(WalletError):
    """A check made before signing failed (gate closed, not enough credits, not registered)."""


class FarAheadNotConfirmed(WalletError):
    """An order for a slot beyond the confirmation horizon, with nobody to confirm it (no
    terminal, no `--yes`). `slot` is the farthest such slot, `days` how far ahead it starts."""

    def __init__(self, slot: int, days: int, horizon_days: int) -> None:
        super().__init__(
            f"slot {slot} starts {days} days from now, beyond the {horizon_days}-day horizon "
            "that needs confirmation: check the date, then add --yes"
        )
        self.slot = slot
        self.days = days


class RefusedByContract(ContractRevert):
    """A contract refused the transaction; the message is the sentence people act on."""

    def __init__(self, original: ContractRevert, message: str) -> None:
        super().__init__(original.name, original.error_args, original.contract)
        self.message = message

    def __str__(self) -> str:
        return self.message
