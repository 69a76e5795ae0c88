"""``driftgate retrain``, ``driftgate rollout`` and ``driftgate retrain-policy``: the closed loop from the CLI.

    driftgate retrain fraud [--data-source demo] [--data-option drift=amount_shift] [--trainer demo]
                            [--trainer-option kind=gbt] [--force] [--no-rollout] [--wait]
    driftgate rollout status|pause|resume|abort|promote|rollback fraud [--reason ...] [--json]
    driftgate retrain-policy fraud [--on drift --on schedule --every 1h ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from driftgate.cli.argtypes import duration
from driftgate.text_table import TextTable

__all__ = ["register"]

ACTIONS = ("status", "pause", "resume", "abort", "promote", "rollback")


def _pairs(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"{item!r} is not KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def status_dict(reply: Any) -> dict[str, Any]:
    from driftgate.cli._client import message_to_dict

    d = message_to_dict(reply)
    if d.get("rollout"):
        d["rollout"]["gates"] = json.loads(d["rollout"].pop("gates_json") or "{}")
    for run in d.get("runs", []):
        run["details"] = json.loads(run.pop("details_json") or "{}")
    return d


def _print_status(reply: Any) -> None:
    print(f"{reply.model}: champion v{reply.champion}" + ("  (a retrain is running)" if reply.retrain_running else ""))
    if reply.HasField("rollout"):
        r = reply.rollout
        steps = " ".join(
            f"[{s}%]" if i == r.step and r.state == "canary" else f"{s}%" for i, s in enumerate(r.steps)
        )
        print(f"rollout #{r.id}: v{r.challenger} vs champion v{r.champion}: {r.state}"
              + (" (paused)" if r.paused else "") + f"  steps {steps}")
        if r.reason:
            print(f"  why: {r.reason}")
        gates = json.loads(r.gates_json or "{}")
        if gates:
            print("  gates: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                        for k, v in gates.items()))
    else:
        print("no rollout yet")
    if reply.runs:
        table = TextTable(title="retrains")
        for col in ("run", "state", "trigger", "actor", "version", "why"):
            table.add_column(col)
        for run in reply.runs:
            table.add_row(str(run.id), run.state, run.trigger, run.actor, str(run.version or "-"), run.reason)
        print(table)


def _retrain(args: argparse.Namespace) -> int:
    from driftgate.cli._client import actor, connect, print_json
    from driftgate.proto.v1 import rollout_pb2 as pb
    from driftgate.proto.v1.rollout_pb2_grpc import RolloutsStub

    with connect(args, RolloutsStub) as stub:
        run = stub.Retrain(
            pb.RetrainRequest(
                model=args.name, data_source=args.data_source or "", data_options=_pairs(args.data_option),
                trainer=args.trainer or "", trainer_options=_pairs(args.trainer_option), force=args.force,
                no_rollout=args.no_rollout, actor=actor(), reason=args.reason,
            ),
            timeout=30,
        )
        if not args.wait:
            if args.json:
                print_json(run)
            else:
                print(f"retrain #{run.id} of {run.model} started; follow it with "
                      f"`driftgate rollout status {run.model}`")
            return 0
        while True:
            reply = stub.GetRollout(pb.GetRolloutRequest(model=args.name), timeout=30)
            mine = [r for r in reply.runs if r.id == run.id]
            if mine and mine[0].state != "running":
                if args.json:
                    print_json(mine[0])
                else:
                    print(f"retrain #{run.id}: {mine[0].state}: {mine[0].reason}")
                return 0 if mine[0].state == "registered" else 1
            time.sleep(0.5)


def _rollout(args: argparse.Namespace) -> int:
    from driftgate.cli._client import actor, connect, print_json
    from driftgate.proto.v1 import rollout_pb2 as pb
    from driftgate.proto.v1.rollout_pb2_grpc import RolloutsStub

    with connect(args, RolloutsStub) as stub:
        if args.action == "status":
            reply = stub.GetRollout(pb.GetRolloutRequest(model=args.name), timeout=30)
        else:
            method = getattr(stub, args.action.capitalize())
            reply = method(pb.RolloutActionRequest(model=args.name, actor=actor(), reason=args.reason), timeout=60)
    if args.json:
        print_json(status_dict(reply))
    else:
        _print_status(reply)
    return 0


def _policy(args: argparse.Namespace) -> int:
    from driftgate.cli._client import actor, connect, print_json
    from driftgate.proto.v1 import rollout_pb2 as pb
    from driftgate.proto.v1.rollout_pb2_grpc import RolloutsStub

    with connect(args, RolloutsStub) as stub:
        current = stub.GetRetrainPolicy(pb.GetRetrainPolicyRequest(model=args.name), timeout=30)
        changing = any(x is not None for x in (args.on, args.every, args.data_source, args.trainer,
                                                args.data_option, args.trainer_option, args.auto_rollout))
        if changing:
            new = pb.RetrainPolicy()
            new.CopyFrom(current)
            if args.on is not None:
                del new.triggers[:]
                new.triggers.extend(args.on)
            if args.every is not None:
                new.interval_s = args.every
            if args.data_source:
                new.data_source = args.data_source
            if args.trainer:
                new.trainer = args.trainer
            if args.data_option is not None:
                new.data_options.clear()
                new.data_options.update(_pairs(args.data_option))
            if args.trainer_option is not None:
                new.trainer_options.clear()
                new.trainer_options.update(_pairs(args.trainer_option))
            if args.auto_rollout is not None:
                new.auto_rollout = args.auto_rollout == "on"
            new.actor = actor()
            current = stub.SetRetrainPolicy(new, timeout=30)
    if args.json:
        print_json(current)
        return 0
    print(
        f"{current.model} retrains on {', '.join(current.triggers) or 'manual'}"
        + (f" (every {current.interval_s:g} s)" if "schedule" in current.triggers else "")
        + f" with data source {current.data_source} {dict(current.data_options)} and trainer {current.trainer} "
        f"{dict(current.trainer_options)}; auto rollout {'on' if current.auto_rollout else 'off'}"
    )
    return 0


def register(sub: Any) -> None:
    from driftgate.cli._client import command

    p = sub.add_parser("retrain", help="retrain a model, evaluate it against the champion, canary it")
    p.add_argument("name")
    p.add_argument("--data-source", default="", help="demo, files, or module:function (default: the policy's)")
    p.add_argument("--data-option", action="append", metavar="KEY=VALUE", help="e.g. drift=amount_shift, path=DIR")
    p.add_argument("--trainer", default="", help="demo or module:function (default: the policy's)")
    p.add_argument("--trainer-option", action="append", metavar="KEY=VALUE", help="e.g. kind=gbt")
    p.add_argument("--force", action="store_true", help="canary even if the evaluation says worse (recorded)")
    p.add_argument("--no-rollout", action="store_true", help="register only; no canary")
    p.add_argument("--wait", action="store_true", help="wait until the retrain has ended")
    p.add_argument("--reason", default="")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command(_retrain))

    r = sub.add_parser("rollout", help="a model's canary rollout: status, pause, resume, abort, promote, rollback")
    r.add_argument("action", choices=ACTIONS)
    r.add_argument("name")
    r.add_argument("--reason", default="")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=command(_rollout))

    q = sub.add_parser("retrain-policy", help="show or set what triggers a model's retrain")
    q.add_argument("name")
    q.add_argument("--on", action="append", choices=("manual", "drift", "accuracy", "schedule"),
                   help="a trigger (repeat for several)")
    q.add_argument("--every", type=duration, default=None, help="the schedule's period: 30m, 1d, ...")
    q.add_argument("--data-source", default=None)
    q.add_argument("--data-option", action="append", metavar="KEY=VALUE")
    q.add_argument("--trainer", default=None)
    q.add_argument("--trainer-option", action="append", metavar="KEY=VALUE")
    q.add_argument("--auto-rollout", choices=("on", "off"), default=None)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=command(_policy))
