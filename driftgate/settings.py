"""Typed settings, one tree per process, read once from the environment (DRIFTGATE_...) and the
command line, then injected. Nested concerns use ``__``: ``DRIFTGATE_GATEWAY__PORT=9001``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DriftSettings", "GatewaySettings", "RegistrySettings", "Settings"]


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
    """Registry address HOST:PORT; empty: the one under --home."""
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


class RegistrySettings(BaseModel):
    host: str = "127.0.0.1"
    """Address the control API listens on (loopback by default)."""
    port: int = 8005
    """Control API port; 0 picks a free one."""
    database_url: str = ""
    """SQLAlchemy URL; empty: SQLite under --home."""
    demo: bool = True
    """Train and register the demo model 'fraud' when no model is registered."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRIFTGATE_", env_nested_delimiter="__", extra="ignore")

    home: Path = Path(".driftgate")
    """State directory: database, artifacts, the gateway's last applied config."""
    log_level: str = "INFO"
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
