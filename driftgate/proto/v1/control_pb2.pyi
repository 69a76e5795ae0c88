from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TensorSpec(_message.Message):
    __slots__ = ("name", "datatype", "shape")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATATYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    datatype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., datatype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class Signature(_message.Message):
    __slots__ = ("inputs", "outputs")
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedCompositeFieldContainer[TensorSpec]
    outputs: _containers.RepeatedCompositeFieldContainer[TensorSpec]
    def __init__(self, inputs: _Optional[_Iterable[_Union[TensorSpec, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[TensorSpec, _Mapping]]] = ...) -> None: ...

class ColumnProfile(_message.Message):
    __slots__ = ("name", "edges", "proportions", "mean", "std")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    PROPORTIONS_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    name: str
    edges: _containers.RepeatedScalarFieldContainer[float]
    proportions: _containers.RepeatedScalarFieldContainer[float]
    mean: float
    std: float
    def __init__(self, name: _Optional[str] = ..., edges: _Optional[_Iterable[float]] = ..., proportions: _Optional[_Iterable[float]] = ..., mean: _Optional[float] = ..., std: _Optional[float] = ...) -> None: ...

class ReferenceProfile(_message.Message):
    __slots__ = ("features", "score", "score_output", "score_column", "rows")
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SCORE_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    SCORE_COLUMN_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    features: _containers.RepeatedCompositeFieldContainer[ColumnProfile]
    score: ColumnProfile
    score_output: str
    score_column: int
    rows: int
    def __init__(self, features: _Optional[_Iterable[_Union[ColumnProfile, _Mapping]]] = ..., score: _Optional[_Union[ColumnProfile, _Mapping]] = ..., score_output: _Optional[str] = ..., score_column: _Optional[int] = ..., rows: _Optional[int] = ...) -> None: ...

class ModelSettings(_message.Message):
    __slots__ = ("max_batch_size", "psi_moderate", "psi_major", "min_window_rows", "alert_windows", "feature_names", "batching", "nonfinite_inputs")
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    PSI_MODERATE_FIELD_NUMBER: _ClassVar[int]
    PSI_MAJOR_FIELD_NUMBER: _ClassVar[int]
    MIN_WINDOW_ROWS_FIELD_NUMBER: _ClassVar[int]
    ALERT_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    BATCHING_FIELD_NUMBER: _ClassVar[int]
    NONFINITE_INPUTS_FIELD_NUMBER: _ClassVar[int]
    max_batch_size: int
    psi_moderate: float
    psi_major: float
    min_window_rows: int
    alert_windows: int
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    batching: BatchingSettings
    nonfinite_inputs: str
    def __init__(self, max_batch_size: _Optional[int] = ..., psi_moderate: _Optional[float] = ..., psi_major: _Optional[float] = ..., min_window_rows: _Optional[int] = ..., alert_windows: _Optional[int] = ..., feature_names: _Optional[_Iterable[str]] = ..., batching: _Optional[_Union[BatchingSettings, _Mapping]] = ..., nonfinite_inputs: _Optional[str] = ...) -> None: ...

class BatchingSettings(_message.Message):
    __slots__ = ("enabled", "max_batch_rows", "max_queue_delay_us")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_ROWS_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_DELAY_US_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    max_batch_rows: int
    max_queue_delay_us: int
    def __init__(self, enabled: _Optional[bool] = ..., max_batch_rows: _Optional[int] = ..., max_queue_delay_us: _Optional[int] = ...) -> None: ...

class GatewayVersionState(_message.Message):
    __slots__ = ("gateway_id", "state", "reason", "reported_at")
    GATEWAY_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REPORTED_AT_FIELD_NUMBER: _ClassVar[int]
    gateway_id: str
    state: str
    reason: str
    reported_at: str
    def __init__(self, gateway_id: _Optional[str] = ..., state: _Optional[str] = ..., reason: _Optional[str] = ..., reported_at: _Optional[str] = ...) -> None: ...

class VersionInfo(_message.Message):
    __slots__ = ("model", "version", "state", "artifact_sha256", "artifact_size", "signature", "profile", "source", "created_at", "parent", "metrics", "description", "gateways")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SHA256_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SIZE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    GATEWAYS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    state: str
    artifact_sha256: str
    artifact_size: int
    signature: Signature
    profile: ReferenceProfile
    source: str
    created_at: str
    parent: int
    metrics: _containers.ScalarMap[str, float]
    description: str
    gateways: _containers.RepeatedCompositeFieldContainer[GatewayVersionState]
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., state: _Optional[str] = ..., artifact_sha256: _Optional[str] = ..., artifact_size: _Optional[int] = ..., signature: _Optional[_Union[Signature, _Mapping]] = ..., profile: _Optional[_Union[ReferenceProfile, _Mapping]] = ..., source: _Optional[str] = ..., created_at: _Optional[str] = ..., parent: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ..., description: _Optional[str] = ..., gateways: _Optional[_Iterable[_Union[GatewayVersionState, _Mapping]]] = ...) -> None: ...

class RouteWeight(_message.Message):
    __slots__ = ("version", "weight")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    version: int
    weight: int
    def __init__(self, version: _Optional[int] = ..., weight: _Optional[int] = ...) -> None: ...

class ShadowTarget(_message.Message):
    __slots__ = ("version", "rate")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    version: int
    rate: float
    def __init__(self, version: _Optional[int] = ..., rate: _Optional[float] = ...) -> None: ...

class GatewayTraffic(_message.Message):
    __slots__ = ("gateway_id", "generation", "weights", "shadows")
    GATEWAY_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    SHADOWS_FIELD_NUMBER: _ClassVar[int]
    gateway_id: str
    generation: int
    weights: _containers.RepeatedCompositeFieldContainer[RouteWeight]
    shadows: _containers.RepeatedCompositeFieldContainer[ShadowTarget]
    def __init__(self, gateway_id: _Optional[str] = ..., generation: _Optional[int] = ..., weights: _Optional[_Iterable[_Union[RouteWeight, _Mapping]]] = ..., shadows: _Optional[_Iterable[_Union[ShadowTarget, _Mapping]]] = ...) -> None: ...

class TrafficInfo(_message.Message):
    __slots__ = ("model", "mode", "weights", "shadows", "applied")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    SHADOWS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    model: str
    mode: str
    weights: _containers.RepeatedCompositeFieldContainer[RouteWeight]
    shadows: _containers.RepeatedCompositeFieldContainer[ShadowTarget]
    applied: _containers.RepeatedCompositeFieldContainer[GatewayTraffic]
    def __init__(self, model: _Optional[str] = ..., mode: _Optional[str] = ..., weights: _Optional[_Iterable[_Union[RouteWeight, _Mapping]]] = ..., shadows: _Optional[_Iterable[_Union[ShadowTarget, _Mapping]]] = ..., applied: _Optional[_Iterable[_Union[GatewayTraffic, _Mapping]]] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "versions", "traffic", "settings", "lagging")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    LAGGING_FIELD_NUMBER: _ClassVar[int]
    name: str
    versions: _containers.RepeatedCompositeFieldContainer[VersionInfo]
    traffic: TrafficInfo
    settings: ModelSettings
    lagging: _containers.RepeatedCompositeFieldContainer[GatewayLag]
    def __init__(self, name: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[VersionInfo, _Mapping]]] = ..., traffic: _Optional[_Union[TrafficInfo, _Mapping]] = ..., settings: _Optional[_Union[ModelSettings, _Mapping]] = ..., lagging: _Optional[_Iterable[_Union[GatewayLag, _Mapping]]] = ...) -> None: ...

class GatewayLag(_message.Message):
    __slots__ = ("gateway_id", "applied_generation", "desired_generation", "reason")
    GATEWAY_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    DESIRED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    gateway_id: str
    applied_generation: int
    desired_generation: int
    reason: str
    def __init__(self, gateway_id: _Optional[str] = ..., applied_generation: _Optional[int] = ..., desired_generation: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class RegisterVersionRequest(_message.Message):
    __slots__ = ("model", "onnx", "reference_npy", "source", "metrics", "description", "parent", "actor", "feature_names", "max_batch_size", "score_output", "score_column")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ONNX_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_NPY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    SCORE_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    SCORE_COLUMN_FIELD_NUMBER: _ClassVar[int]
    model: str
    onnx: bytes
    reference_npy: bytes
    source: str
    metrics: _containers.ScalarMap[str, float]
    description: str
    parent: int
    actor: str
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    max_batch_size: int
    score_output: str
    score_column: int
    def __init__(self, model: _Optional[str] = ..., onnx: _Optional[bytes] = ..., reference_npy: _Optional[bytes] = ..., source: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., description: _Optional[str] = ..., parent: _Optional[int] = ..., actor: _Optional[str] = ..., feature_names: _Optional[_Iterable[str]] = ..., max_batch_size: _Optional[int] = ..., score_output: _Optional[str] = ..., score_column: _Optional[int] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RetireVersionRequest(_message.Message):
    __slots__ = ("model", "version", "actor", "reason")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    actor: str
    reason: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class UpdateModelSettingsRequest(_message.Message):
    __slots__ = ("model", "settings", "actor")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    model: str
    settings: ModelSettings
    actor: str
    def __init__(self, model: _Optional[str] = ..., settings: _Optional[_Union[ModelSettings, _Mapping]] = ..., actor: _Optional[str] = ...) -> None: ...

class SetTrafficRequest(_message.Message):
    __slots__ = ("model", "weights", "latest", "actor", "reason")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model: str
    weights: _containers.RepeatedCompositeFieldContainer[RouteWeight]
    latest: bool
    actor: str
    reason: str
    def __init__(self, model: _Optional[str] = ..., weights: _Optional[_Iterable[_Union[RouteWeight, _Mapping]]] = ..., latest: _Optional[bool] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SetShadowRequest(_message.Message):
    __slots__ = ("model", "version", "rate", "actor", "reason")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    rate: float
    actor: str
    reason: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., rate: _Optional[float] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetTrafficRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class WatchConfigRequest(_message.Message):
    __slots__ = ("gateway_id", "known_generation")
    GATEWAY_ID_FIELD_NUMBER: _ClassVar[int]
    KNOWN_GENERATION_FIELD_NUMBER: _ClassVar[int]
    gateway_id: str
    known_generation: int
    def __init__(self, gateway_id: _Optional[str] = ..., known_generation: _Optional[int] = ...) -> None: ...

class DeployedVersion(_message.Message):
    __slots__ = ("version", "artifact_sha256", "artifact_size", "signature", "profile", "reload")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SHA256_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SIZE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    RELOAD_FIELD_NUMBER: _ClassVar[int]
    version: int
    artifact_sha256: str
    artifact_size: int
    signature: Signature
    profile: ReferenceProfile
    reload: int
    def __init__(self, version: _Optional[int] = ..., artifact_sha256: _Optional[str] = ..., artifact_size: _Optional[int] = ..., signature: _Optional[_Union[Signature, _Mapping]] = ..., profile: _Optional[_Union[ReferenceProfile, _Mapping]] = ..., reload: _Optional[int] = ...) -> None: ...

class DeployedModel(_message.Message):
    __slots__ = ("name", "versions", "mode", "weights", "shadows", "settings")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    SHADOWS_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    versions: _containers.RepeatedCompositeFieldContainer[DeployedVersion]
    mode: str
    weights: _containers.RepeatedCompositeFieldContainer[RouteWeight]
    shadows: _containers.RepeatedCompositeFieldContainer[ShadowTarget]
    settings: ModelSettings
    def __init__(self, name: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[DeployedVersion, _Mapping]]] = ..., mode: _Optional[str] = ..., weights: _Optional[_Iterable[_Union[RouteWeight, _Mapping]]] = ..., shadows: _Optional[_Iterable[_Union[ShadowTarget, _Mapping]]] = ..., settings: _Optional[_Union[ModelSettings, _Mapping]] = ...) -> None: ...

class GatewayConfig(_message.Message):
    __slots__ = ("generation", "models")
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    generation: int
    models: _containers.RepeatedCompositeFieldContainer[DeployedModel]
    def __init__(self, generation: _Optional[int] = ..., models: _Optional[_Iterable[_Union[DeployedModel, _Mapping]]] = ...) -> None: ...

class LoadedVersionState(_message.Message):
    __slots__ = ("model", "version", "state", "reason", "load_seconds")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LOAD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    state: str
    reason: str
    load_seconds: float
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., state: _Optional[str] = ..., reason: _Optional[str] = ..., load_seconds: _Optional[float] = ...) -> None: ...

class VersionStats(_message.Message):
    __slots__ = ("model", "version", "requests", "failures", "rows", "latency_ns_sum", "latency_buckets", "shadow_requests", "shadow_dropped", "shadow_agree", "shadow_abs_diff_sum")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_NS_SUM_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BUCKETS_FIELD_NUMBER: _ClassVar[int]
    SHADOW_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SHADOW_DROPPED_FIELD_NUMBER: _ClassVar[int]
    SHADOW_AGREE_FIELD_NUMBER: _ClassVar[int]
    SHADOW_ABS_DIFF_SUM_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    requests: int
    failures: int
    rows: int
    latency_ns_sum: int
    latency_buckets: _containers.RepeatedScalarFieldContainer[int]
    shadow_requests: int
    shadow_dropped: int
    shadow_agree: int
    shadow_abs_diff_sum: float
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., requests: _Optional[int] = ..., failures: _Optional[int] = ..., rows: _Optional[int] = ..., latency_ns_sum: _Optional[int] = ..., latency_buckets: _Optional[_Iterable[int]] = ..., shadow_requests: _Optional[int] = ..., shadow_dropped: _Optional[int] = ..., shadow_agree: _Optional[int] = ..., shadow_abs_diff_sum: _Optional[float] = ...) -> None: ...

class DriftWindow(_message.Message):
    __slots__ = ("model", "version", "window_id", "window_seconds", "rows", "columns", "bins", "counts", "sums", "sumsq")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    BINS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    SUMS_FIELD_NUMBER: _ClassVar[int]
    SUMSQ_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    window_id: int
    window_seconds: float
    rows: int
    columns: int
    bins: int
    counts: _containers.RepeatedScalarFieldContainer[int]
    sums: _containers.RepeatedScalarFieldContainer[float]
    sumsq: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., window_id: _Optional[int] = ..., window_seconds: _Optional[float] = ..., rows: _Optional[int] = ..., columns: _Optional[int] = ..., bins: _Optional[int] = ..., counts: _Optional[_Iterable[int]] = ..., sums: _Optional[_Iterable[float]] = ..., sumsq: _Optional[_Iterable[float]] = ...) -> None: ...

class ModelRoutes(_message.Message):
    __slots__ = ("model", "weights", "shadows")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    SHADOWS_FIELD_NUMBER: _ClassVar[int]
    model: str
    weights: _containers.RepeatedCompositeFieldContainer[RouteWeight]
    shadows: _containers.RepeatedCompositeFieldContainer[ShadowTarget]
    def __init__(self, model: _Optional[str] = ..., weights: _Optional[_Iterable[_Union[RouteWeight, _Mapping]]] = ..., shadows: _Optional[_Iterable[_Union[ShadowTarget, _Mapping]]] = ...) -> None: ...

class ScoredRecords(_message.Message):
    __slots__ = ("model", "version", "ids", "scores", "at", "scores_f32", "at_f64")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    SCORES_F32_FIELD_NUMBER: _ClassVar[int]
    AT_F64_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    ids: _containers.RepeatedScalarFieldContainer[str]
    scores: _containers.RepeatedScalarFieldContainer[float]
    at: _containers.RepeatedScalarFieldContainer[float]
    scores_f32: bytes
    at_f64: bytes
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., ids: _Optional[_Iterable[str]] = ..., scores: _Optional[_Iterable[float]] = ..., at: _Optional[_Iterable[float]] = ..., scores_f32: _Optional[bytes] = ..., at_f64: _Optional[bytes] = ...) -> None: ...

class GatewayReport(_message.Message):
    __slots__ = ("gateway_id", "applied_generation", "versions", "stats", "drift", "address", "started_at", "host", "pid", "routes", "scored", "scored_dropped", "scored_source", "scored_upto", "received_generation", "config_error", "refused")
    GATEWAY_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    SCORED_FIELD_NUMBER: _ClassVar[int]
    SCORED_DROPPED_FIELD_NUMBER: _ClassVar[int]
    SCORED_SOURCE_FIELD_NUMBER: _ClassVar[int]
    SCORED_UPTO_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_ERROR_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    gateway_id: str
    applied_generation: int
    versions: _containers.RepeatedCompositeFieldContainer[LoadedVersionState]
    stats: _containers.RepeatedCompositeFieldContainer[VersionStats]
    drift: _containers.RepeatedCompositeFieldContainer[DriftWindow]
    address: str
    started_at: str
    host: str
    pid: int
    routes: _containers.RepeatedCompositeFieldContainer[ModelRoutes]
    scored: _containers.RepeatedCompositeFieldContainer[ScoredRecords]
    scored_dropped: int
    scored_source: str
    scored_upto: int
    received_generation: int
    config_error: str
    refused: _containers.RepeatedCompositeFieldContainer[RefusedCount]
    def __init__(self, gateway_id: _Optional[str] = ..., applied_generation: _Optional[int] = ..., versions: _Optional[_Iterable[_Union[LoadedVersionState, _Mapping]]] = ..., stats: _Optional[_Iterable[_Union[VersionStats, _Mapping]]] = ..., drift: _Optional[_Iterable[_Union[DriftWindow, _Mapping]]] = ..., address: _Optional[str] = ..., started_at: _Optional[str] = ..., host: _Optional[str] = ..., pid: _Optional[int] = ..., routes: _Optional[_Iterable[_Union[ModelRoutes, _Mapping]]] = ..., scored: _Optional[_Iterable[_Union[ScoredRecords, _Mapping]]] = ..., scored_dropped: _Optional[int] = ..., scored_source: _Optional[str] = ..., scored_upto: _Optional[int] = ..., received_generation: _Optional[int] = ..., config_error: _Optional[str] = ..., refused: _Optional[_Iterable[_Union[RefusedCount, _Mapping]]] = ...) -> None: ...

class RefusedCount(_message.Message):
    __slots__ = ("model", "code", "count")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    model: str
    code: str
    count: int
    def __init__(self, model: _Optional[str] = ..., code: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class ReportAck(_message.Message):
    __slots__ = ("generation",)
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    generation: int
    def __init__(self, generation: _Optional[int] = ...) -> None: ...

class FetchArtifactRequest(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    def __init__(self, sha256: _Optional[str] = ...) -> None: ...

class ArtifactChunk(_message.Message):
    __slots__ = ("data", "total_size")
    DATA_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    total_size: int
    def __init__(self, data: _Optional[bytes] = ..., total_size: _Optional[int] = ...) -> None: ...

class GatewayInfo(_message.Message):
    __slots__ = ("gateway_id", "address", "host", "pid", "applied_generation", "last_report", "versions", "stats", "received_generation", "config_error", "desired_generation", "lagging")
    GATEWAY_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    LAST_REPORT_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_ERROR_FIELD_NUMBER: _ClassVar[int]
    DESIRED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    LAGGING_FIELD_NUMBER: _ClassVar[int]
    gateway_id: str
    address: str
    host: str
    pid: int
    applied_generation: int
    last_report: str
    versions: _containers.RepeatedCompositeFieldContainer[LoadedVersionState]
    stats: _containers.RepeatedCompositeFieldContainer[VersionStats]
    received_generation: int
    config_error: str
    desired_generation: int
    lagging: bool
    def __init__(self, gateway_id: _Optional[str] = ..., address: _Optional[str] = ..., host: _Optional[str] = ..., pid: _Optional[int] = ..., applied_generation: _Optional[int] = ..., last_report: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[LoadedVersionState, _Mapping]]] = ..., stats: _Optional[_Iterable[_Union[VersionStats, _Mapping]]] = ..., received_generation: _Optional[int] = ..., config_error: _Optional[str] = ..., desired_generation: _Optional[int] = ..., lagging: _Optional[bool] = ...) -> None: ...

class ListGatewaysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListGatewaysResponse(_message.Message):
    __slots__ = ("gateways",)
    GATEWAYS_FIELD_NUMBER: _ClassVar[int]
    gateways: _containers.RepeatedCompositeFieldContainer[GatewayInfo]
    def __init__(self, gateways: _Optional[_Iterable[_Union[GatewayInfo, _Mapping]]] = ...) -> None: ...

class GetDriftRequest(_message.Message):
    __slots__ = ("model", "version", "window_seconds")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    window_seconds: float
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., window_seconds: _Optional[float] = ...) -> None: ...

class ColumnDrift(_message.Message):
    __slots__ = ("name", "psi", "js", "ks", "mean_shift", "nan_rate", "out_of_range_rate", "rows", "status", "alert")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PSI_FIELD_NUMBER: _ClassVar[int]
    JS_FIELD_NUMBER: _ClassVar[int]
    KS_FIELD_NUMBER: _ClassVar[int]
    MEAN_SHIFT_FIELD_NUMBER: _ClassVar[int]
    NAN_RATE_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_RANGE_RATE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    name: str
    psi: float
    js: float
    ks: float
    mean_shift: float
    nan_rate: float
    out_of_range_rate: float
    rows: int
    status: str
    alert: bool
    def __init__(self, name: _Optional[str] = ..., psi: _Optional[float] = ..., js: _Optional[float] = ..., ks: _Optional[float] = ..., mean_shift: _Optional[float] = ..., nan_rate: _Optional[float] = ..., out_of_range_rate: _Optional[float] = ..., rows: _Optional[int] = ..., status: _Optional[str] = ..., alert: _Optional[bool] = ...) -> None: ...

class VersionDrift(_message.Message):
    __slots__ = ("version", "rows", "features", "score")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    version: int
    rows: int
    features: _containers.RepeatedCompositeFieldContainer[ColumnDrift]
    score: ColumnDrift
    def __init__(self, version: _Optional[int] = ..., rows: _Optional[int] = ..., features: _Optional[_Iterable[_Union[ColumnDrift, _Mapping]]] = ..., score: _Optional[_Union[ColumnDrift, _Mapping]] = ...) -> None: ...

class DriftReport(_message.Message):
    __slots__ = ("model", "window_seconds", "versions")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    model: str
    window_seconds: float
    versions: _containers.RepeatedCompositeFieldContainer[VersionDrift]
    def __init__(self, model: _Optional[str] = ..., window_seconds: _Optional[float] = ..., versions: _Optional[_Iterable[_Union[VersionDrift, _Mapping]]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("id", "at", "model", "version", "kind", "actor", "message", "details_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    id: int
    at: str
    model: str
    version: int
    kind: str
    actor: str
    message: str
    details_json: str
    def __init__(self, id: _Optional[int] = ..., at: _Optional[str] = ..., model: _Optional[str] = ..., version: _Optional[int] = ..., kind: _Optional[str] = ..., actor: _Optional[str] = ..., message: _Optional[str] = ..., details_json: _Optional[str] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("model", "limit")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    model: str
    limit: int
    def __init__(self, model: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class ReloadVersionRequest(_message.Message):
    __slots__ = ("model", "version", "actor", "reason")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    actor: str
    reason: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("model", "window_seconds", "by_gateway", "series_step_seconds")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BY_GATEWAY_FIELD_NUMBER: _ClassVar[int]
    SERIES_STEP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    model: str
    window_seconds: float
    by_gateway: bool
    series_step_seconds: float
    def __init__(self, model: _Optional[str] = ..., window_seconds: _Optional[float] = ..., by_gateway: _Optional[bool] = ..., series_step_seconds: _Optional[float] = ...) -> None: ...

class VersionWindowStats(_message.Message):
    __slots__ = ("version", "gateway_id", "role", "requests", "requests_per_second", "rows", "errors", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "share", "configured_share", "shadow_rate", "shadow_mirrored", "shadow_dropped", "shadow_agreement", "shadow_mean_abs_diff", "latency_buckets")
    class ErrorsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P90_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_SHARE_FIELD_NUMBER: _ClassVar[int]
    SHADOW_RATE_FIELD_NUMBER: _ClassVar[int]
    SHADOW_MIRRORED_FIELD_NUMBER: _ClassVar[int]
    SHADOW_DROPPED_FIELD_NUMBER: _ClassVar[int]
    SHADOW_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    SHADOW_MEAN_ABS_DIFF_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BUCKETS_FIELD_NUMBER: _ClassVar[int]
    version: int
    gateway_id: str
    role: str
    requests: int
    requests_per_second: float
    rows: int
    errors: _containers.ScalarMap[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    share: float
    configured_share: float
    shadow_rate: float
    shadow_mirrored: int
    shadow_dropped: int
    shadow_agreement: float
    shadow_mean_abs_diff: float
    latency_buckets: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, version: _Optional[int] = ..., gateway_id: _Optional[str] = ..., role: _Optional[str] = ..., requests: _Optional[int] = ..., requests_per_second: _Optional[float] = ..., rows: _Optional[int] = ..., errors: _Optional[_Mapping[str, int]] = ..., p50_ms: _Optional[float] = ..., p90_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., mean_ms: _Optional[float] = ..., share: _Optional[float] = ..., configured_share: _Optional[float] = ..., shadow_rate: _Optional[float] = ..., shadow_mirrored: _Optional[int] = ..., shadow_dropped: _Optional[int] = ..., shadow_agreement: _Optional[float] = ..., shadow_mean_abs_diff: _Optional[float] = ..., latency_buckets: _Optional[_Iterable[int]] = ...) -> None: ...

class StatsPoint(_message.Message):
    __slots__ = ("start", "seconds", "requests", "errors", "requests_per_second", "p99_ms", "p50_ms")
    START_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    start: float
    seconds: float
    requests: int
    errors: int
    requests_per_second: float
    p99_ms: float
    p50_ms: float
    def __init__(self, start: _Optional[float] = ..., seconds: _Optional[float] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., requests_per_second: _Optional[float] = ..., p99_ms: _Optional[float] = ..., p50_ms: _Optional[float] = ...) -> None: ...

class VersionSeries(_message.Message):
    __slots__ = ("version", "points")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    version: int
    points: _containers.RepeatedCompositeFieldContainer[StatsPoint]
    def __init__(self, version: _Optional[int] = ..., points: _Optional[_Iterable[_Union[StatsPoint, _Mapping]]] = ...) -> None: ...

class StatsReport(_message.Message):
    __slots__ = ("model", "window_seconds", "covered_seconds", "at", "mode", "requests", "versions", "latency_bounds_us", "series", "step_seconds")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    COVERED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BOUNDS_US_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    STEP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    model: str
    window_seconds: float
    covered_seconds: float
    at: float
    mode: str
    requests: int
    versions: _containers.RepeatedCompositeFieldContainer[VersionWindowStats]
    latency_bounds_us: _containers.RepeatedScalarFieldContainer[int]
    series: _containers.RepeatedCompositeFieldContainer[VersionSeries]
    step_seconds: float
    def __init__(self, model: _Optional[str] = ..., window_seconds: _Optional[float] = ..., covered_seconds: _Optional[float] = ..., at: _Optional[float] = ..., mode: _Optional[str] = ..., requests: _Optional[int] = ..., versions: _Optional[_Iterable[_Union[VersionWindowStats, _Mapping]]] = ..., latency_bounds_us: _Optional[_Iterable[int]] = ..., series: _Optional[_Iterable[_Union[VersionSeries, _Mapping]]] = ..., step_seconds: _Optional[float] = ...) -> None: ...

class TokenInfo(_message.Message):
    __slots__ = ("name", "role", "created_at", "created_by")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: str
    created_at: str
    created_by: str
    def __init__(self, name: _Optional[str] = ..., role: _Optional[str] = ..., created_at: _Optional[str] = ..., created_by: _Optional[str] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("name", "role")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: str
    def __init__(self, name: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class CreateTokenResponse(_message.Message):
    __slots__ = ("info", "token")
    INFO_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    info: TokenInfo
    token: str
    def __init__(self, info: _Optional[_Union[TokenInfo, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
