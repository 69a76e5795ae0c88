"""The registry on SQLite against PostgreSQL, side by side in one run: report ingest (gateway reports
with scored rows and drift windows, over gRPC, from several gateways at once) and WatchConfig
fan-out (how long a change takes to reach N subscribed gateways). Not a test: prints a table and
writes bench/results/registry-postgres-<time>.json.

    flock /tmp/driftgate-cpu.lock env PYTHONPATH=. .venv/bin/python bench/inprocess/registry_postgres.py \
        [--pg-url postgresql://...] [--gateways 4] [--reports 25] [--rows-per-report 8500] [--watchers 200]

Without --pg-url it starts a throwaway PostgreSQL server with Debian's binaries (tests/pg.py).
The client (the simulated gateways) runs in the same process as the registry, on the same event
loop: the numbers are the registry's cost plus the client's, alike for both databases.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from driftgate.auth.client import token_metadata  # noqa: E402
from driftgate.control_channel import grpc_options  # noqa: E402
from driftgate.proto.v1 import control_pb2 as pb  # noqa: E402
from driftgate.proto.v1 import control_pb2_grpc  # noqa: E402
from driftgate.registry.server import RegistryServer  # noqa: E402
from driftgate.settings import DriftSettings, GatewaySettings, RegistrySettings, Settings  # noqa: E402

FEATURES = 8


def _model() -> tuple[bytes, bytes]:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, FEATURES)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    clf = LogisticRegression().fit(X, y)
    onx = convert_sklearn(clf, initial_types=[("transaction", FloatTensorType([None, FEATURES]))],
                          options={id(clf): {"zipmap": False}}, target_opset=17)
    buf = io.BytesIO()
    np.save(buf, X, allow_pickle=False)
    return onx.SerializeToString(), buf.getvalue()


def _report(gateway: int, n: int, rows: int, bins: int, window_s: float) -> pb.GatewayReport:
    now = time.time()
    ids = [f"g{gateway}-r{n}-{i}" for i in range(rows)]
    scores = np.random.default_rng(n).random(rows, dtype=np.float32)
    counts = np.random.default_rng(gateway).integers(0, 50, size=(FEATURES + 1) * (bins + 3))
    return pb.GatewayReport(
        gateway_id=f"gw{gateway}", applied_generation=0, address=f"10.0.0.{gateway}:8001", host="bench", pid=gateway,
        versions=[pb.LoadedVersionState(model="fraud", version=1, state="READY")],
        stats=[pb.VersionStats(model="fraud", version=1, requests=n * rows, rows=n * rows)],
        drift=[pb.DriftWindow(model="fraud", version=1, window_id=int(now // window_s), window_seconds=window_s,
                              rows=int(counts.sum() // (FEATURES + 1)), columns=FEATURES + 1, bins=bins + 3,
                              counts=counts.tolist(), sums=[0.0] * (FEATURES + 1), sumsq=[1.0] * (FEATURES + 1))],
        scored=[pb.ScoredRecords(model="fraud", version=1, ids=ids, scores_f32=scores.tobytes(),
                                 at_f64=np.full(rows, now).tobytes())],
        scored_source=f"gw{gateway}-bench-", scored_upto=n + 1,
    )


async def _one(name: str, url: str, args: argparse.Namespace, onnx: bytes, reference: bytes) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp), registry=RegistrySettings(port=0, demo=False, database_url=url),
                            gateway=GatewaySettings(report_interval_s=1.0),
                            drift=DriftSettings(bins=16, window_seconds=10.0, windows=30))
        server = RegistryServer(settings)
        await server.start()
        channel = grpc.aio.insecure_channel(server.address, options=grpc_options())
        stub = control_pb2_grpc.ControlStub(channel)
        # the tokens the registry wrote into its new home: operator calls as admin, reports as a gateway
        admin = token_metadata((Path(tmp) / "admin.token").read_text().strip())
        gw = token_metadata((Path(tmp) / "gateway.token").read_text().strip())
        try:
            await stub.RegisterVersion(pb.RegisterVersionRequest(model="fraud", onnx=onnx, reference_npy=reference),
                                       metadata=admin)
            reports = {g: [_report(g, n, args.rows_per_report, 16, 10.0) for n in range(args.reports)]
                       for g in range(args.gateways)}

            async def gateway(g: int) -> None:
                for report in reports[g]:
                    await stub.ReportStatus(report, timeout=60, metadata=gw)

            started = time.perf_counter()
            await asyncio.gather(*(gateway(g) for g in range(args.gateways)))
            ingest_s = time.perf_counter() - started
            total_reports = args.gateways * args.reports
            rows = total_reports * args.rows_per_report

            # fan-out: W subscribers; each change (a model setting) must reach all of them
            got: dict[int, asyncio.Event] = {}
            latest = [0] * args.watchers
            target = [0]

            async def watcher(i: int) -> None:
                async for config in stub.WatchConfig(pb.WatchConfigRequest(gateway_id=f"w{i}"), metadata=gw):
                    latest[i] = config.generation
                    if config.generation >= target[0] and all(g >= target[0] for g in latest):
                        got.setdefault(target[0], asyncio.Event()).set()

            tasks = [asyncio.create_task(watcher(i)) for i in range(args.watchers)]
            while min(latest) == 0:
                await asyncio.sleep(0.05)
            fanout = []
            for k in range(args.changes):
                target[0] = max(latest) + 1
                event = got.setdefault(target[0], asyncio.Event())
                t0 = time.perf_counter()
                await stub.UpdateModelSettings(pb.UpdateModelSettingsRequest(
                    model="fraud", settings=pb.ModelSettings(batching=pb.BatchingSettings(
                        enabled=bool(k % 2), max_batch_rows=8, max_queue_delay_us=100))), metadata=admin)
                await asyncio.wait_for(event.wait(), 60)
                fanout.append(time.perf_counter() - t0)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await channel.close()
            await server.stop(0.5)
    return {
        "reports_per_s": total_reports / ingest_s,
        "scored_rows_per_s": rows / ingest_s,
        "drift_windows_per_s": total_reports / ingest_s,
        "ingest_s": ingest_s,
        "fanout_watchers": args.watchers,
        "fanout_p50_ms": float(np.percentile(fanout, 50) * 1000),
        "fanout_max_ms": float(max(fanout) * 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default="")
    parser.add_argument("--gateways", type=int, default=4)
    parser.add_argument("--reports", type=int, default=25, help="reports per gateway")
    parser.add_argument("--rows-per-report", type=int, default=8500, help="5 s of 1,700 req/s")
    parser.add_argument("--watchers", type=int, default=200)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from tests.pg import server_for_bench

    server = server_for_bench(args.pg_url)
    url = args.pg_url
    onnx, reference = _model()
    results: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgresql": []}
    try:
        for _ in range(args.rounds):  # interleaved, so drift of the box hits both alike
            for name in ("sqlite", "postgresql"):
                db_url = "" if name == "sqlite" else (url or server.new_database())  # type: ignore[union-attr]
                results[name].append(asyncio.run(_one(name, db_url, args, onnx, reference)))
                r = results[name][-1]
                print(f"{name:10s} ingest {r['reports_per_s']:7.1f} reports/s {r['scored_rows_per_s']:10.0f} rows/s  "
                      f"fan-out to {r['fanout_watchers']} watchers p50 {r['fanout_p50_ms']:.1f} ms "
                      f"max {r['fanout_max_ms']:.1f} ms", flush=True)
    finally:
        if server is not None:
            server.pg_ctl("stop", "-m", "fast")
    out = ROOT / "bench" / "results" / f"registry-postgres-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
