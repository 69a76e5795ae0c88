"""Drive a gateway with tritonclient's gRPC client, unchanged, and print what it saw as JSON.

Runs in its own process: tritonclient's protobuf modules and driftgate's declare the same
`inference.*` symbols, and one process cannot load both.

    python tests/clients/triton_check.py HOST:PORT
    python tests/clients/triton_check.py HOST:PORT --ssl --root-certificates CA [--private-key K --certificate-chain C]
    python tests/clients/triton_check.py HOST:PORT ... --probe     # one call: {"ok": ..., "status": ...}
    python tests/clients/triton_check.py HOST:PORT --infer-probe   # one infer: {"ok": ..., "status", "message"}
    python tests/clients/triton_check.py HOST:PORT --infer-probe --service-config JSON  # with a retry policy
"""

from __future__ import annotations

import argparse
import json
import queue
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException


def probe(client: Any) -> None:
    """One call, and whether it worked (a TLS handshake refused: UNAVAILABLE)."""
    try:
        print(json.dumps({"ok": bool(client.is_server_live()), "status": "OK"}))
    except InferenceServerException as exc:
        print(json.dumps({"ok": False, "status": exc.status(), "message": exc.message()}))


def infer_probe(client: Any) -> None:
    """One inference of one row, and the status it got (what a client sees of an overloaded balancer)."""
    inp = grpcclient.InferInput("transaction", [1, 30], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 30), dtype=np.float32))
    try:
        client.infer("fraud", [inp])
        print(json.dumps({"ok": True, "status": "OK"}))
    except InferenceServerException as exc:
        print(json.dumps({"ok": False, "status": exc.status(), "message": exc.message()}))


def main(url: str, **ssl: Any) -> None:
    client = grpcclient.InferenceServerClient(url=url, **ssl)
    out: dict[str, object] = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready("fraud"),
    }
    meta = client.get_server_metadata(as_json=True)
    out["server"] = {"name": meta["name"], "extensions": meta.get("extensions", [])}
    mmeta = client.get_model_metadata("fraud", as_json=True)
    out["inputs"] = [(i["name"], i["datatype"], [int(d) for d in i["shape"]]) for i in mmeta["inputs"]]
    config = client.get_model_config("fraud", as_json=True)["config"]
    out["max_batch_size"] = config["max_batch_size"]
    out["instance_kinds"] = [g.get("kind", "KIND_AUTO") for g in config.get("instance_group", [])]

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 30)).astype(np.float32)
    inp = grpcclient.InferInput("transaction", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer("fraud", [inp], outputs=[grpcclient.InferRequestedOutput("probabilities")],
                          request_id="t1", parameters={"routing_key": "card-1"})
    proba = result.as_numpy("probabilities")
    response = result.get_response()
    out["infer"] = {"shape": list(proba.shape), "version": response.model_version, "id": response.id,
                    "rows_sum_to_one": bool(np.allclose(proba.sum(axis=1), 1.0, atol=1e-5))}

    try:
        bad = grpcclient.InferInput("transaction", [1, 29], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 29), dtype=np.float32))
        client.infer("fraud", [bad])
        out["bad_shape"] = "accepted"
    except InferenceServerException as exc:
        out["bad_shape"] = exc.status()

    results: queue.Queue[object] = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put(error or result))
    for i in range(3):
        client.async_stream_infer("fraud", [inp], request_id=f"s{i}")
    stream = [results.get(timeout=10) for _ in range(3)]
    client.stop_stream()
    out["stream_ids"] = sorted(r.get_response().id for r in stream if not isinstance(r, Exception))

    stats = client.get_inference_statistics("fraud", as_json=True)
    out["stats_versions"] = [s["version"] for s in stats["model_stats"]]
    index = client.get_model_repository_index(as_json=True)
    out["index"] = [(m["name"], m.get("version", ""), m.get("state", "")) for m in index.get("models", [])]
    client.close()
    print(json.dumps(out))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--ssl", action="store_true")
    parser.add_argument("--root-certificates", default=None)
    parser.add_argument("--private-key", default=None)
    parser.add_argument("--certificate-chain", default=None)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--infer-probe", action="store_true")
    parser.add_argument("--service-config", help="a gRPC service config (JSON) for the client's channel")
    args = parser.parse_args()
    ssl: dict[str, Any] = {}
    if args.ssl:
        ssl.update(ssl=True, root_certificates=args.root_certificates, private_key=args.private_key,
                   certificate_chain=args.certificate_chain)
    if args.service_config:  # tritonclient passes channel_args to its channel, in place of its defaults
        ssl["channel_args"] = [("grpc.enable_retries", 1), ("grpc.service_config", args.service_config)]
    if args.probe:
        probe(grpcclient.InferenceServerClient(url=args.url, **ssl))
    elif args.infer_probe:
        infer_probe(grpcclient.InferenceServerClient(url=args.url, **ssl))
    else:
        main(args.url, **ssl)
