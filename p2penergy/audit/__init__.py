"""The auditor: rebuilds the whole history from chain data alone and re-checks every number.

See docs/audit.md. `audit(system)` (or `audit(chain, deployment)`) returns a `Report`.
"""

from p2penergy.audit.cache import AuditCache
from p2penergy.audit.checks import Finding
from p2penergy.audit.service import (
    AuditError,
    AuditFilterError,
    Household,
    Report,
    audit,
    load_topups,
)

__all__ = [
    "AuditCache",
    "AuditError",
    "AuditFilterError",
    "Finding",
    "Household",
    "Report",
    "audit",
    "load_topups",
]
