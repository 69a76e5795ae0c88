"""The token RPCs of driftgate.v1.Control (CreateToken, ListTokens, RevokeToken), a mixin of
ControlService: a thin adapter over driftgate.registry.access.tokens.TokenStore. Admin only (the auth
table); the audit log names the token that acted."""

from __future__ import annotations

import asyncio
from typing import Any

from driftgate.auth import audit_actor
from driftgate.errors import Unavailable
from driftgate.grpc_edge import wrap_servicer
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.registry.access.tokens import TokenRecord, TokenStore

__all__ = ["TokenRpcs", "token_info_pb"]


def token_info_pb(r: TokenRecord) -> pb.TokenInfo:
    return pb.TokenInfo(name=r.name, role=r.role.value, created_at=r.created_at, created_by=r.created_by)


@wrap_servicer
class TokenRpcs:
    _tokens: TokenStore | None = None

    def _store(self) -> TokenStore:
        if self._tokens is None:
            raise Unavailable("this registry has no token store")
        return self._tokens

    async def CreateToken(self, request: pb.CreateTokenRequest, context: Any) -> pb.CreateTokenResponse:
        record, token = await asyncio.to_thread(self._store().create, request.name, request.role, audit_actor())
        return pb.CreateTokenResponse(info=token_info_pb(record), token=token)

    async def ListTokens(self, request: pb.ListTokensRequest, context: Any) -> pb.ListTokensResponse:
        records = await asyncio.to_thread(self._store().list)
        return pb.ListTokensResponse(tokens=[token_info_pb(r) for r in records])

    async def RevokeToken(self, request: pb.RevokeTokenRequest, context: Any) -> pb.TokenInfo:
        record = await asyncio.to_thread(self._store().revoke, request.name, audit_actor(), request.reason)
        return token_info_pb(record)
