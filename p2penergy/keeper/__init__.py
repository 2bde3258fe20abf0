"""The keeper: watches slots, submits clearing after gate closure and settlement after delivery."""

from p2penergy.keeper.keeper import Action, Keeper

__all__ = ["Action", "Keeper"]
