"""The reconciler on its own: fed desired-state records and an artifact source, no registry.

The models are real (a small logistic regression trained by driftgate.demo, loaded in
onnxruntime); the artifact source is a real function that returns real bytes, or raises, as each
test tells it: how the reconciler gets its bytes is injected (a registry link in a gateway).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from driftgate.gateway.artifacts import ArtifactCache
from driftgate.gateway.dataplane import DataPlane
from driftgate.gateway.desired import DesiredConfig, DesiredModel, DesiredVersion
from driftgate.gateway.metrics import GatewayMetrics
from driftgate.gateway.reconcile import Reconciler
from driftgate.settings import DriftSettings, GatewaySettings


@pytest.fixture(scope="module")
def model() -> bytes:
    from driftgate.demo import generate, train_demo_model

    data = generate(2000, seed=5)
    return train_demo_model(data.X, data.y, seed=5, kind="logreg").onnx


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Artifacts:
    """Serves artifact bytes by sha256, as a registry's FetchArtifact would: ``failures[sha]`` calls
    fail as a dropped connection first; ``served[sha]`` replaces the bytes sent (a broken proxy)."""

    def __init__(self, *blobs: bytes) -> None:
        self.blobs = {sha(b): b for b in blobs}
        self.failures: dict[str, int] = {}
        self.served: dict[str, bytes] = {}
        self.calls: list[str] = []

    async def fetch(self, sha256: str) -> bytes:
        self.calls.append(sha256)
        if self.failures.get(sha256, 0) > 0:
            self.failures[sha256] -= 1
            raise ConnectionError("the registry closed the connection")
        return self.served.get(sha256, self.blobs[sha256])


class Gateway:
    """A data plane and its reconciler, as the gateway's composition root builds them."""

    def __init__(self, tmp_path, artifacts: Artifacts) -> None:  # type: ignore[no-untyped-def]
        self.metrics = GatewayMetrics(CollectorRegistry())
        self.plane = DataPlane(self.metrics, inline_max_rows=64, shadow_queue=8, drift_enabled=False)
        self.reconciler = Reconciler(
            self.plane, self.metrics, ArtifactCache(tmp_path / "cache"),
            GatewaySettings(fetch_retry_max_s=0.02),  # retries after 20 ms, not after 0.5 s
            DriftSettings(enabled=False), fetch=artifacts.fetch,
        )
        self.seen: list[dict[tuple[str, int], str]] = []  # the versions' states at every change

    def loads(self, outcome: str, version: int = 1) -> float:
        labels = {"model": "m", "version": str(version), "outcome": outcome}
        return self.metrics.registry.get_sample_value("driftgate_version_loads_total", labels) or 0.0

    async def until(self, done: Callable[[], bool]) -> None:
        """Wait for the reconciler's state changes (each recorded in ``seen``) until ``done``."""
        while not done():
            await asyncio.wait_for(self.reconciler.wait_changed(), 30)
            self.seen.append({key: st.state for key, st in self.reconciler.states.items()})

    def state(self, version: int = 1) -> str:
        st = self.reconciler.states.get(("m", version))
        return st.state if st is not None else "ABSENT"

    async def score(self) -> np.ndarray:
        from driftgate.demo import generate

        x = generate(3, seed=9).X
        _, outputs = await self.plane.infer(self.plane.model("m"), "", None, {"transaction": x}, 3)
        return outputs[1]


def config(generation: int, *versions: DesiredVersion) -> DesiredConfig:
    return DesiredConfig(generation, (DesiredModel("m", versions),))


async def test_a_fetch_that_fails_once_is_retried_and_the_version_ends_ready(tmp_path, model) -> None:  # type: ignore[no-untyped-def]
    artifacts = Artifacts(model)
    artifacts.failures[sha(model)] = 1
    gw = Gateway(tmp_path, artifacts)
    await gw.reconciler.apply(config(1, DesiredVersion(1, sha(model))))
    st = gw.reconciler.states[("m", 1)]
    assert st.state == "LOADING" and "the registry closed the connection (attempt 1" in st.reason
    assert gw.reconciler.unserved() == ["m"] and gw.reconciler.applied_generation == -1  # a lag, shown
    await gw.until(lambda: gw.state() == "READY")
    assert gw.reconciler.applied_generation == 1 and not gw.reconciler.unserved() and not gw.reconciler.errors
    assert artifacts.calls == [sha(model)] * 2
    assert gw.loads("failed") == 0 and gw.loads("retry") == 1 and gw.loads("ok") == 1  # never FAILED
    assert all("FAILED" not in states.values() for states in gw.seen)
    probabilities = await gw.score()
    assert probabilities.shape == (3, 2) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


async def test_bytes_that_do_not_load_fail_the_version_with_the_reason(tmp_path, model) -> None:  # type: ignore[no-untyped-def]
    broken = model[: len(model) // 2]  # what a truncated upload registers
    artifacts = Artifacts(broken)
    gw = Gateway(tmp_path, artifacts)
    await gw.reconciler.apply(config(1, DesiredVersion(1, sha(broken))))
    st = gw.reconciler.states[("m", 1)]
    assert st.state == "FAILED" and st.reason.startswith("onnxruntime could not load m version 1")
    # definitive: the generation counts as applied, the gateway stays ready, nothing is retried
    assert gw.reconciler.applied_generation == 1 and not gw.reconciler.unserved()
    await gw.reconciler.apply(config(2, DesiredVersion(1, sha(broken))))
    assert gw.loads("failed") == 1 and artifacts.calls == [sha(broken)]
    assert gw.plane.models["m"].routes is None  # nothing routes to it


async def test_bytes_that_do_not_match_their_sha256_fail_until_a_reload(tmp_path, model) -> None:  # type: ignore[no-untyped-def]
    artifacts = Artifacts(model)
    artifacts.served[sha(model)] = model[:-1] + bytes([model[-1] ^ 1])  # one bit flipped on the way
    gw = Gateway(tmp_path, artifacts)
    version = DesiredVersion(1, sha(model))
    await gw.reconciler.apply(config(1, version))
    st = gw.reconciler.states[("m", 1)]
    assert st.state == "FAILED" and f"do not match sha256 {sha(model)}" in st.reason
    await gw.reconciler.apply(config(2, version))  # the same bytes, no reload: not fetched again
    assert len(artifacts.calls) == 1 and gw.state() == "FAILED"
    del artifacts.served[sha(model)]  # the operator fixes the proxy, then: driftgate models reload m 1
    await gw.reconciler.apply(config(3, DesiredVersion(1, sha(model), reload=1)))
    assert gw.state() == "READY" and gw.reconciler.states[("m", 1)].reload == 1 and len(artifacts.calls) == 2
    assert gw.reconciler.applied_generation == 3 and (await gw.score()).shape == (3, 2)


async def test_a_version_that_leaves_the_config_while_its_fetch_retries_is_given_up(tmp_path, model) -> None:  # type: ignore[no-untyped-def]
    from driftgate.demo import generate, train_demo_model

    data = generate(2000, seed=6)
    other = train_demo_model(data.X, data.y, seed=6, kind="logreg").onnx
    artifacts = Artifacts(model, other)
    artifacts.failures[sha(other)] = 10**9  # version 2's bytes never come
    gw = Gateway(tmp_path, artifacts)
    one, two = DesiredVersion(1, sha(model)), DesiredVersion(2, sha(other))
    await gw.reconciler.apply(config(1, one, two))
    assert gw.state(1) == "READY" and gw.state(2) == "LOADING"
    assert gw.reconciler.applied_generation == -1 and gw.reconciler.errors  # behind, and says why
    assert not gw.reconciler.unserved()  # version 1 serves meanwhile
    await gw.until(lambda: artifacts.calls.count(sha(other)) >= 2)  # retrying with backoff
    await gw.reconciler.apply(config(2, one))  # version 2 retired from the registry
    assert gw.state(2) == "ABSENT" and gw.reconciler.applied_generation == 2 and not gw.reconciler.errors
    assert sorted(gw.plane.models["m"].ready) == [1] and gw.loads("failed", 2) == 0
    fetched = len(artifacts.calls)
    await gw.reconciler.apply(config(3, one))  # a new config retries what waits at once: nothing does
    assert len(artifacts.calls) == fetched and (await gw.score()).shape == (3, 2)
    gw.reconciler.close()


async def test_each_publication_carries_a_codec_of_its_own(tmp_path, model) -> None:  # type: ignore[no-untyped-def]
    gw = Gateway(tmp_path, Artifacts(model))
    await gw.reconciler.apply(config(1, DesiredVersion(1, sha(model))))
    first = gw.plane.models["m"]
    assert first.codec.plan.signature is first.signature
    await gw.reconciler.apply(DesiredConfig(2, (DesiredModel("m", (DesiredVersion(1, sha(model)),),
                                                             reject_nonfinite=True),)))
    second = gw.plane.models["m"]
    assert second.reject_nonfinite and second.codec is not first.codec  # dropped with the record it served
    assert second.ready[1] is first.ready[1]  # the loaded version itself stays
