"""The registry on PostgreSQL (a real server, tests/pg.py): schema migrations checked at start,
artifacts in the database, and a registry on a new host (an empty --home) that serves everything
another registry left in the same database, to a real gateway."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from registry_helpers import Models, make_settings, npy, register, report_ready

from driftgate.control_channel import grpc_options
from driftgate.errors import ArtifactError, SchemaError
from driftgate.proto.inference import grpc_service_pb2 as ipb
from driftgate.proto.inference import grpc_service_pb2_grpc
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.proto.v1 import control_pb2_grpc
from driftgate.registry.catalogue.artifact_db import DatabaseArtifacts, artifact_chunks
from driftgate.registry.server import RegistryServer
from driftgate.registry.store import schema
from driftgate.registry.store.db import Database, engine_url
from driftgate.registry.tables import declared_metadata
from tests.auth_helpers import gateway_token, local_aio_channel
from tests.conftest import wait_ready


def _cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "driftgate", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.databases
def test_the_migrations_make_the_tables_the_code_declares(tmp_path: Path, database_url: str) -> None:
    db = Database.for_home(tmp_path, database_url)
    try:
        with db.read() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), declared_metadata())
            assert schema.schema_state(conn).revision == schema.head_revision()
        # a table or column declared without a migration shows here: add one (docs/migrations.md)
        assert diff == []
    finally:
        db.dispose()


def test_a_plain_postgresql_url_uses_psycopg_and_never_logs_the_password(postgres, caplog) -> None:  # type: ignore[no-untyped-def]
    assert engine_url("postgresql://u:secret@h:5432/d").startswith("postgresql+psycopg://u:secret@h:5432/d")
    assert engine_url("postgres://u@h/d").startswith("postgresql+psycopg://")
    assert engine_url("postgresql+asyncpg://u@h/d") == "postgresql+asyncpg://u@h/d"  # an explicit driver stays
    assert engine_url("sqlite:///x.db") == "sqlite:///x.db"
    url = postgres.new_database().replace("postgres@", "postgres:hunter2@")  # trust auth ignores it
    with caplog.at_level(logging.DEBUG):
        db = Database(url)
    try:
        assert db.engine.dialect.driver == "psycopg"
        assert "hunter2" not in db.url and "***" in db.url
        assert "hunter2" not in caplog.text
    finally:
        db.dispose()


def test_a_newer_schema_is_refused_at_start_and_by_migrate(tmp_path: Path, pg_url: str) -> None:
    Database(pg_url).dispose()
    engine = sa.create_engine(engine_url(pg_url))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaError, match="revision 9999, newer than this driftgate knows"):
        Database(pg_url)
    for args in (["registry", "--port", "0", "--no-demo"], ["registry", "migrate"]):
        result = _cli(tmp_path / "home", *args, "--database-url", pg_url)
        assert result.returncode == 2, result
        assert "newer than this driftgate knows" in result.stderr


def test_an_older_schema_waits_for_migrate_when_told_to_and_keeps_its_rows(tmp_path: Path, pg_url: str) -> None:
    # a database made before migrations: the baseline's tables from create_all, no alembic_version
    engine = sa.create_engine(engine_url(pg_url))
    declared = declared_metadata()
    later = ("artifacts", "artifact_chunks", "held_labels", "version_reloads", "api_tokens")  # after 0001
    baseline = [t for name, t in declared.tables.items() if name not in later]
    declared.create_all(engine, tables=baseline)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO config_generation (id, generation) VALUES (1, 7)"))
        conn.execute(sa.text("INSERT INTO models (name, settings, traffic_mode, created_at) "
                             "VALUES ('kept', '{}', 'latest', 'then')"))
    engine.dispose()

    with pytest.raises(SchemaError, match="driftgate registry migrate"):
        Database(pg_url, upgrade_older=False)
    result = _cli(tmp_path / "home", "registry", "migrate", "--database-url", pg_url)
    assert result.returncode == 0, result.stderr
    assert f"migrated from tables from before migrations (no revision) to revision {schema.head_revision()}" in (
        result.stdout)
    db = Database(pg_url, upgrade_older=False)
    try:
        with db.read() as conn:
            assert conn.execute(sa.text("SELECT name FROM models")).scalars().all() == ["kept"]
            assert conn.execute(sa.text("SELECT generation FROM config_generation")).scalar_one() == 7
    finally:
        db.dispose()
    again = _cli(tmp_path / "home", "registry", "migrate", "--database-url", pg_url)
    assert again.returncode == 0 and "the newest this driftgate knows" in again.stdout


def test_registries_starting_together_migrate_once(pg_url: str) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            Database(pg_url).dispose()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_database_artifacts_are_chunked_verified_and_idempotent(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        store = DatabaseArtifacts(db, chunk_bytes=1000)
        data = np.random.default_rng(0).bytes(4500)
        sha = store.put(data)
        assert sha == hashlib.sha256(data).hexdigest() and store.exists(sha)
        assert store.put(data) == sha and store.get(sha) == data
        with db.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(artifact_chunks)).scalar_one() == 5
        with db.begin() as conn:  # damage one chunk
            conn.execute(sa.update(artifact_chunks).where(artifact_chunks.c.seq == 2).values(data=b"x" * 1000))
        with pytest.raises(ArtifactError, match="corrupted"):
            store.get(sha)
        assert store.put(data) == sha and store.get(sha) == data  # a damaged copy is written again
        with db.begin() as conn:
            conn.execute(sa.delete(artifact_chunks).where(artifact_chunks.c.seq == 4))
        with pytest.raises(ArtifactError, match="chunks are missing"):
            store.get(sha)
        with pytest.raises(ArtifactError, match="missing from the store"):
            store.get("0" * 64)
        with pytest.raises(ArtifactError, match="not a sha256"):
            store.get("../etc/passwd")
    finally:
        db.dispose()


def _start(argv: list[str], pattern: str, timeout: float = 240) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if m := re.search(pattern, line):
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # type: ignore[union-attr]
            return process, m.group(1)
    process.kill()
    raise RuntimeError(f"{argv} did not start")


def _infer(address: str, version: str, x: np.ndarray) -> str:
    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(address))
    request = ipb.ModelInferRequest(model_name="fraud", model_version=version)
    request.inputs.add(name="transaction", datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    return stub.ModelInfer(request, timeout=30).model_version


async def test_a_registry_on_a_new_host_serves_what_another_left_in_the_database(
    tmp_path: Path, pg_url: str, models: Models
) -> None:
    first = RegistryServer(make_settings(tmp_path / "one", database_url=pg_url))
    await first.start()
    channel = local_aio_channel(first.address, first.settings.home, options=grpc_options())
    stub = control_pb2_grpc.ControlStub(channel)
    try:
        await register(stub, "fraud", models.v1, reference_npy=npy(models.X))
        await register(stub, "fraud", models.v2, reference_npy=npy(models.X))
        await report_ready(stub, "gateway-a", "fraud", {1: "READY", 2: "READY"})
        await stub.SetTraffic(pb.SetTrafficRequest(model="fraud", weights=[pb.RouteWeight(version=1, weight=70),
                                                                          pb.RouteWeight(version=2, weight=30)]))
        await stub.SetShadow(pb.SetShadowRequest(model="fraud", version=2, rate=0.25))
    finally:
        await channel.close()
        await first.stop(0.5)
    assert not (tmp_path / "one" / "home" / "artifacts").exists()  # nothing of it on the first host's disk

    # another host: an empty home, the same database (the URL on the command line, as an operator would)
    home = tmp_path / "two"
    base = [sys.executable, "-m", "driftgate", "--home", str(home)]
    registry, address = await asyncio.to_thread(
        _start, [*base, "registry", "--port", "0", "--no-demo", "--database-url", pg_url],
        r"registry listening on (\S+)")
    gateway = None
    try:
        channel = local_aio_channel(address, home, options=grpc_options())  # this host's own admin token
        stub = control_pb2_grpc.ControlStub(channel)
        info = await stub.GetModel(pb.GetModelRequest(name="fraud"))
        assert [v.version for v in info.versions] == [1, 2]
        traffic = await stub.GetTraffic(pb.GetTrafficRequest(model="fraud"))
        assert traffic.mode == "weights"
        assert {w.version: w.weight for w in traffic.weights} == {1: 70, 2: 30}
        assert [(s.version, s.rate) for s in traffic.shadows] == [(2, 0.25)]
        for version, onnx in ((1, models.v1), (2, models.v2)):
            sha = next(v.artifact_sha256 for v in info.versions if v.version == version)
            data = b"".join([c.data async for c in stub.FetchArtifact(pb.FetchArtifactRequest(sha256=sha))])
            assert data == onnx
        await channel.close()

        # a gateway on a third host loads both versions from the new registry and serves them
        gateway, served = await asyncio.to_thread(
            _start, [sys.executable, "-m", "driftgate", "--home", str(tmp_path / "three"), "--registry", address,
                     "--token", gateway_token(home),
                     "gateway", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "-1"],
            r"gateway listening on (\S+)")
        await asyncio.to_thread(wait_ready, served, 120)
        x = models.X[:2]
        assert await asyncio.to_thread(_infer, served, "1", x) == "1"
        assert await asyncio.to_thread(_infer, served, "2", x) == "2"
        assert not (home / "artifacts").exists()
    finally:
        for process in (gateway, registry):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
