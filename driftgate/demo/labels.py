"""Labels for demo traffic: the generator knows each transaction's truth (``Transactions.y``), so it
can play the card issuer and send chargebacks back, later.

    ids = [f"tx-{i}" for i in data.ids]             # the request ids sent with the traffic
    write_labels_csv("labels.csv", ids, data.y, scored_at=time.time(), delay_s=3 * 86400)
    # then: driftgate feedback fraud --file labels.csv

``labelled_at`` is ``scored_at`` plus a random delay (exponential around ``delay_s``, seeded), so the
label-delay figures of ``driftgate accuracy`` look like a real feed. ``submit_after`` waits for real
and submits through the Feedback API instead of writing a file.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["label_delays", "submit_after", "write_labels_csv"]


def label_delays(n: int, delay_s: float, seed: int = 0) -> np.ndarray:
    """``n`` label delays in seconds: exponential with mean ``delay_s`` (0: none)."""
    if delay_s <= 0:
        return np.zeros(n)
    return np.random.default_rng(seed).exponential(delay_s, n)


def write_labels_csv(
    path: str | Path,
    ids: Sequence[str],
    y: np.ndarray,
    *,
    scored_at: float | np.ndarray | None = None,
    delay_s: float = 0.0,
    seed: int = 0,
) -> Path:
    """A CSV ``id,label[,labelled_at]`` for ``driftgate feedback``; labelled_at only when ``scored_at`` is given."""
    if len(ids) != len(y):
        raise ValueError(f"{len(ids)} ids but {len(y)} labels")
    path = Path(path)
    labels = np.asarray(y).astype(np.int64).tolist()
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        if scored_at is None:
            w.writerow(("id", "label"))
            w.writerows(zip(ids, labels, strict=True))
        else:
            at = np.broadcast_to(np.asarray(scored_at, dtype=np.float64), (len(ids),)) + label_delays(
                len(ids), delay_s, seed
            )
            w.writerow(("id", "label", "labelled_at"))
            w.writerows(zip(ids, labels, (f"{t:.3f}" for t in at.tolist()), strict=True))
    return path


def submit_after(
    address: str, model: str, ids: Sequence[str], y: np.ndarray, delay_s: float, *, actor: str = "demo",
    token: str = "",
) -> object:
    """Wait ``delay_s`` seconds for real, then submit the labels to the registry at ``address``
    (with ``token``, an operator's or an admin's)."""
    import grpc

    from driftgate.auth import with_token
    from driftgate.proto.v1 import feedback_pb2, feedback_pb2_grpc

    time.sleep(max(0.0, delay_s))
    with grpc.insecure_channel(address) as raw:
        channel = with_token(raw, token)
        return feedback_pb2_grpc.FeedbackStub(channel).SubmitLabels(
            feedback_pb2.SubmitLabelsRequest(
                model=model, ids=list(ids), labels=np.asarray(y).astype(np.int64).tolist(), actor=actor
            ),
            timeout=600,
        )
