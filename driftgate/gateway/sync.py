"""The gateway's link to the registry: subscribe to desired state (WatchConfig), fetch artifacts,
and report observed state, statistics and drift windows (ReportStatus).

Runs beside the data plane on the same event loop and never blocks it: each step is a short
await. When the registry is down the gateway keeps serving what it has and resubscribes with
backoff; on start it applies the config it saved last, so a restart works without the registry.

Nothing ends the watch loop but cancellation: an error while applying a config (of any kind: a
full disk, a bad profile) is logged at ERROR once per episode, the loop resubscribes with backoff
(the registry sends the current config again, which is applied again), and every report carries
the reason (``config_error``) with the generations received and applied, so that the registry
shows this gateway as lagging (``driftgate models show``) and Prometheus can alert on
``driftgate_config_generation``.

Every call carries the gateway's token (a token with the gateway role): the explicit one
(``--token``, DRIFTGATE_GATEWAY__TOKEN), else ``<home>/gateway.token``, which the registry writes
into its home; the file is read again whenever the link reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
from prometheus_client import Histogram

from driftgate.auth import token_metadata
from driftgate.control_channel import grpc_options
from driftgate.errors import ArtifactUnavailable, ConfigError
from driftgate.gateway.dataplane import DataPlane
from driftgate.gateway.desired import LastConfig, desired_from_proto
from driftgate.gateway.episodes import Episodes
from driftgate.gateway.metrics import GatewayMetrics
from driftgate.gateway.reconcile import Reconciler
from driftgate.home import read_private
from driftgate.proto.v1 import control_pb2 as pb
from driftgate.proto.v1 import control_pb2_grpc
from driftgate.settings import TlsSettings
from driftgate.tls import aio_channel

__all__ = ["GATEWAY_TOKEN_FILE", "RegistryLink", "registry_address"]

GATEWAY_TOKEN_FILE = "gateway.token"
_REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)

log = logging.getLogger("driftgate.gateway.sync")

CHANNEL_OPTIONS = [
    *grpc_options(),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def registry_address(explicit: str, home: Path, turn: int = 0) -> str | None:
    """The registry's HOST:PORT: the explicit setting, else the file the registry writes under --home.

    An explicit "A,B,..." names replicas of one registry: ``turn`` picks one (round robin), and the
    link takes the next turn whenever its stream to one ends, so a gateway fails over."""
    if explicit:
        addresses = [a.strip() for a in explicit.split(",") if a.strip()]
        return addresses[turn % len(addresses)] if addresses else None
    try:
        return (home / "registry.addr").read_text().strip() or None
    except FileNotFoundError:
        return None


def _describe(exc: BaseException) -> str:
    """One line for a person: a status's code and details, an OSError's reason, else the text."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f" ({exc.filename})" if exc.filename else "")
    return str(exc) or type(exc).__name__


class RegistryLink:
    def __init__(
        self,
        plane: DataPlane,
        reconciler: Reconciler,
        *,
        gateway_id: str,
        registry: str,
        home: Path,
        report_interval_s: float,
        scored_interval_s: float = 0.0,
        pause: Histogram | None = None,
        tls: TlsSettings | None = None,
        metrics: GatewayMetrics | None = None,
        token: str = "",
    ) -> None:
        self._plane = plane
        self._metrics = metrics
        self._episodes = Episodes(log)
        self.apply_error = ""  # the watch loop's own failure (applying or saving a config), while it lasts
        self._token = token  # empty: <home>/gateway.token, read at each (re)connection
        self._metadata: tuple[tuple[str, str], ...] = ()
        self._refused = False  # the registry refused our token: logged once per episode
        # the event loop's time in build_report and in the commit after it, by step (serving waits meanwhile)
        self._pause = pause
        self._reconciler = reconciler
        self.gateway_id = gateway_id
        self._explicit = registry
        self._home = home
        self._last_config = LastConfig.of_home(home)
        self._interval = report_interval_s
        self._tls = tls or TlsSettings()  # the registry is dialled over TLS when tls.ca is set
        self._channel: grpc.aio.Channel | None = None
        self._stub: control_pb2_grpc.ControlStub | None = None
        self._address: str | None = None
        self._turn = 0  # which of several registry addresses (failover)
        self._sent_window: dict[tuple[str, int], int] = {}
        self._scored_mark: int | None = None  # the request log's mark of the report built last (None: none)
        self._scored_interval = scored_interval_s
        self._scored_next = 0.0  # monotonic time from which a report carries scored rows again
        self.address = ""  # this gateway's own serving address, for reports
        self.started_at = datetime.now(UTC).isoformat()
        self.connected = False

    # -- channel -------------------------------------------------------------------------------

    async def _ensure_stub(self) -> control_pb2_grpc.ControlStub | None:
        address = registry_address(self._explicit, self._home, self._turn)
        if address is None:
            return None
        if address != self._address or self._stub is None:
            if self._channel is not None:
                await self._channel.close()
            # a new channel reads the certificate files again: a rotated client certificate is used
            # from the next reconnect on
            try:
                self._channel = aio_channel(address, self._tls, CHANNEL_OPTIONS)
            except ConfigError as exc:  # a certificate file unreadable mid-rotation: try again later
                log.error("cannot dial the registry at %s: %s", address, exc)
                self._channel = self._stub = None
                return None
            self._stub = control_pb2_grpc.ControlStub(self._channel)
            self._metadata = token_metadata(self._token or read_private(self._home / GATEWAY_TOKEN_FILE))
            self._address = address
        return self._stub

    async def fetch(self, sha256: str) -> bytes:
        stub = await self._ensure_stub()
        if stub is None:
            raise ConnectionError("registry address unknown")
        parts: list[bytes] = []
        total = -1
        async for chunk in stub.FetchArtifact(
            pb.FetchArtifactRequest(sha256=sha256), timeout=120, metadata=self._metadata
        ):
            parts.append(chunk.data)
            total = chunk.total_size
        data = b"".join(parts)
        if total >= 0 and len(data) != total:
            raise ConnectionError(f"the transfer ended after {len(data)} of {total} bytes")
        return data

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None

    # -- desired state down --------------------------------------------------------------------

    async def watch(self) -> None:
        """Subscribe to the registry's config for ever, reconnecting with backoff; no error but
        cancellation ends it."""
        backoff = 0.2
        while True:
            stub = await self._ensure_stub()
            if stub is not None:
                call = None
                generation = -1
                try:
                    call = stub.WatchConfig(
                        pb.WatchConfigRequest(gateway_id=self.gateway_id, known_generation=self._reconciler.generation),
                        metadata=self._metadata,
                    )
                    async for config in call:
                        if not self.connected:
                            log.info("subscribed to the registry at %s", self._address)
                        self._set_connected(True)
                        self._refused = False
                        backoff = 0.2
                        generation = config.generation
                        await self._apply(config)
                        if self.apply_error:
                            self.apply_error = ""
                            self._episodes.ok("apply", f"config generation {generation} applied")
                        await self.report_once()
                except grpc.aio.AioRpcError as exc:
                    if exc.code() in _REFUSED and not self._refused:
                        self._refused = True
                        log.error("the registry at %s refused this gateway: %s: %s (give the gateway a token "
                                  "with the gateway role: --token, DRIFTGATE_GATEWAY__TOKEN or <home>/%s); "
                                  "serving the last config", self._address, exc.code().name, exc.details(),
                                  GATEWAY_TOKEN_FILE)
                    elif self.connected:
                        log.warning("registry stream ended (%s); serving the last config", exc.code().name)
                    self._set_connected(False)
                    self._stub = None  # re-read the address: a restarted registry may listen elsewhere
                    self._turn += 1  # with several registry replicas: the next one
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # anything else while applying: shout once, retry, report
                    self.apply_error = f"applying config generation {generation}: {_describe(exc)}"
                    self._episodes.fail("apply", f"{self.apply_error}; retrying with backoff", exc)
                    if call is not None:
                        call.cancel()
                    self._set_connected(False)
                    backoff = max(backoff, 1.0)
                    with contextlib.suppress(Exception):
                        await self.report_once()  # the registry hears it now, not at the next tick
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0 if not self.apply_error else 30.0)

    async def _apply(self, config: pb.GatewayConfig) -> None:
        """Save the config (a restart serves it without the registry), then reconcile to it; what
        went wrong saving it is raised after applying it (the watch loop retries)."""
        saved: OSError | None = None
        try:
            await asyncio.to_thread(self._last_config.save, config)
        except OSError as exc:
            saved = exc
        await self._reconciler.apply(desired_from_proto(config))
        if saved is not None:
            why = (saved.strerror or str(saved)).lower()
            raise OSError(saved.errno, f"saving the config to {self._last_config.path}: {why}") from saved

    def _set_connected(self, up: bool) -> None:
        self.connected = up
        if self._metrics is not None:
            self._metrics.registry_connected.set(1 if up else 0)

    def config_error(self) -> str:
        """Why this gateway is behind the config it received (empty when it is not)."""
        parts = [self.apply_error] if self.apply_error else []
        parts += self._reconciler.errors
        return "; ".join(parts)

    async def fetch_artifact(self, sha256: str) -> bytes:
        """An artifact's bytes from the registry; ArtifactUnavailable when it cannot be had now."""
        try:
            return await self.fetch(sha256)
        except (grpc.aio.AioRpcError, ConnectionError) as exc:
            raise ArtifactUnavailable(
                f"could not fetch artifact {sha256[:12]} from the registry: {_describe(exc)}"
            ) from exc

    # -- observed state up ---------------------------------------------------------------------

    def _drift_windows(self) -> Iterator[pb.DriftWindow]:
        for model in self._plane.models.values():
            for lv in model.ready.values():
                sketch = lv.sketch
                if sketch is None:
                    continue
                key = (lv.model, lv.version)
                since = self._sent_window.get(key, 0)
                for snap in sketch.windows_since(since):
                    yield pb.DriftWindow(
                        model=lv.model,
                        version=lv.version,
                        window_id=snap.window_id,
                        window_seconds=snap.window_seconds,
                        rows=snap.rows,
                        columns=snap.counts.shape[0],
                        bins=snap.counts.shape[1],
                        counts=snap.counts.ravel().tolist(),
                        sums=snap.sums.tolist(),
                        sumsq=snap.sumsq.tolist(),
                    )
                # windows before the current one are final; the current one may still grow
                self._sent_window[key] = sketch.window_id(time.time())

    def _scored_due(self, flush: bool) -> bool:
        log_ = self._plane.requestlog
        if log_ is None:
            return False
        now = time.monotonic()
        if flush or now >= self._scored_next or log_.unconfirmed or 2 * len(log_) >= log_.capacity:
            self._scored_next = now + self._scored_interval
            return True
        return False

    def build_report(self, flush: bool = False) -> pb.GatewayReport:
        """The report to send now; scored rows only every ``scored_interval_s`` (or ``flush``)."""
        error = self.config_error()
        if self._metrics is not None:
            self._metrics.config_error.set(1 if error else 0)
        report = pb.GatewayReport(
            gateway_id=self.gateway_id,
            applied_generation=self._reconciler.applied_generation,
            received_generation=self._reconciler.generation,
            config_error=error,
            address=self.address,
            started_at=self.started_at,
            host=socket.gethostname(),
            pid=os.getpid(),
        )
        for (model, version), st in sorted(self._reconciler.states.items()):
            report.versions.add(model=model, version=version, state=st.state, reason=st.reason,
                                load_seconds=st.load_seconds)
        for (model, version), c in sorted(self._reconciler.counters().items()):
            report.stats.add(
                model=model, version=version, requests=c.requests, failures=c.failures, rows=c.rows,
                latency_ns_sum=c.success_ns + c.fail_ns, latency_buckets=c.buckets,
                shadow_requests=c.shadow_requests, shadow_dropped=c.shadow_dropped,
                shadow_agree=c.shadow_agree, shadow_abs_diff_sum=c.shadow_abs_diff_sum,
            )
        for (model, code), count in sorted(self._plane.refused.items()):
            report.refused.add(model=model, code=code, count=count)
        for name, served in sorted(self._plane.models.items()):
            routes = report.routes.add(model=name)
            table = served.routes
            if table is not None:
                for version, weight in zip(table.versions, table.weights, strict=True):
                    routes.weights.add(version=version, weight=weight)
                for version, rate in table.shadows:
                    routes.shadows.add(version=version, rate=rate)
        report.drift.extend(self._drift_windows())
        log_ = self._plane.requestlog
        self._scored_mark = None
        if log_ is not None:
            report.scored_dropped = log_.dropped
        if log_ is not None and self._scored_due(flush):
            pending = log_.take()
            for g in pending.groups:
                report.scored.add(
                    model=g.model, version=g.version, ids=g.ids, scores_f32=g.scores.astype("<f4").tobytes(),
                    at_f64=g.at.astype("<f8").tobytes(),
                )
            report.scored_dropped = log_.dropped
            report.scored_source = log_.prefix
            report.scored_upto = pending.mark
            self._scored_mark = pending.mark
        return report

    async def report_once(self, flush: bool = False) -> bool:
        """Send one report; ``flush``: with every scored row held (the gateway is stopping)."""
        stub = await self._ensure_stub()
        if stub is None:
            return False
        try:
            started = time.perf_counter()
            report = self.build_report(flush)
            if self._pause is not None:
                self._pause.labels("build").observe(time.perf_counter() - started)
            mark = self._scored_mark
            await stub.ReportStatus(report, timeout=5, metadata=self._metadata)
            if self._plane.requestlog is not None and mark is not None:
                started = time.perf_counter()
                self._plane.requestlog.commit(mark)  # only now: a failed report loses no scored row
                if self._pause is not None:
                    self._pause.labels("commit").observe(time.perf_counter() - started)
            self._episodes.ok("report", "reports reach the registry again")
            return True
        except grpc.aio.AioRpcError as exc:
            self._sent_window.clear()  # resend the windows next time: a report replaces, never adds
            if exc.code() == grpc.StatusCode.UNAVAILABLE and not (exc.details() or "").startswith("registry storage"):
                log.debug("report failed: %s", exc.code().name)  # the registry is away: the watch loop says so
            else:  # it answered and refused: the scored rows wait here, and someone must know why
                self._episodes.fail("report", f"the registry refused a report (scored rows kept here, resent): "
                                              f"{_describe(exc)}", exc)
            return False

    async def report_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.report_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never end the loop: shout once, go on
                self._episodes.fail("report", f"building or sending a report failed: {_describe(exc)}", exc)
