"""Process-wide logging set-up, called once by each command's entry point."""

from __future__ import annotations

import logging
import sys

__all__ = ["setup_logging"]


def setup_logging(level: str, prefix: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        stream=sys.stderr,
        format=f"%(asctime)s {prefix} %(levelname)s %(name)s: %(message)s",
    )
    # Alembic narrates every step of a schema check at INFO; driftgate logs what a migration did itself.
    logging.getLogger("alembic").setLevel(logging.WARNING)
