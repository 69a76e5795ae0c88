"""Session-run floors of candidate models for bench/batching.md (run as written, 2026-11-26)."""

import time

from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from driftgate.bench.floors import time_session
from driftgate.demo import generate

data = generate(20000, seed=0)
for hidden in [(256, 256), (512, 512)]:
    t0 = time.perf_counter()
    with threadpool_limits(1):
        clf = make_pipeline(StandardScaler(), MLPClassifier(hidden, max_iter=30, random_state=0)).fit(data.X, data.y)
    onx = convert_sklearn(
        clf,
        initial_types=[("transaction", FloatTensorType([None, 30]))],
        options={id(clf.steps[-1][1]): {"zipmap": False}},
        target_opset=17,
    ).SerializeToString()
    t1 = time.perf_counter()
    r = [time_session(onx, b, n, 3)["us_per_call_median"] for b, n in ((1, 2000), (16, 1000), (64, 300))]
    print(hidden, f"train {t1 - t0:.1f}s", r, flush=True)
