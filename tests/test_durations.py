"""The one duration grammar (driftgate/durations.py), as examples and as properties over what
hypothesis writes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftgate.durations import UNIT_SECONDS, parse_duration

units = st.sampled_from(["", *UNIT_SECONDS])
spaces = st.text(alphabet=" \t", max_size=3)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("7d", 7 * 86400), ("90", 90), ("500ms", 0.5), ("250us", 250e-6),
     ("1.5m", 90), (".5s", 0.5), ("2.h", 7200), (" 10 s ", 10), ("0s", 0)],
)
def test_examples(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "-1m", "+1m", "1e3s", "10 seconds", "5x", "1 m s", "1,5m", "nan", "inf",
                                  "1..5s", "ms", "1 0s"])
def test_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


@given(whole=st.integers(0, 10**9), fraction=st.one_of(st.none(), st.text(alphabet="0123456789", max_size=6)),
       unit=units, before=spaces, between=spaces, after=spaces)
def test_a_number_and_a_unit_is_that_many_units(
    whole: int, fraction: str | None, unit: str, before: str, between: str, after: str
) -> None:
    number = str(whole) if fraction is None else f"{whole}.{fraction}"
    seconds = parse_duration(f"{before}{number}{between}{unit}{after}")
    assert seconds == pytest.approx(float(number) * UNIT_SECONDS[unit or "s"], rel=1e-12)


@given(st.text(max_size=12))
def test_anything_parses_to_finite_seconds_or_says_why(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        assert str(exc).startswith(f"bad duration {text!r}")
    else:
        assert math.isfinite(seconds) and seconds >= 0
        assert not text.strip().startswith(("-", "+"))


@given(number=st.floats(0, 1e6, allow_nan=False), unit=st.sampled_from(sorted(UNIT_SECONDS)))
def test_larger_units_scale_monotonically(number: float, unit: str) -> None:
    text = f"{number:f}"
    assert parse_duration(text + unit) == pytest.approx(parse_duration(text) * UNIT_SECONDS[unit], rel=1e-12)
