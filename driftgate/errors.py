"""driftgate's exception tree: every error a caller can see is one of these.

    DriftgateError
    ├── InvalidRequest          the caller sent something wrong          -> INVALID_ARGUMENT
    │   └── InvalidTensor       an input's name, datatype, shape or bytes
    ├── NotFound                                                          -> NOT_FOUND
    │   ├── ModelNotFound
    │   └── VersionNotFound
    ├── Unavailable             try again later                           -> UNAVAILABLE
    │   ├── ModelNotReady       registered but not loaded (yet) here
    │   └── ShuttingDown
    ├── Conflict                valid, but not in the current state       -> FAILED_PRECONDITION
    │   ├── SignatureMismatch   a new version's inputs/outputs differ from the model's
    │   └── SchemaError         the database's schema is not the one this code knows
    ├── ModelLoadError          an artifact that onnxruntime or onnx refused -> INVALID_ARGUMENT at
    │                           registration, a FAILED version state on a gateway
    ├── ArtifactError           the artifact store lost or corrupted bytes -> DATA_LOSS
    └── ScoringError            onnxruntime failed while scoring          -> INTERNAL (generic message)

The table that maps these to gRPC status codes lives in driftgate.grpc_edge, the one place that
imports grpc for errors; the core raises these and never a status code. Anything else that escapes
a handler is reported to the client as INTERNAL with a generic message.
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "Conflict",
    "DriftgateError",
    "InvalidRequest",
    "InvalidTensor",
    "ModelLoadError",
    "ModelNotFound",
    "ModelNotReady",
    "NotFound",
    "SchemaError",
    "ScoringError",
    "ShuttingDown",
    "SignatureMismatch",
    "Unavailable",
    "VersionNotFound",
]


class DriftgateError(Exception):
    """Base of every error driftgate reports to a caller; ``str(exc)`` is meant for a person."""


class InvalidRequest(DriftgateError):
    """The request is malformed; retrying it unchanged will fail again."""


class InvalidTensor(InvalidRequest):
    """An input tensor does not match the model's signature."""


class NotFound(DriftgateError):
    """The named thing does not exist."""


class ModelNotFound(NotFound):
    pass


class VersionNotFound(NotFound):
    pass


class Unavailable(DriftgateError):
    """Temporarily unable to serve; the caller may retry."""


class ModelNotReady(Unavailable):
    pass


class ShuttingDown(Unavailable):
    pass


class Conflict(DriftgateError):
    """The request is well formed but the current state does not allow it."""


class SignatureMismatch(Conflict):
    pass


class SchemaError(Conflict):
    """The registry's database is at a schema this code cannot use (newer, or older and not migrated)."""


class ModelLoadError(DriftgateError):
    """onnx or onnxruntime refused an artifact."""


class ArtifactError(DriftgateError):
    """An artifact is missing or its bytes do not match its sha256."""


class ScoringError(DriftgateError):
    """onnxruntime failed while scoring a request that passed validation."""
