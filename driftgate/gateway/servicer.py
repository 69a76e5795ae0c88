"""inference.GRPCInferenceService over the data plane: convert the message, call the core,
convert back. Errors map to status codes in driftgate.grpc_edge, never here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc

from driftgate import __version__
from driftgate.errors import (
    Conflict,
    DeadlineExpired,
    DriftgateError,
    MessageTooLarge,
    ModelNotReady,
    ScoringError,
    ShuttingDown,
    TooLarge,
    shown,
)
from driftgate.gateway.admission import Admission
from driftgate.gateway.dataplane import DataPlane, ServedModel
from driftgate.gateway.memory import HeapTrimmer
from driftgate.gateway.metrics import GatewayMetrics
from driftgate.gateway.reader import Read, RequestReader, read_message, request_id, request_model
from driftgate.gateway.tensors import check_finite
from driftgate.gateway.wire import stream_frame
from driftgate.grpc_edge import status_for, wrap_servicer
from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc
from driftgate.proto.inference import model_config_pb2 as mc
from driftgate.signature import TensorSpec

__all__ = [
    "EXTENSIONS", "MODEL_INFER", "InferenceServicer", "RequestLimits", "add_inference_service", "grpc_receive_limit",
]

log = logging.getLogger("driftgate.gateway.servicer")

# Only what this server really implements (Triton's extension names).
EXTENSIONS = ("model_configuration", "statistics", "parameters")

_CONFIG_TYPE = {
    "BOOL": mc.TYPE_BOOL, "UINT8": mc.TYPE_UINT8, "UINT16": mc.TYPE_UINT16, "UINT32": mc.TYPE_UINT32,
    "UINT64": mc.TYPE_UINT64, "INT8": mc.TYPE_INT8, "INT16": mc.TYPE_INT16, "INT32": mc.TYPE_INT32,
    "INT64": mc.TYPE_INT64, "FP16": mc.TYPE_FP16, "FP32": mc.TYPE_FP32, "FP64": mc.TYPE_FP64,
    "BYTES": mc.TYPE_STRING,
}

ROUTING_KEY_HEADER = "x-routing-key"


def _metadata_key(metadata: object) -> str | None:
    for key, value in metadata or ():  # type: ignore[attr-defined]
        if key == ROUTING_KEY_HEADER:
            return value if isinstance(value, str) else value.decode()
    return None


_GRPC_RECEIVE_FACTOR = 4
_GRPC_MESSAGE_MAX = (1 << 31) - 1  # grpc's option is a C int


def grpc_receive_limit(max_message_bytes: int) -> int:
    """grpc's own receive limit on the inference port: above the gateway's, so that a message
    between the two reaches ModelInfer, which refuses it with the setting named and counts it
    (too_large). grpc checks its limit against a message's length prefix and refuses beyond it
    before buffering anything; below it, a message is buffered whole (core, then a Python copy)
    before a handler can look at it, so the factor bounds what one refused call can cost."""
    return min(max_message_bytes * _GRPC_RECEIVE_FACTOR, _GRPC_MESSAGE_MAX)


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """What one request may carry (GatewaySettings: max_request_rows, max_request_id_length,
    max_routing_key_length, trim_after_bytes, max_message_bytes)."""

    rows: int = 100_000
    id_length: int = 256
    key_length: int = 256
    trim_after_bytes: int = 0  # 0: never trim
    message_bytes: int = 0  # 0: not checked here (grpc's limit alone)


@wrap_servicer
class InferenceServicer(grpc_service_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(
        self,
        plane: DataPlane,
        metrics: GatewayMetrics,
        ready: Callable[[], bool],
        *,
        admission: Admission | None = None,
        limits: RequestLimits | None = None,
        trimmer: HeapTrimmer | None = None,
    ) -> None:
        self._plane = plane
        self._metrics = metrics
        self._ready = ready
        self.accepting = True
        self.in_flight = 0
        self._reader = RequestReader()
        self.admission = admission if admission is not None else Admission(0)
        limits = limits or RequestLimits()
        self._max_rows = limits.rows
        self._max_id = limits.id_length
        self._max_key = limits.key_length
        self._max_message = limits.message_bytes or 1 << 62
        # requests of at least this many bytes ask the trimmer to return freed memory (never: a
        # length no request reaches)
        self._trim_after = limits.trim_after_bytes if limits.trim_after_bytes and trimmer is not None else 1 << 62
        self._trimmer = trimmer

    @staticmethod
    def request_id_of(request: object) -> str:
        """For the edge's log of an internal error: ModelInfer's request comes as bytes."""
        if isinstance(request, bytes):
            return request_id(request)
        return getattr(request, "id", "") or ""

    # -- health and metadata -------------------------------------------------------------------

    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.accepting and self._ready())

    async def ModelReady(self, request, context):
        model = self._plane.models.get(request.name)
        if model is None:
            return pb.ModelReadyResponse(ready=False)
        if request.version:
            try:
                return pb.ModelReadyResponse(ready=int(request.version) in model.ready)
            except ValueError:
                return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=model.routes is not None)

    async def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(name="driftgate", version=__version__, extensions=EXTENSIONS)

    def _versioned(self, name: str, version: str) -> ServedModel:
        model = self._plane.model(name)
        if version:
            self._plane.select(model, version, None)  # NOT_FOUND / UNAVAILABLE as for inference
        return model

    async def ModelMetadata(self, request, context):
        model = self._versioned(request.name, request.version)

        def meta(specs: tuple[TensorSpec, ...]) -> list[pb.ModelMetadataResponse.TensorMetadata]:
            return [pb.ModelMetadataResponse.TensorMetadata(name=s.name, datatype=s.datatype, shape=s.shape)
                    for s in specs]

        return pb.ModelMetadataResponse(
            name=model.name,
            versions=[str(v) for v in sorted(model.ready)],
            platform="onnxruntime_onnx",
            inputs=meta(model.signature.inputs),
            outputs=meta(model.signature.outputs),
        )

    async def ModelConfig(self, request, context):
        model = self._versioned(request.name, request.version)
        config = mc.ModelConfig(
            name=model.name, platform="onnxruntime_onnx", backend="onnxruntime", max_batch_size=model.max_batch_size
        )
        for s in model.signature.inputs:
            config.input.add(name=s.name, data_type=_CONFIG_TYPE[s.datatype], dims=s.shape[1:])
        for s in model.signature.outputs:
            config.output.add(name=s.name, data_type=_CONFIG_TYPE[s.datatype], dims=s.shape[1:])
        lv = model.ready.get(int(request.version)) if request.version else (
            model.ready[max(model.ready)] if model.ready else None)
        batcher = lv.batcher if lv is not None else None
        if batcher is not None:  # the reconciler tunes every version of a model alike
            config.dynamic_batching.max_queue_delay_microseconds = batcher.config.max_delay_us
            config.dynamic_batching.preferred_batch_size.append(batcher.config.max_rows)
        kind = mc.ModelInstanceGroup.KIND_GPU if lv is not None and lv.on_gpu else mc.ModelInstanceGroup.KIND_CPU
        config.instance_group.add(name=model.name, count=1, kind=kind)
        config.model_transaction_policy.decoupled = False
        return pb.ModelConfigResponse(config=config)

    async def ModelStatistics(self, request, context):
        response = pb.ModelStatisticsResponse()
        names = [self._plane.model(request.name).name] if request.name else sorted(self._plane.models)
        for name in names:
            model = self._plane.models[name]
            versions = sorted(model.ready)
            if request.version:
                self._plane.select(model, request.version, None)
                versions = [int(request.version)]
            for v in versions:
                c = model.ready[v].counters
                s = response.model_stats.add(
                    name=name, version=str(v), last_inference=c.last_inference_ms,
                    inference_count=c.rows, execution_count=c.executions,
                )
                # Triton's clients (perf_analyzer) require success, queue and the three compute
                # phases to carry the same count. driftgate times the request as a whole and the
                # session run; decoding, routing and encoding are reported as compute_input. Only
                # the adaptive batcher queues: each request's wait for its batch's run is the queue
                # phase, taken out of compute_infer. execution_count counts session runs (one per
                # batch), inference_count rows, as Triton's do.
                ok = c.requests - c.failures
                st = s.inference_stats
                st.success.count, st.success.ns = ok, c.success_ns
                st.fail.count, st.fail.ns = c.failures, c.fail_ns
                st.queue.count, st.queue.ns = ok, c.queue_ns
                st.compute_input.count, st.compute_input.ns = ok, max(0, c.success_ns - c.compute_ns)
                st.compute_infer.count, st.compute_infer.ns = ok, max(0, c.compute_ns - c.queue_ns)
                st.compute_output.count, st.compute_output.ns = ok, 0
        return response

    async def RepositoryIndex(self, request, context):
        response = pb.RepositoryIndexResponse()
        for name, model in sorted(self._plane.models.items()):
            for version, state in sorted(model.states.items()):
                if request.ready and state != "READY":
                    continue
                response.models.add(name=name, version=str(version), state=state)
        return response

    async def RepositoryModelLoad(self, request, context):
        model = self._plane.model(request.model_name)
        if model.routes is None:
            raise ModelNotReady(f"model {model.name!r} is still loading")
        return pb.RepositoryModelLoadResponse()  # versions follow the registry; loaded already

    async def RepositoryModelUnload(self, request, context):
        self._plane.model(request.model_name)
        raise Conflict("versions are unloaded through the registry: driftgate models retire MODEL VERSION")

    # -- inference -----------------------------------------------------------------------------

    async def _infer(self, read: Read, context: grpc.aio.ServicerContext) -> bytes:
        """Score one request; the serialized ModelInferResponse (see driftgate.gateway.wire)."""
        model = read.model
        rows = read.rows
        version = read.version
        key = read.key
        request_id = read.request_id
        plane = self._plane
        if rows > self._max_rows or len(request_id) > self._max_id:
            raise self._too_large(model.name, rows, request_id, "")
        if key is None and not version:
            routes = model.routes
            if routes is not None and len(routes.versions) > 1:  # only then can a key change the choice
                key = _metadata_key(context.invocation_metadata())
        if key is not None and len(key) > self._max_key:
            raise self._too_large(model.name, rows, request_id, key)
        remaining = context.time_remaining()  # None: the caller set no deadline
        deadline_ns = None
        if remaining is not None:
            if remaining <= 0:
                raise DeadlineExpired(
                    f"the request's deadline passed before it was scored (model {shown(model.name)}); not scored",
                    model.name,
                )
            deadline_ns = time.perf_counter_ns() + int(remaining * 1e9)  # the batcher drops it unscored after
        if model.reject_nonfinite:
            check_finite(model.name, read.feeds)
        if not request_id and plane.requestlog is not None:
            request_id = plane.requestlog.next_id()  # returned, so the client can label it later
        lv, arrays = await plane.infer(model, version, key, read.feeds, rows, request_id, deadline_ns)
        return model.codec.encode(lv, read.outputs, request_id, arrays)

    def _too_large(self, model: str, rows: int, request_id: str, key: str) -> TooLarge:
        if rows > self._max_rows:
            what = f"{rows} rows, over the gateway's limit of {self._max_rows} rows a request"
        elif len(request_id) > self._max_id:
            what = (f"request id {shown(request_id)} is longer than the gateway's limit of {self._max_id} "
                    "characters")
        else:
            what = f"routing key {shown(key)} is longer than the gateway's limit of {self._max_key} characters"
        return TooLarge(f"model {shown(model)}: {what}", model)

    def _message_too_large(self, size: int, model: str) -> MessageTooLarge:
        if model not in self._plane.models:  # the caller's name: a served model's, or not named
            model = ""
        return MessageTooLarge(
            f"the request message is {size:,} bytes, over the gateway's limit of {self._max_message:,} bytes "
            "(setting gateway.max_message_bytes, DRIFTGATE_GATEWAY__MAX_MESSAGE_BYTES); not read",
            model,
        )

    def _refused(self, exc: DriftgateError, model: str) -> None:
        code = status_for(exc)[0].name
        self._metrics.rejected.labels(code).inc()
        if not isinstance(exc, ScoringError):  # a scoring failure is its version's, counted there
            self._plane.count_refused(model, code)  # for the registry's stats (driftgate stats)
        reason = getattr(exc, "reason", None)
        if reason is not None:
            self.admission.count(exc.model, reason)  # type: ignore[attr-defined]

    def count_expired(self, model: str) -> None:
        """A request of ``model`` that waited in its adaptive batcher until grpc ended the call at
        its deadline: dropped unscored (driftgate.gateway.batcher), counted as a deadline refusal
        (grpc answered DEADLINE_EXCEEDED)."""
        self._metrics.rejected.labels("DEADLINE_EXCEEDED").inc()
        self._plane.count_refused(model, "DEADLINE_EXCEEDED")
        self.admission.count(model, "deadline")

    async def ModelInfer(self, request, context):
        """The request comes as bytes from the server (see inference_handlers) and is read by the
        RequestReader; a message (an in-process caller) is read field by field."""
        self.in_flight += 1
        try:
            if not self.accepting:
                raise ShuttingDown("the gateway is shutting down; retry on another instance")
            if request.__class__ is bytes:
                size = len(request)
                if size > self._max_message:  # grpc's own limit is above (grpc_receive_limit)
                    raise self._message_too_large(size, request_model(request))
                if size >= self._trim_after:
                    self._trimmer.soon()  # type: ignore[union-attr]
                read = self._reader.read(request, self._plane)
            else:
                read = read_message(request, self._plane)
            return await self._infer(read, context)
        except DriftgateError as exc:
            self._refused(exc, request_model(request) if request.__class__ is bytes else request.model_name)
            raise
        finally:
            self.in_flight -= 1

    async def ModelStreamInfer(
        self, request_iterator: AsyncIterator[pb.ModelInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        """Bidirectional stream: one response per request, in order; a failed request yields an
        error_message and the stream goes on (Triton's behaviour). Yields serialized
        ModelStreamInferResponses (see add_inference_service)."""
        admission = self.admission
        try:
            async for frame in self._stream(request_iterator, context):
                yield frame
        except asyncio.CancelledError:  # the client went away: counted, not an error
            admission.cancelled += 1
            raise

    async def _stream(
        self, request_iterator: AsyncIterator[pb.ModelInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        admission = self.admission
        async for request in request_iterator:
            self.in_flight += 1
            started = time.perf_counter()
            admitted = False
            try:
                if not self.accepting:
                    raise ShuttingDown("the gateway is shutting down; retry on another instance")
                admission.enter()
                admitted = True
                if (size := request.ByteSize()) > self._max_message:  # ~300 ns
                    raise self._message_too_large(size, request.model_name)
                yield stream_frame(await self._infer(read_message(request, self._plane), context))
            except Exception as exc:  # per-request errors travel in-band on a stream
                code, message = status_for(exc)
                if isinstance(exc, DriftgateError):
                    self._refused(exc, request.model_name)
                else:
                    self._metrics.rejected.labels(code.name).inc()
                if code is grpc.StatusCode.INTERNAL:
                    log.error("stream request %s failed after %.3f s", shown(request.id), time.perf_counter() - started,
                              exc_info=exc)
                yield pb.ModelStreamInferResponse(
                    error_message=f"{code.name}: {message}",
                    infer_response=pb.ModelInferResponse(
                        model_name=request.model_name[:256], id=request.id[: self._max_id]
                    ),
                ).SerializeToString()
            finally:
                if admitted:
                    admission.leave()
                self.in_flight -= 1


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
_SERIALIZED = ("ModelInfer", "ModelStreamInfer")  # handlers that return bytes, not messages
_RAW_REQUEST = ("ModelInfer",)  # handlers that read their request's bytes themselves


class _Capture:
    """Stands in for a server while the generated code registers its handlers."""

    handlers: dict[str, grpc.RpcMethodHandler]

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.handlers = dict(handlers)


def inference_handlers(servicer: InferenceServicer) -> dict[str, grpc.RpcMethodHandler]:
    """The service's method handlers as the generated code builds them, except that ModelInfer and
    ModelStreamInfer send the bytes their handlers return as they are (no serializer: the
    handlers write the response with driftgate.gateway.wire), and ModelInfer gets its request's
    bytes (no deserializer: driftgate.gateway.reader reads them)."""
    capture = _Capture()
    grpc_service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, capture)
    handlers = capture.handlers
    for name in _SERIALIZED:
        handlers[name] = handlers[name]._replace(response_serializer=None)
    for name in _RAW_REQUEST:
        handlers[name] = handlers[name]._replace(request_deserializer=None)
    return handlers


MODEL_INFER = f"/{SERVICE_NAME}/ModelInfer"


def add_inference_service(servicer: InferenceServicer, server: grpc.aio.Server) -> None:
    """Register inference.GRPCInferenceService on a server (instead of the generated function);
    ModelInfer is admitted by the servicer's Admission when the server runs it as an interceptor."""
    handlers = inference_handlers(servicer)
    servicer.admission.guard(MODEL_INFER, handlers["ModelInfer"])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
