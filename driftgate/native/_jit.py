"""The one place that owns numba's options for driftgate's kernels.

Every kernel is declared with :func:`kernel` and explicit signatures, and compiled lazily: importing
``driftgate.native`` compiles nothing (the CLI and the registry import it without paying for numba),
the first :meth:`LazyKernel.compiled` call compiles every signature, or loads them from numba's
on-disk cache. ``driftgate.native.warm_up`` forces that before a gateway reports ready.

Options: ``nogil=True`` (a kernel may run on an executor thread without holding the GIL; for a
kernel call of a microsecond on the event loop that is a loss, see below),
``error_model="numpy"`` (no ZeroDivisionError checks in loops), ``boundscheck=False``, no fastmath
(the kernels test for NaN), and ``_nrt=False``: the kernels never allocate (state and scratch are
passed in), so they need no numba runtime, and without it numba unboxes an argument array without
allocating a MemInfo for it and calls no atomic incref/decref on it or on the views taken inside;
that saves about 150 ns of the ~500 ns a 4-argument call costs (measured, bench/drift_kernels.md).
A kernel that allocated would fail to compile under it, which is the point.

Every kernel is also compiled a second time holding the GIL (``compiled(nogil=False)``). A
nogil call releases the GIL and takes it back; when another thread waits for it (grpc's poller
thread does, in a serving gateway) the release wakes that thread and the event loop thread is
preempted: under load the gateway's event loop thread was preempted 0.8 to 1.8 times a request
with nogil kernels against 0.1 to 0.3 holding the GIL (involuntary context switches from /proc,
perf_analyzer at concurrency 16, dev box). So callers use the GIL-holding dispatcher for small
inline batches, where the kernel takes about a microsecond, and the nogil one for large batches,
where other threads should run meanwhile (DriftSketch.observe, ``NOGIL_MIN_ROWS``).

The disk cache follows ``DRIFTGATE_DRIFT__NUMBA_CACHE`` (the env form of
``Settings.drift.numba_cache``): ``0``/``false``/``no``/``off`` turns it off, anything else or
unset leaves it on; it is read once, when a kernel is first compiled. ``NUMBA_CACHE_DIR`` decides where.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["LazyKernel", "cache_enabled", "kernel"]

_CACHE_ENV = "DRIFTGATE_DRIFT__NUMBA_CACHE"
_OFF = frozenset({"0", "false", "no", "off"})


def cache_enabled() -> bool:
    """Whether compiled kernels are cached on disk (``DRIFTGATE_DRIFT__NUMBA_CACHE``, default on)."""
    return os.environ.get(_CACHE_ENV, "1").strip().lower() not in _OFF


class LazyKernel:
    """A Python function and its explicit signatures, compiled on first use (thread-safe).

    ``make_signatures`` is called at compile time, so building the numba types does not import
    numba before a kernel is needed.
    """

    def __init__(self, fn: Callable[..., Any], make_signatures: Callable[[], Sequence[Any]]) -> None:
        self.py_func = fn
        self._make_signatures = make_signatures
        self._dispatchers: dict[bool, Any] = {}
        self._lock = threading.Lock()

    def compiled(self, nogil: bool = True) -> Any:
        """The numba dispatcher, every signature compiled (or loaded from the cache); ``nogil``
        picks the variant that releases the GIL while it runs (see the module docstring)."""
        dispatcher = self._dispatchers.get(nogil)
        if dispatcher is None:
            with self._lock:
                if nogil not in self._dispatchers:
                    import numba  # heavy: import only when a kernel is needed

                    options: dict[str, Any] = {
                        "nogil": nogil,
                        "error_model": "numpy",
                        "boundscheck": False,
                        "cache": cache_enabled(),
                        "_nrt": False,  # not in numba's type stubs
                    }
                    # a copy of the function per variant: numba's disk cache is keyed by the
                    # function, and each variant must find its own compiled code there
                    fn = self.py_func if nogil else _renamed(self.py_func, "_gil")
                    self._dispatchers[nogil] = numba.njit(list(self._make_signatures()), **options)(fn)
                dispatcher = self._dispatchers[nogil]
        return dispatcher


def _renamed(fn: Callable[..., Any], suffix: str) -> Callable[..., Any]:
    import types

    code = fn.__code__.replace(co_name=fn.__name__ + suffix, co_qualname=fn.__code__.co_qualname + suffix)
    copy = types.FunctionType(code, fn.__globals__,
                              fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__module__ = fn.__module__
    return copy


def kernel(signatures: Callable[[], Sequence[Any]]) -> Callable[[Callable[..., Any]], LazyKernel]:
    """Declare a private kernel with the signatures ``signatures()`` returns."""

    def wrap(fn: Callable[..., Any]) -> LazyKernel:
        return LazyKernel(fn, signatures)

    return wrap
