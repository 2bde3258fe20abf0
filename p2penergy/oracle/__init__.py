"""Meter readings: the reading model and its EIP-712 signing (relayer and sources come later)."""

from p2penergy.oracle.reading import (
    DOMAIN_NAME,
    DOMAIN_VERSION,
    READING_TYPE,
    InvalidReading,
    Reading,
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
