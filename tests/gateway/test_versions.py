"""A loaded version scores through onnxruntime's C++ run on the CPU provider (skipping the Python
wrapper's checks, which decode_inputs has made already); the result must be the wrapper's."""

from __future__ import annotations

import numpy as np
import pytest

from driftgate.demo import generate, train_demo_model
from driftgate.gateway.stats import VersionCounters
from driftgate.gateway.versions import SHRINK_AFTER_ROWS, ScoreSpec, load_version


def test_cpu_version_runs_the_sessions_own_run_and_matches_the_public_api() -> None:
    data = generate(400, seed=5)
    trained = train_demo_model(data.X, data.y, seed=5, kind="logreg")
    lv = load_version("m", 1, "sha", trained.onnx, device="cpu", intra_op_threads=1,
                      counters=VersionCounters())
    assert lv._run == lv.session._sess.run  # the bound C++ method, not the wrapper
    x = np.ascontiguousarray(data.X[:17], dtype=np.float32)
    feeds = {lv.input_names[0]: x}
    ours = lv.run(feeds)
    theirs = lv.session.run(list(lv.output_names), feeds)
    assert len(ours) == len(theirs) == len(lv.output_names)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    lv.release()
    assert lv._run is None and lv.session is None


def test_scores_are_views_only_of_narrow_outputs() -> None:
    narrow = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], dtype=np.float32)
    scores = ScoreSpec(0, 1, view=True).scores([narrow])
    assert scores.tolist() == pytest.approx([0.1, 0.8, 0.5]) and np.shares_memory(scores, narrow)
    wide = np.random.default_rng(0).random((3, 1000)).astype(np.float32)  # a thousand classes
    scores = ScoreSpec(0, 7).scores([wide])
    assert scores.tolist() == wide[:, 7].tolist() and not np.shares_memory(scores, wide)
    assert scores.flags.c_contiguous
    single = np.array([[0.3], [0.6]], dtype=np.float64)
    assert ScoreSpec(0, -1).scores([single]).tolist() == [0.3, 0.6]


def test_a_large_batch_runs_with_arena_shrinkage_and_scores_the_same() -> None:
    """run_large passes onnxruntime RunOptions that shrink its CPU arena after the run (so RSS
    returns after large batches, bench/admission.md); the scores are the plain run's."""
    data = generate(400, seed=6)
    trained = train_demo_model(data.X, data.y, seed=6, kind="logreg")
    lv = load_version("m", 1, "sha", trained.onnx, device="cpu", intra_op_threads=1,
                      counters=VersionCounters())
    x = np.random.default_rng(6).random((SHRINK_AFTER_ROWS, data.X.shape[1]), dtype=np.float32)
    feeds = {lv.input_names[0]: x}
    for a, b in zip(lv.run_large(feeds), lv.run(feeds), strict=True):
        np.testing.assert_array_equal(a, b)
    lv.release()
