"""The gateway's scored-request buffer: bounds, drops, batch ids, ship-then-commit."""

from __future__ import annotations

from dataclasses import dataclass
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftgate.gateway import requestlog
from driftgate.gateway.requestlog import RequestLog, id_prefix


@dataclass
class V:
    model: str
    version: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.model, self.version)


def clock() -> float:
    return 100.0


def test_rows_grouped_by_version_with_batch_row_ids() -> None:
    log = RequestLog(100, "g-", clock)
    log.record(V("m", 1), "a", np.array([0.1], np.float32))
    log.record(V("m", 2), "b", np.array([0.2, 0.3], np.float32))
    log.record(V("m", 1), "c", np.array([0.4], np.float32))
    log.record(V("m", 1), "x", None)  # a version without a score column keeps nothing
    pending = log.take()
    assert pending.rows == 4 and len(log) == 4
    g1, g2 = pending.groups
    assert (g1.model, g1.version, g1.ids) == ("m", 1, ["a", "c"])
    np.testing.assert_allclose(g1.scores, [0.1, 0.4], rtol=1e-6)
    assert (g2.version, g2.ids) == (2, ["b#0", "b#1"])
    np.testing.assert_allclose(g2.at, [100.0, 100.0])


def test_full_buffer_drops_oldest_and_counts_rows() -> None:
    log = RequestLog(5, "g-", clock)
    for i in range(4):
        log.record(V("m", 1), f"r{i}", np.array([0.5], np.float32))
    log.record(V("m", 1), "batch", np.zeros(3, np.float32))  # 7 rows > 5: r0 and r1 go
    assert log.dropped == 2 and len(log) == 5
    first = log.take()
    assert first.groups[0].ids == ["r2", "r3", "batch#0", "batch#1", "batch#2"]
    log.record(V("m", 1), "huge", np.zeros(9, np.float32))  # larger than the buffer: its newest rows stay
    assert len(log) == 5 and log.dropped == 2 + 5 + 4
    log.commit(first.mark)  # what that report carried was dropped meanwhile; the rows after it stay
    assert log.take().groups[0].ids == [f"huge#{i}" for i in range(4, 9)]


def test_commit_forgets_only_what_was_shipped() -> None:
    log = RequestLog(100, "g-", clock)
    log.record(V("m", 1), "a", np.array([0.1], np.float32))
    pending = log.take()
    log.record(V("m", 1), "b", np.array([0.2], np.float32))  # arrives while the report is in flight
    log.commit(pending.mark)
    assert log.take().groups[0].ids == ["b"]
    # a failed report commits nothing: the next one carries the rows again
    again = log.take()
    assert again.groups[0].ids == ["b"]
    log.commit(again.mark)
    log.commit(again.mark)  # idempotent
    assert len(log) == 0 and log.take().groups == []


def test_commit_after_drops_during_flight() -> None:
    log = RequestLog(2, "g-", clock)
    log.record(V("m", 1), "a", np.array([0.1], np.float32))
    pending = log.take()
    for rid in ("b", "c"):  # "a" is dropped while the report is in flight
        log.record(V("m", 1), rid, np.array([0.2], np.float32))
    log.commit(pending.mark)
    assert log.take().groups[0].ids == ["b", "c"]


def test_assigned_ids_are_unique_per_worker_and_start() -> None:
    a = RequestLog(10, id_prefix("host:1", started=1.0))
    b = RequestLog(10, id_prefix("host:1", started=2.0))  # the same worker id after a restart
    c = RequestLog(10, id_prefix("host:2", started=1.0))
    ids = [log.next_id() for log in (a, b, c) for _ in range(3)]
    assert len(set(ids)) == len(ids)
    assert a.next_id() != a.next_id()


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RequestLog(0, "g-")


def test_after_a_failed_report_the_same_mark_is_sent_again() -> None:
    log = RequestLog(100, "g-", clock)
    log.record(V("m", 1), "a", np.array([0.1], np.float32))
    first = log.take()  # its reply is lost: the registry may have kept it
    log.record(V("m", 1), "b", np.array([0.2], np.float32))
    again = log.take()
    assert again.mark == first.mark and again.groups[0].ids == ["a"]  # the same report, so it is kept once
    log.commit(again.mark)
    rest = log.take()
    assert rest.mark > first.mark and rest.groups[0].ids == ["b"]
    log.commit(first.mark)  # a late commit of an older report frees nothing newer
    assert log.take().mark == rest.mark
    log.commit(rest.mark)
    assert len(log) == 0


def test_a_resent_mark_carries_what_is_left_after_drops() -> None:
    log = RequestLog(2, "g-", clock)
    for rid in ("a", "b"):
        log.record(V("m", 1), rid, np.array([0.1], np.float32))
    first = log.take()
    log.record(V("m", 1), "c", np.array([0.2], np.float32))  # "a" is dropped
    again = log.take()
    assert again.mark == first.mark and again.groups[0].ids == ["b"]


def test_report_carries_packed_rows_the_registry_keeps_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from driftgate.gateway.sync import RegistryLink
    from driftgate.proto.v1 import control_pb2 as pb
    from driftgate.registry.api.feedback_api import ScoredReports
    from driftgate.registry.observation.labels import LabelStore
    from driftgate.registry.store.db import Database
    from driftgate.settings import AccuracySettings

    log = RequestLog(100, "gw-1-abc-", clock)
    log.record(V("m", 1), "a", np.array([0.25], np.float32))
    log.record(V("m", 2), "b", np.array([0.5, 0.75], np.float32))
    plane = SimpleNamespace(models={}, requestlog=log, refused={})
    reconciler = SimpleNamespace(generation=3, applied_generation=3, errors=[], states={}, counters=dict)
    link = RegistryLink(plane, reconciler, gateway_id="gw-1", registry="127.0.0.1:1", home=tmp_path,  # type: ignore[arg-type]
                        report_interval_s=1.0)
    report = pb.GatewayReport.FromString(link.build_report().SerializeToString())
    assert (report.scored_source, report.scored_upto) == ("gw-1-abc-", 3)  # a mark counts rows
    batches = ScoredReports(LabelStore(db := Database.for_home(tmp_path), AccuracySettings())).convert(report)
    assert [(b.version, list(b.ids), b.scores.tolist(), b.at.tolist()) for b in batches] == [
        (1, ["a"], [0.25], [100.0]), (2, ["b#0", "b#1"], [0.5, 0.75], [100.0, 100.0])
    ]
    store = LabelStore(db, AccuracySettings(), clock)  # rows scored at 100.0 are not too old for it
    for _ in range(2):  # the second time as after a lost reply: the same report
        store.ingest(report.gateway_id, batches, report.scored_dropped, report.scored_source, report.scored_upto)
    assert store.scored_counts("m", 0.0) == {1: 1, 2: 2}
    db.dispose()


def test_scored_rows_go_every_scored_interval_or_sooner_when_needed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from driftgate.gateway.sync import RegistryLink

    log = RequestLog(10, "gw-", clock)
    plane = SimpleNamespace(models={}, requestlog=log, refused={})
    reconciler = SimpleNamespace(generation=1, applied_generation=1, errors=[], states={}, counters=dict)
    link = RegistryLink(plane, reconciler, gateway_id="gw", registry="127.0.0.1:1", home=tmp_path,  # type: ignore[arg-type]
                        report_interval_s=1.0, scored_interval_s=0.0)
    assert link.build_report().scored_upto == 0 and link._scored_mark == 0  # nothing scored yet: mark 0
    log.commit(0)  # what report_once does after it: the log is free to move on
    assert not log.unconfirmed
    link._scored_interval = 3600.0

    def rows(report) -> list[str]:  # type: ignore[no-untyped-def]
        return [i for s in report.scored for i in s.ids]

    log.record(V("m", 1), "a", np.array([0.1], np.float32))
    first = link.build_report()
    assert rows(first) == ["a"] and link._scored_mark == first.scored_upto == 1
    log.record(V("m", 1), "b", np.array([0.1], np.float32))
    assert rows(link.build_report()) == ["a"]  # the first was not committed (failed): sent again at once
    log.commit(1)
    quiet = link.build_report()
    assert rows(quiet) == [] and link._scored_mark is None  # not due: nothing to commit after it either
    assert len(log) == 1
    for i in range(4):  # five rows of ten: half full, sent before the interval
        log.record(V("m", 1), f"c{i}", np.array([0.1], np.float32))
    assert rows(link.build_report()) == ["b", "c0", "c1", "c2", "c3"]
    log.commit(link._scored_mark)
    log.record(V("m", 1), "d", np.array([0.1], np.float32))
    assert rows(link.build_report()) == []
    assert rows(link.build_report(flush=True)) == ["d"]  # the gateway is stopping


def test_report_once_commits_what_its_report_carried(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry

    from driftgate.gateway.metrics import GatewayMetrics
    from driftgate.gateway.sync import RegistryLink

    metrics = GatewayMetrics(CollectorRegistry())
    log = RequestLog(10, "gw-", clock)
    plane = SimpleNamespace(models={}, requestlog=log, refused={})
    reconciler = SimpleNamespace(generation=1, applied_generation=1, errors=[], states={}, counters=dict)
    link = RegistryLink(plane, reconciler, gateway_id="gw", registry="127.0.0.1:1", home=tmp_path,  # type: ignore[arg-type]
                        report_interval_s=1.0, pause=metrics.report_pause)
    sent: list[list[str]] = []

    class Stub:
        async def ReportStatus(self, report, timeout, metadata=()):  # type: ignore[no-untyped-def]
            sent.append([i for s in report.scored for i in s.ids])

    async def stub() -> Stub:
        return Stub()

    link._ensure_stub = stub  # type: ignore[method-assign,assignment]
    assert asyncio.run(link.report_once())  # before anything was scored
    log.record(V("m", 1), "a", np.array([0.1], np.float32))
    assert asyncio.run(link.report_once())
    log.record(V("m", 1), "b", np.array([0.1], np.float32))
    assert asyncio.run(link.report_once())
    assert sent == [[], ["a"], ["b"]] and len(log) == 0

    def pauses(step: str) -> float | None:
        return metrics.registry.get_sample_value("driftgate_report_pause_seconds_count", {"step": step})

    assert pauses("build") == 3 and pauses("commit") == 3


class _Reference:
    """The log's contract, written plainly: a list of rows (row number, key, id, score, time)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.rows: list[tuple[int, tuple[str, int], str, float, float]] = []
        self.appended = 0
        self.dropped = 0
        self.unconfirmed: int | None = None

    def record(self, key: tuple[str, int], rid: str, scores: list[float], at: float) -> None:
        for i, score in enumerate(scores):
            self.rows.append((self.appended, key, rid if len(scores) == 1 else f"{rid}#{i}", score, at))
            self.appended += 1
        excess = len(self.rows) - self.capacity
        if excess > 0:
            del self.rows[:excess]
            self.dropped += excess

    def take(self) -> tuple[int, list[tuple[tuple[str, int], list[str], list[float], list[float]]]]:
        mark = self.appended if self.unconfirmed is None else self.unconfirmed
        self.unconfirmed = mark
        pending = [row for row in self.rows if row[0] < mark]
        groups = []
        for key in sorted({row[1] for row in pending}):
            mine = [row for row in pending if row[1] == key]
            groups.append((key, [r[2] for r in mine], [r[3] for r in mine], [r[4] for r in mine]))
        return mark, groups

    def commit(self, mark: int) -> None:
        self.rows = [row for row in self.rows if row[0] >= mark]
        if self.unconfirmed is not None and mark >= self.unconfirmed:
            self.unconfirmed = None


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.sampled_from([("m", 1), ("m", 2), ("a", 7)]), st.integers(0, 4)),
        st.tuples(st.just("take"), st.just(None), st.just(0)),
        st.tuples(st.just("commit"), st.just(None), st.integers(0, 2)),  # the last mark, an older one, a stale one
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(1, 12), ops=_ops)
def test_the_columns_keep_the_contract_of_a_list_of_rows(capacity: int, ops: list) -> None:  # type: ignore[type-arg]
    """Any sequence of records (batches, several versions), takes and commits (of the last mark,
    an older one, one of a report that never came back), with drops and compactions in between,
    reads as the plain list of rows does."""
    with mock.patch.object(requestlog, "_COMPACT_AT", 3):  # spent rows are cut off after a handful
        _check_against_reference(capacity, ops)


def _check_against_reference(capacity: int, ops: list) -> None:  # type: ignore[type-arg]
    log = RequestLog(capacity, "g-", clock)
    ref = _Reference(capacity)
    marks = [0]
    versions = {key: V(*key) for key in [("m", 1), ("m", 2), ("a", 7)]}
    for n, (op, key, arg) in enumerate(ops):
        if op == "record":
            scores = [round(0.1 * (n + i), 3) for i in range(arg)]
            log.record(versions[key], f"r{n}", np.array(scores, np.float64), float(n))
            ref.record(key, f"r{n}", [float(np.float32(s)) for s in scores], float(n))
        elif op == "take":
            pending = log.take()
            mark, groups = ref.take()
            assert pending.mark == mark
            assert pending.rows == sum(len(g[1]) for g in groups)
            got = [((g.model, g.version), g.ids, g.scores.tolist(), g.at.tolist()) for g in pending.groups]
            assert got == groups
            assert all(g.scores.dtype == np.float32 and g.at.dtype == np.float64 for g in pending.groups)
            marks.append(mark)
        else:
            mark = marks[-1 - min(arg, len(marks) - 1)]
            log.commit(mark)
            ref.commit(mark)
        assert len(log) == len(ref.rows)
        assert log.dropped == ref.dropped
        assert log.unconfirmed == (ref.unconfirmed is not None)
