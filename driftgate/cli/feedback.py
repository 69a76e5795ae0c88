"""``driftgate feedback MODEL --file labels.csv``: join delayed labels (chargebacks) to scored requests.

The CSV has a header with the columns ``id`` and ``label`` (0 or 1) and optionally ``labelled_at``
(unix seconds or ISO 8601; empty: when received). The whole file is checked before anything is
sent: a malformed one is refused with the line that is wrong, and nothing is applied (the registry
applies a batch all or nothing too).
"""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["LabelFile", "read_labels_csv", "register"]


@dataclass
class LabelFile:
    ids: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    labelled_at: list[float] = field(default_factory=list)  # empty when the file has no such column


def _timestamp(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError("an ISO 8601 time needs a zone (Z or +hh:mm)") from None
        value = moment.timestamp()
    if not math.isfinite(value) or value < 0:
        raise ValueError("not a time")
    return value


def read_labels_csv(path: Path) -> LabelFile:
    """Every row of the file, or CliError naming the first wrong line."""
    from driftgate.cli._client import CliError

    out = LabelFile()
    try:
        f = path.open(newline="", encoding="utf-8-sig")  # a BOM (spreadsheets write one) is not part of "id"
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    with f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise CliError(f"{path} is empty; it needs a header with the columns id,label") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CliError(f"{path} line 1: {exc}") from None
        missing = [c for c in ("id", "label") if c not in header]
        if missing:
            raise CliError(f"{path} line 1: the header needs the columns id and label (missing {', '.join(missing)})")
        unknown = [c for c in header if c not in ("id", "label", "labelled_at")]
        if unknown:
            raise CliError(f"{path} line 1: unknown column(s) {', '.join(unknown)}; columns: id, label, labelled_at")
        i_id, i_label = header.index("id"), header.index("label")
        i_at = header.index("labelled_at") if "labelled_at" in header else -1
        width = len(header)
        try:
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != width:
                    raise CliError(f"{path} line {line}: {len(row)} fields, the header has {width}")
                rid = row[i_id].strip()
                if not rid:
                    raise CliError(f"{path} line {line}: empty id")
                label = row[i_label].strip()
                if label not in ("0", "1"):
                    raise CliError(f"{path} line {line}: label must be 0 or 1, got {label!r}")
                out.ids.append(rid)
                out.labels.append(int(label))
                if i_at >= 0:
                    text = row[i_at].strip()
                    try:
                        out.labelled_at.append(_timestamp(text) if text else 0.0)
                    except ValueError:
                        raise CliError(
                            f"{path} line {line}: labelled_at must be unix seconds or an ISO 8601 time, got {text!r}"
                        ) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CliError(f"{path} line {reader.line_num}: {exc}") from None
    if not out.ids:
        raise CliError(f"{path} has no labels after its header")
    return out


def _feedback(args: argparse.Namespace) -> int:
    import grpc

    from driftgate.cli._client import CliError, actor, connect, print_json
    from driftgate.proto.v1 import feedback_pb2
    from driftgate.proto.v1.feedback_pb2_grpc import FeedbackStub

    labels = read_labels_csv(args.file)
    with connect(args, FeedbackStub) as stub:
        try:
            result = stub.SubmitLabels(
                feedback_pb2.SubmitLabelsRequest(
                    model=args.name,
                    ids=labels.ids,
                    labels=labels.labels,
                    labelled_at=labels.labelled_at,
                    actor=actor(),
                ),
                timeout=600,
            )
        except grpc.RpcError as exc:
            # a batch is applied all or nothing, and a label sent twice counts as a duplicate
            # (the first stands): sending the same file again is always safe
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise CliError(
                    f"registry unavailable: {exc.details()}; no label of {args.file} was stored: send the file "
                    "again once the registry is back"
                ) from None
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise CliError(
                    f"the registry did not answer in time; send {args.file} again (labels it stored already "
                    "count as duplicates)"
                ) from None
            raise
    if args.json:
        print_json(result)
        return 0
    print(
        f"{args.name}: {result.received} labels: {result.joined} joined, {result.held} held (not scored yet: "
        f"joined when their rows arrive), {result.duplicates} duplicates, {result.expired} expired, "
        f"{result.unknown} unknown",
    )
    return 0


def register(sub: Any) -> None:
    from driftgate.cli._client import command

    p = sub.add_parser("feedback", help="join delayed labels (chargebacks) to the requests a model scored")
    p.add_argument("name", help="model")
    p.add_argument("--file", type=Path, required=True, help="CSV with a header: id,label[,labelled_at]")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command(_feedback))
