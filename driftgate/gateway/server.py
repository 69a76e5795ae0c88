"""Composition root of one gateway worker: builds every part from the settings and injects it.

    clients --ModelInfer--> InferenceServicer -> DataPlane (route, score, observe) -> response
                                                    ^ route tables, one assignment
    registry --WatchConfig--> RegistryLink -> Reconciler (load, warm, publish, drain, release)
             <--ReportStatus-- RegistryLink (states, counters, drift windows)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, start_http_server

from driftgate.gateway.admission import Admission
from driftgate.gateway.artifacts import ArtifactCache
from driftgate.gateway.dataplane import DataPlane
from driftgate.gateway.desired import LastConfig, desired_from_proto
from driftgate.gateway.memory import HeapTrimmer
from driftgate.gateway.metrics import AdmissionCollector, GatewayMetrics
from driftgate.gateway.reconcile import Reconciler
from driftgate.gateway.requestlog import RequestLog, id_prefix
from driftgate.gateway.servicer import InferenceServicer, RequestLimits, add_inference_service, grpc_receive_limit
from driftgate.gateway.sync import RegistryLink
from driftgate.gateway.versions import providers_for
from driftgate.home import prepare_home
from driftgate.proto.inference import grpc_service_pb2
from driftgate.settings import Settings
from driftgate.tls import ServerCertificates, add_port, channel_credentials, server_certificates, transport_name

__all__ = ["GatewayServer"]

log = logging.getLogger("driftgate.gateway")

SERVICE = "inference.GRPCInferenceService"


class GatewayServer:
    def __init__(self, settings: Settings, *, worker_index: int = 0) -> None:
        self.settings = settings
        gs = settings.gateway
        home = prepare_home(Path(settings.home))
        # ConfigError now (unreadable certificate, key that does not match) rather than at bind time
        self.certs: ServerCertificates | None = server_certificates(settings.tls)
        channel_credentials(settings.tls)  # and the registry link's CA and client certificate
        self.gateway_id = gs.gateway_id or f"{socket.gethostname()}:{os.getpid()}"
        self.worker_index = worker_index
        self.metrics_registry = CollectorRegistry(auto_describe=True)
        self.metrics = GatewayMetrics(self.metrics_registry)
        self.plane = DataPlane(
            self.metrics,
            inline_max_rows=gs.inline_max_rows,
            shadow_queue=gs.shadow_queue,
            drift_enabled=settings.drift.enabled,
            requestlog=RequestLog(settings.accuracy.buffer_rows, id_prefix(self.gateway_id))
            if settings.accuracy.enabled
            else None,
        )
        self._last_config = LastConfig.of_home(home)  # the link saves each config it receives there
        self.reconciler = Reconciler(
            self.plane,
            self.metrics,
            ArtifactCache(home / "cache" / "artifacts"),
            gs,
            settings.drift,
            # from the start: the saved config's versions that are not cached fetch (and retry) through the link
            fetch=lambda sha256: self.link.fetch_artifact(sha256),
        )
        self.link = RegistryLink(
            self.plane,
            self.reconciler,
            gateway_id=self.gateway_id,
            registry=gs.registry,
            home=home,
            report_interval_s=gs.report_interval_s,
            scored_interval_s=settings.accuracy.report_interval_s,
            pause=self.metrics.report_pause,
            tls=settings.tls,
            metrics=self.metrics,
            token=gs.token,
        )
        self._warm = asyncio.Event()
        self.admission = Admission(gs.max_inflight)
        self.metrics_registry.register(AdmissionCollector(self.admission))
        self.servicer = InferenceServicer(
            self.plane, self.metrics, self.is_ready,
            admission=self.admission,
            limits=RequestLimits(gs.max_request_rows, gs.max_request_id_length, gs.max_routing_key_length,
                                 gs.trim_after_bytes, gs.max_message_bytes),
            trimmer=HeapTrimmer(),
        )
        self.reconciler.expired = self.servicer.count_expired  # requests dropped unscored by a batcher
        self.metrics.watch_requests(lambda: list(self.reconciler.counters().items()), lambda: self.servicer.in_flight)
        self.health = health_aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._metrics_http: Any = None
        self.port = 0
        self.metrics_port = 0

    @property
    def transport(self) -> str:
        """How the inference port is protected: plaintext, TLS or mTLS."""
        return transport_name(self.certs)

    def is_ready(self) -> bool:
        """Warm, the first config applied, and no model of it left without a READY version by a
        load that waits for a retry (every request for such a model would get UNAVAILABLE here;
        a balancer should send them to a gateway that has it). A model whose versions FAILED for
        a definitive cause does not count: those bytes fail on every gateway."""
        return self._warm.is_set() and self.reconciler.applied.is_set() and not self.reconciler.unserved()

    async def _warm_up(self) -> None:
        if self.settings.drift.enabled:
            from driftgate.native import warm_up

            await asyncio.to_thread(warm_up)
        self._warm.set()

    async def start(self) -> int:
        gs = self.settings.gateway
        providers_for(gs.device)  # ModelLoadError now, with the reason, rather than a FAILED version later
        saved = self._last_config.load()
        warm = asyncio.create_task(self._warm_up())
        if saved is not None:
            log.info("applying the saved config (generation %d) while the registry connects", saved.generation)
            self._tasks.append(asyncio.create_task(self.reconciler.apply(desired_from_proto(saved))))
        options = [
            # above the setting: ModelInfer refuses and counts what lies between (servicer.grpc_receive_limit)
            ("grpc.max_receive_message_length", grpc_receive_limit(gs.max_message_bytes)),
            ("grpc.max_send_message_length", gs.max_message_bytes),
            ("grpc.so_reuseport", 1 if gs.workers > 1 else 0),
            ("grpc.http2.max_pings_without_data", 0),
        ]
        # admission counts from the moment grpc hands a call to Python (driftgate.gateway.admission)
        server = grpc.aio.server(options=options, interceptors=[self.admission] if gs.max_inflight else None)
        add_inference_service(self.servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (grpc_service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name,
             health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            server,
        )
        self.port = add_port(server, f"{gs.host}:{gs.port}", self.certs)
        if self.port == 0:
            raise OSError(f"could not bind {gs.host}:{gs.port}")
        await server.start()
        self._server = server
        host = "127.0.0.1" if gs.host in ("0.0.0.0", "::", "") else gs.host
        self.link.address = f"{host}:{self.port}"
        if gs.metrics_port >= 0:
            port = gs.metrics_port + self.worker_index if gs.metrics_port else 0
            self._metrics_http, _ = start_http_server(port, addr=gs.metrics_host, registry=self.metrics_registry)
            self.metrics_port = self._metrics_http.server_port
        self._tasks += [
            asyncio.create_task(self.link.watch()),
            asyncio.create_task(self.link.report_forever()),
            asyncio.create_task(self.plane.run_shadows()),
            asyncio.create_task(self._mark_serving(warm)),
        ]
        return self.port

    async def _mark_serving(self, warm: asyncio.Task[None]) -> None:
        await warm
        await self.reconciler.applied.wait()
        if self.settings.gateway.gc_freeze:
            # Start-up leaves ~130k long-lived objects (numba, onnxruntime, grpc, protobuf); every
            # full collection would rescan them. Collect once, then freeze them out of the GC's
            # view, before the health check lets traffic in (bench/README.md has the numbers).
            gc.collect()
            gc.freeze()
        announced = False
        serving: bool | None = None
        while self.servicer.accepting:  # health follows is_ready until the gateway stops
            changed = asyncio.ensure_future(self.reconciler.wait_changed())
            now = self.is_ready()
            if now != serving and self.servicer.accepting:
                serving = now
                status = health_pb2.HealthCheckResponse.SERVING if now else health_pb2.HealthCheckResponse.NOT_SERVING
                # readiness is the inference service's status; "" stays a liveness answer (the loop
                # runs): a gateway waiting for its registry is not helped by a restart
                await self.health.set(SERVICE, status)
                if now and not announced:
                    await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
                    announced = True
                    log.info("gateway ready: %s", ", ".join(sorted(self.plane.models)) or "no models")
                elif not now:
                    log.warning("health NOT_SERVING: no READY version of %s here yet (loads retrying)",
                                ", ".join(self.reconciler.unserved()))
            try:
                await changed
            finally:
                changed.cancel()

    async def wait_ready(self, timeout: float) -> bool:
        async def both() -> None:
            await self._warm.wait()
            await self.reconciler.applied.wait()

        try:
            await asyncio.wait_for(both(), timeout)
            return True
        except TimeoutError:
            return False

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting, let in-flight requests finish (up to ``grace``), then shut down.

        New requests are refused with UNAVAILABLE (retryable: the request was never scored) and
        health turns NOT_SERVING, so balancers and retrying clients move away; once no request
        is in flight the gRPC server closes. Closing it earlier would cancel calls that gRPC has
        received but not yet handed to a handler (grpc/grpc#41785: they end CANCELLED)."""
        grace = self.settings.gateway.shutdown_grace_s if grace is None else grace
        self.servicer.accepting = False
        await self.health.enter_graceful_shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.servicer.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.005)
        await asyncio.sleep(min(0.05, grace))  # let responses already written leave the socket
        if self._server is not None:
            await self._server.stop(max(0.0, deadline - loop.time()))
        self.reconciler.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.link.report_once(flush=True), 2)  # with the scored rows held
        await self.link.close()
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
