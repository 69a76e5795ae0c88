"""The load generator against the bare server: in-process servers on port 0, or subprocesses."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from driftgate.bench.bare_server import BareModel, start_server
from driftgate.bench.config import BenchConfig, BenchConfigError
from driftgate.bench.plot import plot_sweep
from driftgate.bench.requests import RoutingKeys, build_pool
from driftgate.bench.runner import parse_input_spec, run_async
from driftgate.cli.main import build_parser
from driftgate.proto.inference import grpc_service_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]
FAST = {"warmup_s": 0.2, "duration_s": 1.0}


async def _server(**kwargs: object) -> tuple[object, str]:
    server, port = await start_server(BareModel.echo(), port=0, **kwargs)  # type: ignore[arg-type]
    return server, f"127.0.0.1:{port}"


@pytest.fixture
async def bare() -> AsyncIterator[str]:
    server, target = await _server()
    yield target
    await server.stop(None)  # type: ignore[attr-defined]


def _ordered(latency: dict[str, float]) -> bool:
    values = [latency[k] for k in ("p50", "p90", "p99", "p99.9", "max")]
    return all(a <= b for a, b in itertools.pairwise(values)) and values[0] > 0


async def test_closed_loop_reports_sane_numbers(bare: str) -> None:
    report = await run_async(BenchConfig(target=bare, concurrency=4, **FAST))  # demo rows by default
    assert report.counted > 0
    assert report.errors == {}
    assert report.ok == report.counted
    assert report.throughput_rps > 0
    assert report.rows_per_s == report.throughput_rps
    assert _ordered(report.latency_us)
    assert report.versions == {"1": report.ok}
    assert report.settings["inputs"] == ["input FP32[1, 30]"]
    assert report.machine["cores"] >= 1 and report.machine["cpu_model"]
    assert sum(s["ok"] for s in report.timeline) == report.ok


async def test_batches_typed_contents_and_routing_keys(bare: str) -> None:
    report = await run_async(
        BenchConfig(
            target=bare, concurrency=2, batch_size=8, raw=False, routing_key_cardinality=50, input_data="random", **FAST
        )
    )
    assert report.errors == {} and report.ok > 0
    assert report.rows_per_s == pytest.approx(8 * report.throughput_rps)


async def test_open_loop_keeps_its_timetable(bare: str) -> None:
    report = await run_async(BenchConfig(target=bare, rate=40, input_data="random", **FAST))
    # 40 requests are due in the 1 s window, whatever the server does
    assert report.counted == 40
    assert report.errors == {}
    assert report.schedule_lag_us["p99"] < 50_000
    assert _ordered(report.latency_us)


async def test_open_loop_counts_latency_from_the_intended_time() -> None:
    """A server taking 50 ms with one request allowed in flight can answer 20/s. Offered 50/s, the
    requests queue in the client: timed from their intended send time they wait longer and longer,
    although each call itself still takes about 50 ms."""
    server, target = await _server(delay_s=0.05)
    try:
        slow = await run_async(
            BenchConfig(target=target, rate=50, max_in_flight=1, input_data="random", warmup_s=0.0, duration_s=1.0)
        )
        easy = await run_async(
            BenchConfig(target=target, rate=10, max_in_flight=1, input_data="random", warmup_s=0.0, duration_s=1.0)
        )
    finally:
        await server.stop(None)  # type: ignore[attr-defined]
    assert slow.counted == 50 and slow.errors == {}
    assert slow.service_us["p50"] < 200_000  # each call: ~50 ms
    assert slow.latency_us["p99"] > 1_000_000  # the 50th request was due at 1 s and answered near 2.5 s
    assert slow.latency_us["p99"] > 5 * slow.service_us["p99"]
    assert slow.schedule_lag_us["max"] > 500_000
    assert easy.latency_us["p99"] < 200_000  # below capacity: no queue


async def test_errors_are_counted_by_status_code() -> None:
    server, target = await _server(names=["fraud"])
    try:
        report = await run_async(
            BenchConfig(target=target, model="nope", concurrency=2, input_data="random", **FAST),
            input_specs=[parse_input_spec("input:FP32:-1,30")],
        )
    finally:
        await server.stop(None)  # type: ignore[attr-defined]
    assert report.counted > 0 and report.ok == 0
    assert report.errors == {"NOT_FOUND": report.counted}
    assert "nope" in report.error_examples["NOT_FOUND"]


async def test_unknown_model_fails_before_any_load() -> None:
    from driftgate.bench.runner import BenchTargetError

    server, target = await _server(names=["fraud"])
    try:
        with pytest.raises(BenchTargetError, match="NOT_FOUND"):
            await run_async(BenchConfig(target=target, model="nope", **FAST))
    finally:
        await server.stop(None)  # type: ignore[attr-defined]


async def test_load_in_a_child_process(bare: str) -> None:
    report = await run_async(BenchConfig(target=bare, concurrency=2, processes=2, input_data="random", **FAST))
    assert report.counted > 0 and report.errors == {}
    assert report.settings["processes"] == 2


def test_routing_key_entries_merge_into_the_request() -> None:
    keys = RoutingKeys()
    meta = pb.ModelMetadataResponse(
        inputs=[pb.ModelMetadataResponse.TensorMetadata(name="x", datatype="FP32", shape=[-1, 30])]
    )
    pool = build_pool(BenchConfig(model="fraud", input_data="random", pool_size=4), meta)
    request = pb.ModelInferRequest.FromString(pool.requests[0] + keys.entry(1234))
    assert request.parameters["routing_key"].string_param == RoutingKeys.card_id(1234) == "card-0000001234"
    assert request.model_name == "fraud" and list(request.inputs[0].shape) == [1, 30]
    assert len(request.raw_input_contents[0]) == 120


def test_bad_settings_are_explained() -> None:
    with pytest.raises(BenchConfigError, match="HOST:PORT"):
        BenchConfig(target="localhost").validate()
    with pytest.raises(BenchConfigError, match="--backoff must not be negative"):
        BenchConfig(backoff_s=-0.1).validate()
    meta = pb.ModelMetadataResponse(
        inputs=[
            pb.ModelMetadataResponse.TensorMetadata(name="a", datatype="FP32", shape=[-1, 30]),
            pb.ModelMetadataResponse.TensorMetadata(name="b", datatype="FP32", shape=[-1, 2]),
        ]
    )
    with pytest.raises(BenchConfigError, match="use random"):
        build_pool(BenchConfig(input_data="demo"), meta)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--duration", "10x"], "bad duration '10x'"),
        (["bench", "--rate", "100", "--concurrency", "4"], "not allowed with argument"),
        (["bench", "--concurrency", "0"], "positive whole numbers"),
    ],
)
def test_argument_errors_are_clear(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_plot_writes_a_png(tmp_path: Path) -> None:
    from driftgate.bench.report import Report

    def fake(conc: int, rps: float) -> Report:
        lat = {
            "p50": 400.0 * conc,
            "p90": 500.0 * conc,
            "p99": 900.0 * conc,
            "p99.9": 1500.0 * conc,
            "max": 2000.0 * conc,
        }
        return Report({"concurrency": conc, "rate": None}, {}, 1.0, 1, 1, {}, {}, rps, rps, lat, {}, 0.0, None, conc)

    out = plot_sweep({"bare": [fake(1, 1000), fake(16, 3000)]}, tmp_path / "sweep.png", title="t")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def bare_process() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftgate.bench.bare_server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.match(r"listening on (\S+)", line)
        assert match, f"unexpected first line {line!r}"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_json_against_a_bare_server_process(bare_process: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftgate",
            "bench",
            "--target",
            bare_process,
            "--concurrency",
            "2",
            "--duration",
            "1s",
            "--warmup",
            "200ms",
            "--input-data",
            "random",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["counted"] > 0 and doc["errors"] == {}
    assert doc["settings"]["concurrency"] == 2 and doc["settings"]["mode"] == "closed"
    for key in ("cores", "cpu_model", "python", "grpcio", "numpy"):
        assert doc["machine"][key]
