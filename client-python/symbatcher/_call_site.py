"""Where in the user's code a scheduler call was made, so that a warning
raised later on the scheduler's event loop (the echo fallback, items that all
fail the same way) points at the user's line instead of at asyncio's."""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass

#: Frames in these directories are not the user's: the package itself and
#: the standard library's machinery between a call and the loop.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_MACHINERY = ("asyncio", "threading.py", "concurrent", "contextlib.py", "runpy.py")


@dataclass(frozen=True)
class CallSite:
    filename: str
    lineno: int
    module: str

    def warn(self, message: str, category: type[Warning]) -> None:
        """`warnings.warn` as if raised at this line of the user's code
        (filters by module apply as usual)."""
        warnings.warn_explicit(message, category, self.filename, self.lineno, module=self.module)


def user_call_site() -> CallSite | None:
    """The innermost frame of the caller's stack outside symbatcher and the
    standard library's loop and thread machinery; None if there is none."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        inside = filename.startswith(_PACKAGE_DIR + os.sep) or any(
            part in filename for part in _MACHINERY
        )
        if not inside:
            return CallSite(filename, frame.f_lineno, str(frame.f_globals.get("__name__", "")))
        frame = frame.f_back  # type: ignore[assignment]
    return None
