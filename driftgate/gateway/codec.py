"""How one served model's requests are read and its responses written, at the edge.

A :class:`ModelCodec` is built with the model's ``ServedModel`` (driftgate.gateway.reconcile
publishes a new one whenever the model's versions or settings change) and is dropped with it, so
nothing it holds can outlive the model or be confused with another one's. It holds what decoding
and encoding learn once and reuse on every request:

- the signature's lookup tables (driftgate.gateway.tensors.SignaturePlan);
- the output lists requests ask for, checked once each (clients send the same list on every
  request), as :class:`Outputs`: the specs, in the request's order;
- per output list and loaded version, the response writer (driftgate.gateway.wire) and where each
  requested output is in what the version returns.

The core (driftgate.gateway.dataplane) never calls it: the servicer decodes with it before the
core scores, and encodes with it after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from driftgate.gateway.tensors import SignaturePlan, encode_outputs
from driftgate.gateway.wire import ResponseWriter
from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.signature import Signature, TensorSpec

if TYPE_CHECKING:
    from driftgate.gateway.versions import LoadedVersion

__all__ = ["ModelCodec", "Outputs"]

_REQUESTED_MAX = 256  # distinct requested-output lists remembered per model
_WRITERS_MAX = 64  # versions with a writer, per output list


class Outputs:
    """The outputs a request asks for (``specs``, in its order), with a response writer per
    loaded version. Compared by identity: the codec hands out one per distinct list."""

    __slots__ = ("_writers", "specs")

    def __init__(self, specs: tuple[TensorSpec, ...]) -> None:
        self.specs = specs
        self._writers: dict[LoadedVersion, tuple[ResponseWriter, tuple[int, ...] | None]] = {}

    def writer(self, lv: LoadedVersion) -> tuple[ResponseWriter, tuple[int, ...] | None]:
        """The version's response writer for these outputs, and where each of them is in what the
        version returns (None: in order)."""
        entry = self._writers.get(lv)
        if entry is None:
            names = lv.output_names
            wanted = tuple(s.name for s in self.specs)
            order = None if wanted == names else tuple(names.index(name) for name in wanted)
            entry = (ResponseWriter(lv.model, lv.version_str, self.specs), order)
            if len(self._writers) < _WRITERS_MAX:
                self._writers[lv] = entry
        return entry

    def __repr__(self) -> str:
        return f"Outputs({[s.name for s in self.specs]})"


class ModelCodec:
    """Decoding and encoding for one served model (see the module docstring)."""

    __slots__ = ("_requested", "all", "plan")

    def __init__(self, signature: Signature) -> None:
        self.plan = SignaturePlan(signature)
        self.all = Outputs(signature.outputs)  # every output, in the model's order (none named)
        # by the requests' serialized InferRequestedOutput messages: checked once, then a lookup
        self._requested: dict[tuple[bytes, ...], Outputs] = {}

    def decode(self, request: pb.ModelInferRequest, max_batch_size: int) -> tuple[dict[str, np.ndarray], int]:
        return self.plan.decode(request, max_batch_size)

    def outputs(self, request: pb.ModelInferRequest) -> Outputs:
        """The outputs the request asks for (every output when it names none, or names them all in
        the model's order: then ``self.all``). Errors are not remembered."""
        requested = request.outputs
        if not requested:
            return self.all
        key = tuple([out.SerializeToString() for out in requested])
        outputs = self._requested.get(key)
        if outputs is None:
            specs = self.plan.requested(request)
            outputs = self.all if specs is self.all.specs else Outputs(specs)
            if len(self._requested) < _REQUESTED_MAX:
                self._requested[key] = outputs
        return outputs

    def encode(self, lv: LoadedVersion, outputs: Outputs, request_id: str, arrays: list[np.ndarray]) -> bytes:
        """The serialized ModelInferResponse of the version's arrays (in the order it returns them)
        for the outputs the request asked for."""
        writer, order = outputs.writer(lv)
        if order is not None:  # outputs named in another order than the version returns them
            arrays = [arrays[i] for i in order]
        data = writer.encode(request_id, arrays)
        if data is None:  # outputs the writer was not built for (see driftgate.gateway.wire)
            response = pb.ModelInferResponse(model_name=lv.model, model_version=lv.version_str, id=request_id)
            encode_outputs(response, outputs.specs, arrays)
            data = response.SerializeToString()
        return data
