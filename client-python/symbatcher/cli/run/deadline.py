"""`--deadline`: a duration ("2h", "90m", "1h30m", "45s") or a time (ISO
8601, e.g. "2026-12-06T18:00" in local time or "2026-12-06T18:00Z")."""

from __future__ import annotations

import argparse
import re
from datetime import datetime

#: Seconds per unit of a duration.
UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
#: A duration: one or more number-unit pairs ("1h30m", "1.5h").
DURATION = re.compile(r"(?:\d+(?:\.\d+)?[dhms])+")
PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")


def parse_deadline(text: str) -> float | datetime:
    """Seconds from now for a duration, a datetime for a time.
    argparse.ArgumentTypeError naming the accepted forms otherwise."""
    value = text.strip().lower()
    if DURATION.fullmatch(value):
        return sum(float(n) * UNITS[unit] for n, unit in PART.findall(value))
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--deadline: expected a duration such as 2h, 90m, 1h30m or 45s, or an ISO 8601 "
            f"time such as 2026-12-06T18:00 or 2026-12-06T18:00Z, got {text!r}"
        ) from None
