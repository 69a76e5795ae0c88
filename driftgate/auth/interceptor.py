"""The server side: one grpc.aio interceptor that authenticates every call and checks the table.

    no token, or one the store does not know (never issued, revoked)   -> UNAUTHENTICATED
    a method without a row in the table (deny by default)              -> PERMISSION_DENIED
    a role the method's row does not allow                             -> PERMISSION_DENIED naming
                                                                          the role it needs
    otherwise the principal is set for the handler (driftgate.auth.context) and the call proceeds

Tokens come as gRPC metadata ``authorization: Bearer <token>``. The store is injected: any
``async (token) -> Principal | None`` (driftgate.registry.access.tokens.TokenStore.authenticate).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc

from driftgate.auth.context import set_principal
from driftgate.auth.roles import Principal
from driftgate.auth.table import TABLE, Access, refusal

__all__ = ["AUTHORIZATION", "AuthInterceptor", "bearer_token"]

AUTHORIZATION = "authorization"
_BEARER = "bearer "

NO_TOKEN = (
    "no token: send gRPC metadata 'authorization: Bearer <token>' "
    "(the CLI: --token, DRIFTGATE_TOKEN, or <home>/admin.token)"
)
BAD_TOKEN = "unknown or revoked token"


def bearer_token(metadata: Sequence[Any] | None) -> str:
    """The token of an ``authorization: Bearer <token>`` entry; empty when there is none."""
    for key, value in metadata or ():
        if key == AUTHORIZATION and isinstance(value, str) and value[:7].lower() == _BEARER:
            return value[7:].strip()
    return ""


def _refuse(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind (so the request still parses) whose only act is to refuse."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(code, message)

    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse, **kwargs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse, **kwargs)
    return grpc.unary_unary_rpc_method_handler(refuse, **kwargs)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        authenticate: Callable[[str], Awaitable[Principal | None]],
        table: Mapping[str, Access] = TABLE,
    ) -> None:
        self._authenticate = authenticate
        self._table = table

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        access = self._table.get(method)
        if access is not None and access.public:
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:  # no such method: grpc answers UNIMPLEMENTED
            return handler
        token = bearer_token(handler_call_details.invocation_metadata)  # type: ignore[attr-defined]
        if not token:
            return _refuse(handler, grpc.StatusCode.UNAUTHENTICATED, NO_TOKEN)
        principal = await self._authenticate(token)
        if principal is None:
            return _refuse(handler, grpc.StatusCode.UNAUTHENTICATED, BAD_TOKEN)
        if access is None or not access.allows(principal.role):
            return _refuse(handler, grpc.StatusCode.PERMISSION_DENIED, refusal(method, access, principal))
        set_principal(principal)  # this call's task only; the handler runs in it
        return handler
