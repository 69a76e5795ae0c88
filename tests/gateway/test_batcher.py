"""The adaptive batcher on its own: concatenate/split (a property test) and the batching thread
with a fake session, so that batch boundaries are deterministic (max rows reached, never a timer)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftgate.errors import DeadlineExpired
from driftgate.gateway.batcher import BatchConfig, Batcher, concat_feeds, split_outputs
from driftgate.gateway.stats import VersionCounters

LONG_US = 5_000_000  # batches below close on max rows; the delay never decides them


def _model(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """A row-wise "session": each output row depends on that input row only."""
    x, k = feeds["x"], feeds["k"]
    shift = k[:, 0].astype(np.float32).reshape((-1,) + (1,) * (x.ndim - 1))
    return [x * 2.0 + shift, x.sum(axis=tuple(range(1, x.ndim))), k[:, ::-1].copy()]


@st.composite
def requests(draw: st.DrawFn) -> list[dict[str, np.ndarray]]:
    trailing = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return [
        {
            "x": rng.normal(size=(n, *trailing)).astype(np.float32),
            "k": rng.integers(-5, 5, size=(n, 2)).astype(np.int64),
        }
        for n in sizes
    ]


@settings(max_examples=60, deadline=None)
@given(requests())
def test_concatenate_run_split_equals_running_each_request(reqs: list[dict[str, np.ndarray]]) -> None:
    feeds, offsets = concat_feeds(reqs)
    assert offsets[0] == 0 and offsets[-1] == sum(r["x"].shape[0] for r in reqs)
    for name in ("x", "k"):
        assert feeds[name].shape[0] == offsets[-1]
    parts = split_outputs(_model(feeds), offsets)
    assert len(parts) == len(reqs)
    for request, got in zip(reqs, parts, strict=True):
        for a, b in zip(_model(request), got, strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_split_refuses_outputs_without_the_batch_dimension() -> None:
    with pytest.raises(ValueError, match="cannot be split"):
        split_outputs([np.zeros((3, 2)), np.float32(1.0)], [0, 1, 3])
    with pytest.raises(ValueError, match="cannot be split"):
        split_outputs([np.zeros((4, 2))], [0, 1, 3])


def test_concat_refuses_requests_that_do_not_line_up() -> None:
    with pytest.raises(ValueError):
        concat_feeds([{"x": np.zeros((1, 2))}, {"y": np.zeros((1, 2))}])
    with pytest.raises(ValueError):
        concat_feeds([{"x": np.zeros((1, 2)), "y": np.zeros((2, 2))}])
    with pytest.raises(ValueError):
        concat_feeds([{"x": np.zeros((1, 2))}, {"x": np.zeros((1, 3))}])


class FakeSession:
    """Records the rows of every run; fails a run that holds a negative value."""

    def __init__(self) -> None:
        self.runs: list[int] = []
        self.threads: set[str] = set()

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        x = feeds["x"]
        self.runs.append(x.shape[0])
        self.threads.add(threading.current_thread().name)
        if (x < 0).any():
            raise RuntimeError("negative input")
        return [x * 3.0, x[:, 0].copy()]


def _feeds(values: list[float]) -> dict[str, np.ndarray]:
    return {"x": np.array([[v, v + 0.5] for v in values], dtype=np.float32)}


async def test_concurrent_requests_share_runs_and_get_their_own_rows() -> None:
    session, counters = FakeSession(), VersionCounters()
    batcher = Batcher("t", session.run, BatchConfig(8, LONG_US), asyncio.get_running_loop(), counters)
    try:
        reqs = [_feeds([float(i)]) for i in range(16)]
        results = await asyncio.gather(*(batcher.submit(r, 1) for r in reqs))
        for r, out in zip(reqs, results, strict=True):
            np.testing.assert_array_equal(out[0], r["x"] * 3.0)
            np.testing.assert_array_equal(out[1], r["x"][:, 0])
        assert session.runs == [8, 8]
        assert session.threads == {"batcher-t"}
        assert (counters.batch_runs, counters.batch_rows_sum) == (2, 16)
        assert counters.queue_ns > 0
        assert counters.batch_buckets[3] == 2  # the bucket of 8 rows
    finally:
        batcher.stop()
        assert batcher.join(10)


async def test_a_bad_request_fails_alone() -> None:
    session, counters = FakeSession(), VersionCounters()
    batcher = Batcher("t", session.run, BatchConfig(4, LONG_US), asyncio.get_running_loop(), counters)
    try:
        values = [1.0, -1.0, 2.0, 3.0]
        futures = [batcher.submit(_feeds([v]), 1) for v in values]
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert isinstance(results[1], RuntimeError) and "negative" in str(results[1])
        for i in (0, 2, 3):
            out = results[i]
            assert not isinstance(out, BaseException)
            np.testing.assert_array_equal(out[0], _feeds([values[i]])["x"] * 3.0)
        assert session.runs == [4, 1, 1, 1, 1]  # the failed batch, then each request alone
        assert counters.batch_runs == 5
    finally:
        batcher.stop()


async def test_rows_limit_bounds_batches_and_a_large_request_runs_alone() -> None:
    session = FakeSession()
    batcher = Batcher("t", session.run, BatchConfig(4, LONG_US), asyncio.get_running_loop())
    try:
        sizes = [3, 2, 9, 2, 2]
        futures = [batcher.submit(_feeds([float(i)] * n), n) for i, n in enumerate(sizes)]
        results = await asyncio.gather(*futures)
        assert [r[0].shape[0] for r in results] == sizes
        # 3 (2 does not fit), 2 (9 does not fit), 9 alone, 2+2
        assert session.runs == [3, 2, 9, 4]
    finally:
        batcher.stop()


async def test_zero_delay_runs_what_is_queued_without_waiting() -> None:
    session = FakeSession()
    batcher = Batcher("t", session.run, BatchConfig(64, 0), asyncio.get_running_loop())
    try:
        out = await asyncio.wait_for(batcher.submit(_feeds([1.0]), 1), 10)
        np.testing.assert_array_equal(out[0], _feeds([1.0])["x"] * 3.0)
    finally:
        batcher.stop()


async def test_stop_answers_what_is_queued_then_ends_the_thread() -> None:
    session = FakeSession()
    batcher = Batcher("t", session.run, BatchConfig(100, LONG_US), asyncio.get_running_loop())
    futures = [batcher.submit(_feeds([float(i)]), 1) for i in range(5)]
    batcher.stop()  # the batch would wait for 100 rows; stop closes it at once
    results = await asyncio.wait_for(asyncio.gather(*futures), 10)
    assert [float(r[0][0, 0]) for r in results] == [0.0, 3.0, 6.0, 9.0, 12.0]
    assert await asyncio.to_thread(batcher.join, 10)
    assert not batcher.alive


async def test_a_cancelled_request_is_skipped_and_others_are_answered() -> None:
    session, counters = FakeSession(), VersionCounters()
    batcher = Batcher("t", session.run, BatchConfig(3, LONG_US), asyncio.get_running_loop(), counters)
    try:
        futures = [batcher.submit(_feeds([float(i)]), 1) for i in range(3)]
        futures[0].cancel()
        results = await asyncio.gather(*futures[1:])
        assert [float(r[0][0, 0]) for r in results] == [3.0, 6.0]
        assert counters.batch_runs == 1
    finally:
        batcher.stop()


async def test_a_request_whose_deadline_passed_is_not_scored() -> None:
    """Deadlines that pass while requests queue (perf_counter_ns, as the servicer passes them): the
    session never sees those rows; a waiting one gets DeadlineExpired, one whose call grpc already
    ended (a cancelled future) is reported through ``expired``; the rest are answered."""
    session, expired = FakeSession(), []
    batcher = Batcher("t", session.run, BatchConfig(4, LONG_US), asyncio.get_running_loop(), model="m",
                      expired=lambda: expired.append(1))
    past = time.perf_counter_ns() - 1
    try:
        futures = [
            batcher.submit(_feeds([1.0]), 1, past),
            batcher.submit(_feeds([2.0]), 1, past),
            batcher.submit(_feeds([3.0]), 1, time.perf_counter_ns() + 60 * 10**9),
        ]
        futures[1].cancel()  # grpc ended the call at its deadline
        futures.append(batcher.submit(_feeds([4.0]), 1))  # the fourth row closes the batch
        with pytest.raises(DeadlineExpired, match="'m'"):
            await futures[0]
        answered = await asyncio.gather(*futures[2:])
        assert [float(r[0][0, 0]) for r in answered] == [9.0, 12.0]
        assert session.runs == [2]
        await asyncio.sleep(0)  # the expiry callback runs on the loop with the refusal
        assert expired == [1]
    finally:
        batcher.stop()
