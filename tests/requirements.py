"""Tests that need something from outside Python (a PostgreSQL server, a browser, root): skip with the
reason on a developer's machine that lacks it, fail in CI (CI=true), where .ci/run installs it."""

from __future__ import annotations

import os

import pytest

__all__ = ["in_ci", "require"]


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def require(condition: bool, reason: str) -> None:
    """Go on when ``condition`` holds; else skip with ``reason``, or fail with it in CI."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)
