"""Admission: at most ``limit`` inference calls in flight in one worker; the rest are refused at
once with RESOURCE_EXHAUSTED, before their request is read.

What it bounds: the calls this worker holds, not the queue before it. grpc.aio asks core for the
next call only after it has made the last one's task, so under far more clients than the loop
serves the backlog waits in grpc core's queue of unrequested calls, which no Python code sees; a
call refused here has already waited its turn there. The p99 of admitted requests under overload
is bounded in front, at the balancer (deploy/haproxy/haproxy.cfg, bench/admission.md). This limit
bites where requests are held across an await (adaptive batching, large batches, slow models).

The count starts where grpc first runs Python code for a call, a server interceptor (run in the
call's task, before the request is received), and ends when the call's task is done (response or
status sent, or the call cancelled): a done callback on that task, so a call that ends in any way
(cancelled before its request arrived, a message too large for grpc) is released.

The interceptor returns the handler itself for the methods it guards (no second coroutine through
grpc's continuation) and a refusing handler (driftgate.grpc_edge.refusal) beyond the limit, so a
refused call costs grpc's accept, the interceptor and a status. Other methods (health, metadata,
statistics) pass through uncounted: a balancer's health check is answered under overload.
ModelStreamInfer is one long call; each request on a stream is admitted on its own
(:meth:`Admission.enter`) and refused in-band, as Triton reports per-request errors on a stream.

Counters are plain integers read at scrape time (driftgate.gateway.metrics.AdmissionCollector):
refusals by (model, reason) and calls the client cancelled (the task saw a cancellation: the
client went away or its deadline passed while the call was in progress). Refusals counted before
the request is read have model "".

Cost (bench/admission.md): the interceptor adds ~1 us of the loop's CPU a call (grpc's interceptor
machinery, the count, the done callback), of the ~550 us a call costs on the 2-core box.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from driftgate.errors import Overloaded
from driftgate.grpc_edge import refusal

__all__ = ["Admission"]


class Admission(grpc.aio.ServerInterceptor):
    """The in-flight count of one worker, its limit (0: none) and its refusal counters."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.rejected: dict[tuple[str, str], int] = {}  # (model, reason) -> calls
        self.cancelled = 0
        self._guarded: dict[str, grpc.RpcMethodHandler] = {}
        self._message = (
            f"the gateway is at its limit of {limit} requests in flight; retry with backoff, or on another "
            "instance (the request was not read)"
        )
        self._refuse = refusal(Overloaded(self._message))
        self._release = self._done  # one bound method, not one per call

    def guard(self, method: str, handler: grpc.RpcMethodHandler) -> None:
        """Count and limit calls of ``method`` (a full name, /package.Service/Method), answered by
        ``handler`` (the one the server registered for it)."""
        self._guarded[method] = handler

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = self._guarded.get(handler_call_details.method)  # type: ignore[attr-defined]
        if handler is None:
            return await continuation(handler_call_details)
        if self.active >= self.limit:
            self.count("", "overload")
            return self._refuse
        self.active += 1
        asyncio.current_task().add_done_callback(self._release)  # type: ignore[union-attr]
        return handler

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.active -= 1
        if task.cancelling():  # grpc cancelled the call's task: the client went away or timed out
            self.cancelled += 1

    # -- requests on a stream ------------------------------------------------------------------

    def enter(self) -> None:
        """Admit one request of a stream (the caller calls :meth:`leave` when it is answered), or
        raise Overloaded."""
        if self.limit and self.active >= self.limit:
            raise Overloaded(self._message)
        self.active += 1

    def leave(self) -> None:
        self.active -= 1

    # -- counters ------------------------------------------------------------------------------

    def count(self, model: str, reason: str) -> None:
        key = (model, reason)
        self.rejected[key] = self.rejected.get(key, 0) + 1
