"""Optional parts of the install (pyproject.toml's extras) that a command needs, checked before it runs.

The plain ``pip install driftgate`` is the serving runtime: gateway, registry, dashboard, the operator
CLI and the demo. ``driftgate bench`` (the load tool and its scenarios) needs the ``bench`` extra
(HdrHistogram for the latency percentiles, matplotlib for the plots). Without it the command stops
before it starts with one line naming the install command (exit code 2), not a traceback::

    error: driftgate bench needs the bench extra (hdrh is not installed): pip install 'driftgate[bench]'
"""

from __future__ import annotations

import importlib

__all__ = ["MissingExtra", "require"]


class MissingExtra(Exception):
    """A command needs an extra that is not installed; ``driftgate``'s main prints it and exits 2."""


def require(extra: str, command: str, *modules: str) -> None:
    """MissingExtra unless every module of ``modules`` imports (imported here, so that a broken
    install is caught too, not only an absent one)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtra(
                f"{command} needs the {extra} extra ({module} is not installed): pip install 'driftgate[{extra}]'"
            ) from None
