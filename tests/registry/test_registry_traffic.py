"""Traffic and shadows: validation against the catalogue and what live gateways report READY."""

from __future__ import annotations

import json

import grpc
import pytest
from registry_helpers import Models, Running, register, report_ready

from driftgate.proto.v1 import control_pb2 as pb


def _weights(**kw: int) -> list[pb.RouteWeight]:
    return [pb.RouteWeight(version=int(k[1:]), weight=w) for k, w in kw.items()]


async def _two_versions(r: Running, models: Models) -> None:
    await register(r.stub, "fraud", models.v1)
    await register(r.stub, "fraud", models.v2)


async def _refused(r: Running, request: pb.SetTrafficRequest, code: grpc.StatusCode, text: str) -> None:
    before = r.server.catalogue.generation()
    events = len((await r.stub.ListEvents(pb.ListEventsRequest())).events)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await r.stub.SetTraffic(request)
    assert err.value.code() == code, err.value.details()
    assert text in err.value.details()
    assert r.server.catalogue.generation() == before
    assert len((await r.stub.ListEvents(pb.ListEventsRequest())).events) == events


async def test_traffic_validation_refuses_and_changes_nothing(registry: Running, models: Models) -> None:
    await _two_versions(registry, models)
    nf, inv, fp = grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION
    await _refused(registry, pb.SetTrafficRequest(model="fraud", weights=_weights(v1=90, v7=10)), nf, "version 7")
    await _refused(registry, pb.SetTrafficRequest(model="nope", weights=_weights(v1=1)), nf, "nope")
    await _refused(registry, pb.SetTrafficRequest(model="fraud", weights=_weights(v1=0, v2=0)), inv, "sum")
    await _refused(registry, pb.SetTrafficRequest(model="fraud"), inv, "weights")
    await _refused(registry, pb.SetTrafficRequest(model="fraud", weights=_weights(v1=1), latest=True), inv, "not both")
    await _refused(registry, pb.SetTrafficRequest(model="fraud", weights=_weights(v1=95, v2=5)), fp, "no gateway")
    await report_ready(registry.stub, "gw-a", "fraud", {1: "READY", 2: "LOADING"})
    await report_ready(registry.stub, "gw-b", "fraud", {1: "READY", 2: "READY"})
    await _refused(registry, pb.SetTrafficRequest(model="fraud", weights=_weights(v1=95, v2=5)), fp, "gw-a")
    traffic = await registry.stub.GetTraffic(pb.GetTrafficRequest(model="fraud"))
    assert traffic.mode == "latest" and not traffic.weights
    await registry.stub.RetireVersion(pb.RetireVersionRequest(model="fraud", version=2))
    await _refused(registry, pb.SetTrafficRequest(model="fraud", weights=_weights(v1=5, v2=5)), fp, "retired")


async def test_weights_then_latest(registry: Running, models: Models) -> None:
    await _two_versions(registry, models)
    ack = await report_ready(registry.stub, "gw-a", "fraud", {1: "READY", 2: "READY"}, generation=2)
    assert ack.generation == 2
    generation = registry.server.catalogue.generation()
    info = await registry.stub.SetTraffic(
        pb.SetTrafficRequest(model="fraud", weights=_weights(v1=95, v2=5), actor="ann", reason="canary")
    )
    assert info.mode == "weights"
    assert [(w.version, w.weight) for w in info.weights] == [(1, 95), (2, 5)]
    assert [(a.gateway_id, a.generation) for a in info.applied] == [("gw-a", 2)]
    assert registry.server.catalogue.generation() == generation + 1
    event = (await registry.stub.ListEvents(pb.ListEventsRequest(limit=1))).events[0]
    details = json.loads(event.details_json)
    assert (event.kind, event.actor) == ("traffic_changed", "local-admin (claimed: ann)")
    assert details["old"]["mode"] == "latest" and details["new"]["weights"] == {"1": 95, "2": 5}
    assert details["reason"] == "canary"

    config = registry.server.catalogue.desired_config()
    assert config.models[0].traffic.weights == ((1, 95), (2, 5))

    # retiring the canary drops it from the split; retiring what carries everything is refused
    await registry.stub.RetireVersion(pb.RetireVersionRequest(model="fraud", version=2))
    traffic = await registry.stub.GetTraffic(pb.GetTrafficRequest(model="fraud"))
    assert [(w.version, w.weight) for w in traffic.weights] == [(1, 95)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry.stub.RetireVersion(pb.RetireVersionRequest(model="fraud", version=1))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "move traffic first" in err.value.details()

    info = await registry.stub.SetTraffic(pb.SetTrafficRequest(model="fraud", latest=True, actor="ann"))
    assert info.mode == "latest" and not info.weights
    # "applied" is what each gateway says it routes, from its last report
    await registry.stub.ReportStatus(
        pb.GatewayReport(
            gateway_id="gw-a",
            applied_generation=registry.server.catalogue.generation(),
            versions=[pb.LoadedVersionState(model="fraud", version=1, state="READY")],
            routes=[pb.ModelRoutes(model="fraud", weights=[pb.RouteWeight(version=1, weight=1)])],
        )
    )
    traffic = await registry.stub.GetTraffic(pb.GetTrafficRequest(model="fraud"))
    assert [(w.version, w.weight) for w in traffic.applied[0].weights] == [(1, 1)]
    await registry.stub.RetireVersion(pb.RetireVersionRequest(model="fraud", version=1))


async def test_shadow(registry: Running, models: Models) -> None:
    await _two_versions(registry, models)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry.stub.SetShadow(pb.SetShadowRequest(model="fraud", version=2, rate=1.5))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await report_ready(registry.stub, "gw-a", "fraud", {1: "READY", 2: "FAILED"})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry.stub.SetShadow(pb.SetShadowRequest(model="fraud", version=2, rate=0.2))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "FAILED" in err.value.details()
    await report_ready(registry.stub, "gw-a", "fraud", {1: "READY", 2: "READY"})
    info = await registry.stub.SetShadow(pb.SetShadowRequest(model="fraud", version=2, rate=0.2, actor="ann"))
    assert [(s.version, s.rate) for s in info.shadows] == [(2, pytest.approx(0.2))]
    assert not info.applied[0].shadows  # the gateway has not reported routing the shadow yet
    assert registry.server.catalogue.desired_config().models[0].traffic.shadows == ((2, 0.2),)
    info = await registry.stub.SetShadow(pb.SetShadowRequest(model="fraud", version=2, rate=0, actor="ann"))
    assert not info.shadows
    kinds = [e.kind for e in (await registry.stub.ListEvents(pb.ListEventsRequest(limit=2))).events]
    assert kinds == ["shadow_removed", "shadow_set"]


async def test_stale_gateway_is_not_live(settings, models: Models) -> None:  # type: ignore[no-untyped-def]
    from driftgate.errors import Conflict
    from driftgate.registry.catalogue.gateways import GatewayTracker
    from driftgate.registry.catalogue.records import GatewayStatus, LoadedVersion

    now = [100.0]
    tracker = GatewayTracker(1.0, clock=lambda: now[0])
    tracker.record(GatewayStatus("gw", "", "", 0, "", 1, (LoadedVersion("m", 1, "READY"),), (), 0.0, ""))
    tracker.require_ready("m", 1)
    now[0] += 3.5
    assert tracker.live() == []
    with pytest.raises(Conflict, match="no gateway"):
        tracker.require_ready("m", 1)
