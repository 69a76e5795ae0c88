"""argparse types for the CLI's numbers: a bad value is one line from argparse ("argument
--max-batch-size: must be a whole number from 0 to 4294967295, got '-5'"), never a traceback
from the protobuf field it would have been put in."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["INT32_MAX", "INT64_MAX", "UINT32_MAX", "duration", "integer", "number"]

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
UINT32_MAX = 2**32 - 1


def integer(low: int, high: int) -> Callable[[str], int]:
    """A whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def number(low: float, high: float = math.inf, *, low_open: bool = False) -> Callable[[str], float]:
    """A finite number in [low, high] (``low_open``: above low)."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
        if not ok:
            lower = f"above {low:g}" if low_open else f"at least {low:g}"
            upper = f" and at most {high:g}" if math.isfinite(high) else ""
            raise argparse.ArgumentTypeError(f"must be a number {lower}{upper}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def duration(text: str) -> float:
    """Seconds in a duration above zero (driftgate/durations.py: 500ms, 30s, 5m, 1h, 7d; plain seconds)."""
    from driftgate.durations import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a duration above 0 like 30s, 5m, 1h or 7d, got {text!r}")
    return seconds
