from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitLabelsRequest(_message.Message):
    __slots__ = ("model", "ids", "labels", "labelled_at", "actor")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LABELLED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    model: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    labels: _containers.RepeatedScalarFieldContainer[int]
    labelled_at: _containers.RepeatedScalarFieldContainer[float]
    actor: str
    def __init__(self, model: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., labels: _Optional[_Iterable[int]] = ..., labelled_at: _Optional[_Iterable[float]] = ..., actor: _Optional[str] = ...) -> None: ...

class SubmitLabelsResponse(_message.Message):
    __slots__ = ("received", "joined", "unknown", "duplicates", "expired", "held")
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    JOINED_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    received: int
    joined: int
    unknown: int
    duplicates: int
    expired: int
    held: int
    def __init__(self, received: _Optional[int] = ..., joined: _Optional[int] = ..., unknown: _Optional[int] = ..., duplicates: _Optional[int] = ..., expired: _Optional[int] = ..., held: _Optional[int] = ...) -> None: ...

class GetAccuracyRequest(_message.Message):
    __slots__ = ("model", "version", "window_seconds")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    window_seconds: float
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., window_seconds: _Optional[float] = ...) -> None: ...

class AccuracySettings(_message.Message):
    __slots__ = ("model", "threshold", "min_auc", "max_calibration_gap", "min_labels", "alert_windows", "eval_window_seconds")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_AUC_FIELD_NUMBER: _ClassVar[int]
    MAX_CALIBRATION_GAP_FIELD_NUMBER: _ClassVar[int]
    MIN_LABELS_FIELD_NUMBER: _ClassVar[int]
    ALERT_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    EVAL_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    model: str
    threshold: float
    min_auc: float
    max_calibration_gap: float
    min_labels: int
    alert_windows: int
    eval_window_seconds: float
    def __init__(self, model: _Optional[str] = ..., threshold: _Optional[float] = ..., min_auc: _Optional[float] = ..., max_calibration_gap: _Optional[float] = ..., min_labels: _Optional[int] = ..., alert_windows: _Optional[int] = ..., eval_window_seconds: _Optional[float] = ...) -> None: ...

class UpdateAccuracySettingsRequest(_message.Message):
    __slots__ = ("model", "threshold", "min_auc", "max_calibration_gap", "min_labels", "alert_windows", "eval_window_seconds", "actor")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_AUC_FIELD_NUMBER: _ClassVar[int]
    MAX_CALIBRATION_GAP_FIELD_NUMBER: _ClassVar[int]
    MIN_LABELS_FIELD_NUMBER: _ClassVar[int]
    ALERT_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    EVAL_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    model: str
    threshold: float
    min_auc: float
    max_calibration_gap: float
    min_labels: int
    alert_windows: int
    eval_window_seconds: float
    actor: str
    def __init__(self, model: _Optional[str] = ..., threshold: _Optional[float] = ..., min_auc: _Optional[float] = ..., max_calibration_gap: _Optional[float] = ..., min_labels: _Optional[int] = ..., alert_windows: _Optional[int] = ..., eval_window_seconds: _Optional[float] = ..., actor: _Optional[str] = ...) -> None: ...

class VersionAccuracy(_message.Message):
    __slots__ = ("version", "scored", "labelled", "positives", "delay_median_s", "delay_p90_s", "auc", "precision", "recall", "mean_score", "observed_rate", "calibration_gap", "status", "reasons", "alert")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORED_FIELD_NUMBER: _ClassVar[int]
    LABELLED_FIELD_NUMBER: _ClassVar[int]
    POSITIVES_FIELD_NUMBER: _ClassVar[int]
    DELAY_MEDIAN_S_FIELD_NUMBER: _ClassVar[int]
    DELAY_P90_S_FIELD_NUMBER: _ClassVar[int]
    AUC_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    RECALL_FIELD_NUMBER: _ClassVar[int]
    MEAN_SCORE_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_RATE_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_GAP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    version: int
    scored: int
    labelled: int
    positives: int
    delay_median_s: float
    delay_p90_s: float
    auc: float
    precision: float
    recall: float
    mean_score: float
    observed_rate: float
    calibration_gap: float
    status: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    alert: bool
    def __init__(self, version: _Optional[int] = ..., scored: _Optional[int] = ..., labelled: _Optional[int] = ..., positives: _Optional[int] = ..., delay_median_s: _Optional[float] = ..., delay_p90_s: _Optional[float] = ..., auc: _Optional[float] = ..., precision: _Optional[float] = ..., recall: _Optional[float] = ..., mean_score: _Optional[float] = ..., observed_rate: _Optional[float] = ..., calibration_gap: _Optional[float] = ..., status: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., alert: _Optional[bool] = ...) -> None: ...

class AccuracyReport(_message.Message):
    __slots__ = ("model", "window_seconds", "settings", "versions", "retention_dropped", "gateway_dropped", "held_labels", "held_expired")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    RETENTION_DROPPED_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_DROPPED_FIELD_NUMBER: _ClassVar[int]
    HELD_LABELS_FIELD_NUMBER: _ClassVar[int]
    HELD_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    model: str
    window_seconds: float
    settings: AccuracySettings
    versions: _containers.RepeatedCompositeFieldContainer[VersionAccuracy]
    retention_dropped: int
    gateway_dropped: int
    held_labels: int
    held_expired: int
    def __init__(self, model: _Optional[str] = ..., window_seconds: _Optional[float] = ..., settings: _Optional[_Union[AccuracySettings, _Mapping]] = ..., versions: _Optional[_Iterable[_Union[VersionAccuracy, _Mapping]]] = ..., retention_dropped: _Optional[int] = ..., gateway_dropped: _Optional[int] = ..., held_labels: _Optional[int] = ..., held_expired: _Optional[int] = ...) -> None: ...
