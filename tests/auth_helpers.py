"""Tokens for tests that call a registry started under a home of their own.

A registry writes ``<home>/admin.token`` (token "local-admin") and ``<home>/gateway.token``
("local-gateway") at its first start. Tests that act as the operator *and* as a gateway on one
channel use :func:`local_channel` / :func:`local_aio_channel`: every call carries the admin token,
except ReportStatus, which only a gateway may call and which carries the gateway token. Tests of
the auth check itself send explicit tokens (:func:`metadata`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc

from driftgate.auth import token_metadata
from driftgate.auth.interceptor import AUTHORIZATION

__all__ = ["admin_token", "gateway_token", "local_aio_channel", "local_channel", "metadata"]

GATEWAY_ONLY = ("/driftgate.v1.Control/ReportStatus",)


def admin_token(home: Path) -> str:
    return (home / "admin.token").read_text().strip()


def gateway_token(home: Path) -> str:
    return (home / "gateway.token").read_text().strip()


def metadata(token: str) -> tuple[tuple[str, str], ...]:
    """The call metadata that carries ``token``."""
    return token_metadata(token)


def _token_for(home: Path, method: Any) -> str:
    name = method.decode() if isinstance(method, bytes) else str(method)
    return gateway_token(home) if name in GATEWAY_ONLY else admin_token(home)


class _Sync(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, home: Path) -> None:
        self._home = home

    def _details(self, d: Any) -> Any:
        from driftgate.auth.client import _Details

        md = [(k, v) for k, v in (d.metadata or ()) if k != AUTHORIZATION]
        md += list(token_metadata(_token_for(self._home, d.method)))
        return _Details(d.method, d.timeout, md, d.credentials, getattr(d, "wait_for_ready", None),
                        getattr(d, "compression", None))

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, requests):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), requests)


def local_channel(address: str, home: Path, **kwargs: Any) -> grpc.Channel:
    """A blocking channel acting as the home's admin (and, for ReportStatus, its gateway)."""
    return grpc.intercept_channel(grpc.insecure_channel(address, **kwargs), _Sync(home))


class _AioBase:
    def __init__(self, home: Path) -> None:
        self._home = home

    def _details(self, d: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        md = grpc.aio.Metadata(*[(k, v) for k, v in (d.metadata or ()) if k != AUTHORIZATION])
        for k, v in token_metadata(_token_for(self._home, d.method)):
            md.add(k, v)
        return grpc.aio.ClientCallDetails(d.method, d.timeout, md, d.credentials, d.wait_for_ready)


# grpc.aio files an interceptor under the first kind it is an instance of: one class per kind
class _AioUnaryUnary(_AioBase, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(details), request)


class _AioUnaryStream(_AioBase, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(details), request)


class _AioStreamUnary(_AioBase, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, requests):  # type: ignore[no-untyped-def]
        return await continuation(self._details(details), requests)


class _AioStreamStream(_AioBase, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, requests):  # type: ignore[no-untyped-def]
        return await continuation(self._details(details), requests)


def local_aio_channel(address: str, home: Path, **kwargs: Any) -> grpc.aio.Channel:
    """An asyncio channel acting as the home's admin (and, for ReportStatus, its gateway)."""
    kinds = (_AioUnaryUnary, _AioUnaryStream, _AioStreamUnary, _AioStreamStream)
    return grpc.aio.insecure_channel(address, interceptors=[k(home) for k in kinds], **kwargs)
