"""The auth table, checked against the running registry: every method of every service it serves,
called with no token, a bogus token, a revoked token and a token of each role.

The services come from the registry itself (server reflection), their methods from the protobuf
descriptors, so a new RPC (or a new service) without a row in driftgate/auth/table.py fails here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from driftgate.auth import TABLE, AuthInterceptor, Principal, Role
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.proto.v1 import control_pb2_grpc
from driftgate.registry.server import SERVICES, RegistryServer
from driftgate.settings import RegistrySettings, Settings
from tests.auth_helpers import admin_token, metadata

ROLES = tuple(Role)


@dataclass
class Registry:
    server: RegistryServer
    home: Path
    address: str
    tokens: dict[str, str]  # role (or "revoked") -> token


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """One registry on a background loop for the module, with a token of every role."""
    home = tmp_path_factory.mktemp("auth") / "home"
    settings = Settings(home=home, registry=RegistrySettings(port=0, demo=False, dashboard_port=-1))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = RegistryServer(settings)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
    try:
        tokens: dict[str, str] = {}
        with grpc.insecure_channel(server.address) as channel:
            stub = control_pb2_grpc.ControlStub(channel)
            admin = metadata(admin_token(home))
            for role in ROLES:
                tokens[role.value] = stub.CreateToken(
                    pb.CreateTokenRequest(name=f"t-{role.value}", role=role.value), metadata=admin, timeout=10
                ).token
            tokens["revoked"] = stub.CreateToken(
                pb.CreateTokenRequest(name="t-revoked", role="admin"), metadata=admin, timeout=10
            ).token
            stub.RevokeToken(pb.RevokeTokenRequest(name="t-revoked"), metadata=admin, timeout=10)
        yield Registry(server, home, server.address, tokens)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(0.5), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _served_services(registry: Registry) -> list[str]:
    with grpc.insecure_channel(registry.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
            metadata=metadata(registry.tokens["viewer"]), timeout=10,
        )
        return [s.name for s in next(iter(replies)).list_services_response.service]


def _methods(registry: Registry) -> list[Any]:
    pool = descriptor_pool.Default()
    return [m for name in _served_services(registry) for m in pool.FindServiceByName(name).methods]


def _call(channel: grpc.Channel, method: Any, md: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
    """Call ``method`` with an empty request; the status it ends with (OK for a first streamed item)."""
    request = message_factory.GetMessageClass(method.input_type)()
    response = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    kinds = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }
    multi = kinds[(method.client_streaming, method.server_streaming)](
        path, request_serializer=type(request).SerializeToString, response_deserializer=response.FromString
    )
    arg = iter([request]) if method.client_streaming else request
    try:
        reply = multi(arg, metadata=md, timeout=10)
        if method.server_streaming:
            try:
                next(iter(reply))
            finally:
                reply.cancel()
        return grpc.StatusCode.OK
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            _refusals[path, exc.code()] = exc.details() or ""
        return exc.code()


_refusals: dict[tuple[str, grpc.StatusCode], str] = {}


def test_the_registry_serves_every_driftgate_service(registry: Registry) -> None:
    served = set(_served_services(registry))
    assert set(SERVICES) <= served
    assert "grpc.health.v1.Health" in served


def test_every_method_has_a_row(registry: Registry) -> None:
    missing = [f"/{m.containing_service.full_name}/{m.name}" for m in _methods(registry)]
    missing = [path for path in missing if path not in TABLE]
    assert not missing, f"RPCs without a row in driftgate/auth/table.py (add one per RPC): {missing}"


def test_every_method_with_every_token(registry: Registry) -> None:
    """No token, a bogus or revoked one: UNAUTHENTICATED (public methods excepted); each role:
    allowed exactly as the table says, else PERMISSION_DENIED naming the role needed."""
    wrong: list[str] = []
    with grpc.insecure_channel(registry.address) as channel:
        for method in _methods(registry):
            path = f"/{method.containing_service.full_name}/{method.name}"
            access = TABLE[path]
            for label, md in (("no token", ()), ("bogus", metadata("dg_not-a-token")),
                              ("revoked", metadata(registry.tokens["revoked"])),
                              ("not bearer", (("authorization", registry.tokens["admin"]),))):
                code = _call(channel, method, md)
                if access.public:
                    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                        wrong.append(f"{path} is public but refused {label}: {code.name}")
                elif code is not grpc.StatusCode.UNAUTHENTICATED:
                    wrong.append(f"{path} with {label}: {code.name}, expected UNAUTHENTICATED")
            for role in ROLES:
                code = _call(channel, method, metadata(registry.tokens[role.value]))
                if access.allows(role):
                    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                        wrong.append(f"{path} refused the {role.value} role: {code.name}")
                elif code is not grpc.StatusCode.PERMISSION_DENIED:
                    wrong.append(f"{path} with the {role.value} role: {code.name}, expected PERMISSION_DENIED")
                else:
                    details = _refusals[path, code]
                    if access.describe() not in details or f"t-{role.value}" not in details:
                        wrong.append(f"{path}: the refusal does not name the role needed: {details!r}")
    assert not wrong, "\n".join(wrong)


def test_only_gateway_tokens_report_status() -> None:
    access = TABLE["/driftgate.v1.Control/ReportStatus"]
    assert [r for r in Role if access.allows(r)] == [Role.GATEWAY]
    gateway_may = sorted(path for path, a in TABLE.items() if a.allows(Role.GATEWAY) and not a.public)
    assert gateway_may == [
        "/driftgate.v1.Control/FetchArtifact",
        "/driftgate.v1.Control/ReportStatus",
        "/driftgate.v1.Control/WatchConfig",
    ]


async def test_a_method_without_a_row_is_refused() -> None:
    """Deny by default: a server whose table lacks the method refuses even an admin."""

    async def admin(token: str) -> Principal | None:
        return Principal("root", Role.ADMIN)

    server = grpc.aio.server(interceptors=[AuthInterceptor(admin, table={})])
    health_pb2_grpc.add_HealthServicer_to_server(health_pb2_grpc.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                                metadata=metadata("any"))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "no row in driftgate's auth table" in (refused.value.details() or "")
    finally:
        await server.stop(0)
