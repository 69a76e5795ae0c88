"""The scored-row codec on its own (observation.chunks, observation.row_ids): what goes into a
scored_chunks row comes back out, a subset keeps its rows' columns, and the id hash and byte
comparison agree with plain Python. No database: the codec is pure."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from driftgate.registry.observation import chunks, row_ids

# ids as clients send them: any text (multi-byte UTF-8 included), 1 to 40 characters
ids_strategy = st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=60)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def scored_rows(draw: st.DrawFn) -> tuple[list[str], np.ndarray, np.ndarray]:
    ids = draw(ids_strategy)
    scores = np.array(draw(st.lists(finite, min_size=len(ids), max_size=len(ids))), dtype=np.float64)
    at = np.array(draw(st.lists(st.floats(0, 4e9), min_size=len(ids), max_size=len(ids))), dtype=np.float64)
    return ids, scores, at


def ids_of(chunk: chunks.Chunk) -> list[str]:
    return [b.decode() for b in chunk.id_bytes(np.arange(chunk.ends.size))]


@settings(max_examples=150, deadline=None)
@given(scored_rows())
def test_encode_then_decode_gives_the_rows_back(rows: tuple[list[str], np.ndarray, np.ndarray]) -> None:
    ids, scores, at = rows
    values = chunks.encode("m", 3, 1, ids, scores, at)
    assert (values["rows"], values["first_at"], values["last_at"]) == (len(ids), at.min(), at.max())
    chunk = chunks.Chunk.decode(7, values)
    assert (chunk.id, chunk.version, chunk.live) == (7, 3, 1)
    assert ids_of(chunk) == ids
    assert chunk.scores is not None and chunk.at is not None
    assert chunk.scores.tobytes() == scores.tobytes() and chunk.at.tobytes() == at.tobytes()
    assert chunk.hashes.tolist() == row_ids.id_hashes([s.encode() for s in ids]).tolist()
    assert chunk.labels is None and chunk.labelled_at is None


@settings(max_examples=150, deadline=None)
@given(scored_rows(), st.data())
def test_a_subset_keeps_its_rows_columns_and_labels(rows: tuple[list[str], np.ndarray, np.ndarray],
                                                    data: st.DataObject) -> None:
    ids, scores, at = rows
    values = chunks.encode("m", 1, 1, ids, scores, at)
    labels = np.array(data.draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=len(ids), max_size=len(ids))),
                      dtype=np.int8)
    values.update(labels=labels.tobytes(), labelled_at=np.arange(len(ids), dtype="<f8").tobytes())
    chunk = chunks.Chunk.decode(1, values)
    keep = np.array(sorted(data.draw(st.sets(st.integers(0, len(ids) - 1), min_size=1))), dtype=np.int64)
    part = chunks.Chunk.decode(1, {**values, **chunk.subset(keep)})
    assert ids_of(part) == [ids[i] for i in keep]
    assert part.hashes.tolist() == chunk.hashes[keep].tolist()
    assert part.scores is not None and part.scores.tolist() == scores[keep].tolist()
    assert part.at is not None and part.at.tolist() == at[keep].tolist()
    if (labels[keep] >= 0).any():
        assert part.labels is not None and part.labels.tolist() == labels[keep].tolist()
        assert part.labelled_at is not None and part.labelled_at.tolist() == keep.astype(float).tolist()
    else:  # nothing labelled left: the label columns go NULL
        assert part.labels is None and part.labelled_at is None


def test_a_tombstone_subset_keeps_ids_and_hashes_only() -> None:
    values = chunks.encode("m", 1, 1, ["a", "bb", "ccc"], np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.0]))
    live = chunks.Chunk.decode(1, values)
    tomb = chunks.Chunk(1, 1, 0, live.blob, live.ends, live.hashes, None, None, None, None)
    cut = tomb.subset(np.array([0, 2]))
    assert set(cut) == {"rows", "ids", "id_ends", "hashes"}
    assert ids_of(chunks.Chunk.decode(1, cut)) == ["a", "ccc"]


@settings(max_examples=100, deadline=None)
@given(ids_strategy)
def test_id_hashes_are_per_id_and_equal_ids_hash_equal(ids: list[str]) -> None:
    encoded = [s.encode() for s in ids]
    together = row_ids.id_hashes(encoded).tolist()
    assert together == [row_ids.id_hashes([e])[0] for e in encoded]  # independent of the batch
    assert len(set(together)) == len(set(encoded))  # equal ids hash equal; no collision among a few


@settings(max_examples=100, deadline=None)
@given(ids_strategy, ids_strategy, st.lists(st.booleans(), min_size=60, max_size=60))
def test_same_bytes_agrees_with_python(left: list[str], other: list[str], copy: list[bool]) -> None:
    n = min(len(left), len(other))
    right = [a if c else b for a, b, c in zip(left, other, copy, strict=False)]  # some pairs equal, some not
    a_enc, a_blob, a_ends = row_ids.encode_ids(left[:n])
    b_enc, b_blob, b_ends = row_ids.encode_ids(right[:n])
    a_end, b_end = a_ends.astype(np.int64), b_ends.astype(np.int64)
    a_start = a_end - np.array([len(e) for e in a_enc], dtype=np.int64)
    b_start = b_end - np.array([len(e) for e in b_enc], dtype=np.int64)
    same = row_ids.same_bytes(a_blob, a_start, a_end, b_blob, b_start, b_end)
    assert same.tolist() == [x == y for x, y in zip(a_enc, b_enc, strict=True)]
    assert row_ids.same_bytes(a_blob, a_start, a_end, a_blob, a_start, a_end).all()
