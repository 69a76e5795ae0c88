"""write_atomic (driftgate/atomic_write.py): a reader sees the old content or the new, never a part;
the file is private; a failed write leaves the old content and no temporary file."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from driftgate.atomic_write import fsync_directory, write_atomic


def test_replaces_the_content_privately_and_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "token"
    write_atomic(path, "first\n")
    write_atomic(path, b"second\n")
    assert path.read_bytes() == b"second\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["token"]
    fsync_directory(tmp_path)
    fsync_directory(tmp_path / "missing")  # a no-op, not an error


def test_a_failed_write_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "config.pb"
    target.mkdir()  # os.replace cannot put a file over a directory: the write fails at its last step
    (target / "kept").write_text("old")
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert (target / "kept").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.pb"]  # no temporary file left
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "no-such-dir" / "f", b"x")


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "artifact"
    old, new = b"a" * (1 << 20), b"b" * (1 << 20) + b"!"
    write_atomic(path, old)
    seen: set[bytes] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            data = path.read_bytes()
            seen.add(data[:1] + data[-1:] + len(data).to_bytes(4, "big"))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(40):
            write_atomic(path, new if i % 2 == 0 else old)
    finally:
        done.set()
        reader.join()
    assert seen <= {b"aa" + len(old).to_bytes(4, "big"), b"b!" + len(new).to_bytes(4, "big")}
