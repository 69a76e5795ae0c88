"""A client on one of the multi-host suite's hosts (run there with ``ip netns exec``); prints one JSON
object. Every loop is bounded (a count of requests or a deadline) and talks only to the address given.

    python hostclient.py [--ca CA.pem] ready TARGET --timeout 60
    python hostclient.py versions TARGET --keys 300 [--expect 1,2 --agree-with OTHER ... --timeout 30]
    python hostclient.py score TARGET --rows 1000 --seed 1 --prefix a --labels-csv out.csv
    python hostclient.py load TARGET --requests 3000 --concurrency 8 --mark 1000
    python hostclient.py leader REGISTRY [REGISTRY ...]   # which registries report driftgate.v1.Leader SERVING
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc

OPTIONS = [("grpc.enable_http_proxy", 0)]
X = np.zeros((1, 30), dtype=np.float32)
CA: bytes | None = None  # --ca: TLS, servers verified against this CA


def _credentials() -> grpc.ChannelCredentials | None:
    return grpc.ssl_channel_credentials(root_certificates=CA) if CA is not None else None


def stub(target: str) -> grpc_service_pb2_grpc.GRPCInferenceServiceStub:
    creds = _credentials()
    channel = (grpc.secure_channel(target, creds, options=OPTIONS) if creds is not None
               else grpc.insecure_channel(target, options=OPTIONS))
    return grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)


def request(key: str | None = None, rows: np.ndarray = X, rid: str = "") -> pb.ModelInferRequest:
    r = pb.ModelInferRequest(model_name="fraud", id=rid)
    r.inputs.add(name="transaction", datatype="FP32", shape=list(rows.shape))
    r.raw_input_contents.append(np.ascontiguousarray(rows).tobytes())
    if key is not None:
        r.parameters["routing_key"].string_param = key
    return r


def ready(args: argparse.Namespace) -> dict[str, Any]:
    s = stub(args.target)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            if s.ServerReady(pb.ServerReadyRequest(), timeout=2).ready:  # scores nothing: the counts stay exact
                return {"ready": True}
        except grpc.RpcError:
            pass
        time.sleep(0.2)
    return {"ready": False}


def _versions(s: grpc_service_pb2_grpc.GRPCInferenceServiceStub, keys: list[str]) -> dict[str, str]:
    return {k: s.ModelInfer(request(k), timeout=10).model_version for k in keys}


def versions(args: argparse.Namespace) -> dict[str, Any]:
    """The version each routing key gets from TARGET; with --expect, wait (bounded) until the versions seen
    are exactly that set and every --agree-with target gives each key the same version."""
    keys = [f"card-{i}" for i in range(args.keys)]
    targets = [args.target, *args.agree_with]
    stubs = [stub(t) for t in targets]
    expect = set(args.expect.split(",")) if args.expect else None
    deadline = time.monotonic() + args.timeout
    while True:
        maps = [_versions(s, keys) for s in stubs]
        settled = all(m == maps[0] for m in maps) and (expect is None or set(maps[0].values()) == expect)
        if settled or time.monotonic() > deadline:
            return {"settled": settled, "versions": dict(zip(targets, maps, strict=True))}
        time.sleep(0.2)


def score(args: argparse.Namespace) -> dict[str, Any]:
    """Score demo transactions with request ids; write the labels (as the card issuer would) to a CSV."""
    from driftgate.demo import generate
    from driftgate.demo.labels import write_labels_csv

    data = generate(args.rows, seed=args.seed)
    s = stub(args.target)
    ids: list[str] = []
    for start in range(0, args.rows, args.batch):
        rows = data.X[start : start + args.batch]
        reply = s.ModelInfer(request(rows=rows, rid=f"{args.prefix}{start}"), timeout=10)
        ids += [f"{reply.id}#{i}" for i in range(rows.shape[0])]
    write_labels_csv(Path(args.labels_csv), ids, data.y, scored_at=time.time(), delay_s=3600)
    return {"rows": len(ids)}


def load(args: argparse.Namespace) -> dict[str, Any]:
    """Exactly --requests keyed requests, --concurrency at a time; prints "mark" after --mark completions
    (the test kills a gateway then). Errors are counted by status code, never retried here."""

    async def main() -> dict[str, Any]:
        creds = _credentials()
        channel = (grpc.aio.secure_channel(args.target, creds, options=OPTIONS) if creds is not None
                   else grpc.aio.insecure_channel(args.target, options=OPTIONS))
        s = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        payloads = [request(f"card-{i}") for i in range(512)]
        counts: Counter[str] = Counter()
        examples: dict[str, str] = {}
        versions: Counter[str] = Counter()
        issued = 0
        done = 0

        async def worker() -> None:
            nonlocal issued, done
            while issued < args.requests:
                i = issued
                issued += 1
                try:
                    reply = await s.ModelInfer(payloads[i % len(payloads)], timeout=10)
                    counts["OK"] += 1
                    versions[reply.model_version] += 1
                except grpc.aio.AioRpcError as exc:
                    code = exc.code().name
                    counts[code] += 1
                    examples.setdefault(code, (exc.details() or "")[:200])
                done += 1
                if done == args.mark:
                    print("mark", flush=True)

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        await channel.close()
        return {"requests": args.requests, "counts": dict(counts), "examples": examples, "versions": dict(versions)}

    return asyncio.run(main())


def leader(args: argparse.Namespace) -> dict[str, Any]:
    """Per registry address: whether its health service ``driftgate.v1.Leader`` is SERVING (leader only)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    creds = _credentials()
    leads: dict[str, bool] = {}
    for target in args.targets:
        channel = (grpc.secure_channel(target, creds, options=OPTIONS) if creds is not None
                   else grpc.insecure_channel(target, options=OPTIONS))
        with channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="driftgate.v1.Leader"), timeout=2)
                leads[target] = reply.status == health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError:
                leads[target] = False
    return {"leader": leads}


def main() -> int:
    global CA
    parser = argparse.ArgumentParser()
    parser.add_argument("--ca", type=Path, default=None, help="CA file: speak TLS and verify the server with it")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ready")
    p.add_argument("target")
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(func=ready)
    p = sub.add_parser("versions")
    p.add_argument("target")
    p.add_argument("--keys", type=int, default=300)
    p.add_argument("--expect", default="")
    p.add_argument("--agree-with", action="append", default=[])
    p.add_argument("--timeout", type=float, default=0)
    p.set_defaults(func=versions)
    p = sub.add_parser("score")
    p.add_argument("target")
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--prefix", default="r")
    p.add_argument("--labels-csv", required=True)
    p.set_defaults(func=score)
    p = sub.add_parser("load")
    p.add_argument("target")
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--mark", type=int, default=1000)
    p.set_defaults(func=load)
    p = sub.add_parser("leader")
    p.add_argument("targets", nargs="+")
    p.set_defaults(func=leader)
    args = parser.parse_args()
    CA = args.ca.read_bytes() if args.ca is not None else None
    print(json.dumps(args.func(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
