"""What counts as a secret in values driftgate stores, logs and returns, and how it is hidden.

- A mapping key that looks like a credential (``password``, ``passwd``, ``pwd``, ``secret``, ``token``, ``key``,
  ``credential``, ``auth``, ``private``, ...: case-insensitive, anywhere in the key, so ``api_key`` and
  ``DB_PASSWORD`` count) has its value replaced by :data:`MASK`.
- A URL with a password (``scheme://user:password@host``) anywhere in a string keeps everything but the password.

Retrain options are stored and returned only through :func:`redact`; the real values reach only the plugin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "is_secret_key", "redact", "redact_text"]

MASK = "***"

_SECRET_KEY = re.compile(r"pass(wd|word)?|pwd|secret|token|key|credential|auth|private|signature|cookie",
                         re.IGNORECASE)
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)([^\s@/]*)(@)")


def is_secret_key(key: str) -> bool:
    """True when a name looks like it holds a credential."""
    return bool(_SECRET_KEY.search(key))


def redact_text(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` in it replaced by :data:`MASK`."""
    return _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)


def redact(value: Any) -> Any:
    """A copy of ``value`` (mappings, lists and strings, nested) with secrets replaced by :data:`MASK`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: (MASK if isinstance(k, str) and is_secret_key(k) and v not in ("", None) else redact(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
