"""driftgate's exception tree: every error a caller can see is one of these.

    DriftgateError
    ├── InvalidRequest          the caller sent something wrong          -> INVALID_ARGUMENT
    │   ├── InvalidTensor       an input's name, datatype, shape or bytes
    │   └── TooLarge            over a gateway limit (rows, id or routing key length)
    │       └── MessageTooLarge over the message size limit               -> RESOURCE_EXHAUSTED
    ├── NotFound                                                          -> NOT_FOUND
    │   ├── ModelNotFound
    │   └── VersionNotFound
    ├── Unavailable             try again later                           -> UNAVAILABLE
    │   ├── ModelNotReady       registered but not loaded (yet) here
    │   ├── ShuttingDown
    │   ├── StorageUnavailable  the registry's database or artifact store refused ("registry storage: ...")
    │   └── ArtifactUnavailable a gateway could not fetch or cache an artifact now (retried with backoff)
    ├── Overloaded              the gateway is at its in-flight limit     -> RESOURCE_EXHAUSTED
    ├── DeadlineExpired         the caller's deadline passed before scoring -> DEADLINE_EXCEEDED
    ├── Conflict                valid, but not in the current state       -> FAILED_PRECONDITION
    │   ├── SignatureMismatch   a new version's inputs/outputs differ from the model's
    │   └── SchemaError         the database's schema is not the one this code knows
    ├── ModelLoadError          an artifact that onnxruntime or onnx refused -> INVALID_ARGUMENT at
    │                           registration, a FAILED version state on a gateway
    ├── ArtifactError           the artifact store lost or corrupted bytes -> DATA_LOSS
    ├── ScoringError            onnxruntime failed while scoring          -> INTERNAL (generic message)
    └── ConfigError             settings that cannot work (an unreadable certificate, an unsafe bind);
                                raised at start-up, before anything serves

The table that maps these to gRPC status codes lives in driftgate.grpc_edge, the one place that
imports grpc for errors; the core raises these and never a status code. Anything else that escapes
a handler is reported to the client as INTERNAL with a generic message.

Refusals the gateway counts (``driftgate_requests_rejected_total{model,reason}``) carry the
reason (``overload``, ``deadline``, ``too_large``) as a class attribute and the model they were
for ("" when the request was refused before it was read). Names a caller sent are echoed through
:func:`shown`, never whole.
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "ArtifactUnavailable",
    "ConfigError",
    "Conflict",
    "DeadlineExpired",
    "DriftgateError",
    "InvalidRequest",
    "InvalidTensor",
    "MessageTooLarge",
    "ModelLoadError",
    "ModelNotFound",
    "ModelNotReady",
    "NotFound",
    "Overloaded",
    "SchemaError",
    "ScoringError",
    "ShuttingDown",
    "SignatureMismatch",
    "StorageUnavailable",
    "TooLarge",
    "Unavailable",
    "VersionNotFound",
    "shown",
]

SHOWN_MAX = 64
"""Characters of a caller's string (a model, input or output name, an id) an error message echoes."""


def shown(value: str, limit: int = SHOWN_MAX) -> str:
    """``repr(value)``, cut to ``limit`` characters with the full length said: a 256 KB model name
    must not come back whole in an error (or be formatted whole on every bad request)."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


class DriftgateError(Exception):
    """Base of every error driftgate reports to a caller; ``str(exc)`` is meant for a person."""


class InvalidRequest(DriftgateError):
    """The request is malformed; retrying it unchanged will fail again."""


class InvalidTensor(InvalidRequest):
    """An input tensor does not match the model's signature."""


class TooLarge(InvalidRequest):
    """Over one of the gateway's limits: rows in a request, request id or routing key length."""

    reason = "too_large"

    def __init__(self, message: str, model: str = "") -> None:
        super().__init__(message)
        self.model = model


class MessageTooLarge(TooLarge):
    """A request message over the gateway's size limit (max_message_bytes), refused before it is
    decoded; RESOURCE_EXHAUSTED, the code grpc gives its own size refusals."""


class Overloaded(DriftgateError):
    """The gateway already has its limit of requests in flight; refused before it was read."""

    reason = "overload"

    def __init__(self, message: str, model: str = "") -> None:
        super().__init__(message)
        self.model = model


class DeadlineExpired(DriftgateError):
    """The caller's deadline passed before the request reached scoring; it was not scored."""

    reason = "deadline"

    def __init__(self, message: str, model: str = "") -> None:
        super().__init__(message)
        self.model = model


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


class StorageUnavailable(Unavailable):
    """The registry's storage (database, artifact store) failed: a full disk, an I/O error, a lost
    database connection. Nothing of the request was kept; sending it again later is safe. The
    message starts with "registry storage: " and names the cause."""


class ArtifactUnavailable(Unavailable):
    """A gateway could not get an artifact's bytes now (the registry is unreachable, a transfer
    broke, the local cache is full). Transient: the gateway retries with backoff; never a reason
    to mark a version FAILED."""


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


class ConfigError(DriftgateError):
    """The settings cannot work: a certificate that cannot be read, a key that does not match its
    certificate, an address that must not be bound without TLS. Start-up stops with this message."""
