"""How long the registry's loops go without a leader when the leader dies: two registry replicas on
one PostgreSQL, the leader SIGKILLed, time until the other reports itself leader on its health
service (``driftgate.v1.Leader`` SERVING), polled every 10 ms. The dead one is started again as a
follower before the next round. Not a test: prints the rounds and writes
bench/results/registry-failover-<time>.json.

    flock /tmp/driftgate-cpu.lock env PYTHONPATH=. .venv/bin/python bench/registry_failover.py \
        [--pg-url postgresql://...] [--rounds 5] [--leader-check-s 1.0]

Without --pg-url it starts a throwaway PostgreSQL server with Debian's binaries (tests/pg.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from driftgate.control_channel import LEADER_SERVICE  # noqa: E402


def _start(home: Path, url: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "driftgate", "--home", str(home), "registry", "--port", "0", "--no-demo",
            "--database-url", url]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={**os.environ, **env}, cwd=ROOT)
    assert process.stdout is not None
    for line in process.stdout:
        if m := re.search(r"registry listening on (\S+)", line):
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # type: ignore[union-attr]
            return process, m.group(1)
    raise RuntimeError("registry did not start")


def _leads(stub: health_pb2_grpc.HealthStub) -> bool:
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=LEADER_SERVICE), timeout=1)
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default="")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--leader-check-s", type=float, default=1.0)
    args = parser.parse_args()
    from tests.pg import server_for_bench

    server = server_for_bench(args.pg_url)
    url = args.pg_url or server.new_database()  # type: ignore[union-attr]
    env = {"DRIFTGATE_REGISTRY__LEADER_CHECK_S": str(args.leader_check_s)}
    rounds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        replicas = [_start(Path(tmp) / f"r{i}", url, env) for i in range(2)]
        try:
            for n in range(args.rounds):
                stubs = [health_pb2_grpc.HealthStub(grpc.insecure_channel(a)) for _, a in replicas]
                deadline = time.monotonic() + 30
                while not any(_leads(s) for s in stubs):
                    if time.monotonic() > deadline:
                        raise SystemExit("no leader")
                    time.sleep(0.05)
                leader = 0 if _leads(stubs[0]) else 1
                other = stubs[1 - leader]
                replicas[leader][0].kill()
                killed = time.perf_counter()
                replicas[leader][0].wait()
                while not _leads(other):
                    time.sleep(0.01)
                rounds.append(time.perf_counter() - killed)
                print(f"round {n + 1}: leader killed, the other leads after {rounds[-1] * 1000:.0f} ms", flush=True)
                replicas[leader] = _start(Path(tmp) / f"r{leader}-{n}", url, env)
        finally:
            for process, _ in replicas:
                process.kill()
                process.wait()
            if server is not None:
                server.pg_ctl("stop", "-m", "fast")
    out = ROOT / "bench" / "results" / f"registry-failover-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"args": vars(args), "failover_s": rounds}, indent=2))
    print(f"failover {min(rounds) * 1000:.0f}-{max(rounds) * 1000:.0f} ms over {len(rounds)} rounds "
          f"(leader_check_s {args.leader_check_s}); wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
