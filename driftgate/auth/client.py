"""The client side: send a bearer token with every call of a channel, or hand it to a browser once.

``with_token(channel, token)`` wraps a blocking channel (the CLI); ``token_metadata(token)`` is the
metadata to pass per call (the gateway's asyncio link passes it on its three calls); ``login_url(base,
token)`` is the dashboard's address that logs a browser in with the token (the dashboard exchanges
``?token=`` for a session cookie).
"""

from __future__ import annotations

import collections
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import grpc

from driftgate.auth.interceptor import AUTHORIZATION

__all__ = ["login_url", "token_metadata", "with_token"]


def token_metadata(token: str) -> tuple[tuple[str, str], ...]:
    return ((AUTHORIZATION, f"Bearer {token}"),) if token else ()


class _Details(
    collections.namedtuple(
        "_Details", ["method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"]
    ),
    grpc.ClientCallDetails,
):
    pass


class _TokenInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, token: str) -> None:
        self._metadata = token_metadata(token)

    def _details(self, d: Any) -> _Details:
        metadata = tuple(d.metadata or ()) + self._metadata
        return _Details(d.method, d.timeout, metadata, d.credentials, getattr(d, "wait_for_ready", None),
                        getattr(d, "compression", None))

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(client_call_details), request_iterator)


def with_token(channel: grpc.Channel, token: str) -> grpc.Channel:
    """``channel`` sending ``authorization: Bearer <token>`` on every call (unchanged without a token)."""
    if not token:
        return channel
    return grpc.intercept_channel(channel, _TokenInterceptor(token))


def login_url(base: str, token: str) -> str:
    """The address that logs a browser in with ``token`` once (to print on the local terminal only)."""
    parts = urlsplit(base)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("token", token)])))
