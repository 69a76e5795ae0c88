"""Admission and limits (issue 14): a real `driftgate serve --max-inflight 8` with small limits,
called through real gRPC clients. Counters are read from the worker's Prometheus endpoint."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import grpc
import numpy as np
import pytest

from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc as pb_grpc
from tests.conftest import Served, start_served, stop_served

MAX_INFLIGHT = 8
MAX_MESSAGE = 8 * 1024 * 1024
MAX_ROWS = 60_000
LIMIT_ENV = {
    "DRIFTGATE_GATEWAY__MAX_MESSAGE_BYTES": str(MAX_MESSAGE),
    "DRIFTGATE_GATEWAY__MAX_REQUEST_ROWS": str(MAX_ROWS),
    "DRIFTGATE_GATEWAY__MAX_BATCH_SIZE": "100000",
    "DRIFTGATE_GATEWAY__MAX_REQUEST_ID_LENGTH": "64",
    "DRIFTGATE_GATEWAY__MAX_ROUTING_KEY_LENGTH": "64",
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = start_served(tmp_path_factory.mktemp("admission") / "home", "--max-inflight", str(MAX_INFLIGHT),
                     env=LIMIT_ENV)
    yield s
    code = stop_served(s)
    assert code == 0, (s.home / "serve.log").read_text()[-4000:]


def request(rows: int, *, seed: int = 0, request_id: str = "", model: str = "fraud",
            key: str | None = None) -> pb.ModelInferRequest:
    x = np.random.default_rng(seed).random((rows, 30), dtype=np.float32)
    r = pb.ModelInferRequest(model_name=model, id=request_id)
    r.inputs.add(name="transaction", datatype="FP32", shape=[rows, 30])
    r.raw_input_contents.append(x.tobytes())
    if key is not None:
        r.parameters["routing_key"].string_param = key
    return r


def probabilities(response: pb.ModelInferResponse) -> np.ndarray:
    for out, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        if out.name == "probabilities":
            return np.frombuffer(raw, "<f4").reshape(tuple(out.shape))
    raise AssertionError("no probabilities in the response")


def metric(served: Served, name: str, **labels: str) -> float:
    text = urllib.request.urlopen(served.metrics, timeout=5).read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.compile(rf"^{name}(\{{{re.escape(want)}\}})? (\S+)$" if want else rf"^{name} (\S+)$", re.M)
    match = pattern.search(text)
    return float(match.groups()[-1]) if match else 0.0


def channel_options() -> list[tuple[str, int]]:
    return [("grpc.use_local_subchannel_pool", 1), ("grpc.max_send_message_length", 64 << 20),
            ("grpc.max_receive_message_length", 64 << 20)]


def _batching(gateway: Served, stub: pb_grpc.GRPCInferenceServiceStub, *args: str) -> None:
    gateway.cli("models", "batching", "fraud", *args)
    want = "--off" not in args
    for _ in range(400):  # until this worker applied it (ModelConfig shows the batcher)
        config = stub.ModelConfig(pb.ModelConfigRequest(name="fraud")).config
        if config.HasField("dynamic_batching") == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"batching {args} never reached the gateway")


def test_overload_is_refused_at_once_and_admitted_requests_answer_right(gateway: Served) -> None:
    """256 concurrent clients against --max-inflight 8, with requests the worker holds across an
    await (adaptive batching with a 100 ms delay: a batch of 32 never fills under a limit of 8):
    the excess is RESOURCE_EXHAUSTED with the limit named, every admitted request gets its own
    right answer, the counter counts exactly the refusals the clients saw. (Requests scored inline
    hold the worker for microseconds; under 256 clients those wait in grpc's queue before the
    worker sees them: bench/admission.md.)"""
    stub = gateway.stub()
    inputs = [request(1, seed=i) for i in range(16)]
    expected = [probabilities(stub.ModelInfer(r)) for r in inputs]
    _batching(gateway, stub, "--max-batch", "32", "--max-delay-us", "100000")
    before = metric(gateway, "driftgate_requests_rejected_total", model="", reason="overload")

    async def burst() -> list[tuple[int, object]]:
        channels = [grpc.aio.insecure_channel(gateway.gateway, options=channel_options()) for _ in range(8)]
        stubs = [pb_grpc.GRPCInferenceServiceStub(c) for c in channels]

        async def one(i: int) -> tuple[int, object]:
            try:
                return i, await stubs[i % 8].ModelInfer(inputs[i % 16], timeout=60)
            except grpc.aio.AioRpcError as exc:
                return i, exc

        try:
            return await asyncio.gather(*(one(i) for i in range(256)))
        finally:
            for c in channels:
                await c.close()

    try:
        results = asyncio.run(burst())
    finally:
        _batching(gateway, stub, "--off")
    refused = [r for _, r in results if isinstance(r, grpc.aio.AioRpcError)]
    codes = Counter(e.code() for e in refused)
    assert set(codes) <= {grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
    assert codes[grpc.StatusCode.RESOURCE_EXHAUSTED] > 0
    assert all(f"limit of {MAX_INFLIGHT} requests in flight" in e.details() for e in refused)
    admitted = [(i, r) for i, r in results if isinstance(r, pb.ModelInferResponse)]
    assert admitted
    for i, response in admitted:
        np.testing.assert_allclose(probabilities(response), expected[i % 16], rtol=1e-6)
    after = metric(gateway, "driftgate_requests_rejected_total", model="", reason="overload")
    assert after - before == len(refused)
    assert metric(gateway, "driftgate_admitted_requests") == 0  # every admitted call was released


def _error(call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value  # type: ignore[return-value]


def test_limits_refuse_with_invalid_argument_and_a_short_echo(gateway: Served) -> None:
    stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(gateway.gateway, options=channel_options()))
    before = metric(gateway, "driftgate_requests_rejected_total", model="fraud", reason="too_large")

    rows = _error(lambda: stub.ModelInfer(request(MAX_ROWS + 1)))
    assert rows.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert f"{MAX_ROWS + 1} rows" in rows.details() and str(MAX_ROWS) in rows.details()

    long_id = "i" * 10_000
    by_id = _error(lambda: stub.ModelInfer(request(1, request_id=long_id)))
    assert by_id.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "request id" in by_id.details() and "(10000 characters)" in by_id.details()
    assert len(by_id.details()) < 400

    by_key = _error(lambda: stub.ModelInfer(request(1, key="k" * 5_000)))
    assert by_key.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "routing key" in by_key.details() and "(5000 characters)" in by_key.details()
    assert len(by_key.details()) < 400

    after = metric(gateway, "driftgate_requests_rejected_total", model="fraud", reason="too_large")
    assert after - before == 3

    # names a caller sent are echoed cut short, whatever their length
    name = _error(lambda: stub.ModelInfer(request(1, model="m" * 256_000)))
    assert name.code() is grpc.StatusCode.NOT_FOUND
    assert "(256000 characters)" in name.details() and len(name.details()) < 400
    bad_input = request(1)
    bad_input.inputs[0].name = "x" * 256_000
    named = _error(lambda: stub.ModelInfer(bad_input))
    assert named.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "(256000 characters)" in named.details() and len(named.details()) < 400


def test_a_message_over_the_size_limit_is_refused_named_and_counted(gateway: Served) -> None:
    """A message over max_message_bytes (grpc's own receive limit sits above it): refused before it
    is decoded with RESOURCE_EXHAUSTED naming the limit and the setting, counted as too_large for
    its model; on a stream, refused in-band and counted the same; the stream goes on."""
    stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(gateway.gateway, options=channel_options()))
    before = metric(gateway, "driftgate_requests_rejected_total", model="fraud", reason="too_large")
    big_request = request(MAX_MESSAGE // 120 + 1_000)
    size = big_request.ByteSize()
    assert size > MAX_MESSAGE
    big = _error(lambda: stub.ModelInfer(big_request))
    assert big.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"{size:,} bytes" in big.details() and f"limit of {MAX_MESSAGE:,} bytes" in big.details()
    assert "DRIFTGATE_GATEWAY__MAX_MESSAGE_BYTES" in big.details()
    assert metric(gateway, "driftgate_requests_rejected_total", model="fraud", reason="too_large") - before == 1

    answers = list(stub.ModelStreamInfer(iter([big_request, request(1)])))
    assert answers[0].error_message.startswith("RESOURCE_EXHAUSTED:")
    assert f"limit of {MAX_MESSAGE:,} bytes" in answers[0].error_message
    assert not answers[1].error_message and answers[1].infer_response.outputs
    assert metric(gateway, "driftgate_requests_rejected_total", model="fraud", reason="too_large") - before == 2


def test_expired_deadlines_are_not_scored(gateway: Served) -> None:
    """Deadlines far shorter than the queue: clients get DEADLINE_EXCEEDED (or an answer), and
    the requests the worker scored are fewer than those sent: what expired before scoring was not
    scored (refused as "deadline", cancelled, or dropped by grpc before the worker saw it)."""
    stub = gateway.stub()

    def scored() -> int:
        stats = stub.ModelStatistics(pb.ModelStatisticsRequest(name="fraud"))
        return sum(s.inference_stats.success.count for s in stats.model_stats)

    before = scored()
    deadline_before = metric(gateway, "driftgate_requests_rejected_total", model="fraud", reason="deadline")

    async def burst() -> list[object]:
        channels = [grpc.aio.insecure_channel(gateway.gateway, options=channel_options()) for _ in range(8)]
        stubs = [pb_grpc.GRPCInferenceServiceStub(c) for c in channels]
        r = request(96, seed=5)

        async def one(i: int) -> object:
            try:
                return await stubs[i % 8].ModelInfer(r, timeout=0.004)
            except grpc.aio.AioRpcError as exc:
                return exc

        try:
            return await asyncio.gather(*(one(i) for i in range(256)))
        finally:
            for c in channels:
                await c.close()

    results = asyncio.run(burst())
    codes = Counter(r.code() if isinstance(r, grpc.aio.AioRpcError) else "OK" for r in results)
    assert set(codes) <= {"OK", grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
    assert codes[grpc.StatusCode.DEADLINE_EXCEEDED] > 0
    refused = metric(gateway, "driftgate_requests_rejected_total", model="fraud", reason="deadline") - deadline_before
    done = scored() - before
    assert done >= codes["OK"]
    assert done + refused <= 256
    assert done < 256 - codes[grpc.StatusCode.RESOURCE_EXHAUSTED]


def test_a_deadline_that_passes_in_the_batcher_is_not_scored(gateway: Served) -> None:
    """Adaptive batching with a 1 s delay (a batch of 32 never fills): four requests with a 0.5 s
    deadline queue behind one without a deadline. Their deadline passes while they wait: they
    end DEADLINE_EXCEEDED, are not scored (the batch runs the patient request alone), and each is
    counted once as a deadline refusal; the patient request gets its own right answer."""
    stub = gateway.stub()
    patient = request(2, seed=21)
    expected = probabilities(stub.ModelInfer(patient))
    _batching(gateway, stub, "--max-batch", "32", "--max-delay-us", "1000000")

    def scored() -> tuple[int, int]:
        stats = stub.ModelStatistics(pb.ModelStatisticsRequest(name="fraud")).model_stats
        return sum(s.inference_stats.success.count for s in stats), sum(s.inference_count for s in stats)

    requests_before, rows_before = scored()
    before = metric(gateway, "driftgate_requests_rejected_total", model="fraud", reason="deadline")

    async def mixed() -> list[object]:
        async with grpc.aio.insecure_channel(gateway.gateway, options=channel_options()) as channel:
            aio_stub = pb_grpc.GRPCInferenceServiceStub(channel)
            await aio_stub.ServerLive(pb.ServerLiveRequest())  # connected

            async def short(i: int) -> object:
                await asyncio.sleep(0.01 * (i + 1))  # behind the patient one in the queue
                try:
                    return await aio_stub.ModelInfer(request(1, seed=i), timeout=0.5)
                except grpc.aio.AioRpcError as exc:
                    return exc.code()

            return await asyncio.gather(aio_stub.ModelInfer(patient, timeout=60), *(short(i) for i in range(4)))

    try:
        answered, *shorts = asyncio.run(mixed())
    finally:
        _batching(gateway, stub, "--off")
    assert shorts == [grpc.StatusCode.DEADLINE_EXCEEDED] * 4
    np.testing.assert_allclose(probabilities(answered), expected, rtol=1e-6)  # type: ignore[arg-type]
    requests_after, rows_after = scored()
    assert (requests_after - requests_before, rows_after - rows_before) == (1, 2)  # the patient one only
    for _ in range(200):  # the expiry is counted on the worker's loop when the batch forms
        counted = metric(gateway, "driftgate_requests_rejected_total", model="fraud", reason="deadline") - before
        if counted >= 4:
            break
        time.sleep(0.05)
    assert counted == 4


def test_a_cancelled_stream_is_counted_not_logged_as_an_error(gateway: Served) -> None:
    before = metric(gateway, "driftgate_requests_cancelled_total")

    async def stream_then_cancel() -> None:
        async with grpc.aio.insecure_channel(gateway.gateway) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            sent = asyncio.Queue[pb.ModelInferRequest | None]()

            async def requests() -> AsyncIterator[pb.ModelInferRequest]:
                while (item := await sent.get()) is not None:
                    yield item

            call = stub.ModelStreamInfer(requests())
            await sent.put(request(1))
            first = await call.read()
            assert not first.error_message
            call.cancel()  # the client goes away with the stream open
            # unary calls cancelled in flight too: large batches, cancelled while scored
            calls = [stub.ModelInfer(request(20_000, seed=i)) for i in range(4)]
            await asyncio.sleep(0)
            for c in calls:
                c.cancel()
            await asyncio.gather(*calls, return_exceptions=True)

    asyncio.run(stream_then_cancel())
    for _ in range(200):  # the worker notices the cancellation on its own loop
        if metric(gateway, "driftgate_requests_cancelled_total") > before:
            break
        time.sleep(0.05)
    assert metric(gateway, "driftgate_requests_cancelled_total") > before
    errors = [line for line in (gateway.home / "serve.log").read_text().splitlines() if " ERROR " in line]
    assert not errors, errors


def test_a_large_batch_does_not_hold_the_event_loop(gateway: Served) -> None:
    """A 60,000-row request is scored and sketched off the event loop: a one-row request sent
    once the large one is in the worker's handler (past receiving and reading it) completes
    before it does; on the loop, the small one would wait for the large one's scoring."""

    async def race() -> list[str]:
        order: list[str] = []
        async with grpc.aio.insecure_channel(gateway.gateway, options=channel_options()) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            await stub.ModelInfer(request(1))  # connected

            async def large() -> None:
                await stub.ModelInfer(request(MAX_ROWS, seed=9), timeout=120)
                order.append("large")

            async def small() -> None:
                while metric_async() < 1:  # the large one is in the handler
                    await asyncio.sleep(0.001)
                await stub.ModelInfer(request(1, seed=3), timeout=60)
                order.append("small")

            def metric_async() -> float:
                return metric(gateway, "driftgate_in_flight_requests")

            await asyncio.gather(large(), small())
        return order

    assert asyncio.run(race()) == ["small", "large"]


def test_nan_policy_reject_set_through_the_cli(gateway: Served) -> None:
    stub = gateway.stub()
    x = request(4, seed=11)
    values = np.frombuffer(x.raw_input_contents[0], "<f4").copy().reshape(4, 30)
    values[2, 7] = np.nan
    nan_request = request(4)
    nan_request.raw_input_contents[0] = values.tobytes()
    assert stub.ModelInfer(nan_request).outputs  # the default policy: scored

    shown = gateway.cli("models", "input-policy", "fraud", "--nan", "reject")
    assert "reject" in shown.stdout
    assert "reject" in gateway.cli("models", "input-policy", "fraud").stdout
    events = gateway.cli("events", "fraud", "--json").stdout
    assert '"settings_updated"' in events and "non-finite inputs: reject" in events
    try:
        for _ in range(400):  # until the worker applied the new config
            try:
                stub.ModelInfer(nan_request)
            except grpc.RpcError as exc:
                error = exc
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the reject policy never reached the gateway")
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "'transaction'" in error.details() and "row 2, column 7" in error.details()
        assert "nan" in error.details().lower()
        values[2, 7] = np.inf
        inf_request = request(4)
        inf_request.raw_input_contents[0] = values.tobytes()
        assert _error(lambda: stub.ModelInfer(inf_request)).code() is grpc.StatusCode.INVALID_ARGUMENT
        assert stub.ModelInfer(x).outputs  # finite rows are scored as before
    finally:
        gateway.cli("models", "input-policy", "fraud", "--nan", "score")
    bad = gateway.cli("models", "input-policy", "fraud", "--nan", "maybe", check=False)
    assert bad.returncode != 0 and "invalid choice" in bad.stderr
