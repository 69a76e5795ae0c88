"""Request ids as the scored-row store keeps them: UTF-8 bytes with end offsets, a 64-bit hash of
each, and a vectorised comparison of id bytes.

The hash (``id_hashes``) is the same in every process and batch; the scored chunks and the held
labels store it, and the join searches it. Equal hashes are only candidates: ``same_bytes`` then
compares the ids themselves. Pure numpy, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MAX_ID_LENGTH", "encode_ids", "id_hashes", "same_bytes"]

MAX_ID_LENGTH = 300  # characters of a request id a label may name

HASH_SLICE = 1 << 16  # ids hashed at a time
COMPARE_SLICE = 1 << 17  # id pairs compared at a time
_SEED = np.uint64(0xCBF29CE484222325)
_MUL = np.uint64(0x9E3779B97F4A7C15)
_S29 = np.uint64(29)
_S32 = np.uint64(32)


def id_hashes(encoded: Sequence[bytes]) -> np.ndarray:
    """A 64-bit hash of each id (its UTF-8 bytes), the same in every process and batch (<u8).

    Vectorised over 8-byte words of the ids padded with zeros; a word past an id's end leaves its
    hash alone, and the length is mixed in. Equal hashes are only candidates: the join compares bytes.
    """
    n = len(encoded)
    if n > HASH_SLICE:  # bounded scratch: one long id would otherwise widen every row
        return np.concatenate([id_hashes(encoded[i : i + HASH_SLICE]) for i in range(0, n, HASH_SLICE)])
    if n == 0:
        return np.empty(0, dtype="<u8")
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
    width = max(8, -(-int(lengths.max()) // 8) * 8)
    words = np.frombuffer(np.array(encoded, dtype=f"S{width}").tobytes(), dtype="<u8").reshape(n, width // 8)
    h = np.full(n, _SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(words.shape[1]):
            mixed = (h ^ words[:, k]) * _MUL
            mixed ^= mixed >> _S29
            h = mixed if k == 0 else np.where(lengths > 8 * k, mixed, h)
        h = (h ^ lengths.astype(np.uint64)) * _MUL
        h ^= h >> _S32
    return h.astype("<u8", copy=False)


def encode_ids(ids: Sequence[str]) -> tuple[list[bytes], bytes, np.ndarray]:
    """(each id's UTF-8 bytes, them concatenated, the end offset of each: <u4)."""
    encoded = [s.encode() for s in ids]
    ends = np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
    return encoded, b"".join(encoded), ends.astype("<u4")


def same_bytes(
    a: bytes, a_starts: np.ndarray, a_ends: np.ndarray, b: bytes, b_starts: np.ndarray, b_ends: np.ndarray
) -> np.ndarray:
    """Whether a[a_starts[i]:a_ends[i]] == b[b_starts[i]:b_ends[i]], for each i (vectorised, in slices)."""
    if a_starts.size > COMPARE_SLICE:
        return np.concatenate([
            same_bytes(a, a_starts[i : i + COMPARE_SLICE], a_ends[i : i + COMPARE_SLICE], b,
                       b_starts[i : i + COMPARE_SLICE], b_ends[i : i + COMPARE_SLICE])
            for i in range(0, a_starts.size, COMPARE_SLICE)
        ])
    lengths = a_ends - a_starts
    same = lengths == (b_ends - b_starts)
    idx = np.flatnonzero(same)
    if idx.size == 0:
        return same
    n = lengths[idx]
    within = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    a_bytes = np.frombuffer(a, dtype=np.uint8)[np.repeat(a_starts[idx], n) + within]
    b_bytes = np.frombuffer(b, dtype=np.uint8)[np.repeat(b_starts[idx], n) + within]
    differs = np.bincount(np.repeat(np.arange(idx.size), n)[a_bytes != b_bytes], minlength=idx.size) > 0
    same[idx[differs]] = False
    return same
