"""Bearer tokens: how they are made and how they are kept (only as hashes).

A token is ``dg_`` + 32 random bytes (urlsafe base64, 256 bits from ``secrets``). The store keeps
its SHA-256: a token is high-entropy, so a plain fast hash is enough (a slow password hash guards
guessable secrets, which these are not), and a lookup by hash is one index probe. Comparisons of
hashes are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["TOKEN_PREFIX", "generate_token", "hash_token", "same_hash"]

TOKEN_PREFIX = "dg_"


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Hex SHA-256 of the token, what the store keeps."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
