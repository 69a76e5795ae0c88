"""The columnar scored-row store under the label join: chunks, resent reports, hash collisions,
reused ids, retention that cuts a chunk, bounded tombstones, the report's packed columns."""

from __future__ import annotations

import numpy as np
import pytest

from driftgate.errors import InvalidRequest
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.registry.api.feedback_api import convert_scored
from driftgate.registry.observation import row_ids
from driftgate.registry.observation.labels import LabelStore, ScoredBatch
from driftgate.registry.observation.row_ids import id_hashes
from driftgate.registry.observation.scored_tables import scored_chunks
from driftgate.registry.store.db import Database
from driftgate.settings import AccuracySettings

T = 1_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T

    def __call__(self) -> float:
        return self.t


pytestmark = pytest.mark.databases


@pytest.fixture
def store(tmp_path, database_url):  # type: ignore[no-untyped-def]
    db = Database.for_home(tmp_path, database_url)
    s = LabelStore(db, AccuracySettings(trim_interval_s=0), Clock())
    yield s
    db.dispose()


def batch(ids: list[str], scores: list[float], at: float = T, version: int = 1) -> ScoredBatch:
    return ScoredBatch.checked("m", version, ids, scores, [at] * len(ids))


def chunk_count(store: LabelStore, live: int) -> int:
    with store.db.read() as conn:
        return len(conn.execute(scored_chunks.select().where(scored_chunks.c.live == live)).all())


def test_a_report_is_one_chunk_per_version(store: LabelStore) -> None:
    kept = store.ingest("g", [batch(["a", "b"], [0.1, 0.2]), batch(["c"], [0.3], version=2)])
    assert kept == 3 and chunk_count(store, 1) == 2
    assert store.scored_counts("m", 0.0) == {1: 2, 2: 1}
    assert store.scored_counts("m", 0.0, version=2) == {2: 1}


def test_a_resent_report_is_kept_once_and_workers_apart(store: LabelStore) -> None:
    assert store.ingest("g", [batch(["a", "b"], [0.1, 0.2])], source="w1-", upto=2) == 2
    assert store.ingest("g", [batch(["a", "b"], [0.1, 0.2])], source="w1-", upto=2) == 0  # reply was lost
    assert store.ingest("g", [batch(["b"], [0.2])], source="w1-", upto=2) == 0  # resent after drops
    assert store.ingest("g", [batch(["c"], [0.3])], source="w1-", upto=3) == 1
    assert store.ingest("g2", [batch(["x", "y"], [0.4, 0.5])], source="w2-", upto=2) == 2  # another worker
    assert store.scored_counts("m", 0.0) == {1: 5}
    r = store.submit("m", ["a", "b", "c", "x", "y"], [1, 0, 1, 0, 1])
    assert (r.joined, r.held, r.duplicates) == (5, 0, 0)


def test_scored_since_counts_rows_inside_a_chunk(store: LabelStore) -> None:
    store.ingest("g", [ScoredBatch.checked("m", 1, ["a", "b", "c"], [0.1, 0.2, 0.3], [T - 10, T - 5, T])])
    assert store.scored_counts("m", T - 6) == {1: 2}
    store.submit("m", ["a", "b", "c"], [1, 0, 1])
    rows = store.labelled("m", T - 6)
    assert sorted(rows.score.tolist()) == [0.2, 0.3]


def test_equal_hashes_are_told_apart_by_the_ids_bytes(store: LabelStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(row_ids, "id_hashes", lambda encoded: np.zeros(len(encoded), dtype="<u8"))
    store.ingest("g", [batch(["a", "bb", "c"], [0.1, 0.2, 0.3])])
    r = store.submit("m", ["bb", "zz", "b"], [1, 0, 0])
    assert (r.joined, r.held, r.expired) == (1, 2, 0)
    rows = store.labelled("m", 0.0)
    assert (rows.score.tolist(), rows.label.tolist()) == ([0.2], [1])


def test_a_reused_id_keeps_both_rows_and_the_earliest_gets_the_label(store: LabelStore) -> None:
    store.ingest("g1", [batch(["a", "b"], [0.9, 0.1])])
    store.ingest("g2", [batch(["a"], [0.5])])  # a client that reuses an id
    assert store.scored_counts("m", 0.0) == {1: 3}
    r = store.submit("m", ["a"], [1])
    assert (r.joined, r.duplicates) == (1, 0)
    assert store.labelled("m", 0.0).score.tolist() == [0.9]
    again = store.submit("m", ["a"], [0])
    assert (again.joined, again.duplicates) == (0, 1)  # the first label stands
    assert store.labelled("m", 0.0).label.tolist() == [1]


def test_retention_cuts_a_chunk_and_keeps_the_labels_of_what_stays(store: LabelStore) -> None:
    store._settings.max_rows = 4
    store.ingest("g", [batch(["r0", "r1", "r2"], [0.0, 0.1, 0.2])])
    store.submit("m", ["r0", "r2"], [1, 1], [T + 5, T + 7])
    store.ingest("g", [batch(["r3", "r4", "r5"], [0.3, 0.4, 0.5])])  # 6 rows > 4: r0 and r1 go
    assert store.retention_dropped("m") == 2
    assert store.scored_counts("m", 0.0) == {1: 4}
    rows = store.labelled("m", 0.0)
    assert (rows.score.tolist(), rows.label.tolist(), rows.labelled_at.tolist()) == ([0.2], [1], [T + 7])
    r = store.submit("m", ["r1", "r0", "r2", "r4"], [1, 0, 0, 0])
    assert (r.joined, r.expired, r.duplicates, r.held) == (1, 2, 1, 0)


def test_age_retention_cuts_by_row_time(store: LabelStore) -> None:
    store._settings.max_age_days = 1.0
    store.ingest("g", [ScoredBatch.checked("m", 1, ["old", "new"], [0.1, 0.2], [T - 2 * 86400, T - 10])])
    assert store.retention_dropped("m") == 1 and store.scored_counts("m", 0.0) == {1: 1}
    r = store.submit("m", ["old", "new"], [1, 1])
    assert (r.joined, r.expired) == (1, 1)


def test_tombstones_are_bounded_like_the_rows(store: LabelStore) -> None:
    store._settings.max_rows = 2
    for k in range(4):  # 8 rows: 6 dropped; tombstones keep the newest 2 of them
        store.ingest("g", [batch([f"a{k}", f"b{k}"], [0.5, 0.5])])
    assert store.retention_dropped("m") == 6
    r = store.submit("m", ["a0", "b1", "a2", "b2", "a3"], [1, 1, 1, 1, 1])
    assert (r.held, r.expired, r.joined) == (2, 2, 1)
    assert chunk_count(store, 1) == 1


def test_a_failed_join_applies_nothing(store: LabelStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store.ingest("g", [batch(["a", "b"], [0.1, 0.2])])

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr(row_ids, "same_bytes", boom)
    with pytest.raises(RuntimeError):
        store.submit("m", ["a", "b"], [1, 1])
    assert store.labelled("m", 0.0).label.size == 0


def test_id_hashes_do_not_depend_on_the_batch() -> None:
    alone = id_hashes([b"abc"])
    with_long = id_hashes([b"abc", b"x" * 100, "é".encode()])
    assert alone[0] == with_long[0]
    assert len(set(id_hashes([b"a", b"a\x00", b"b", b"ab", b"abcdefgh", b"abcdefghi"]).tolist())) == 6


def test_report_columns_packed_or_repeated() -> None:
    packed = pb.ScoredRecords(
        model="m", version=1, ids=["a", "b"], scores_f32=np.array([0.25, 0.5], "<f4").tobytes(),
        at_f64=np.array([T, T + 1], "<f8").tobytes(),
    )
    b = convert_scored(packed)
    assert (list(b.ids), b.scores.tolist(), b.at.tolist()) == (["a", "b"], [0.25, 0.5], [T, T + 1])
    old = convert_scored(pb.ScoredRecords(model="m", version=1, ids=["a"], scores=[0.25], at=[T]))
    assert (old.scores.tolist(), old.at.tolist()) == ([0.25], [T])
    with pytest.raises(InvalidRequest, match="as many"):
        convert_scored(pb.ScoredRecords(model="m", version=1, ids=["a"], scores_f32=packed.scores_f32, at_f64=b""))
    with pytest.raises(InvalidRequest, match="whole"):
        convert_scored(pb.ScoredRecords(model="m", version=1, ids=["a"], scores_f32=b"abc", at_f64=b"12345678"))


def test_large_batches_hash_and_compare_in_slices(store: LabelStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(row_ids, "HASH_SLICE", 3)
    monkeypatch.setattr(row_ids, "COMPARE_SLICE", 2)
    ids = [f"id-{i}" + "x" * (i % 11) for i in range(10)]
    whole = id_hashes([s.encode() for s in ids])
    assert whole.tolist() == [id_hashes([s.encode()])[0] for s in ids]
    store.ingest("g", [batch(ids, [i / 10 for i in range(10)])])
    r = store.submit("m", [*ids[::2], "nope"], [1] * 6)
    assert (r.joined, r.held) == (5, 1)
    assert sorted(store.labelled("m", 0.0).score.tolist()) == [0.0, 0.2, 0.4, 0.6, 0.8]
