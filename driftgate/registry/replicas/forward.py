"""A follower replica passes the gateway reports it receives on to the leader.

Every replica takes reports (a gateway reports to whichever replica it reaches) and keeps them for
its own reads (``models show``, ``drift``), but the loops that judge a rollout run on the leader,
from the gateways' READY states, counters and drift windows in its memory. So a follower sends a
copy of each report to the leader, without its scored rows (those are already in the shared
database; the leader would recognise them by source and mark anyway), with the caller's own
metadata (its token), fire and forget: a lost copy is replaced by the next report a second later.

Where the leader is: the session that holds the leader lock names itself in ``application_name``
(leader.py), so ``pg_stat_activity`` joined to ``pg_locks`` gives the address of the replica that
holds the lock now, never a stale row. Looked up at most every ``refresh_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from sqlalchemy import text

from driftgate.proto.v1 import control_pb2 as pb
from driftgate.proto.v1 import control_pb2_grpc
from driftgate.registry.replicas.leader import LEADER_LOCK_KEY, LEADER_NAME_PREFIX
from driftgate.registry.store.db import Database
from driftgate.settings import TlsSettings
from driftgate.tls import aio_channel

__all__ = ["ReportForwarder"]

log = logging.getLogger("driftgate.registry.forward")

_FORWARDED_HEADERS = ("authorization",)


class ReportForwarder:
    def __init__(self, db: Database, is_leader: Callable[[], bool], own_address: Callable[[], str],
                 tls: TlsSettings, refresh_s: float = 2.0) -> None:
        self._db = db
        self._tls = tls  # a replica dials another as any client does (TLS iff tls.ca is set)
        self._is_leader = is_leader
        self._own = own_address
        self._refresh_s = refresh_s
        self._leader = ""
        self._looked_at = -1e9
        self._channel: grpc.aio.Channel | None = None
        self._stub: control_pb2_grpc.ControlStub | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, report: pb.GatewayReport, metadata: Sequence[tuple[str, Any]] | None) -> None:
        """Send a copy of ``report`` to the leader in the background (nothing on the leader or SQLite)."""
        if self._db.is_sqlite or self._is_leader():
            return
        copy = pb.GatewayReport()
        copy.CopyFrom(report)
        del copy.scored[:]
        copy.scored_source = ""
        copy.scored_upto = 0
        headers = tuple((k, v) for k, v in (metadata or ()) if k in _FORWARDED_HEADERS)
        task = asyncio.create_task(self._send(copy, headers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, report: pb.GatewayReport, headers: tuple[tuple[str, Any], ...]) -> None:
        try:
            stub = await self._leader_stub()
            if stub is not None:
                await stub.ReportStatus(report, timeout=5, metadata=headers or None)
        except grpc.aio.AioRpcError as exc:
            log.debug("report of %s not passed on to the leader: %s", report.gateway_id, exc.code().name)
            self._looked_at = -1e9  # look the leader up again
        except Exception:
            log.exception("report of %s not passed on to the leader", report.gateway_id)

    async def _leader_stub(self) -> control_pb2_grpc.ControlStub | None:
        now = time.monotonic()
        if now - self._looked_at >= self._refresh_s:
            self._looked_at = now
            address = await asyncio.to_thread(self._lookup)
            if address != self._leader:
                if self._channel is not None:
                    await self._channel.close()
                self._channel = aio_channel(address, self._tls, ()) if address else None
                self._stub = control_pb2_grpc.ControlStub(self._channel) if self._channel is not None else None
                self._leader = address
        if self._leader == self._own():
            return None
        return self._stub

    def _lookup(self) -> str:
        with self._db.read() as conn:
            name = conn.execute(text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objid = :k AND l.granted LIMIT 1"), {"k": LEADER_LOCK_KEY},
            ).scalar()
        if not name or not str(name).startswith(LEADER_NAME_PREFIX):
            return ""
        return str(name)[len(LEADER_NAME_PREFIX):]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
