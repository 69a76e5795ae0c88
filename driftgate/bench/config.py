"""What one load run is asked to do: a plain, picklable settings object and its parsers.

Errors in settings raise BenchConfigError (a ValueError) with a message meant for a person; the
CLI turns it into exit code 2.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any

from driftgate.settings import TlsSettings

__all__ = ["BenchConfig", "BenchConfigError", "parse_target", "tls_of"]


class BenchConfigError(ValueError):
    """A load-run setting is invalid."""


def parse_target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BenchConfigError(f"bad target {text!r}: use HOST:PORT, e.g. 127.0.0.1:8001")
    return host, int(port)


def tls_of(ca: str, cert: str, key: str) -> TlsSettings:
    """TlsSettings from the plain strings a picklable config carries (empty: unset)."""
    return TlsSettings(ca=ca or None, cert=cert or None, key=key or None)


@dataclass
class BenchConfig:
    """Settings of one load run. ``rate`` set: open loop; otherwise closed loop at ``concurrency``."""

    target: str = "127.0.0.1:8001"
    model: str = "fraud"
    model_version: str = ""
    concurrency: int = 16
    """Closed loop: requests kept in flight."""
    rate: float | None = None
    """Open loop: requests per second on a fixed timetable (latency counted from the intended time)."""
    duration_s: float = 10.0
    warmup_s: float = 2.0
    batch_size: int = 1
    routing_key_cardinality: int = 0
    """Send request parameter ``routing_key`` drawn from this many card ids; 0: none."""
    input_data: str = "demo"
    """``demo``, ``random`` or a path to a .npy file of rows."""
    drift: str | None = None
    """Drift preset passed to driftgate.demo.generate."""
    raw: bool = True
    """raw_input_contents (True) or typed InferTensorContents (False)."""
    processes: int = 0
    """0: generate load in this process; N: in N child processes."""
    channels: int = 0
    """gRPC channels (HTTP/2 connections) per process; 0: one per 8 requests in flight."""
    max_in_flight: int = 1024
    """Open loop: requests outstanding at most (per run); beyond it sends wait, and the wait counts."""
    timeout_s: float = 10.0
    """Deadline of each request."""
    backoff_s: float = 0.0
    """Closed loop: after a RESOURCE_EXHAUSTED answer a client waits a random 0.5-1.5 times this before
    its next request (a client that backs off when told the server is at its limit); 0: at once."""
    pool_size: int = 512
    """Pre-built requests per run (rows cycle through them)."""
    seed: int = 0
    ca: str = ""
    """CA certificate file to verify the target with; set: TLS (driftgate/tls.py). Empty: plaintext."""
    cert: str = ""
    """Client certificate file presented to a target that asks for one (mTLS)."""
    key: str = ""
    """The private key of ``cert``."""

    def validate(self) -> BenchConfig:
        parse_target(self.target)
        if not self.model:
            raise BenchConfigError("--model is empty")
        if self.rate is not None and not self.rate > 0:
            raise BenchConfigError(f"--rate must be positive, got {self.rate}")
        if self.rate is None and self.concurrency < 1:
            raise BenchConfigError(f"--concurrency must be at least 1, got {self.concurrency}")
        if not self.duration_s > 0:
            raise BenchConfigError("--duration must be positive")
        if self.warmup_s < 0:
            raise BenchConfigError("--warmup must not be negative")
        if self.batch_size < 1:
            raise BenchConfigError("--batch-size must be at least 1")
        if self.routing_key_cardinality < 0:
            raise BenchConfigError("--routing-key-cardinality must not be negative")
        if self.processes < 0 or self.channels < 0:
            raise BenchConfigError("--processes and --channels must not be negative")
        if self.rate is None and self.processes > self.concurrency:
            raise BenchConfigError(f"--processes {self.processes} exceeds --concurrency {self.concurrency}")
        if self.max_in_flight < 1 or not self.timeout_s > 0:
            raise BenchConfigError("--max-in-flight and --timeout must be positive")
        if self.backoff_s < 0:
            raise BenchConfigError("--backoff must not be negative")
        return self

    def tls(self) -> TlsSettings:
        """The transport settings of the run's channels."""
        return tls_of(self.ca, self.cert, self.key)

    @property
    def mode(self) -> str:
        return "open" if self.rate is not None else "closed"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def config_from_args(args: argparse.Namespace, **overrides: Any) -> BenchConfig:
    """A validated BenchConfig from `driftgate bench`'s parsed arguments, with overrides."""
    values = {
        "target": args.target,
        "model": args.model,
        "model_version": args.model_version,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "batch_size": args.batch_size,
        "routing_key_cardinality": args.routing_key_cardinality,
        "input_data": args.input_data,
        "drift": args.drift,
        "raw": args.raw,
        "processes": args.processes,
        "channels": args.channels,
        "max_in_flight": args.max_in_flight,
        "timeout_s": args.timeout,
        "backoff_s": getattr(args, "backoff", 0.0),
        "seed": args.seed,
    }
    values.update(overrides)
    return BenchConfig(**values).validate()
