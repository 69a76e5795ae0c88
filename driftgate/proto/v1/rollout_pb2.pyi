from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RetrainRequest(_message.Message):
    __slots__ = ("model", "data_source", "data_options", "trainer", "trainer_options", "force", "no_rollout", "actor", "reason")
    class DataOptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class TrainerOptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DATA_SOURCE_FIELD_NUMBER: _ClassVar[int]
    DATA_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TRAINER_FIELD_NUMBER: _ClassVar[int]
    TRAINER_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    NO_ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model: str
    data_source: str
    data_options: _containers.ScalarMap[str, str]
    trainer: str
    trainer_options: _containers.ScalarMap[str, str]
    force: bool
    no_rollout: bool
    actor: str
    reason: str
    def __init__(self, model: _Optional[str] = ..., data_source: _Optional[str] = ..., data_options: _Optional[_Mapping[str, str]] = ..., trainer: _Optional[str] = ..., trainer_options: _Optional[_Mapping[str, str]] = ..., force: _Optional[bool] = ..., no_rollout: _Optional[bool] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RetrainRunInfo(_message.Message):
    __slots__ = ("id", "model", "state", "trigger", "actor", "reason", "started_at", "finished_at", "version", "champion", "details_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    id: int
    model: str
    state: str
    trigger: str
    actor: str
    reason: str
    started_at: float
    finished_at: float
    version: int
    champion: int
    details_json: str
    def __init__(self, id: _Optional[int] = ..., model: _Optional[str] = ..., state: _Optional[str] = ..., trigger: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., started_at: _Optional[float] = ..., finished_at: _Optional[float] = ..., version: _Optional[int] = ..., champion: _Optional[int] = ..., details_json: _Optional[str] = ...) -> None: ...

class GetRolloutRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class RolloutInfo(_message.Message):
    __slots__ = ("id", "model", "champion", "challenger", "state", "step", "steps", "step_started_at", "paused", "reason", "created_at", "updated_at", "gates_json", "actor")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    STEP_STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    GATES_JSON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    id: int
    model: str
    champion: int
    challenger: int
    state: str
    step: int
    steps: _containers.RepeatedScalarFieldContainer[int]
    step_started_at: float
    paused: bool
    reason: str
    created_at: float
    updated_at: float
    gates_json: str
    actor: str
    def __init__(self, id: _Optional[int] = ..., model: _Optional[str] = ..., champion: _Optional[int] = ..., challenger: _Optional[int] = ..., state: _Optional[str] = ..., step: _Optional[int] = ..., steps: _Optional[_Iterable[int]] = ..., step_started_at: _Optional[float] = ..., paused: _Optional[bool] = ..., reason: _Optional[str] = ..., created_at: _Optional[float] = ..., updated_at: _Optional[float] = ..., gates_json: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class RolloutStatus(_message.Message):
    __slots__ = ("model", "champion", "rollout", "runs", "retrain_running")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    RETRAIN_RUNNING_FIELD_NUMBER: _ClassVar[int]
    model: str
    champion: int
    rollout: RolloutInfo
    runs: _containers.RepeatedCompositeFieldContainer[RetrainRunInfo]
    retrain_running: bool
    def __init__(self, model: _Optional[str] = ..., champion: _Optional[int] = ..., rollout: _Optional[_Union[RolloutInfo, _Mapping]] = ..., runs: _Optional[_Iterable[_Union[RetrainRunInfo, _Mapping]]] = ..., retrain_running: _Optional[bool] = ...) -> None: ...

class RolloutActionRequest(_message.Message):
    __slots__ = ("model", "actor", "reason")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model: str
    actor: str
    reason: str
    def __init__(self, model: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetRetrainPolicyRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class RetrainPolicy(_message.Message):
    __slots__ = ("model", "triggers", "interval_s", "data_source", "data_options", "trainer", "trainer_options", "auto_rollout", "actor")
    class DataOptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class TrainerOptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TRIGGERS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    DATA_SOURCE_FIELD_NUMBER: _ClassVar[int]
    DATA_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TRAINER_FIELD_NUMBER: _ClassVar[int]
    TRAINER_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    AUTO_ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    model: str
    triggers: _containers.RepeatedScalarFieldContainer[str]
    interval_s: float
    data_source: str
    data_options: _containers.ScalarMap[str, str]
    trainer: str
    trainer_options: _containers.ScalarMap[str, str]
    auto_rollout: bool
    actor: str
    def __init__(self, model: _Optional[str] = ..., triggers: _Optional[_Iterable[str]] = ..., interval_s: _Optional[float] = ..., data_source: _Optional[str] = ..., data_options: _Optional[_Mapping[str, str]] = ..., trainer: _Optional[str] = ..., trainer_options: _Optional[_Mapping[str, str]] = ..., auto_rollout: _Optional[bool] = ..., actor: _Optional[str] = ...) -> None: ...
