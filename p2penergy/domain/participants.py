"""Who takes part: participant kinds (the registry's enum) and the registry's roles."""

from __future__ import annotations

import enum


class Kind(enum.IntEnum):
    """A participant's kind, as `ParticipantRegistry` numbers it."""

    CONSUMER = 1
    PROSUMER = 2
    SERVICE = 3  # a keeper, relayer or oracle account: may send transactions, never trades


KINDS: dict[str, int] = {kind.name.lower(): int(kind) for kind in Kind}
KIND_NAMES: dict[int, str] = {value: name for name, value in KINDS.items()}
HOUSEHOLD_KINDS = ("consumer", "prosumer")

# The registry's role names. MARKET_ROLE is never granted: credit and certificate are bound to
# the market's address at deployment, so the role moves nothing (a grant is still reported).
ROLE_NAMES = ("OPERATOR_ROLE", "AUDITOR_ROLE", "KEEPER_ROLE", "GOVERNOR_ROLE", "MARKET_ROLE")
DEFAULT_ADMIN_ROLE = "DEFAULT_ADMIN_ROLE"
