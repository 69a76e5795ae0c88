"""Faults injected into real processes: a full disk is a real tmpfs of a few KiB mounted over a
directory the process writes (root only: skipped with the reason elsewhere, failed in CI)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.requirements import require

__all__ = ["fill", "tmpfs"]


@pytest.fixture
def tmpfs() -> Iterator[Callable[[Path, int], Path]]:
    """``mount(path, kib)``: a tmpfs of ``kib`` KiB mounted at ``path`` (created); unmounted after the test."""
    mounted: list[Path] = []

    def mount(path: Path, kib: int) -> Path:
        require(os.geteuid() == 0 and shutil.which("mount") is not None, "mounting a small tmpfs needs root")
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(path)],
                              capture_output=True, text=True)
        require(done.returncode == 0, f"mount -t tmpfs failed here: {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        for _ in range(50):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            with contextlib.suppress(Exception):
                import time

                time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(path: Path) -> Path:
    """Fill the file system under ``path`` to the last byte; returns the filler (delete it to free the space)."""
    filler = path / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for block in (b"\0" * 4096, b"\0"):  # whole pages, then the last bytes
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, block)
    finally:
        os.close(fd)
    return filler
