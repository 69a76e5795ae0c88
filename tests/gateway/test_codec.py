"""A model's codec (driftgate.gateway.codec) writes, for any requested-output list and version,
the bytes protobuf serializes for the same response, and keeps what it learns to itself."""

from __future__ import annotations

import numpy as np

from driftgate.gateway.codec import ModelCodec
from driftgate.gateway.stats import VersionCounters
from driftgate.gateway.tensors import encode_outputs
from driftgate.gateway.versions import LoadedVersion
from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.signature import Signature, TensorSpec

FRAUD = Signature(
    inputs=(TensorSpec("transaction", "FP32", (-1, 4)),),
    outputs=(TensorSpec("label", "INT64", (-1,)), TensorSpec("probabilities", "FP32", (-1, 2))),
)
LABELS = np.array([0, 1, 0], dtype=np.int64)
PROBABILITIES = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], dtype=np.float32)


def version(number: int, output_names: tuple[str, ...] = ("label", "probabilities")) -> LoadedVersion:
    """A loaded version as the codec sees it (it never runs a session)."""
    return LoadedVersion(
        model="fraud", version=number, sha256="", session=None, signature=FRAUD, input_names=("transaction",),
        output_names=output_names, output_specs=FRAUD.outputs, counters=VersionCounters(), load_seconds=0.0,
    )


def asking(*names: str) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="fraud")
    for name in names:
        request.outputs.add(name=name)
    return request


def message_bytes(number: int, request_id: str, specs: tuple[TensorSpec, ...], arrays: list[np.ndarray]) -> bytes:
    response = pb.ModelInferResponse(model_name="fraud", model_version=str(number), id=request_id)
    encode_outputs(response, specs, arrays)
    return response.SerializeToString()


def test_every_output_list_is_written_as_protobuf_writes_it() -> None:
    codec = ModelCodec(FRAUD)
    lv = version(3)
    returned = [LABELS, PROBABILITIES]  # in the version's order
    cases = {(): returned, ("probabilities",): [PROBABILITIES], ("probabilities", "label"): [PROBABILITIES, LABELS]}
    for names, expected in cases.items():
        outputs = codec.outputs(asking(*names))
        for request_id in ("", "txn-1"):
            assert codec.encode(lv, outputs, request_id, returned) == message_bytes(
                3, request_id, outputs.specs, expected)
        assert outputs.writer(lv) is outputs.writer(lv)  # one writer per version and output list


def test_a_version_that_returns_its_outputs_in_another_order_is_written_in_the_requested_one() -> None:
    codec = ModelCodec(FRAUD)
    lv = version(4, ("probabilities", "label"))
    data = codec.encode(lv, codec.all, "x", [PROBABILITIES, LABELS])
    assert data == message_bytes(4, "x", FRAUD.outputs, [LABELS, PROBABILITIES])


def test_outputs_the_writer_was_not_built_for_take_the_message_path() -> None:
    codec = ModelCodec(FRAUD)
    wide = PROBABILITIES.astype(np.float64)  # a version returning FP64 where the signature says FP32
    data = codec.encode(version(1), codec.all, "y", [LABELS, wide])
    assert data == message_bytes(1, "y", FRAUD.outputs, [LABELS, wide])
    assert pb.ModelInferResponse.FromString(data).outputs[1].datatype == "FP64"  # the label follows the bytes


def test_codecs_share_nothing() -> None:
    first, second = ModelCodec(FRAUD), ModelCodec(FRAUD)
    request = asking("probabilities")
    assert first.outputs(request) is first.outputs(request)
    assert second.outputs(request) is not first.outputs(request)
    assert first.plan is not second.plan
