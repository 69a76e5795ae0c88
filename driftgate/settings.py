"""Typed settings, one tree per process, read once from the environment (DRIFTGATE_...) and the
command line, then injected. Nested concerns use ``__``: ``DRIFTGATE_GATEWAY__PORT=9001``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "AccuracySettings",
    "DriftSettings",
    "GatewaySettings",
    "RegistrySettings",
    "RolloutSettings",
    "Settings",
    "StatsSettings",
    "TlsSettings",
]


class DriftSettings(BaseModel):
    enabled: bool = True
    """Update drift sketches inline on every scored request."""
    bins: int = Field(16, ge=4, le=64)
    """Quantile bins per column in a reference profile (plus NaN, underflow and overflow)."""
    windows: int = Field(60, ge=2, le=10_000)
    """Time windows kept per version in the gateway's ring."""
    window_seconds: float = Field(10.0, gt=0)
    """Length of one drift window."""
    numba_cache: bool = True
    """Cache compiled kernels on disk (NUMBA_CACHE_DIR decides where)."""
    psi_moderate: float = 0.1
    """Default per-model PSI threshold for 'moderate'."""
    psi_major: float = 0.25
    """Default per-model PSI threshold for 'major'."""
    min_window_rows: int = 200
    """Rows a window needs before it can count towards an alert."""
    alert_windows: int = 3
    """Consecutive windows over the threshold before an alert fires."""


class GatewaySettings(BaseModel):
    host: str = "0.0.0.0"
    """Address the inference service listens on."""
    port: int = 8001
    """Inference port (Triton's default); 0 picks a free one."""
    metrics_port: int = 8002
    """Prometheus metrics over HTTP; 0 picks a free one, -1 turns it off."""
    metrics_host: str = "127.0.0.1"
    """Address the metrics HTTP server listens on: loopback by default (plain HTTP, no TLS: model names
    and traffic counts); set 0.0.0.0 or a pod address for a Prometheus on another host."""
    workers: int = Field(1, ge=1, le=256)
    """Gateway processes sharing the port with SO_REUSEPORT (one per core)."""
    device: str = "cpu"
    """'cpu' or 'cuda' (onnxruntime's CUDA provider, when installed)."""
    intra_op_threads: int = Field(1, ge=0)
    """onnxruntime intra-op threads per session (1 is fastest at small batches)."""
    inline_max_rows: int = Field(64, ge=0)
    """Batches up to this many rows score on the event loop; larger ones go to a thread."""
    max_batch_size: int = Field(256, ge=1)
    """Largest batch a request may carry, unless the model sets its own."""
    registry: str = ""
    """Registry address HOST:PORT, or A,B,... (replicas of one registry: the gateway moves to the next when
    its stream ends); empty: the one under --home."""
    report_interval_s: float = Field(1.0, gt=0)
    """How often the gateway reports state, statistics and drift to the registry."""
    drain_timeout_s: float = Field(30.0, gt=0)
    """Longest wait for a retired version's in-flight requests."""
    shutdown_grace_s: float = Field(10.0, ge=0)
    """On SIGTERM, how long in-flight requests get to finish."""
    shadow_queue: int = Field(1024, ge=1)
    """Shadow requests waiting to be scored; beyond this they are dropped and counted."""
    gateway_id: str = ""
    """Name reported to the registry; empty: host:pid."""
    fetch_retry_max_s: float = Field(30.0, gt=0)
    """Longest wait between two attempts to fetch (or cache) an artifact that failed for a passing
    cause (registry unreachable, full disk); attempts go on until they succeed or the version
    leaves the config."""
    token: str = ""
    """The gateway's API token for the registry (role gateway); empty: <home>/gateway.token."""
    gc_freeze: bool = True
    """Once ready, move the objects of start-up (imports, numba, onnxruntime) to the permanent GC
    generation, so that full collections stop rescanning them (each cost ~150-250 ms here)."""
    max_inflight: int = Field(64, ge=0)
    """Inference calls (ModelInfer, and requests on a ModelStreamInfer stream) this worker holds at
    once, counted from the moment grpc hands it the call, before the request is read; beyond it a
    call is refused at once with RESOURCE_EXHAUSTED (counted as reason "overload"). 0: no limit.
    It bounds what requests held across an await (adaptive batching, large batches, slow models)
    can pile up; calls grpc has not handed to the worker yet wait in grpc's own queue, which this
    does not see (bench/admission.md). 64 cost no goodput with batching at 32 rows, where 8 halved
    it (bench/admission.md). The p99 of admitted requests under overload is bounded at the balancer
    (deploy/haproxy/haproxy.cfg, DRIFTGATE_GATEWAY_MAXCONN), which sees that queue's arrivals."""
    max_message_bytes: int = Field(4 * 1024 * 1024, ge=4096)
    """Largest request message the inference service accepts (and response it sends): a larger one
    is refused with RESOURCE_EXHAUSTED before it is decoded, and counted as "too_large". grpc's own
    limit sits at 4 times this (it refuses beyond, uncounted, before buffering anything). 4 MiB
    holds ~34,000 rows of 30 float32 features."""
    max_request_rows: int = Field(100_000, ge=1)
    """Rows one request may carry, whatever a model's max_batch_size allows (INVALID_ARGUMENT,
    counted as "too_large")."""
    max_request_id_length: int = Field(256, ge=1)
    """Characters a request id may have (ids are kept for the label join: INVALID_ARGUMENT beyond)."""
    max_routing_key_length: int = Field(256, ge=1)
    """Characters a routing key may have (parameter routing_key or metadata x-routing-key)."""
    trim_after_bytes: int = Field(16 * 1024 * 1024, ge=0)
    """After a request message of at least this size, hand freed heap memory back to the OS
    (glibc's malloc_trim, off the event loop, at most once a second), so RSS returns after a burst
    of large requests. 0: never."""


class RegistrySettings(BaseModel):
    host: str = "127.0.0.1"
    """Address the control API listens on (loopback by default)."""
    port: int = 8005
    """Control API port; 0 picks a free one."""
    database_url: str = ""
    """SQLAlchemy URL; empty: SQLite under --home. ``postgresql://user:password@host:port/db`` uses psycopg 3
    (installed with driftgate); the password never reaches a log."""
    migrate_on_start: bool = True
    """At start, migrate a database whose schema is older than this driftgate (an empty one is always set up).
    False: refuse to start on an older schema and say to run ``driftgate registry migrate`` first (for
    deployments that migrate in a step of their own). A schema newer than the code is always refused."""
    advertise: str = ""
    """HOST:PORT at which the other registry replicas reach this one (followers pass gateway reports on to
    the leader there); empty: the address it listens on (127.0.0.1 when it listens on 0.0.0.0)."""
    config_poll_s: float = Field(0.5, gt=0)
    """On a shared database (PostgreSQL): how often a replica reads the config generation, so that changes
    another replica committed reach the gateways watching this one within this time."""
    leader_check_s: float = Field(1.0, gt=0)
    """How often a replica tries to become the leader (the one that runs rollouts and retrains) and the
    leader checks it still is: the longest a dead leader's loops wait for a successor (PostgreSQL)."""
    artifact_store: Literal["auto", "files", "database"] = "auto"
    """Where artifacts live: "database" (chunked rows by sha256: every registry host reaches them),
    "files" (<home>/artifacts: one host), "auto": files on SQLite, the database otherwise."""
    demo: bool = True
    """Train and register the demo model 'fraud' when no model is registered."""
    dashboard_host: str = "127.0.0.1"
    """Address the web dashboard listens on (loopback by default: it shows the control plane)."""
    dashboard_port: int = 8006
    """Web dashboard port (driftgate/registry/dashboard); 0 picks a free one, -1 turns it off."""
    insecure: bool = False
    """Allow listening on a non-loopback address without TLS (the registry refuses to otherwise)."""
    metrics_host: str = "127.0.0.1"
    """Address the registry's Prometheus endpoint (/metrics) listens on (loopback by default)."""
    metrics_port: int = -1
    """Registry Prometheus endpoint port (drift, accuracy, rollouts, gateways' config lag); -1: off,
    0 picks a free one."""
    plugins: list[str] = Field(default_factory=list)
    """Retrain data sources and trainers allowed besides the built-ins: exact ``module:function`` names
    (e.g. ``["bank.features:source"]``). Any other name is refused before anything is imported."""
    auth_cache_s: float = Field(5.0, ge=0)
    """How long an authenticated token stays trusted without a database read; a token revoked
    through another registry sharing the database stops working here within this time."""


class RolloutSettings(BaseModel):
    """The closed loop: retrain, evaluate, canary, promote or roll back (driftgate/registry/loop/rollout.py)."""

    steps: tuple[int, ...] = (5, 25, 50, 100)
    """Canary weights (percent of traffic) in order; the last one should be 100."""
    step_hold_s: float = Field(30.0, ge=0)
    """Least time each canary step is held before its gates are judged."""
    step_min_requests: int = Field(200, ge=1)
    """Least requests the canary must serve in a step before its gates are judged."""
    step_timeout_s: float = Field(600.0, gt=0)
    """A step that has not gathered enough requests in this time is rolled back ("no traffic")."""
    ready_timeout_s: float = Field(120.0, gt=0)
    """How long the challenger may take to be READY on every live gateway before it is rolled back."""
    max_error_rate_increase: float = Field(0.01, ge=0)
    """Gate: the canary's error rate may exceed the champion's by at most this much."""
    max_p99_ratio: float = Field(3.0, gt=0)
    """Gate: canary p99 latency / champion p99 latency (latency buckets; floor latency_floor_us)."""
    latency_floor_us: int = Field(1000, ge=1)
    """p99 below this counts as this, so that microsecond noise does not fail the latency gate."""
    max_score_psi: float = Field(0.5, gt=0)
    """Gate: PSI between the canary's and the champion's live score distributions (measured on the demo: a
    good retrain on shifted data 0.15-0.25 against the old champion, a model fitted on shuffled labels 3-4)."""
    min_accuracy_delta: float = -0.05
    """Gate (when labelled accuracy is available): canary AUC minus champion AUC must be at least this."""
    eval_margin: float = Field(0.01, ge=0)
    """A challenger whose holdout AUC is below the champion's by more than this is rejected."""
    keep_old_s: float = Field(60.0, ge=0)
    """After a promotion the old champion stays loaded this long (instant rollback), then is retired."""
    trainer_timeout_s: float = Field(600.0, gt=0)
    """A trainer still running after this is killed and the retrain recorded as failed."""
    tick_s: float = Field(0.5, gt=0)
    """How often the registry's rollout controller looks at its rollouts and triggers."""
    retrain_cooldown_s: float = Field(300.0, ge=0)
    """Least time between two automatic (drift, accuracy) retrains of one model."""
    rows: int = Field(50_000, ge=100)
    """Rows the built-in demo data source generates per retrain."""


class AccuracySettings(BaseModel):
    """Live accuracy from delayed labels: gateways keep what they scored, the registry joins labels."""

    enabled: bool = True
    """Gateways keep every scored row (id, model, version, score, time) and ship it to the registry."""
    buffer_rows: int = Field(100_000, ge=1)
    """Scored rows a gateway worker holds until a report reaches the registry; beyond, the oldest are
    dropped (and counted)."""
    report_interval_s: float = Field(5.0, gt=0)
    """Least time between two gateway reports that carry scored rows (the rest of a report goes every
    gateway.report_interval_s); sooner when the buffer is half full, a report failed, or the gateway
    stops. Fewer, larger chunks cost the registry less per row (bench/accuracy_store.md)."""
    max_rows: int = Field(10_000_000, ge=1)
    """Scored rows the registry keeps per model; beyond, the oldest are dropped first (and counted)."""
    max_age_days: float = Field(180.0, gt=0)
    """Scored rows older than this are dropped (chargebacks arrive within about 120 days)."""
    trim_interval_s: float = Field(10.0, ge=0)
    """Least time between two retention passes in the registry (0: after every report)."""
    threshold: float = Field(0.5, ge=0, le=1)
    """Default per-model decision threshold: a score at or above it is a fraud prediction."""
    min_auc: float = Field(0.75, ge=0, le=1)
    """Default per-model alert threshold: an evaluation window with a lower AUC breaches."""
    max_calibration_gap: float = Field(0.05, ge=0, le=1)
    """Default per-model alert threshold on |mean score - observed fraud rate| in a window."""
    min_labels: int = Field(200, ge=1)
    """Labelled rows an evaluation window needs before it can count towards an alert."""
    alert_windows: int = Field(2, ge=1)
    """Consecutive breaching evaluation windows (with enough labels) before an alert fires."""
    eval_window_seconds: float = Field(86_400.0, gt=0)
    """Length of one evaluation window, by the time the rows were scored (a day: daily vintages)."""
    max_held_labels: int = Field(1_000_000, ge=0)
    """Labels the registry holds per model for ids no gateway report has brought yet (labels that
    arrive before their scored rows); beyond, a label of an unseen id is counted unknown."""
    hold_seconds: float = Field(86_400.0, gt=0)
    """How long a held label waits for its scored row before it is dropped (counted held_expired);
    at most the retention (max_age_days)."""


class TlsSettings(BaseModel):
    """Transport security for every gRPC port and channel of a process (driftgate/tls.py).

    A server uses TLS when ``cert`` and ``key`` are set, and mTLS when ``client_ca`` is set too. A client
    (CLI, gateway's registry link, bench) uses TLS when ``ca`` is set, and presents ``cert``/``key`` when
    set. Files are PEM; servers re-read them when they change or on SIGHUP."""

    cert: Path | None = None
    """This process's certificate chain: served by its servers, presented when it dials a TLS server."""
    key: Path | None = None
    """The private key of ``cert``."""
    client_ca: Path | None = None
    """CA certificates that sign client certificates; when set, every client must present one (mTLS)."""
    ca: Path | None = None
    """CA certificates that sign the servers this process dials; when set, its channels use TLS."""

    @field_validator("cert", "key", "client_ca", "ca", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


class StatsSettings(BaseModel):
    resolution_s: float = Field(2.0, gt=0)
    """Time slot of the registry's traffic history (driftgate stats): windows and series are
    whole slots, so a window's edges are this precise."""
    history_s: float = Field(900.0, gt=0)
    """How far back the registry keeps per-version traffic counts (the longest stats window)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRIFTGATE_", env_nested_delimiter="__", extra="ignore")

    home: Path = Path(".driftgate")
    """State directory: database, artifacts, the gateway's last applied config."""
    log_level: str = "INFO"
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    accuracy: AccuracySettings = Field(default_factory=AccuracySettings)
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    stats: StatsSettings = Field(default_factory=StatsSettings)
