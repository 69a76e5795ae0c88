"""Drift end to end: traffic from the demo generator's drifted setting, scored by the gateway,
raises the shifted features to major and an alert, while the untouched features stay ok."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from driftgate.proto.inference import grpc_service_pb2 as pb
from tests.conftest import start_served, stop_served

pytestmark = pytest.mark.slow

DRIFT_ENV = {
    "DRIFTGATE_DRIFT__WINDOW_SECONDS": "1",
    "DRIFTGATE_DRIFT__MIN_WINDOW_ROWS": "100",
    "DRIFTGATE_DRIFT__ALERT_WINDOWS": "2",
    "DRIFTGATE_GATEWAY__REPORT_INTERVAL_S": "0.3",
}


def test_drifted_traffic_raises_only_the_shifted_features(tmp_path):
    from driftgate.demo import DriftSetting, generate

    setting = DriftSetting.parse("amount_scale=3")
    data = generate(6000, seed=99, drift=setting)
    served = start_served(tmp_path / "home", env=DRIFT_ENV)
    try:
        stub = served.stub()
        started = time.monotonic()
        i = 0
        # spread the rows over several 1 s windows so the alert's persistence rule can hold
        while time.monotonic() - started < 4.5:
            batch = data.X[i % 5900:i % 5900 + 20]
            r = pb.ModelInferRequest(model_name="fraud")
            r.inputs.add(name="transaction", datatype="FP32", shape=list(batch.shape))
            r.raw_input_contents.append(np.ascontiguousarray(batch).tobytes())
            stub.ModelInfer(r)
            i += 20
            time.sleep(0.01)
        time.sleep(1.5)
        report = json.loads(served.cli("drift", "fraud", "--window", "1m", "--json").stdout)
        (version,) = report["versions"]
        status = {c["name"]: c["status"] for c in version["features"]}
        shifted = {"amount", "log_amount"}
        assert {status[n] for n in shifted} == {"major"}, {n: status[n] for n in shifted}
        untouched = [n for n, s in status.items() if n not in setting.shifted_features]
        assert untouched and all(status[n] == "ok" for n in untouched), status
        events = json.loads(served.cli("events", "fraud", "--json").stdout)
        kinds = [e["kind"] for e in (events["events"] if isinstance(events, dict) else events)]
        assert "drift_alert" in kinds
    finally:
        assert stop_served(served) == 0
