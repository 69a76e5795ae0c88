"""The token store: the registry's API tokens, kept in its database as SHA-256 hashes only.

    create(name, role)  -> the token, returned once (never stored, never shown again)
    list()              -> names, roles, who created them and when; never a hash
    revoke(name)        -> the row is deleted: the token stops working at once on this registry
    authenticate(token) -> the Principal, or None for a token never issued or revoked

Creating and revoking are audit events (kind token_created / token_revoked). Lookups are cached
for ``cache_s`` seconds per token so that a call costs a dict lookup and one SHA-256, not a
database read; a revoke on this registry drops its cache entry at once, one made through another
registry sharing the database takes effect here within ``cache_s``.

``ensure_local_tokens(home)`` is what ``driftgate registry`` (and so ``driftgate serve``) runs at
start: ``<home>/admin.token`` (token "local-admin") and ``<home>/gateway.token`` (token
"local-gateway"), each created when its file is missing, mode 0600 in a 0700 home, so that the CLI
and gateways on this host under the same --home need no flag. When the name is taken (another
registry host sharing the database made it, or the file was deleted) the new token gets a suffix
("local-admin-3f9c2a"); nothing is revoked automatically. Rotating: delete the file, restart the
registry, then ``driftgate tokens revoke`` the old name (docs/security.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Column, String, Table, delete, insert, select

from driftgate.auth.roles import Principal, Role, parse_role
from driftgate.auth.tokens import generate_token, hash_token, same_hash
from driftgate.errors import Conflict, InvalidRequest, NotFound
from driftgate.home import prepare_home, read_private, write_private
from driftgate.registry.catalogue.records import utc_iso
from driftgate.registry.store.db import Database, events, metadata

__all__ = [
    "ADMIN_TOKEN_FILE",
    "GATEWAY_TOKEN_FILE",
    "LOCAL_ADMIN",
    "LOCAL_GATEWAY",
    "TokenRecord",
    "TokenStore",
    "api_tokens",
    "ensure_local_tokens",
]

log = logging.getLogger("driftgate.registry.tokens")

ADMIN_TOKEN_FILE = "admin.token"
GATEWAY_TOKEN_FILE = "gateway.token"
LOCAL_ADMIN = "local-admin"
LOCAL_GATEWAY = "local-gateway"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,99}$")

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", String(40), nullable=False),
    Column("created_by", String(200), nullable=False, default=""),
)


@dataclass(frozen=True)
class TokenRecord:
    name: str
    role: Role
    created_at: str
    created_by: str


class TokenStore:
    def __init__(self, db: Database, *, cache_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._cache_s = cache_s
        self._clock = clock
        self._cache: dict[str, tuple[Principal, float]] = {}  # hash -> (principal, valid until)
        self._lock = threading.Lock()

    # ---- administration ----

    def create(self, name: str, role: Role | str, actor: str = "") -> tuple[TokenRecord, str]:
        """A new token; returns its record and the token itself (shown once, stored as a hash)."""
        if not _NAME.match(name):
            raise InvalidRequest(
                f"token name {name!r}: 1-100 letters, digits or _.@:+- (starting with a letter or digit)"
            )
        try:
            role = parse_role(role) if isinstance(role, str) else role
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        token = generate_token()
        record = TokenRecord(name, role, utc_iso(), actor)
        with self._db.begin() as conn:
            if conn.execute(select(api_tokens.c.name).where(api_tokens.c.name == name)).first() is not None:
                raise Conflict(f"a token named {name!r} exists; revoke it first (driftgate tokens revoke {name})")
            conn.execute(
                insert(api_tokens).values(
                    name=name, role=role.value, token_sha256=hash_token(token),
                    created_at=record.created_at, created_by=actor,
                )
            )
            _audit(conn, "token_created", actor, f"token {name!r} created with the {role.value} role", record)
        return record, token

    def list(self) -> list[TokenRecord]:
        with self._db.read() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.name)).all()
        return [TokenRecord(r.name, Role(r.role), r.created_at, r.created_by) for r in rows]

    def revoke(self, name: str, actor: str = "", reason: str = "") -> TokenRecord:
        with self._db.begin() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.name == name)).first()
            if row is None:
                raise NotFound(f"no token named {name!r} (driftgate tokens list)")
            conn.execute(delete(api_tokens).where(api_tokens.c.name == name))
            record = TokenRecord(row.name, Role(row.role), row.created_at, row.created_by)
            message = f"token {name!r} ({record.role.value}) revoked" + (f": {reason}" if reason else "")
            _audit(conn, "token_revoked", actor, message, record)
        with self._lock:
            self._cache = {h: entry for h, entry in self._cache.items() if entry[0].name != name}
        return record

    # ---- authentication ----

    def lookup(self, token: str) -> Principal | None:
        """The principal of ``token`` from the database (no cache); None when unknown."""
        digest = hash_token(token)
        with self._db.read() as conn:
            row = conn.execute(
                select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.token_sha256).where(
                    api_tokens.c.token_sha256 == digest
                )
            ).first()
        if row is None or not same_hash(row.token_sha256, digest):
            return None
        return Principal(row.name, Role(row.role))

    async def authenticate(self, token: str) -> Principal | None:
        """``lookup`` behind a per-token cache of ``cache_s`` seconds; a miss reads in a thread."""
        digest = hash_token(token)
        now = self._clock()
        entry = self._cache.get(digest)
        if entry is not None and entry[1] > now:
            return entry[0]
        principal = await asyncio.to_thread(self.lookup, token)
        if principal is not None:
            with self._lock:
                self._cache[digest] = (principal, now + self._cache_s)
        else:
            with self._lock:
                self._cache.pop(digest, None)
        return principal


def _audit(conn: object, kind: str, actor: str, message: str, record: TokenRecord) -> None:
    details = {"token": record.name, "role": record.role.value}
    conn.execute(  # type: ignore[attr-defined]
        insert(events).values(at=utc_iso(), model="", version=0, kind=kind, actor=actor or "",
                              message=message, details=json.dumps(details))
    )


def _ensure(store: TokenStore, path: Path, name: str, role: Role) -> None:
    token = read_private(path)
    if token:
        if store.lookup(token) is None:  # revoked, or made for another database: left for the operator
            log.warning("%s holds a token this registry does not know (revoked?); delete the file and restart "
                        "the registry for a new one", path)
        return
    taken = {r.name for r in store.list()}
    candidate = name
    while candidate in taken:
        candidate = f"{name}-{secrets.token_hex(3)}"
    _, token = store.create(candidate, role, actor="driftgate")
    write_private(path, token + "\n")


def ensure_local_tokens(store: TokenStore, home: Path) -> None:
    """``<home>/admin.token`` and ``<home>/gateway.token``, created when missing (see the module doc)."""
    prepare_home(home)
    _ensure(store, home / ADMIN_TOKEN_FILE, LOCAL_ADMIN, Role.ADMIN)
    _ensure(store, home / GATEWAY_TOKEN_FILE, LOCAL_GATEWAY, Role.GATEWAY)
