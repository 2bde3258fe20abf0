"""How hard the property tests search: a short profile on every run, a long one on request.

Every run (and CI) uses the counts written at each test. `P2PENERGY_TESTS=long` multiplies them
by ten, for a search before a release or after a change to the market maths:

    P2PENERGY_TESTS=long .venv/bin/python -m pytest tests/unit tests/contracts
"""

from __future__ import annotations

import os

LONG = os.environ.get("P2PENERGY_TESTS", "") == "long"
LONG_FACTOR = 10


def examples(count: int) -> int:
    """`count` hypothesis examples in the short profile, ten times that in the long one."""
    return count * LONG_FACTOR if LONG else count
