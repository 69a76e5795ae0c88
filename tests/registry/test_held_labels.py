"""Labels that come before their scored rows (issue 14): held by id, joined when a report brings
the rows, bounded, counted, expiring; and a registry whose disk is full refuses them by name."""

from __future__ import annotations

import pytest

from driftgate.errors import StorageUnavailable
from driftgate.registry.observation.labels import LabelStore, ScoredBatch
from driftgate.registry.store.db import Database
from driftgate.settings import AccuracySettings
from tests.faults import fill, tmpfs

__all__ = ["tmpfs"]  # the fixture

T = 1_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    db = Database.for_home(tmp_path)
    s = LabelStore(db, AccuracySettings(trim_interval_s=0, max_held_labels=4, hold_seconds=3600), Clock())
    yield s
    db.dispose()


def batch(ids: list[str], scores: list[float], version: int = 1) -> ScoredBatch:
    return ScoredBatch.checked("m", version, ids, scores, [T] * len(ids))


def test_early_labels_are_held_then_joined_when_their_rows_arrive(store: LabelStore) -> None:
    joined: list[tuple[str, int]] = []
    store.on_joined = lambda model, n: joined.append((model, n))
    r = store.submit("m", ["a", "b", "c"], [1, 0, 1], [T - 5, T - 4, T - 3])
    assert (r.received, r.joined, r.held, r.unknown, r.duplicates) == (3, 0, 3, 0, 0)
    assert store.held("m") == 3
    again = store.submit("m", ["a", "d"], [0, 1])  # "a" is held already: the first label stands
    assert (again.held, again.duplicates) == (1, 1)
    store.ingest("g", [batch(["x", "a", "b"], [0.1, 0.9, 0.2]), batch(["c"], [0.7], version=2)])
    assert joined == [("m", 3)] and store.held("m") == 1  # "d" still waits
    rows = store.labelled("m", 0.0)
    got = sorted(zip(rows.version.tolist(), rows.score.tolist(), rows.label.tolist(), rows.labelled_at.tolist(),
                     strict=True))
    assert got == [(1, 0.2, 0, T - 4), (1, 0.9, 1, T - 5), (2, 0.7, 1, T - 3)]
    late = store.submit("m", ["a", "x"], [0, 1])  # after the join: "a" labelled before, "x" joins now
    assert (late.joined, late.duplicates, late.held) == (1, 1, 0)


def test_the_hold_is_bounded_and_expires_counted(store: LabelStore) -> None:
    r = store.submit("m", [f"e{i}" for i in range(6)], [1] * 6)
    assert (r.held, r.unknown) == (4, 2)  # max_held_labels=4: beyond, unknown
    assert store.held("m") == 4 and store.held_expired("m") == 0
    store._clock.t = T + 3601  # type: ignore[attr-defined]
    store.ingest("g", [batch(["e0"], [0.5])])  # the report's retention pass drops what waited too long
    assert store.held("m") == 0 and store.held_expired("m") == 4
    assert store.labelled("m", 0.0).label.size == 0


def test_a_resent_report_does_not_join_twice(store: LabelStore) -> None:
    store.submit("m", ["a"], [1])
    assert store.ingest("g", [batch(["a"], [0.4])], source="w-", upto=1) == 1
    assert store.ingest("g", [batch(["a"], [0.4])], source="w-", upto=1) == 0
    assert store.labelled("m", 0.0).score.tolist() == [0.4]


def test_a_full_disk_refuses_labels_by_name(tmp_path, tmpfs) -> None:  # type: ignore[no-untyped-def]
    home = tmpfs(tmp_path / "home", 1024)
    db = Database.for_home(home)
    store = LabelStore(db, AccuracySettings(trim_interval_s=0))
    try:
        fill(home)
        with pytest.raises(StorageUnavailable, match=r"^registry storage: no space left on device"):
            store.submit("m", [f"id-{i}-" + "x" * 100 for i in range(2000)], [0] * 2000)
        assert store.held("m") == 0  # all or nothing
    finally:
        db.dispose()
