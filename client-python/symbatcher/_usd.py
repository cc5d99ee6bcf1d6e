"""Dollar amounts as people read them: four decimals from a cent up, three
significant digits below, so that a small job's cost is never `$0.0000`."""

from __future__ import annotations

import math


def usd(amount: float) -> str:
    """`$0.0123`, `$12.5000`, `$0.00000450`, `$0` (exactly nothing)."""
    if amount == 0:
        return "$0"
    if abs(amount) >= 0.01:
        return f"${amount:,.4f}"
    digits = 2 - math.floor(math.log10(abs(amount)))
    return f"${amount:.{digits}f}"
