"""Sha256Files (driftgate/sha256_files.py), the one content-addressed file store under the
registry's artifact store and the gateway's artifact cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from driftgate.errors import ArtifactError
from driftgate.gateway.artifacts import ArtifactCache
from driftgate.sha256_files import Sha256Files


def test_write_read_and_what_goes_wrong(tmp_path: Path) -> None:
    files = Sha256Files(tmp_path / "store")
    sha = files.write(b"model bytes")
    assert sha == hashlib.sha256(b"model bytes").hexdigest()
    assert files.path(sha) == tmp_path / "store" / sha[:2] / sha and files.exists(sha)
    assert files.read(sha) == b"model bytes"
    assert files.read("0" * 64) is None and not files.exists("0" * 64)

    files.path(sha).write_bytes(b"model bytez")  # changed on disk
    with pytest.raises(ArtifactError, match="corrupted"):
        files.read(sha)
    assert files.write(b"model bytes") == sha and files.read(sha) == b"model bytes"  # rewritten

    with pytest.raises(ArtifactError, match="do not match sha256"):
        files.write(b"other bytes", sha256="1" * 64)
    assert not files.exists("1" * 64)
    for bad in ("../../etc/passwd", "A" * 64, sha[:63]):
        with pytest.raises(ArtifactError, match="not a sha256"):
            files.path(bad)
    files.discard(sha)
    assert files.read(sha) is None


async def test_the_gateway_cache_fetches_again_what_was_damaged(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache")
    data = b"onnx"
    sha = hashlib.sha256(data).hexdigest()
    fetched: list[str] = []

    async def fetch(wanted: str) -> bytes:
        fetched.append(wanted)
        return data

    assert await cache.get(sha, fetch) == data and fetched == [sha]
    assert await cache.get(sha, None) == data and fetched == [sha]  # from the disk
    (tmp_path / "cache" / sha[:2] / sha).write_bytes(b"onnX")
    assert cache.get_local(sha) is None  # damaged: removed
    assert await cache.get(sha, fetch) == data and fetched == [sha, sha]
