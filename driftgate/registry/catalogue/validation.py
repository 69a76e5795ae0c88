"""Everything a new version must pass before the registry writes a byte of it.

1. ``onnx.checker`` accepts the bytes, and onnxruntime (CPU) loads them into a session; either
   failing is a ModelLoadError carrying onnx's or onnxruntime's own message.
2. Its signature (driftgate.signature.signature_from_onnx) matches the model's newest active
   version (Signature.check_compatible raises SignatureMismatch).
3. The score column. Explicit: ``score_output`` names an output and ``score_column`` its column
   (ignored, and stored as -1, when that output is one value a row, i.e. 1-D). Otherwise the rule
   is: the first floating-point output; if it is 1-D, that value (-1); if its last dimension is 1,
   column 0; if it is 2, column 1 (the positive class of a binary classifier: skl2onnx's
   ``probabilities``); any other width (multiclass, or unknown) needs an explicit choice.
4. The reference profile, when reference data is given: a ``.npy`` array (no pickles) of shape
   [rows, features] matching the model's single 2-D input, scored with the session, then profiled
   with driftgate.native.build_profile. Feature names come from the request, else the model's
   settings, else f0..fN-1.

Validation is a pure function of its arguments; it writes nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftgate.errors import InvalidRequest, ModelLoadError
from driftgate.signature import Signature, TensorSpec, numpy_dtype, signature_from_onnx

__all__ = ["ValidatedVersion", "choose_score", "load_reference", "validate_version"]

_FLOAT_TYPES = ("FP16", "FP32", "FP64")
_SCORE_CHUNK_ROWS = 16_384


@dataclass(frozen=True, slots=True)
class ValidatedVersion:
    signature: Signature
    score_output: str
    score_column: int
    feature_names: tuple[str, ...]
    profile: dict[str, Any] | None


def load_session(onnx_bytes: bytes) -> Any:
    """Check the bytes with onnx and load them with onnxruntime on the CPU."""
    import onnx
    import onnxruntime as ort

    if not onnx_bytes:
        raise ModelLoadError("the model is empty (0 bytes)")
    try:
        model = onnx.load_model_from_string(onnx_bytes)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, RuntimeError...
        raise ModelLoadError(f"onnx rejected the model: {exc}") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(f"onnxruntime cannot load the model: {exc}") from exc


def choose_score(signature: Signature, score_output: str = "", score_column: int = 0) -> tuple[str, int]:
    """The (output, column) the score is read from; see the module docstring for the rule."""
    if score_output:
        spec = next((s for s in signature.outputs if s.name == score_output), None)
        if spec is None:
            names = ", ".join(s.name for s in signature.outputs)
            raise InvalidRequest(f"score output {score_output!r} is not an output of the model (outputs: {names})")
        if spec.datatype not in _FLOAT_TYPES:
            raise InvalidRequest(f"score output {score_output!r} is {spec.datatype}; the score must be floating point")
        if len(spec.shape) == 1:
            return spec.name, -1
        if len(spec.shape) != 2:
            raise InvalidRequest(f"score output {spec.describe()} must be [batch] or [batch, k]")
        width = spec.shape[1]
        if score_column < 0 or (width >= 0 and score_column >= width):
            raise InvalidRequest(f"score column {score_column} is outside output {spec.describe()}")
        return spec.name, score_column

    spec = next((s for s in signature.outputs if s.datatype in _FLOAT_TYPES), None)
    if spec is None:
        raise InvalidRequest("the model has no floating-point output to read a score from; pass score_output")
    if len(spec.shape) == 1:
        return spec.name, -1
    if len(spec.shape) == 2 and spec.shape[1] == 1:
        return spec.name, 0
    if len(spec.shape) == 2 and spec.shape[1] == 2:
        return spec.name, 1
    raise InvalidRequest(
        f"cannot tell which column of {spec.describe()} is the score; pass score_output and score_column"
    )


def _feature_input(signature: Signature) -> TensorSpec:
    if len(signature.inputs) != 1 or len(signature.inputs[0].shape) != 2:
        described = ", ".join(s.describe() for s in signature.inputs)
        raise InvalidRequest(
            f"reference data needs a model with one 2-D input [batch, features]; this one takes {described}"
        )
    return signature.inputs[0]


def load_reference(reference: bytes | np.ndarray, spec: TensorSpec) -> np.ndarray:
    """The reference array, checked against the input ``spec`` and cast to its dtype."""
    if isinstance(reference, np.ndarray):
        array = reference
    else:
        try:
            array = np.load(io.BytesIO(reference), allow_pickle=False)
        except Exception as exc:  # ValueError, OSError, EOFError, UnpicklingError
            raise InvalidRequest(f"reference data is not a readable .npy array: {exc}") from exc
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiub":
        raise InvalidRequest("reference data must be a numeric .npy array")
    if array.ndim != 2:
        raise InvalidRequest(f"reference data must be 2-D [rows, features]; got shape {list(array.shape)}")
    features = spec.shape[1]
    if features >= 0 and array.shape[1] != features:
        raise InvalidRequest(
            f"reference data has {array.shape[1]} columns; input {spec.name!r} takes {features} features"
        )
    if array.shape[0] == 0:
        raise InvalidRequest("reference data has no rows")
    try:
        dtype = numpy_dtype(spec.datatype)
    except KeyError as exc:
        raise InvalidRequest(f"input {spec.describe()} cannot take reference data") from exc
    return np.ascontiguousarray(array, dtype=dtype)


def _score(session: Any, spec: TensorSpec, X: np.ndarray, output: str, column: int) -> np.ndarray:
    parts = []
    for start in range(0, X.shape[0], _SCORE_CHUNK_ROWS):
        try:
            (out,) = session.run([output], {spec.name: X[start : start + _SCORE_CHUNK_ROWS]})
        except Exception as exc:
            raise ModelLoadError(f"onnxruntime failed to score the reference data: {exc}") from exc
        out = np.asarray(out)
        if column < 0:
            out = out.reshape(out.shape[0])
        else:
            if out.ndim != 2 or column >= out.shape[1]:
                raise InvalidRequest(f"score column {column} is outside output {output!r} of shape {list(out.shape)}")
            out = out[:, column]
        parts.append(out.astype(np.float64))
    return np.ascontiguousarray(np.concatenate(parts))


def _feature_names(given: tuple[str, ...], from_settings: tuple[str, ...], count: int) -> tuple[str, ...]:
    if given:
        if len(given) != count:
            raise InvalidRequest(f"{len(given)} feature names given; the model takes {count} features")
        if len(set(given)) != len(given):
            raise InvalidRequest("feature names must be unique")
        return tuple(given)
    if len(from_settings) == count:
        return tuple(from_settings)
    return tuple(f"f{i}" for i in range(count))


def validate_version(
    onnx_bytes: bytes,
    *,
    reference: bytes | np.ndarray | None,
    newest_active: Signature | None,
    score_output: str = "",
    score_column: int = 0,
    feature_names: tuple[str, ...] = (),
    settings_feature_names: tuple[str, ...] = (),
    bins: int = 16,
) -> ValidatedVersion:
    """Run every check; returns what the registry stores with the version. Writes nothing."""
    session = load_session(onnx_bytes)
    signature = signature_from_onnx(session)
    if newest_active is not None:
        newest_active.check_compatible(signature)
    output, column = choose_score(signature, score_output, score_column)

    count = -1
    if len(signature.inputs) == 1 and len(signature.inputs[0].shape) == 2:
        count = signature.inputs[0].shape[1]

    profile = None
    if reference is not None and (not isinstance(reference, bytes) or len(reference) > 0):
        spec = _feature_input(signature)
        X = load_reference(reference, spec)
        names = _feature_names(feature_names, settings_feature_names, X.shape[1])
        scores = _score(session, spec, X, output, column)
        from driftgate.native import build_profile

        profile = build_profile(X, scores, list(names), bins=bins).to_dict()
    elif count >= 0:
        names = _feature_names(feature_names, settings_feature_names, count)
    else:
        if feature_names:
            raise InvalidRequest("feature names need a model with one 2-D input of known width")
        names = ()
    return ValidatedVersion(signature, output, column, names, profile)
