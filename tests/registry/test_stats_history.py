"""The traffic history's windows: differences of cumulative reports, resets, several gateways,
window edges, against a plain model of what each gateway served when."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftgate.latency_buckets import LATENCY_BUCKET_BOUNDS_US
from driftgate.registry.catalogue.records import GatewayStatus, VersionStatsRecord
from driftgate.registry.observation.stats import REFUSED_VERSION, Counts, TrafficHistory, percentile_ms

NB = len(LATENCY_BUCKET_BOUNDS_US) + 1
T0 = 1_800_000_000.0  # the history begins here (unix seconds)
START = "2027-01-15T07:59:00+00:00"  # a gateway started before T0
LATER = "2027-01-15T08:30:01+00:00"  # ... and one started after it (T0 is 08:00:00 UTC)


def status(gid: str, started: str, counts: dict[int, int], refused: int = 0) -> GatewayStatus:
    stats = tuple(
        VersionStatsRecord("m", v, requests=n, rows=n, latency_buckets=tuple([n] + [0] * (NB - 1)))
        for v, n in counts.items()
    )
    return GatewayStatus(
        gateway_id=gid, address="", host="", pid=0, started_at=started, applied_generation=1, versions=(),
        stats=stats, last_seen=0.0, reported_at="", refused=(("m", "INVALID_ARGUMENT", refused),) if refused else (),
    )


def requests(history: TrafficHistory, window: float, now: float, version: int = 1) -> int:
    w = history.window("m", window, now=now)
    vec = w.sums.get(("", "m", version))
    return 0 if vec is None else int(Counts(vec).requests)


def test_differences_of_cumulative_reports_fall_in_their_slots() -> None:
    h = TrafficHistory(1.0, 60.0, clock=lambda: T0)
    assert h.began == T0
    h.record(status("g", LATER, {1: 10}), now=T0 + 5.5)  # started after T0: all 10 count
    h.record(status("g", LATER, {1: 25}), now=T0 + 10.5)
    assert requests(h, 60, now=T0 + 11) == 25
    assert requests(h, 1, now=T0 + 11) == 15  # the slot of T0+10.5 and the one before it
    assert requests(h, 3, now=T0 + 20) == 0


def test_a_gateway_running_before_the_history_is_a_baseline_first() -> None:
    h = TrafficHistory(1.0, 60.0, clock=lambda: T0)
    h.record(status("g", START, {1: 1000}), now=T0 + 1)
    h.record(status("g", START, {1: 1010}), now=T0 + 2)
    assert requests(h, 60, now=T0 + 3) == 10


def test_a_restart_counts_from_zero_and_a_counter_going_down_too() -> None:
    h = TrafficHistory(1.0, 60.0, clock=lambda: T0)
    h.record(status("g", LATER, {1: 50}), now=T0 + 1)
    h.record(status("g", "2027-01-15T08:30:09+00:00", {1: 7}), now=T0 + 2)  # restarted: new started_at
    h.record(status("g", "2027-01-15T08:30:09+00:00", {1: 3}), now=T0 + 3)  # went down: reset
    assert requests(h, 60, now=T0 + 4) == 50 + 7 + 3


def test_gateways_add_and_by_gateway_keeps_them_apart() -> None:
    h = TrafficHistory(1.0, 60.0, clock=lambda: T0)
    h.record(status("a", LATER, {1: 4, 2: 1}, refused=2), now=T0 + 1)
    h.record(status("b", LATER, {1: 6}), now=T0 + 1)
    assert requests(h, 60, now=T0 + 2) == 10
    assert requests(h, 60, now=T0 + 2, version=REFUSED_VERSION) == 2
    w = h.window("m", 60, by_gateway=True, now=T0 + 2)
    assert {k: int(Counts(v).requests) for k, v in w.sums.items()} == {
        ("a", "m", 1): 4, ("a", "m", 2): 1, ("a", "m", 0): 2, ("b", "m", 1): 6,
    }
    assert Counts(w.sums[("a", "m", 0)]).errors() == {"INVALID_ARGUMENT": 2}


def test_old_slots_are_forgotten() -> None:
    h = TrafficHistory(1.0, 10.0, clock=lambda: T0)
    h.record(status("g", LATER, {1: 5}), now=T0 + 1)
    h.record(status("g", LATER, {1: 6}), now=T0 + 30)
    assert requests(h, 10, now=T0 + 30) == 1


def test_percentiles_interpolate_inside_buckets() -> None:
    buckets = [0] * NB
    buckets[1] = 100  # all between 50 and 100 us
    assert percentile_ms(buckets, 0.5) == pytest.approx(0.075)
    assert percentile_ms(buckets, 1.0) == pytest.approx(0.1)
    assert math.isnan(percentile_ms([0] * NB, 0.5))
    overflow = [0] * NB
    overflow[-1] = 3
    assert percentile_ms(overflow, 0.99) == LATENCY_BUCKET_BOUNDS_US[-1] / 1000


# each event: (gateway 0-2, seconds after T0 in tenths, requests served since the last event, restart?)
events = st.lists(
    st.tuples(st.integers(0, 2), st.integers(1, 1200), st.integers(0, 50), st.booleans()), min_size=1, max_size=60
)


@settings(max_examples=150, deadline=None)
@given(events=events, window=st.integers(1, 130), resolution=st.sampled_from([0.5, 1.0, 2.0, 5.0]))
def test_windows_match_a_plain_model(events, window, resolution) -> None:  # type: ignore[no-untyped-def]
    """Whatever the order of reports, restarts and gateways, a window holds exactly the requests
    served (by the model) in the reports whose slot it covers."""
    h = TrafficHistory(resolution, 1000.0, clock=lambda: T0)
    cumulative = [0, 0, 0]
    starts = [0, 0, 0]
    served: list[tuple[float, int]] = []  # (report time, requests it added)
    for gw, tenth, n, restart in sorted(events, key=lambda e: e[1]):
        now = T0 + tenth / 10
        if restart:
            starts[gw] += 1
            cumulative[gw] = 0
        cumulative[gw] += n
        started = f"2027-01-15T08:{30 + starts[gw]:02d}:00+00:00"  # every incarnation starts after T0
        h.record(status(f"g{gw}", started, {1: cumulative[gw]}), now=now)
        served.append((now, n))
    end = T0 + max(e[1] for e in events) / 10
    first_slot = math.floor((end - window) / resolution)
    expected = sum(n for t, n in served if math.floor(t / resolution) >= first_slot)
    assert requests(h, window, now=end) == expected
    w = h.window("m", window, now=end)
    assert w.start == max(first_slot * resolution, T0) and w.end == end
    total = sum(int(Counts(p.sums[("", "m", 1)]).requests) for p in h.series("m", 1000, 7, now=end)
                if ("", "m", 1) in p.sums)
    assert total == sum(n for _, n in served)


@given(st.lists(st.integers(0, 1000), min_size=NB, max_size=NB), st.floats(0.01, 0.99))
def test_percentiles_are_monotone_and_within_the_buckets(buckets, q) -> None:  # type: ignore[no-untyped-def]
    value = percentile_ms(buckets, q)
    if sum(buckets) == 0:
        assert math.isnan(value)
        return
    assert 0 <= value <= LATENCY_BUCKET_BOUNDS_US[-1] / 1000
    assert percentile_ms(buckets, min(q + 0.01, 1.0)) >= value - 1e-12
    assert np.isfinite(value)
