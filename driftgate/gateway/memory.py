"""Handing freed heap memory back to the OS after large requests.

A large request leaves its bytes, its arrays and the response's buffers to the allocator when it
is done; glibc keeps freed memory below the mmap threshold in its arenas (one per thread that
allocated: the event loop, grpc's threads, the scoring executor), so a worker's RSS stays at its
peak after a burst. ``malloc_trim(0)`` returns the free pages of every arena. It walks the heaps
(milliseconds when they are large), so it runs on a thread, never on the event loop, at most once
per ``interval_s``, shortly after the large request that asked for it (by then its memory is
free). On a libc without malloc_trim (musl, macOS) this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["HeapTrimmer", "malloc_trim"]

log = logging.getLogger("driftgate.gateway.memory")


def _find_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


malloc_trim = _find_trim()
"""glibc's malloc_trim (pad bytes -> 1 if memory was returned), or None where libc lacks it."""


class HeapTrimmer:
    """Runs malloc_trim off the event loop, ``delay_s`` after it is asked, at most once per
    ``interval_s``; asks while one is pending are one ask."""

    def __init__(self, delay_s: float = 0.25, interval_s: float = 1.0) -> None:
        self._delay = delay_s
        self._interval = interval_s
        self._pending = False
        self._last = 0.0
        self.trims = 0  # times malloc_trim ran

    @property
    def available(self) -> bool:
        return malloc_trim is not None

    def soon(self) -> None:
        """Ask for a trim (event loop thread)."""
        if self._pending or malloc_trim is None:
            return
        self._pending = True
        wait = max(self._delay, self._last + self._interval - time.monotonic())
        asyncio.get_running_loop().call_later(wait, self._start)

    def _start(self) -> None:
        threading.Thread(target=self._run, name="malloc-trim", daemon=True).start()

    def _run(self) -> None:
        try:
            if malloc_trim is not None:
                malloc_trim(0)
                self.trims += 1
        except Exception:  # never let the trim thread take anything down
            log.warning("malloc_trim failed", exc_info=True)
        finally:
            self._last = time.monotonic()
            self._pending = False
