"""The keeper: watches slots, submits clearing after gate closure and settlement after delivery."""

from p2penergy.keeper.keeper import Action, Keeper, Outcome

__all__ = ["Action", "Keeper", "Outcome"]
