"""The registry process's composition root: builds every part from Settings and serves them.

    RegistryServer(settings)
      Database (SQLite under <home> or settings.registry.database_url; schema checked, migrated)
      artifacts: ArtifactStore (<home>/artifacts) on SQLite, DatabaseArtifacts on PostgreSQL
      GatewayTracker, DriftMonitor(DriftAggregator), Catalogue, ConfigHub
      TokenStore (API tokens; <home>/admin.token and <home>/gateway.token made at the first start)
      grpc.aio server: driftgate.v1.Control, Feedback, Rollouts, grpc.health.v1, server reflection,
        every call through AuthInterceptor (driftgate.auth: the one table of who may call what)
      StatsReporter(TrafficHistory): per-version traffic windows from the gateways' reports
      Prometheus /metrics (RegistryCollector) when settings.registry.metrics_port >= 0 (loopback default)
      DashboardServer (driftgate/registry/dashboard): the web dashboard on settings.registry.dashboard_port,
        uvicorn in this process's event loop, reading and acting through the same core objects

Once serving, ``<home>/registry.addr`` holds "host:port" (written atomically) so that the CLI and
gateways on this host find the registry without being told; ``stop()`` removes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, start_http_server

from driftgate.auth import AuthInterceptor
from driftgate.control_channel import LEADER_SERVICE, grpc_options
from driftgate.home import prepare_home, restrict, write_private
from driftgate.proto.v1 import control_pb2, control_pb2_grpc, feedback_pb2_grpc, rollout_pb2, rollout_pb2_grpc
from driftgate.registry.access.tokens import TokenStore, ensure_local_tokens
from driftgate.registry.api.feedback_api import FEEDBACK_SERVICE, FeedbackService, ScoredReports
from driftgate.registry.api.grpc_api import ControlService
from driftgate.registry.api.metrics import RegistryCollector
from driftgate.registry.api.rollout_api import RolloutService
from driftgate.registry.api.watch import ConfigHub
from driftgate.registry.catalogue.artifact_db import DatabaseArtifacts
from driftgate.registry.catalogue.artifacts import Artifacts, ArtifactStore
from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.catalogue.gateways import GatewayTracker
from driftgate.registry.loop.controller import LoopController
from driftgate.registry.loop.retrain import Retrainer
from driftgate.registry.loop.rollout import RolloutManager
from driftgate.registry.loop.rollout_db import RolloutStore
from driftgate.registry.observation.accuracy import AccuracyMonitor
from driftgate.registry.observation.aggregate import DriftAggregator
from driftgate.registry.observation.labels import LabelStore
from driftgate.registry.observation.observe import DriftMonitor
from driftgate.registry.observation.stats import TrafficHistory
from driftgate.registry.observation.stats_report import StatsReporter
from driftgate.registry.replicas.forward import ReportForwarder
from driftgate.registry.replicas.leader import Leadership
from driftgate.registry.store.db import Database
from driftgate.settings import Settings
from driftgate.tls import ServerCertificates, add_port, check_bind, server_certificates, transport_name

if TYPE_CHECKING:
    from driftgate.registry.dashboard import Authenticator, DashboardServer

__all__ = ["ADDRESS_FILE", "CONTROL_SERVICE", "SERVICES", "RegistryServer"]

log = logging.getLogger("driftgate.registry")

ADDRESS_FILE = "registry.addr"
CONTROL_SERVICE = control_pb2.DESCRIPTOR.services_by_name["Control"].full_name
# every driftgate service the registry serves (reflection lists them; the auth table test calls them all)
SERVICES = (CONTROL_SERVICE, FEEDBACK_SERVICE, rollout_pb2.DESCRIPTOR.services_by_name["Rollouts"].full_name)


def _connectable(host: str) -> str:
    """The host a local client should dial for a server bound to ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


class RegistryServer:
    def __init__(self, settings: Settings, authenticator: Authenticator | None = None) -> None:
        self.settings = settings
        home = prepare_home(settings.home)
        # ConfigError now (unreadable certificate, key that does not match) rather than at bind time
        self.certs: ServerCertificates | None = server_certificates(settings.tls)
        check_bind(settings.registry.host, self.certs, insecure=settings.registry.insecure,
                   what="registry's control API")
        if settings.registry.dashboard_port >= 0:
            check_bind(settings.registry.dashboard_host, self.certs, insecure=settings.registry.insecure,
                       what="web dashboard")
        self.db = Database.for_home(home, settings.registry.database_url,
                                    upgrade_older=settings.registry.migrate_on_start)
        if not settings.registry.database_url:
            restrict(home / "registry.db")
        if self.db.migrated_from is not None:
            log.info("database %s: schema migrated from %s", self.db.url, self.db.migrated_from)
        self.artifacts = _artifact_store(settings, self.db)
        self.tokens = TokenStore(self.db, cache_s=settings.registry.auth_cache_s)
        self.gateways = GatewayTracker(settings.gateway.report_interval_s)
        self.catalogue = Catalogue(self.db, self.artifacts, settings, self.gateways)
        self.aggregator = DriftAggregator(settings.drift.window_seconds, settings.drift.windows)
        self.drift = DriftMonitor(self.catalogue, self.aggregator)
        history = TrafficHistory(settings.stats.resolution_s, settings.stats.history_s)
        self.stats = StatsReporter(history, self.catalogue)
        self.hub = ConfigHub(self.catalogue)
        self.labels = LabelStore(self.db, settings.accuracy)
        self.accuracy = AccuracyMonitor(self.catalogue, self.labels, settings.accuracy)
        self.labels.on_joined = self._joined_late
        # the closed loop: retrain, evaluate, canary, promote or roll back (registry/loop/controller.py)
        self.rollout_store = RolloutStore(self.db)
        self.controller = LoopController(
            self.catalogue,
            self.rollout_store,
            Retrainer(self.catalogue, self.rollout_store, settings),
            RolloutManager(self.catalogue, self.rollout_store, self.gateways, settings, self.aggregator,
                           accuracy=self._live_auc),
            settings,
            accuracy_alerts=self.accuracy.active_accuracy_alerts,
        )
        # who may log in to the dashboard: the control plane's tokens (an injected authenticator replaces them)
        self.authenticator: Authenticator = authenticator if authenticator is not None else self.tokens
        self.dashboard: DashboardServer | None = None
        # Prometheus: the registry's own numbers (drift, accuracy, rollouts, gateways' config lag)
        self.metrics_registry = CollectorRegistry(auto_describe=False)
        self.metrics_registry.register(
            RegistryCollector(self.catalogue, self.drift, self.accuracy, self.rollout_store, self.gateways,
                              lambda: self.hub.generation, settings.accuracy.eval_window_seconds)
        )
        self.metrics_port = 0
        self._metrics_http: Any = None
        # one replica runs the loops: the holder of the database's leader lock (always, on SQLite)
        self.leadership = Leadership(self.db, self._leading, settings.registry.leader_check_s,
                                     address=self._advertised)
        # a follower passes the gateway reports it takes on to the leader, whose loops judge them
        self.forwarder = ReportForwarder(self.db, lambda: self.leadership.is_leader, self._advertised, settings.tls)
        self._follow: asyncio.Task[None] | None = None
        self.address_file = home / ADDRESS_FILE
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._health: Any = None
        self._address = ""

    def _joined_late(self, model: str, _joined: int) -> None:
        """Labels that came before their scored rows were joined by a report: accuracy may have moved."""
        self.accuracy.evaluate(model)

    def _live_auc(self, model: str, version: int, since: float) -> float | None:
        """Labelled AUC of a version over rows scored since ``since`` (unix seconds), or None while
        too few labels have arrived (the rollout's accuracy gate then waits on the other gates)."""
        window = max(1.0, time.time() - since)
        for row in self.accuracy.accuracy_report(model, version, window):
            m = row.metrics
            if row.status != "insufficient" and not math.isnan(m.auc):
                return m.auc
        return None

    def _advertised(self) -> str:
        """HOST:PORT at which the other replicas reach this one."""
        return self.settings.registry.advertise or self._address

    async def _leading(self, leader: bool) -> None:
        self.drift.record_alerts = leader  # one replica writes drift alerts (the loops act on them)
        if leader:
            await self.controller.start()
        else:
            await self.controller.stop()
        if self._health is not None:
            await self._health.set(LEADER_SERVICE, health_pb2.HealthCheckResponse.SERVING if leader
                                   else health_pb2.HealthCheckResponse.NOT_SERVING)

    @property
    def transport(self) -> str:
        """How the control API is protected: plaintext, TLS or mTLS."""
        return transport_name(self.certs)

    @property
    def metrics_url(self) -> str:
        """The Prometheus endpoint's URL; empty when it is off (or before start())."""
        if not self.metrics_port:
            return ""
        return f"http://{_connectable(self.settings.registry.metrics_host)}:{self.metrics_port}/metrics"

    @property
    def address(self) -> str:
        """ "host:port" a local client dials; empty before start()."""
        return self._address

    @property
    def dashboard_url(self) -> str:
        """The dashboard's address for a local browser; empty when it is off."""
        if self.dashboard is None:
            return ""
        return self.dashboard.url(_connectable(self.settings.registry.dashboard_host))

    def _build_dashboard(self) -> DashboardServer | None:
        rs = self.settings.registry
        if rs.dashboard_port < 0:
            return None
        # imported here: the dashboard reads the registry's core, whose package imports this module
        from driftgate.registry.dashboard import DashboardServer, Readout, RegistryParts, build_app

        parts = RegistryParts(
            catalogue=self.catalogue, gateways=self.gateways, drift=self.drift, aggregator=self.aggregator,
            accuracy=self.accuracy, rollouts=self.rollout_store, rollout_manager=self.controller.rollouts,
            rollout_settings=self.settings.rollout,
            stats=getattr(self, "stats", None),  # the per-version traffic statistics, where the registry keeps them
        )
        tls = self.settings.tls if self.certs is not None else None  # HTTPS with the registry's certificate
        app = build_app(Readout(parts), self.authenticator, secure_cookies=tls is not None)
        return DashboardServer(app, rs.dashboard_host, rs.dashboard_port,
                               certfile=tls.cert if tls else None, keyfile=tls.key if tls else None)

    async def start(self) -> int:
        """Bind and serve; returns the port (the one picked when settings ask for port 0)."""
        loop = asyncio.get_running_loop()
        self.catalogue.set_on_change(_threadsafe(loop, self.hub.publish))
        await self.hub.current()
        if not self.db.is_sqlite:  # other replicas may change the desired state: follow the database
            self._follow = asyncio.create_task(
                self.hub.follow(self.catalogue.generation, self.settings.registry.config_poll_s),
                name="driftgate-config-follow")

        await asyncio.to_thread(ensure_local_tokens, self.tokens, self.settings.home)
        server = grpc.aio.server(options=grpc_options(), interceptors=[AuthInterceptor(self.tokens.authenticate)])
        control_pb2_grpc.add_ControlServicer_to_server(
            ControlService(
                self.catalogue, self.gateways, self.drift, self.hub, ScoredReports(self.labels), stats=self.stats,
                forward=self.forwarder.submit, tokens=self.tokens,
            ),
            server,
        )
        feedback_pb2_grpc.add_FeedbackServicer_to_server(FeedbackService(self.accuracy), server)
        self._health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        rollout_pb2_grpc.add_RolloutsServicer_to_server(RolloutService(self.controller), server)
        reflection.enable_server_reflection(
            [
                *SERVICES,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        host = self.settings.registry.host
        bind_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        try:
            self.port = add_port(server, f"{bind_host}:{self.settings.registry.port}", self.certs)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {bind_host}:{self.settings.registry.port}: {exc}") from exc
        await server.start()
        self._server = server
        rs = self.settings.registry
        if rs.metrics_port >= 0:
            self._metrics_http, _ = start_http_server(rs.metrics_port, addr=rs.metrics_host,
                                                      registry=self.metrics_registry)
            self.metrics_port = self._metrics_http.server_port
            log.info("registry Prometheus endpoint %s", self.metrics_url)
        await self._health.set(LEADER_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
        self._address = f"{_connectable(host)}:{self.port}"
        await self.leadership.start()
        dashboard = self._build_dashboard()
        if dashboard is not None:
            try:
                await dashboard.start()
                self.dashboard = dashboard
            except OSError as exc:  # the page is auxiliary: the control plane serves without it
                log.error("the dashboard is not served: %s", exc)
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self._health.set(CONTROL_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        await asyncio.to_thread(write_private, self.address_file, self._address)
        log.info("registry listening on %s, %s (database %s)", self._address, self.transport, self.db.url)
        if self.dashboard is not None:
            log.info("dashboard on %s", self.dashboard_url)
        return self.port

    async def stop(self, grace: float = 5.0) -> None:
        """End watch streams, let in-flight calls finish for ``grace`` seconds, release everything."""
        if self._server is None:
            return
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self.dashboard is not None:
            await self.dashboard.stop()
            self.dashboard = None
        await self.leadership.stop()
        await self.forwarder.close()
        if self._follow is not None:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow
        self.hub.close()
        await self._server.stop(grace)
        self._server = None
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
            self._metrics_http = None
        try:
            if self.address_file.read_text() == self._address:
                self.address_file.unlink()
        except FileNotFoundError:
            pass
        self.db.dispose()

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def _artifact_store(settings: Settings, db: Database) -> Artifacts:
    """The store the settings name; "auto": files under <home> on SQLite, the database elsewhere."""
    kind = settings.registry.artifact_store
    if kind == "database" or (kind == "auto" and not db.is_sqlite):
        return DatabaseArtifacts(db)
    return ArtifactStore(settings.home / "artifacts")


def _threadsafe(loop: asyncio.AbstractEventLoop, fn: Callable[[int], None]) -> Callable[[int], None]:
    def call(generation: int) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is watching any more
            loop.call_soon_threadsafe(fn, generation)

    return call
