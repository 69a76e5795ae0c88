"""``driftgate accuracy MODEL``: each version's live accuracy from the labels joined so far.

Per version: labelled rows, label delay (median, p90), AUC, precision and recall at the model's
threshold, calibration (mean score against the observed fraud rate), and a status against the
model's thresholds. ``--set KEY=VALUE`` changes a per-model setting first (threshold, min_auc,
max_calibration_gap, min_labels, alert_windows, eval_window_seconds).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from driftgate.cli.argtypes import INT64_MAX, duration, integer
from driftgate.text_table import TextTable

__all__ = ["register"]

_FLOAT_SETTINGS = ("threshold", "min_auc", "max_calibration_gap", "eval_window_seconds")
_INT_SETTINGS = ("min_labels", "alert_windows")


def _fmt(x: float, digits: int = 3) -> str:
    return "-" if x != x else f"{x:.{digits}f}"


def _delay(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"


def _setting(text: str) -> tuple[str, float | int]:
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or key not in (*_FLOAT_SETTINGS, *_INT_SETTINGS):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected KEY=VALUE with KEY one of {', '.join((*_FLOAT_SETTINGS, *_INT_SETTINGS))}"
        )
    try:
        number: float | int = int(value) if key in _INT_SETTINGS else float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a number") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a finite number")
    return key, number


def _accuracy(args: argparse.Namespace) -> int:
    from driftgate.cli._client import actor, connect, print_json
    from driftgate.proto.v1 import feedback_pb2
    from driftgate.proto.v1.feedback_pb2_grpc import FeedbackStub

    with connect(args, FeedbackStub) as stub:
        if args.set:
            stub.UpdateAccuracySettings(
                feedback_pb2.UpdateAccuracySettingsRequest(model=args.name, actor=actor(), **dict(args.set)),
                timeout=30,
            )
        report = stub.GetAccuracy(
            feedback_pb2.GetAccuracyRequest(model=args.name, version=args.version, window_seconds=args.window),
            timeout=120,
        )
    if args.json:
        print_json(report)
        return 0
    s = report.settings
    title = (
        f"{report.model}: accuracy over rows scored in the last {_delay(report.window_seconds)} "
        f"(threshold {s.threshold:g}, min AUC {s.min_auc:g}, max calibration gap {s.max_calibration_gap:g}, "
        f"min labels {s.min_labels})"
    )
    if not report.versions:
        print(f"{title}: no scored rows")
        return 0
    table = TextTable(title=title)
    for col in ("version", "scored", "labelled", "fraud", "delay p50", "delay p90", "AUC", "precision", "recall",
                "mean score", "fraud rate", "status"):
        table.add_column(col, right=col != "status")
    for v in report.versions:
        status = v.status + (" ALERT" if v.alert else "")
        if v.reasons and v.status == "degraded":
            status += ": " + "; ".join(v.reasons)
        table.add_row(
            str(v.version), str(v.scored), str(v.labelled), str(v.positives), _delay(v.delay_median_s),
            _delay(v.delay_p90_s), _fmt(v.auc), _fmt(v.precision), _fmt(v.recall), _fmt(v.mean_score, 4),
            _fmt(v.observed_rate, 4), status,
        )
    print(table)
    if report.retention_dropped or report.gateway_dropped:
        print(
            f"scored rows dropped: {report.retention_dropped} by retention, {report.gateway_dropped} by full "
            "gateway buffers"
        )
    if report.held_labels or report.held_expired:
        print(
            f"labels held for rows not scored yet: {report.held_labels} waiting, {report.held_expired} dropped "
            "unjoined (hold time or bound)"
        )
    return 0


def register(sub: Any) -> None:
    from driftgate.cli._client import command

    p = sub.add_parser("accuracy", help="each version's live accuracy from delayed labels")
    p.add_argument("name", help="model")
    p.add_argument("--version", type=integer(0, INT64_MAX), default=0,
                   help="one version (default: every version with scored rows)")
    p.add_argument(
        "--window", type=duration, default=7 * 86400.0, metavar="DURATION",
        help="rows scored this far back: 30s, 5m, 1h, 7d (default 7d)",
    )
    p.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                   help="change a per-model setting first: threshold, min_auc, max_calibration_gap, min_labels, "
                        "alert_windows, eval_window_seconds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command(_accuracy))
