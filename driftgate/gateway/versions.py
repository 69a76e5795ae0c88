"""What is loaded now: one model version in an onnxruntime session, with its counters and its
drift sketch. (What could be loaded is the registry's business.)

Loading happens off the event loop (``load_version`` is blocking and runs in a thread); a version
is warmed up before it is READY, and it is released only after its in-flight requests finish.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftgate.errors import ModelLoadError
from driftgate.gateway.batcher import Batcher
from driftgate.gateway.stats import VersionCounters
from driftgate.signature import Signature, TensorSpec, numpy_dtype, signature_from_onnx

__all__ = ["LoadedVersion", "ScoreSpec", "load_version", "providers_for"]

log = logging.getLogger("driftgate.gateway.versions")


_PROVIDERS = {  # what each --device asks onnxruntime for, in its order of preference
    "cpu": ("CPUExecutionProvider",),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
}


def _requested(device: str) -> tuple[str, ...]:
    try:
        return _PROVIDERS[device]
    except KeyError:
        raise ModelLoadError(f"unknown device {device!r}; use 'cpu' or 'cuda'") from None


def providers_for(device: str) -> list[str]:
    """onnxruntime execution providers for a device setting; says clearly when CUDA is absent from
    this onnxruntime (checked at start; a session that falls back anyway fails in load_version)."""
    import onnxruntime as ort

    requested = _requested(device)
    available = ort.get_available_providers()
    if requested[0] not in available:
        raise ModelLoadError(
            f"--device {device}: onnxruntime's {requested[0]} is not available in this installation "
            f"(available: {', '.join(available)}); install onnxruntime-gpu with CUDA, or use --device cpu"
        )
    return list(requested)


@dataclass(frozen=True, slots=True)
class ScoreSpec:
    """Where the score is read: output index and column (-1: the output has one value a row).

    ``view``: the scores may be a view of the output (the drift kernel takes any layout and the
    request log concatenates). Only for outputs of at most two values a row: the request log keeps
    scores for minutes, and a view keeps the whole output alive (a thousand-class output would
    hold a thousand times the bytes)."""

    output_index: int
    column: int
    view: bool = False

    def scores(self, outputs: list[np.ndarray]) -> np.ndarray:
        out = outputs[self.output_index]
        if out.ndim == 1:
            return out
        out = out[:, self.column] if out.ndim == 2 and self.column >= 0 else out.reshape(out.shape[0])
        return out if self.view else np.ascontiguousarray(out)


@dataclass(slots=True, eq=False)
class LoadedVersion:
    model: str
    version: int
    sha256: str
    session: Any
    signature: Signature
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    output_specs: tuple[TensorSpec, ...]
    counters: VersionCounters
    load_seconds: float
    score: ScoreSpec | None = None
    sketch: Any = None  # driftgate.native.DriftSketch when drift is on and a profile fits
    drift_input: str | None = None  # the input whose rows the sketch bins
    in_flight: int = 0
    draining: bool = False
    batcher: Batcher | None = None  # set by the reconciler when the model's batching is on
    _idle: asyncio.Event = field(default_factory=asyncio.Event)  # set when draining ends with none in flight
    _run: Any = None  # the session's run, bound once (see bind_run)
    providers: tuple[str, ...] = field(init=False, default=())  # the session's, the one that runs first
    version_str: str = field(init=False, default="")  # as responses carry it
    key: tuple[str, int] = field(init=False, default=("", 0))  # (model, version), one shared tuple

    def __post_init__(self) -> None:
        self.version_str = str(self.version)
        self.key = (self.model, self.version)
        self.bind_run()

    def bind_run(self) -> None:
        """Bind the call that scores. On the CPU provider that is onnxruntime's C++ run itself:
        the Python wrapper around it only checks that every input is present (decode_inputs has
        checked more) and retries on another provider after a provider failure (CUDA only).
        Anything else, or an onnxruntime without ``_sess``, goes through the public ``run``."""
        session = self.session
        inner = getattr(session, "_sess", None)
        providers = session.get_providers() if hasattr(session, "get_providers") else ()
        self.providers = tuple(providers)
        if inner is not None and list(providers) == ["CPUExecutionProvider"] and hasattr(inner, "run"):
            self._run = inner.run  # (output_names, feeds, run_options), as the public run
        else:
            self._run = session.run if session is not None else None

    @property
    def on_gpu(self) -> bool:
        """The session runs on CUDA (load_version refuses one that was asked to and fell back)."""
        return bool(self.providers) and self.providers[0] == "CUDAExecutionProvider"

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._run(self.output_names, feeds, None)  # type: ignore[no-any-return]

    def run_large(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run a batch of at least SHRINK_AFTER_ROWS rows (off the loop), then hand back what
        onnxruntime's CPU memory arena grew for it: the arena otherwise keeps the peak of the
        largest runs for the session's life (~170 MB after eight 1.75M-row runs, bench/admission.md)."""
        return self._run(self.output_names, feeds, _shrink_options())  # type: ignore[no-any-return]

    def enter(self) -> None:
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if self.draining and self.in_flight == 0:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Wait for in-flight requests to finish; True if they all did within ``timeout``."""
        self.draining = True
        if self.in_flight == 0:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def release(self) -> None:
        """Drop the session (after draining); the batcher thread, if any, ends once it has
        answered what it still holds."""
        batcher, self.batcher = self.batcher, None
        if batcher is not None:
            batcher.stop()
        self.session = None
        self._run = None
        self.sketch = None


SHRINK_AFTER_ROWS = 65_536
"""Batches of at least this many rows run with onnxruntime's arena shrinkage (LoadedVersion.run_large)."""

_SHRINK: list[Any] = []


def _shrink_options() -> Any:
    """onnxruntime RunOptions that shrink the CPU arena after the run (made once)."""
    if not _SHRINK:
        import onnxruntime as ort

        options = ort.RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        _SHRINK.append(options)
    return _SHRINK[0]


def _warm_up(session: Any, signature: Signature, output_names: tuple[str, ...]) -> None:
    feeds = {}
    for spec in signature.inputs:
        shape = tuple(1 if d < 0 else d for d in spec.shape)
        feeds[spec.name] = np.zeros(shape, dtype=numpy_dtype(spec.datatype))
    for _ in range(3):
        session.run(output_names, feeds)


def load_version(
    model: str,
    version: int,
    sha256: str,
    onnx_bytes: bytes,
    *,
    device: str,
    intra_op_threads: int,
    counters: VersionCounters,
) -> LoadedVersion:
    """Create, check and warm up a session (blocking: call it in a thread)."""
    import onnxruntime as ort

    started = time.perf_counter()
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    requested = _requested(device)
    try:
        session = ort.InferenceSession(onnx_bytes, sess_options=options, providers=list(requested))
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise ModelLoadError(f"onnxruntime could not load {model} version {version}: {exc}") from exc
    used = session.get_providers()
    if not used or used[0] != requested[0]:
        # onnxruntime falls back to the next provider with a warning when one cannot start (CUDA
        # libraries missing, no GPU visible): a version asked to run on CUDA would quietly run on the CPU
        raise ModelLoadError(
            f"--device {device}: {model} version {version} asked onnxruntime for {', '.join(requested)} but "
            f"the session's providers are {', '.join(used) or 'none'} ({requested[0]} did not start; "
            "onnxruntime's log says why)"
        )
    signature = signature_from_onnx(session)
    output_names = tuple(o.name for o in signature.outputs)
    try:
        _warm_up(session, signature, output_names)
    except Exception as exc:
        raise ModelLoadError(f"{model} version {version} failed its warm-up run: {exc}") from exc
    return LoadedVersion(
        model=model,
        version=version,
        sha256=sha256,
        session=session,
        signature=signature,
        input_names=tuple(i.name for i in signature.inputs),
        output_names=output_names,
        output_specs=signature.outputs,
        counters=counters,
        load_seconds=time.perf_counter() - started,
    )
