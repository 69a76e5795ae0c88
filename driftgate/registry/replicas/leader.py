"""Which registry replica runs the loops: one leader, elected through the database.

Every replica serves reads, WatchConfig, FetchArtifact and reports; only the leader runs the
closed loop (rollout ticks, retrain triggers: registry/loop/controller.py), so two replicas never move
the same rollout a step each.

PostgreSQL: the leader holds a session-level advisory lock (``pg_try_advisory_lock``) on a
connection of its own, kept out of the pool. Followers try to take it every ``check_s``; the leader
checks its connection as often. The lock goes with the session: a leader that dies (SIGKILL, a
host gone) loses it as soon as PostgreSQL sees the connection close (at once for a killed process;
after TCP keepalives, set here on the client's socket, for a vanished host), and a follower takes
over at its next try. A leader whose connection fails stops its loops at once, before anyone else
can hold the lock, and tries again like a follower.

SQLite: one registry per database (a file on one host); it is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import Connection, text

from driftgate.registry.store.db import Database

__all__ = ["LEADER_LOCK_KEY", "LEADER_NAME_PREFIX", "Leadership"]

log = logging.getLogger("driftgate.registry.leader")

LEADER_LOCK_KEY = 0x6C656164  # "lead": the advisory lock the leader holds (schema.py uses another)
# the lock's session names the leader's control address in application_name (forward.py reads it)
LEADER_NAME_PREFIX = "driftgate-leader "


class Leadership:
    def __init__(
        self,
        db: Database,
        on_change: Callable[[bool], Awaitable[None]],
        check_s: float = 1.0,
        address: Callable[[], str] = lambda: "",
    ) -> None:
        self._db = db
        self._address = address
        self._on_change = on_change
        self._check_s = check_s
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.is_leader = False

    async def start(self) -> None:
        """Try once now (so a lone registry leads from its first second), then keep trying or checking."""
        await self._step()
        self._task = asyncio.create_task(self._loop(), name="driftgate-leadership")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.is_leader:
            await self._set(False, stopping=True)
        await asyncio.to_thread(self._close)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._check_s)
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:  # leadership must outlive any one failed check
                log.exception("leadership check failed")

    async def _step(self) -> None:
        if self._db.is_sqlite:
            if not self.is_leader:
                await self._set(True)
            return
        holds = await asyncio.to_thread(self._check if self.is_leader else self._try)
        if holds != self.is_leader:
            await self._set(holds)

    async def _set(self, leader: bool, stopping: bool = False) -> None:
        self.is_leader = leader
        if leader:
            log.info("this registry is the leader: it runs the rollout and retrain loops")
        elif stopping:
            log.info("this registry stops leading: it is stopping")
        else:
            log.warning("this registry is no longer the leader: its loops stop")
        await self._on_change(leader)

    # -- blocking, in a worker thread --

    def _try(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if not self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}).scalar():
                return False
            self._conn.execute(text("SELECT set_config('application_name', :n, false)"),
                               {"n": (LEADER_NAME_PREFIX + self._address())[:63]})
            return True
        except Exception as exc:
            log.warning("cannot reach the database to elect a leader: %s", exc.__class__.__name__)
            self._close()
            return False

    def _check(self) -> bool:
        """Whether this session still holds the lock (False when the connection failed)."""
        try:
            assert self._conn is not None
            held = self._conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                     "AND objid = :k AND granted"), {"k": LEADER_LOCK_KEY}
            ).scalar()
            if held:
                return True
        except Exception as exc:
            log.error("lost the database connection that holds leadership: %s", exc.__class__.__name__)
        self._close()
        return False

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()  # never back to the pool: its session may hold the lock
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
