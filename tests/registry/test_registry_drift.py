"""Drift through ReportStatus and GetDrift: re-sent windows replace, gateways add, alerts are audited."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from registry_helpers import Models, Running, npy, register

from driftgate.proto.v1 import control_pb2 as pb

WINDOW_SECONDS = 10.0  # make_settings: drift.window_seconds


def _window(info: pb.VersionInfo, rows: int, window_id: int, shifted: bool = False) -> pb.DriftWindow:
    """A window as a gateway counts it: every column's rows in one inner bin (the first, or the last if shifted)."""
    columns = len(info.profile.features) + 1
    bins = len(info.profile.features[0].edges) + 2
    counts = np.zeros((columns, bins), np.int64)
    counts[:, bins - 2 if shifted else 2] = rows
    return pb.DriftWindow(
        model=info.model,
        version=info.version,
        window_id=window_id,
        window_seconds=WINDOW_SECONDS,
        rows=rows,
        columns=columns,
        bins=bins,
        counts=counts.ravel().tolist(),
        sums=[0.0] * columns,
        sumsq=[0.0] * columns,
    )


async def _report(r: Running, gateway: str, *windows: pb.DriftWindow) -> None:
    await r.stub.ReportStatus(pb.GatewayReport(gateway_id=gateway, drift=list(windows)))


async def _rows(r: Running, model: str = "fraud", version: int = 0) -> dict[int, int]:
    report = await r.stub.GetDrift(pb.GetDriftRequest(model=model, version=version, window_seconds=60))
    return {v.version: v.rows for v in report.versions}


async def test_resent_windows_replace_and_gateways_add(registry: Running, models: Models) -> None:
    info = await register(registry.stub, "fraud", models.v1, reference_npy=npy(models.X))
    now = int(time.time() // WINDOW_SECONDS)
    await _report(registry, "gw-a", _window(info, 50, now))
    await _report(registry, "gw-a", _window(info, 50, now))  # the same window again: replaces
    assert await _rows(registry) == {1: 50}
    await _report(registry, "gw-a", _window(info, 70, now))  # cumulative within the window
    assert await _rows(registry) == {1: 70}
    await _report(registry, "gw-b", _window(info, 30, now))  # another gateway: adds
    assert await _rows(registry) == {1: 100}
    await _report(registry, "gw-b", _window(info, 5, now - 1))  # an earlier window adds too
    assert await _rows(registry, version=1) == {1: 105}

    report = await registry.stub.GetDrift(pb.GetDriftRequest(model="fraud"))
    assert report.window_seconds == 300
    (v,) = report.versions
    assert [c.name for c in v.features] == ["f0", "f1", "f2", "f3"] and v.score.name == "score"
    assert v.score.rows == 105 and v.features[0].psi > 0
    assert v.score.status in ("ok", "moderate", "major", "insufficient")


async def test_drift_errors(registry: Running, models: Models) -> None:
    info = await register(registry.stub, "fraud", models.v1, reference_npy=npy(models.X))
    plain = await register(registry.stub, "fraud", models.v2)  # no reference data: no profile
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry.stub.GetDrift(pb.GetDriftRequest(model="fraud", version=plain.version))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "reference" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await registry.stub.GetDrift(pb.GetDriftRequest(model="nope"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    bad = _window(info, 5, 1)
    del bad.counts[-1]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _report(registry, "gw-a", bad)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "counts" in err.value.details()
    wrong = _window(info, 5, 1)
    wrong.window_seconds = 60
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _report(registry, "gw-a", wrong)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "window_seconds" in err.value.details()
    gateways = await registry.stub.ListGateways(pb.ListGatewaysRequest())
    assert not gateways.gateways  # a refused report keeps nothing
    # windows of unknown versions, or of versions without a profile, are skipped
    unknown = pb.DriftWindow(
        model="fraud",
        version=9,
        window_id=1,
        window_seconds=WINDOW_SECONDS,
        columns=1,
        bins=1,
        counts=[0],
        sums=[0],
        sumsq=[0],
    )
    no_profile = _window(info, 5, 1)
    no_profile.version = plain.version
    await _report(registry, "gw-a", unknown, no_profile)
    assert await _rows(registry) == {}


async def test_alerts_become_audit_events(registry: Running, models: Models) -> None:
    info = await register(registry.stub, "fraud", models.v1, reference_npy=npy(models.X))
    now = int(time.time() // WINDOW_SECONDS)
    # a completed window (alert_windows=1, min_window_rows=10 in the test settings), far from the reference
    await _report(registry, "gw-a", _window(info, 500, now - 1, shifted=True))
    events = (await registry.stub.ListEvents(pb.ListEventsRequest(model="fraud"))).events
    alerts = [e for e in events if e.kind == "drift_alert"]
    assert alerts and {e.actor for e in alerts} == {"driftgate"}
    assert any("score" in e.message for e in alerts)
    report = await registry.stub.GetDrift(pb.GetDriftRequest(model="fraud", version=1, window_seconds=60))
    assert report.versions[0].score.alert
    # the gateway's later copy of that window looks like the reference: the alerts clear
    columns = [*info.profile.features, info.profile.score]
    counts = np.stack([np.round(np.asarray(c.proportions) * 1000) for c in columns]).astype(np.int64)
    like_reference = _window(info, 1000, now - 1)
    like_reference.counts[:] = counts.ravel().tolist()
    await _report(registry, "gw-a", like_reference)
    events = (await registry.stub.ListEvents(pb.ListEventsRequest(model="fraud"))).events
    cleared = {e.message.split(": ")[1].split()[0] for e in events if e.kind == "drift_alert_cleared"}
    assert cleared == {e.message.split(": ")[1].split()[0] for e in alerts}
    report = await registry.stub.GetDrift(pb.GetDriftRequest(model="fraud", version=1, window_seconds=60))
    assert not report.versions[0].score.alert
