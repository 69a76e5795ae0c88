"""``driftgate models``: register, list, show and retire model versions; adaptive batching."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from driftgate.cli.argtypes import INT32_MAX, INT64_MAX, UINT32_MAX, integer
from driftgate.text_table import TextTable

__all__ = ["model_summary", "register"]

REGISTER_TIMEOUT_S = 600.0  # validation and profiling of a large model take a while
CALL_TIMEOUT_S = 30.0
_UINT32_MAX = 2**32 - 1
DEFAULT_MAX_DELAY_US = 100  # Triton's own examples start at 100 us


def _read(path: Path, what: str) -> bytes:
    from driftgate.cli._client import CliError

    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {what} {path}: {exc.strerror}") from None


def _metrics(items: list[str]) -> dict[str, float]:
    from driftgate.cli._client import CliError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep or not key:
                raise ValueError
            out[key] = float(value)
        except ValueError:
            raise CliError(f"metric {item!r} must be NAME=NUMBER") from None
    return out


def _register(args: argparse.Namespace) -> int:
    from driftgate.cli._client import CliError, actor, connect, print_json
    from driftgate.proto.v1 import control_pb2 as pb

    if args.score_column is not None and not args.score_output:
        raise CliError("--score-column needs --score-output")
    request = pb.RegisterVersionRequest(
        model=args.name,
        onnx=_read(args.path, "model"),
        reference_npy=_read(args.reference, "reference data") if args.reference else b"",
        source=args.source,
        metrics=_metrics(args.metric),
        description=args.description,
        parent=args.parent,
        actor=actor(),
        feature_names=[n.strip() for n in args.feature_names.split(",")] if args.feature_names else [],
        max_batch_size=args.max_batch_size,
        score_output=args.score_output,
        score_column=args.score_column if args.score_column is not None else 0,
    )
    with connect(args) as stub:
        info = stub.RegisterVersion(request, timeout=REGISTER_TIMEOUT_S)
    if args.json:
        print_json(info)
    else:
        print(info.version, flush=True)
    return 0


def _active(model: Any) -> list[Any]:
    return [v for v in model.versions if v.state == "active"]


def _split(traffic: Any) -> str:
    if traffic.mode == "weights":
        total = sum(w.weight for w in traffic.weights) or 1
        text = " ".join(f"v{w.version}={w.weight / total:.0%}" for w in traffic.weights)
    else:
        text = "latest"
    if traffic.shadows:
        text += " shadow " + " ".join(f"v{s.version}@{s.rate:.0%}" for s in traffic.shadows)
    return text


def model_summary(model: Any) -> dict[str, Any]:
    """What ``models list`` shows of a ModelInfo: each version's state, where it is loaded and its
    metrics, the traffic and the lagging gateways; not the signature, the reference profile or
    the settings (``models show --json`` has everything)."""
    return {
        "name": model.name,
        "versions": [
            {
                "version": v.version,
                "state": v.state,
                "created_at": v.created_at,
                "artifact_sha256": v.artifact_sha256,
                "metrics": dict(sorted(v.metrics.items())),
                "gateways": {g.gateway_id: g.state for g in v.gateways},
            }
            for v in model.versions
        ],
        "traffic": {
            "mode": model.traffic.mode,
            "weights": [{"version": w.version, "weight": w.weight} for w in model.traffic.weights],
            "shadows": [{"version": s.version, "rate": s.rate} for s in model.traffic.shadows],
        },
        "lagging": [lag.gateway_id for lag in model.lagging],
    }


def _versions_text(model: Any) -> str:
    """"v2,v3 active; 4 retired, 1 rolled_back": the active versions by number, the others counted."""
    active = ",".join(f"v{v.version}" for v in _active(model))
    others = Counter(v.state for v in model.versions if v.state != "active")
    counted = ", ".join(f"{n} {state}" for state, n in sorted(others.items()))
    return "; ".join(part for part in (f"{active} active" if active else "none active", counted) if part)


def _list(args: argparse.Namespace) -> int:
    from driftgate.cli._client import connect, print_json
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        reply = stub.ListModels(pb.ListModelsRequest(), timeout=CALL_TIMEOUT_S)
    if args.json:
        print_json({"models": [model_summary(m) for m in reply.models]})
        return 0
    table = TextTable("models", ["model", "versions", "traffic", "loaded on", "lagging"])
    for m in reply.models:
        newest = _active(m)[-1] if _active(m) else None
        table.add_row(
            m.name,
            _versions_text(m),
            _split(m.traffic),
            f"v{newest.version}: {_gateways(newest)}" if newest is not None else "-",
            " ".join(lag.gateway_id for lag in m.lagging) or "-",
        )
    print(table)
    return 0


def _gateways(version: Any) -> str:
    return " ".join(f"{g.gateway_id}:{g.state}" for g in version.gateways) or "-"


def _show(args: argparse.Namespace) -> int:
    from driftgate.cli._client import connect, print_json
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        model = stub.GetModel(pb.GetModelRequest(name=args.name), timeout=CALL_TIMEOUT_S)
    if args.json:
        print_json(model)
        return 0
    table = TextTable(title=f"{model.name}: traffic {_split(model.traffic)}")
    for col in ("version", "state", "sha256", "created", "source", "metrics", "gateways"):
        table.add_column(col)
    for v in model.versions:
        metrics = " ".join(f"{k}={val:.4g}" for k, val in sorted(v.metrics.items()))
        table.add_row(
            str(v.version),
            v.state,
            v.artifact_sha256[:12],
            v.created_at[:19].replace("T", " "),
            v.source or "-",
            metrics or "-",
            _gateways(v),
        )
    print(table)
    s = model.settings
    print(
        f"settings: max_batch_size={s.max_batch_size} psi_moderate={s.psi_moderate:g} psi_major={s.psi_major:g} "
        f"min_window_rows={s.min_window_rows} alert_windows={s.alert_windows} batching={_batching_text(s.batching)} "
        f"nan_inf_inputs={s.nonfinite_inputs or 'score'}",
    )
    for lag in model.lagging:
        print(_lag_text(lag))
    return 0


def _lag_text(lag: Any) -> str:
    why = lag.reason or "still applying it"
    return (
        f"gateway {lag.gateway_id} is lagging: applied config generation {lag.applied_generation} of "
        f"{lag.desired_generation}: {why}"
    )


def _reload(args: argparse.Namespace) -> int:
    from driftgate.cli._client import actor, connect, print_json
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        info = stub.ReloadVersion(
            pb.ReloadVersionRequest(model=args.name, version=args.version, actor=actor(), reason=args.reason),
            timeout=CALL_TIMEOUT_S,
        )
    if args.json:
        print_json(info)
    else:
        print(f"asked the gateways to reload {info.model} version {info.version} where it is not READY", flush=True)
    return 0


def _batching_text(b: Any) -> str:
    if not b.enabled:
        return "off"
    return f"on(max_batch={b.max_batch_rows},max_delay_us={b.max_queue_delay_us})"


def _batching(args: argparse.Namespace) -> int:
    from driftgate.cli._client import CliError, actor, connect, print_json
    from driftgate.proto.v1 import control_pb2 as pb

    change = args.off or args.max_batch is not None or args.max_delay_us is not None
    if args.off and (args.max_batch is not None or args.max_delay_us is not None):
        raise CliError("--off takes no --max-batch or --max-delay-us")
    batching = None
    if args.off:
        batching = pb.BatchingSettings(enabled=False)
    elif change:  # checked before the registry is dialled
        if args.max_batch is None:
            raise CliError("--max-batch is required to turn batching on (e.g. --max-batch 32)")
        if args.max_batch < 2:
            raise CliError(f"--max-batch must be at least 2, got {args.max_batch} (use --off to stop batching)")
        delay = args.max_delay_us if args.max_delay_us is not None else DEFAULT_MAX_DELAY_US
        if delay < 0:
            raise CliError(f"--max-delay-us must be 0 or more microseconds, got {delay}")
        if max(delay, args.max_batch) > _UINT32_MAX:
            raise CliError("--max-batch and --max-delay-us must fit in 32 bits; the registry accepts far less")
        batching = pb.BatchingSettings(enabled=True, max_batch_rows=args.max_batch, max_queue_delay_us=delay)
    with connect(args) as stub:
        if batching is None:
            model = stub.GetModel(pb.GetModelRequest(name=args.name), timeout=CALL_TIMEOUT_S)
        else:
            model = stub.UpdateModelSettings(
                pb.UpdateModelSettingsRequest(
                    model=args.name, settings=pb.ModelSettings(batching=batching), actor=actor()
                ),
                timeout=CALL_TIMEOUT_S,
            )
    b = model.settings.batching
    if args.json:
        print_json(b)
    else:
        print(f"{model.name}: batching {_batching_text(b)}", flush=True)
    return 0


def _input_policy(args: argparse.Namespace) -> int:
    from driftgate.cli._client import actor, connect, print_json
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        if args.nan is None:
            model = stub.GetModel(pb.GetModelRequest(name=args.name), timeout=CALL_TIMEOUT_S)
        else:
            model = stub.UpdateModelSettings(
                pb.UpdateModelSettingsRequest(
                    model=args.name, settings=pb.ModelSettings(nonfinite_inputs=args.nan), actor=actor()
                ),
                timeout=CALL_TIMEOUT_S,
            )
    policy = model.settings.nonfinite_inputs or "score"
    if args.json:
        print_json(pb.ModelSettings(nonfinite_inputs=policy))
    else:
        print(f"{model.name}: NaN/inf inputs: {policy}", flush=True)
    return 0


def _retire(args: argparse.Namespace) -> int:
    from driftgate.cli._client import actor, connect, print_json
    from driftgate.proto.v1 import control_pb2 as pb

    with connect(args) as stub:
        info = stub.RetireVersion(
            pb.RetireVersionRequest(model=args.name, version=args.version, actor=actor(), reason=args.reason),
            timeout=CALL_TIMEOUT_S,
        )
    if args.json:
        print_json(info)
    else:
        print(f"{info.model} version {info.version} is {info.state}", flush=True)
    return 0


def register(sub: Any) -> None:
    from driftgate.cli._client import command

    p = sub.add_parser("models", help="register, list, show and retire model versions")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    r = msub.add_parser("register", help="validate an ONNX model and register it as the next version")
    r.add_argument("name", help="model name")
    r.add_argument("path", type=Path, help="the .onnx file")
    r.add_argument("--reference", type=Path, help=".npy reference inputs [rows, features] for the drift profile")
    r.add_argument("--source", default="", help="where the model comes from (free text)")
    r.add_argument("--description", default="")
    r.add_argument("--metric", action="append", default=[], metavar="NAME=VALUE", help="repeatable")
    r.add_argument("--parent", type=integer(0, INT64_MAX), default=0, help="version this one was derived from")
    r.add_argument("--feature-names", default="", metavar="A,B,...")
    r.add_argument("--max-batch-size", type=integer(0, UINT32_MAX), default=0,
                   help="for a new model (default: the gateway's)")
    r.add_argument("--score-output", default="", help="output the score is read from (default: see docs)")
    r.add_argument("--score-column", type=integer(-1, INT32_MAX), default=None, help="its column (with --score-output)")
    r.add_argument("--json", action="store_true", help="print the VersionInfo as JSON")
    r.set_defaults(func=command(_register))

    ls = msub.add_parser("list", help="every model: its versions' states, traffic and gateways (a summary)",
                         description="A summary of every model: versions and their states, where the newest "
                         "active version is loaded, the traffic and lagging gateways. `models show NAME --json` "
                         "has everything of one model (signature, reference profile, settings).")
    ls.add_argument("--json", action="store_true", help="the summary as JSON: {\"models\": [{name, versions, "
                    "traffic, lagging}]}")
    ls.set_defaults(func=command(_list))

    sh = msub.add_parser("show", help="a model's versions and what each gateway has loaded")
    sh.add_argument("name")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=command(_show))

    b = msub.add_parser(
        "batching",
        help="adaptive batching on the gateways: show it, set it (--max-batch, --max-delay-us) or --off",
        description="Concurrent requests to the model queue for at most --max-delay-us microseconds (from the "
        "first one queued) or until --max-batch rows, then run as one session call (Triton's dynamic batcher). "
        "Without options: show the current setting.",
    )
    b.add_argument("name")
    # any whole number here: _batching says what the registry accepts, and why, in one line
    b.add_argument("--max-batch", type=integer(-INT64_MAX, INT64_MAX), default=None, metavar="ROWS",
                   help="rows a batch may hold (2 .. the model's max_batch_size)")
    b.add_argument("--max-delay-us", type=integer(-INT64_MAX, INT64_MAX), default=None, metavar="US",
                   help=f"longest wait after the first queued request (default {DEFAULT_MAX_DELAY_US})")
    b.add_argument("--off", action="store_true", help="turn batching off")
    b.add_argument("--json", action="store_true", help="print the BatchingSettings as JSON")
    b.set_defaults(func=command(_batching))

    ip = msub.add_parser(
        "input-policy",
        help="what the gateways do with NaN/inf inputs: score them (default) or reject the request",
        description="--nan score: NaN and infinite values are scored and counted in drift (NaN and "
        "out-of-range bins). --nan reject: a request holding one is refused with INVALID_ARGUMENT naming the "
        "input, row and column. Without --nan: show the current policy.",
    )
    ip.add_argument("name")
    ip.add_argument("--nan", choices=("score", "reject"), default=None,
                    help="the policy for NaN and +-inf in float inputs")
    ip.add_argument("--json", action="store_true")
    ip.set_defaults(func=command(_input_policy))

    rt = msub.add_parser("retire", help="retire a version: it leaves traffic and the gateways")
    rt.add_argument("name")
    rt.add_argument("version", type=integer(1, INT64_MAX))
    rt.add_argument("--reason", default="")
    rt.add_argument("--json", action="store_true")
    rt.set_defaults(func=command(_retire))

    rl = msub.add_parser(
        "reload", help="ask every gateway to load a version again where it FAILED or waits to retry a fetch",
        description="Gateways retry a failed fetch on their own (with backoff); a version that FAILED for a "
        "definitive cause (onnxruntime refused it) is loaded again only when asked: after fixing what was wrong "
        "on that host, say. A version READY on a gateway is left as it is.",
    )
    rl.add_argument("name")
    rl.add_argument("version", type=integer(1, INT64_MAX))
    rl.add_argument("--reason", default="")
    rl.add_argument("--json", action="store_true")
    rl.set_defaults(func=command(_reload))
