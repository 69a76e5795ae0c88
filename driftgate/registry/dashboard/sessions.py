"""Browser sessions of the dashboard: a random id in an HttpOnly, SameSite=Strict cookie, kept in memory.

A token is shown to the dashboard once (``?token=`` or the login form); the server keeps it with the
session, never in the cookie, and authenticates it again on every request, so a revoked token ends its
sessions at once. Each session has its own CSRF token, sent back in every form and htmx request.
Sessions live in the registry process only: a restarted registry asks everyone to log in again.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["COOKIE", "Session", "SessionStore"]

COOKIE = "driftgate_session"


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    token: str
    csrf: str
    expires_at: float

    def csrf_ok(self, sent: str) -> bool:
        return bool(sent) and hmac.compare_digest(sent.encode(), self.csrf.encode())


class SessionStore:
    def __init__(
        self, ttl_s: float = 12 * 3600.0, max_sessions: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._max = max_sessions
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def create(self, token: str) -> Session:
        session = Session(secrets.token_urlsafe(32), token, secrets.token_urlsafe(32), self._clock() + self.ttl_s)
        with self._lock:
            self._sessions[session.id] = session
            while len(self._sessions) > self._max:  # the oldest go first
                self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if session.expires_at <= self._clock():
                del self._sessions[session_id]
                return None
            return session

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
