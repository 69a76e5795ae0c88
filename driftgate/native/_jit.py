"""The one place that owns numba's options for driftgate's kernels.

Every kernel is declared with :func:`kernel` and explicit signatures, and compiled lazily: importing
``driftgate.native`` compiles nothing (the CLI and the registry import it without paying for numba),
the first :meth:`LazyKernel.compiled` call compiles every signature, or loads them from numba's
on-disk cache. ``driftgate.native.warm_up`` forces that before a gateway reports ready.

Options: ``nogil=True`` (a kernel may run on an executor thread without holding the GIL),
``error_model="numpy"`` (no ZeroDivisionError checks in loops), ``boundscheck=False``, no fastmath
(the kernels test for NaN), and ``_nrt=False``: the kernels never allocate (state and scratch are
passed in), so they need no numba runtime, and without it numba unboxes an argument array without
allocating a MemInfo for it and calls no atomic incref/decref on it or on the views taken inside;
that saves about 150 ns of the ~500 ns a 4-argument call costs (measured, bench/drift_kernels.md).
A kernel that allocated would fail to compile under it, which is the point.

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
        self._dispatcher: Any = None
        self._lock = threading.Lock()

    def compiled(self) -> Any:
        """The numba dispatcher, every signature compiled (or loaded from the cache)."""
        dispatcher = self._dispatcher
        if dispatcher is None:
            with self._lock:
                if self._dispatcher is None:
                    import numba  # heavy: import only when a kernel is needed

                    options: dict[str, Any] = {
                        "nogil": True,
                        "error_model": "numpy",
                        "boundscheck": False,
                        "cache": cache_enabled(),
                        "_nrt": False,  # not in numba's type stubs
                    }
                    self._dispatcher = numba.njit(list(self._make_signatures()), **options)(self.py_func)
                dispatcher = self._dispatcher
        return dispatcher


def kernel(signatures: Callable[[], Sequence[Any]]) -> Callable[[Callable[..., Any]], LazyKernel]:
    """Declare a private kernel with the signatures ``signatures()`` returns."""

    def wrap(fn: Callable[..., Any]) -> LazyKernel:
        return LazyKernel(fn, signatures)

    return wrap
