"""The catalogue through the real gRPC API: register, list, show, retire, settings, events."""

from __future__ import annotations

import hashlib
import json

import grpc
import numpy as np
import pytest
from registry_helpers import Models, Running, npy, register

from driftgate.proto.v1 import control_pb2 as pb

pytestmark = pytest.mark.databases

async def _generation(r: Running) -> int:
    return r.server.catalogue.generation()


async def test_register_first_version(registry: Running, models: Models) -> None:
    info = await register(
        registry.stub,
        "fraud",
        models.v1,
        reference_npy=npy(models.X),
        source="unit",
        metrics={"auc": 0.9},
        description="first",
    )
    assert info.model == "fraud" and info.version == 1 and info.state == "active"
    assert info.artifact_sha256 == hashlib.sha256(models.v1).hexdigest()
    assert info.artifact_size == len(models.v1)
    assert [(s.name, s.datatype, list(s.shape)) for s in info.signature.inputs] == [("transaction", "FP32", [-1, 4])]
    assert info.profile.score_output == "probabilities" and info.profile.score_column == 1
    assert [c.name for c in info.profile.features] == ["f0", "f1", "f2", "f3"]
    assert info.profile.rows == len(models.X)
    assert len(info.profile.features[0].proportions) == len(info.profile.features[0].edges) + 2
    assert dict(info.metrics) == {"auc": pytest.approx(0.9)}
    assert info.source == "unit" and info.description == "first" and info.created_at.endswith("Z")

    model = await registry.stub.GetModel(pb.GetModelRequest(name="fraud"))
    assert model.traffic.mode == "latest"
    assert model.settings.max_batch_size == 256  # Settings.gateway.max_batch_size
    assert model.settings.psi_moderate == pytest.approx(0.1) and model.settings.psi_major == pytest.approx(0.25)
    assert list(model.settings.feature_names) == ["f0", "f1", "f2", "f3"]

    second = await register(registry.stub, "fraud", models.v2, parent=1)
    assert second.version == 2 and second.parent == 1 and not second.HasField("profile")
    listed = await registry.stub.ListModels(pb.ListModelsRequest())
    assert [m.name for m in listed.models] == ["fraud"]
    assert [v.version for v in listed.models[0].versions] == [1, 2]


async def test_feature_names_and_batch_size_for_a_new_model(registry: Running, models: Models) -> None:
    info = await register(
        registry.stub,
        "m",
        models.v1,
        reference_npy=npy(models.X),
        feature_names=["a", "b", "c", "d"],
        max_batch_size=32,
    )
    assert [c.name for c in info.profile.features] == ["a", "b", "c", "d"]
    model = await registry.stub.GetModel(pb.GetModelRequest(name="m"))
    assert model.settings.max_batch_size == 32
    # later versions take the model's names
    v2 = await register(registry.stub, "m", models.v2, reference_npy=npy(models.X))
    assert [c.name for c in v2.profile.features] == ["a", "b", "c", "d"]


async def _assert_nothing_registered(r: Running, generation: int, versions: int = 0) -> None:
    assert await _generation(r) == generation
    listed = await r.stub.ListModels(pb.ListModelsRequest())
    assert sum(len(m.versions) for m in listed.models) == versions
    events = await r.stub.ListEvents(pb.ListEventsRequest())
    assert len([e for e in events.events if e.model]) == versions  # the registry's own token events aside


async def test_corrupt_bytes_are_refused_and_nothing_is_written(registry: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await register(registry.stub, "fraud", b"this is not onnx")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "onnx" in err.value.details()
    await _assert_nothing_registered(registry, 0)
    assert not (registry.server.settings.home / "artifacts").exists()


async def test_signature_mismatch_is_refused_and_nothing_is_written(registry: Running, models: Models) -> None:
    await register(registry.stub, "fraud", models.v1)
    generation = await _generation(registry)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await register(registry.stub, "fraud", models.wide)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "transaction" in err.value.details() and "shape" in err.value.details()
    await _assert_nothing_registered(registry, generation, versions=1)


@pytest.mark.parametrize(
    ("reference", "expect"),
    [
        (b"garbage", "not a readable .npy"),
        (npy(np.zeros((10, 3), np.float32)), "3 columns"),
        (npy(np.zeros(10, np.float32)), "2-D"),
    ],
)
async def test_bad_reference_data_is_refused(registry: Running, models: Models, reference: bytes, expect: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await register(registry.stub, "fraud", models.v1, reference_npy=reference)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expect in err.value.details()
    await _assert_nothing_registered(registry, 0)


async def test_bad_score_column_and_name(registry: Running, models: Models) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await register(registry.stub, "fraud", models.v1, score_output="nope")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "not an output" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await register(registry.stub, "fraud", models.v1, score_output="probabilities", score_column=2)
    assert "outside" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await register(registry.stub, "bad name!", models.v1)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = await register(
        registry.stub, "fraud", models.v1, reference_npy=npy(models.X), score_output="probabilities", score_column=0
    )
    assert info.profile.score_column == 0


async def test_unknown_model_and_version(registry: Running, models: Models) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry.stub.GetModel(pb.GetModelRequest(name="nope"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    await register(registry.stub, "fraud", models.v1)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry.stub.RetireVersion(pb.RetireVersionRequest(model="fraud", version=7))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "7" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await register(registry.stub, "fraud", models.v2, parent=9)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_retire(registry: Running, models: Models) -> None:
    await register(registry.stub, "fraud", models.v1)
    await register(registry.stub, "fraud", models.v2)
    generation = await _generation(registry)
    info = await registry.stub.RetireVersion(
        pb.RetireVersionRequest(model="fraud", version=1, actor="ann", reason="old")
    )
    assert info.state == "retired"
    assert await _generation(registry) == generation + 1
    config = registry.server.catalogue.desired_config()
    assert [v.version for v in config.models[0].versions] == [2]
    model = await registry.stub.GetModel(pb.GetModelRequest(name="fraud"))
    assert [(v.version, v.state) for v in model.versions] == [(1, "retired"), (2, "active")]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry.stub.RetireVersion(pb.RetireVersionRequest(model="fraud", version=1))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "already retired" in err.value.details()
    # a retired version no longer counts for compatibility: the newest active one does
    event = (await registry.stub.ListEvents(pb.ListEventsRequest(model="fraud", limit=1))).events[0]
    assert (event.kind, event.version, event.actor) == ("version_retired", 1, "local-admin (claimed: ann)")
    assert json.loads(event.details_json)["reason"] == "old"


async def test_update_settings(registry: Running, models: Models) -> None:
    await register(registry.stub, "fraud", models.v1)
    generation = await _generation(registry)
    info = await registry.stub.UpdateModelSettings(
        pb.UpdateModelSettingsRequest(
            model="fraud", settings=pb.ModelSettings(psi_major=0.5, min_window_rows=5), actor="ann"
        )
    )
    assert info.settings.psi_major == pytest.approx(0.5)
    assert info.settings.psi_moderate == pytest.approx(0.1)  # zero keeps
    assert info.settings.min_window_rows == 5
    assert await _generation(registry) == generation + 1
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry.stub.UpdateModelSettings(
            pb.UpdateModelSettingsRequest(model="fraud", settings=pb.ModelSettings(psi_moderate=0.9))
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry.stub.UpdateModelSettings(
            pb.UpdateModelSettingsRequest(model="fraud", settings=pb.ModelSettings(feature_names=["a"]))
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await _generation(registry) == generation + 1


async def test_nonfinite_input_policy_setting(registry: Running, models: Models) -> None:
    await register(registry.stub, "fraud", models.v1)
    info = await registry.stub.GetModel(pb.GetModelRequest(name="fraud"))
    assert info.settings.nonfinite_inputs == "score"  # the default
    generation = await _generation(registry)
    info = await registry.stub.UpdateModelSettings(
        pb.UpdateModelSettingsRequest(model="fraud", settings=pb.ModelSettings(nonfinite_inputs="reject"), actor="ann")
    )
    assert info.settings.nonfinite_inputs == "reject"
    assert await _generation(registry) == generation + 1  # delivered to the gateways in the config
    config = await anext(aiter(registry.stub.WatchConfig(pb.WatchConfigRequest(gateway_id="t"))))
    assert [m.settings.nonfinite_inputs for m in config.models if m.name == "fraud"] == ["reject"]
    info = await registry.stub.UpdateModelSettings(  # "" keeps it
        pb.UpdateModelSettingsRequest(model="fraud", settings=pb.ModelSettings(min_window_rows=7))
    )
    assert info.settings.nonfinite_inputs == "reject"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry.stub.UpdateModelSettings(
            pb.UpdateModelSettingsRequest(model="fraud", settings=pb.ModelSettings(nonfinite_inputs="x" * 10_000))
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "score, reject" in err.value.details() and len(err.value.details()) < 300
    event = (await registry.stub.ListEvents(pb.ListEventsRequest(model="fraud", limit=2))).events[-1]
    assert event.kind == "settings_updated" and "non-finite inputs: reject" in event.message


async def test_events_newest_first_with_limit(registry: Running, models: Models) -> None:
    await register(registry.stub, "fraud", models.v1)
    await register(registry.stub, "other", models.v1)
    await register(registry.stub, "fraud", models.v2)
    await registry.stub.RetireVersion(pb.RetireVersionRequest(model="fraud", version=1, actor="bob"))
    events = [e for e in (await registry.stub.ListEvents(pb.ListEventsRequest())).events if e.model]  # not tokens
    assert [(e.kind, e.model, e.version) for e in events] == [
        ("version_retired", "fraud", 1),
        ("version_registered", "fraud", 2),
        ("version_registered", "other", 1),
        ("version_registered", "fraud", 1),
    ]
    assert events[-1].actor == "local-admin (claimed: tester)"  # the token, and what the client said
    assert json.loads(events[-1].details_json)["sha256"] == hashlib.sha256(models.v1).hexdigest()
    fraud = (await registry.stub.ListEvents(pb.ListEventsRequest(model="fraud", limit=2))).events
    assert [(e.kind, e.version) for e in fraud] == [("version_retired", 1), ("version_registered", 2)]
