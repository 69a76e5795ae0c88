"""Accuracy end to end: a real ``driftgate serve`` scores demo traffic with ids, the demo plays the
card issuer and sends the labels back through the CLI, and ``driftgate accuracy`` shows a plausible
AUC for version 1; then traffic from the "concept" preset (same features, another fraud mechanism)
and its labels pull the AUC down."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from driftgate.proto.inference import grpc_service_pb2 as pb
from tests.conftest import start_served, stop_served

pytestmark = pytest.mark.slow

ENV = {"DRIFTGATE_GATEWAY__REPORT_INTERVAL_S": "0.3", "DRIFTGATE_ACCURACY__REPORT_INTERVAL_S": "0.3"}
ROWS = 6000
BATCH = 200


def send(stub, data, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Score ``data`` in batches with request ids; returns the row ids the gateway keeps."""
    ids: list[str] = []
    for start in range(0, len(data), BATCH):
        rows = data.X[start : start + BATCH]
        r = pb.ModelInferRequest(model_name="fraud", id=f"{prefix}{start}")
        r.inputs.add(name="transaction", datatype="FP32", shape=list(rows.shape))
        r.raw_input_contents.append(np.ascontiguousarray(rows).tobytes())
        response = stub.ModelInfer(r)
        assert response.id == r.id and response.model_version == "1"
        ids += [f"{r.id}#{i}" for i in range(rows.shape[0])]
    return ids


def test_labels_show_auc_and_its_fall_under_concept_drift(tmp_path):  # type: ignore[no-untyped-def]
    from driftgate.demo import DRIFT_PRESETS, generate
    from driftgate.demo.labels import write_labels_csv

    served = start_served(tmp_path / "home", env=ENV)
    try:
        stub = served.stub()
        # a request without an id gets one from the gateway, unique per worker and start
        single = pb.ModelInferRequest(model_name="fraud")
        single.inputs.add(name="transaction", datatype="FP32", shape=[1, 30])
        single.raw_input_contents.append(generate(1, seed=5).X.tobytes())
        assigned = {stub.ModelInfer(single).id for _ in range(3)}
        assert len(assigned) == 3 and "" not in assigned

        normal = generate(ROWS, seed=11)
        ids = send(stub, normal, "n")
        time.sleep(1.0)  # a report or two carries the scored rows to the registry
        csv = write_labels_csv(tmp_path / "normal.csv", ids, normal.y, scored_at=time.time(), delay_s=3 * 86400)
        done = json.loads(served.cli("feedback", "fraud", "--file", str(csv), "--json").stdout)
        assert (done["joined"], done["unknown"]) == (ROWS, 0)
        before = json.loads(served.cli("accuracy", "fraud", "--json").stdout)
        (v1,) = before["versions"]
        assert v1["version"] == 1 and v1["labelled"] == ROWS and v1["scored"] >= ROWS
        assert 0.8 < v1["auc"] <= 1.0, v1
        assert v1["delay_median_s"] > 86400  # the demo's labels come days later

        concept = generate(ROWS, seed=12, drift=DRIFT_PRESETS["concept"])
        cids = send(stub, concept, "c")
        time.sleep(1.0)
        csv = write_labels_csv(tmp_path / "concept.csv", cids, concept.y)
        assert json.loads(served.cli("feedback", "fraud", "--file", str(csv), "--json").stdout)["joined"] == ROWS
        after = json.loads(served.cli("accuracy", "fraud", "--json").stdout)["versions"][0]
        assert after["labelled"] == 2 * ROWS
        assert after["auc"] < v1["auc"] - 0.05, (v1["auc"], after["auc"])
        table = served.cli("accuracy", "fraud").stdout
        assert "fraud" in table and "AUC" in table
    finally:
        assert stop_served(served) == 0
