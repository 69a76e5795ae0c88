"""Authentication and authorization of the control API.

    roles        Role (viewer < operator < admin; gateway apart), Principal
    table        TABLE: every RPC's full method name -> the least role it needs (deny by default)
    tokens       token generation and hashing (tokens are stored only as hashes)
    interceptor  AuthInterceptor: the one server-side check, in the grpc.aio server
    context      the authenticated principal of the current call; audit_actor() for the audit log
    client       with_token(channel, token) / token_metadata(token) for callers; login_url for a browser

The token store itself lives with the registry's database (driftgate.registry.access.tokens).
"""

from driftgate.auth.client import login_url, token_metadata, with_token
from driftgate.auth.context import audit_actor, current_principal
from driftgate.auth.interceptor import AuthInterceptor, bearer_token
from driftgate.auth.roles import Principal, Role, parse_role
from driftgate.auth.table import TABLE, Access
from driftgate.auth.tokens import generate_token, hash_token

__all__ = [
    "TABLE",
    "Access",
    "AuthInterceptor",
    "Principal",
    "Role",
    "audit_actor",
    "bearer_token",
    "current_principal",
    "generate_token",
    "hash_token",
    "login_url",
    "parse_role",
    "token_metadata",
    "with_token",
]
