"""The gRPC edge: the one table from driftgate's exceptions to status codes, and the wrapper
that applies it to every handler of a servicer.

The table is walked along the exception's MRO, so a subclass inherits its parent's code unless
it has its own row. An exception outside the tree becomes INTERNAL with a generic message; the
details go to the log with the request id, never to the client.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import grpc

from driftgate import errors

__all__ = ["MESSAGE_MAX", "STATUS_BY_ERROR", "refusal", "status_for", "wrap_servicer"]

log = logging.getLogger("driftgate.edge")

STATUS_BY_ERROR: dict[type[BaseException], grpc.StatusCode] = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.StorageUnavailable: grpc.StatusCode.UNAVAILABLE,  # "registry storage: ...": retry once fixed
    errors.Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.MessageTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,  # as grpc's own size refusals
    errors.DeadlineExpired: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Conflict: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ModelLoadError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.ArtifactError: grpc.StatusCode.DATA_LOSS,
    errors.ScoringError: grpc.StatusCode.INTERNAL,
}

GENERIC_INTERNAL = "internal error; the server logged the details"
MESSAGE_MAX = 1024
"""Longest status message sent: the messages name what the caller sent (errors.shown cuts those),
and this bounds whatever else a message could carry."""


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """Status code and client-facing message for an exception."""
    for cls in type(exc).__mro__:
        code = STATUS_BY_ERROR.get(cls)
        if code is not None:
            if cls is errors.ScoringError:
                return code, GENERIC_INTERNAL
            message = str(exc)
            if len(message) > MESSAGE_MAX:
                message = message[: MESSAGE_MAX - 3] + "..."
            return code, message
    return grpc.StatusCode.INTERNAL, GENERIC_INTERNAL


def _request_id(servicer: Any, request: Any) -> str:
    """The request's id for the log: the servicer's ``request_id_of(request)`` where it has one (a
    handler that reads its request's bytes itself), else the message's ``id`` field."""
    read = getattr(servicer, "request_id_of", None)
    if read is not None:
        return str(read(request))
    return getattr(request, "id", "") or ""


def _log_unexpected(method: str, request: Any, exc: BaseException, servicer: Any = None) -> None:
    if isinstance(exc, errors.StorageUnavailable):  # the operator must hear of a full disk where it happens
        log.error("%s refused: %s", method, exc)
        return
    code, _ = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("%s failed (request id %s)", method, errors.shown(_request_id(servicer, request)), exc_info=exc)


def _wrap_unary(method: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await fn(self, request, context)
        except errors.DriftgateError as exc:
            _log_unexpected(method, request, exc, self)
            code, message = status_for(exc)
            await context.abort(code, message)
        except Exception as exc:  # the edge: nothing else may reach grpc as str(exc)
            _log_unexpected(method, request, exc, self)
            await context.abort(grpc.StatusCode.INTERNAL, GENERIC_INTERNAL)

    return handler


def _wrap_stream(method: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            async for item in fn(self, request, context):
                yield item
        except errors.DriftgateError as exc:
            _log_unexpected(method, request, exc, self)
            code, message = status_for(exc)
            await context.abort(code, message)
        except Exception as exc:
            _log_unexpected(method, request, exc, self)
            await context.abort(grpc.StatusCode.INTERNAL, GENERIC_INTERNAL)

    return handler


def refusal(exc: errors.DriftgateError) -> grpc.RpcMethodHandler:
    """A unary handler that answers every call with ``exc``'s status (through the table), without
    reading the request: what an interceptor hands grpc for a call it refuses."""
    code, message = status_for(exc)

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(refuse)


def wrap_servicer(cls: type) -> type:
    """Class decorator: route every public async handler's exceptions through the table.

    Applied once per servicer class, so the mapping is in one place and no method maps errors
    itself. Async generators (server-streaming handlers) are wrapped as generators.
    """
    for name, fn in list(vars(cls).items()):
        if name.startswith("_") or not callable(fn):
            continue
        if inspect.isasyncgenfunction(fn):
            setattr(cls, name, _wrap_stream(name, fn))
        elif inspect.iscoroutinefunction(fn):
            setattr(cls, name, _wrap_unary(name, fn))
    return cls
