"""Meter readings: the reading model and its EIP-712 signing, device keys, sources (CSV, watched
folder, simulated meters), the SQLite outbox, the relayer and the oracle service that ties them.
"""

from p2penergy.domain.readings import READING_TYPE, InvalidReading, Reading
from p2penergy.oracle.reading import (
    DOMAIN_NAME,
    DOMAIN_VERSION,
    SignedReading,
    reading_digest,
    sign_reading,
    typed_data,
)

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "READING_TYPE",
    "InvalidReading",
    "Reading",
    "SignedReading",
    "reading_digest",
    "sign_reading",
    "typed_data",
]
