"""Durations as people write them on a command line: ``500ms``, ``30s``, ``5m``, ``1.5h``, ``7d``.

The grammar (one for every command, the operator CLI's windows and ``driftgate bench``'s times)::

    duration := space* number space* unit? space*
    number   := digits ["." digits*] | "." digits        (no sign, no exponent)
    unit     := "us" | "ms" | "s" | "m" | "h" | "d"        (none: seconds)

:func:`parse_duration` returns seconds (a finite float, 0 or more) or raises ValueError with a
message for a person. Whether 0 is allowed is the caller's business: a warm-up may be ``0s``, a
window may not (``driftgate.cli.argtypes.duration``).
"""

from __future__ import annotations

import math
import re

__all__ = ["UNIT_SECONDS", "parse_duration"]

UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|m|h|d)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (see the module's grammar); ValueError when it is not a duration."""
    match = _DURATION.match(text)
    seconds = float(match.group(1)) * UNIT_SECONDS[match.group(2) or "s"] if match else math.nan
    if not math.isfinite(seconds):
        raise ValueError(
            f"bad duration {text!r}: use a number and a unit, e.g. 500ms, 30s, 5m, 1h or 7d "
            "(us, ms, s, m, h, d; no unit: seconds)"
        )
    return seconds
