"""``driftgate demo``: the closed loop told live, in a few minutes.

It starts its own ``driftgate serve`` under ``--home`` (default: a temporary folder) with short drift windows
and canary steps, serves the demo fraud model v1, and sends steady card traffic from a background client that
counts every request and every failure. Then:

1. the traffic shifts (the generator's drift setting, e.g. ``amount_shift``); the drift alert fires; the
   retrain policy (``--on drift``) retrains on fresh data at that drift setting; the challenger is evaluated
   against the champion, registered, canaried through the steps (shown live) and promoted;
2. a deliberately bad challenger (trainer kind ``bad``: shuffled labels) is forced past its evaluation into a
   canary, where a gate (score PSI against the champion) rolls it back.

It ends with a timeline (the audit log) and, with ``--json``, one JSON object: requests_sent,
failed_requests, promoted_version, rolled_back_version, timeline.

The registry's web dashboard (docs/dashboard.md) shows it all live: the demo prints its address and how to
log in (the administrator's token file under the home; a ``?token=`` link on the terminal only, never in
the JSON), and ``--stay`` keeps everything serving after the story until Ctrl-C.

``driftgate --home H demo`` keeps the demo's state under H (default: a temporary folder, removed at the end).
``--quick`` tells the same story in about a minute (the tests run it): a shorter warm-up and two short canary
steps of ~30 requests each, whose noisy latency and score-PSI gates are widened (the bad challenger's score PSI,
3-4, is still far above them).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from driftgate.cli.argtypes import number
from driftgate.text_table import TextTable

__all__ = ["register"]

ADMIN_TOKEN_FILE = "admin.token"  # written by the registry at its first start (driftgate.registry.access.tokens)

DEMO_ENV = {
    "DRIFTGATE_DRIFT__WINDOW_SECONDS": "2",
    "DRIFTGATE_DRIFT__MIN_WINDOW_ROWS": "200",
    "DRIFTGATE_DRIFT__ALERT_WINDOWS": "2",
    "DRIFTGATE_GATEWAY__REPORT_INTERVAL_S": "0.5",
    "DRIFTGATE_ROLLOUT__STEPS": "[10, 50, 100]",
    "DRIFTGATE_ROLLOUT__STEP_HOLD_S": "4",
    "DRIFTGATE_ROLLOUT__STEP_MIN_REQUESTS": "60",
    "DRIFTGATE_ROLLOUT__KEEP_OLD_S": "4",
    "DRIFTGATE_ROLLOUT__RETRAIN_COOLDOWN_S": "0",
    "DRIFTGATE_ROLLOUT__ROWS": "30000",
    "DRIFTGATE_ROLLOUT__TICK_S": "0.25",
}

QUICK_ENV = {  # --quick: the same loop, shorter (see the module's docstring)
    # Drift windows and retrain rows stay as they are: 1 s windows of ~240 rows raised moderate alerts before
    # any shift, and challengers trained on 10,000 rows lost to the champion (50,000 rows) on the holdout.
    "DRIFTGATE_ROLLOUT__STEPS": "[50, 100]",
    "DRIFTGATE_ROLLOUT__STEP_HOLD_S": "1",
    "DRIFTGATE_ROLLOUT__STEP_MIN_REQUESTS": "30",
    "DRIFTGATE_ROLLOUT__KEEP_OLD_S": "1",
    # a p99 of 30 requests is their maximum, and a score PSI over 19 bins from 30 rows is noisy
    "DRIFTGATE_ROLLOUT__MAX_SCORE_PSI": "1.5",
    "DRIFTGATE_ROLLOUT__MAX_P99_RATIO": "50",
}


class Traffic:
    """A background client: batches of demo transactions at ``rate`` requests/s; counts requests and failures."""

    def __init__(self, address: str, rate: float, batch: int = 4) -> None:
        self.address = address
        self.rate = rate
        self.batch = batch
        self.drift = ""
        self.sent = 0
        self.failed = 0
        self.errors: list[str] = []
        self.by_version: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="demo-traffic")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(10)

    def _run(self) -> None:
        import grpc
        import numpy as np

        from driftgate.demo import generate
        from driftgate.proto.inference import grpc_service_pb2 as pb
        from driftgate.proto.inference import grpc_service_pb2_grpc

        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(self.address))
        seed, pool, at, drift = 1000, np.empty((0, 30), np.float32), 0, None
        period = 1.0 / self.rate
        next_send = time.perf_counter()
        while not self._stop.is_set():
            if drift != self.drift or at + self.batch > len(pool):
                drift, seed, at = self.drift, seed + 1, 0
                pool = generate(4000, seed=seed, drift=drift or None).X
            x = pool[at : at + self.batch]
            at += self.batch
            request = pb.ModelInferRequest(model_name="fraud")
            request.inputs.add(name="transaction", datatype="FP32", shape=list(x.shape))
            request.raw_input_contents.append(x.tobytes())
            self.sent += 1
            try:
                reply = stub.ModelInfer(request, timeout=5)
                self.by_version[reply.model_version] = self.by_version.get(reply.model_version, 0) + 1
            except grpc.RpcError as exc:
                self.failed += 1
                if len(self.errors) < 10:
                    self.errors.append(f"{exc.code().name}: {exc.details()}")
            next_send += period
            delay = next_send - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_send = time.perf_counter()


def _start_serve(
    home: Path, env: dict[str, str], dashboard_port: int = 0
) -> tuple[subprocess.Popen[str], str, str, str]:
    argv = [sys.executable, "-m", "driftgate", "--home", str(home), "serve", "--port", "0", "--metrics-port", "-1",
            "--registry-port", "0", "--host", "127.0.0.1", "--dashboard-port", str(dashboard_port)]
    log = (home / "serve.log").open("w")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True,
                               env={**os.environ, **env})
    gateway = registry = dashboard = ""
    assert process.stdout is not None
    for line in process.stdout:
        if m := re.search(r"dashboard on (\S+)", line):
            dashboard = dashboard or m.group(1)
        if m := re.search(r"gateway listening on (\S+)", line):
            gateway = gateway or m.group(1)
        if m := re.search(r"registry listening on (\S+)", line):
            registry = registry or m.group(1)
        if line.startswith("driftgate serving:"):
            break
    if not gateway or process.poll() is not None:
        process.kill()
        raise RuntimeError(f"driftgate serve did not start; see {home / 'serve.log'}")
    threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True).start()
    return process, gateway, registry, dashboard


def _dashboard_login(home: Path, url: str) -> tuple[str, str]:
    """(where the administrator's token is, a link that logs a browser in once) for the terminal."""
    from driftgate.auth import login_url

    token_file = home / ADMIN_TOKEN_FILE
    try:
        token = token_file.read_text().strip()
    except OSError:
        return str(token_file), ""
    return str(token_file), login_url(url, token) if token else ""


def _demo(args: argparse.Namespace) -> int:
    import grpc

    from driftgate.auth import with_token
    from driftgate.cli._client import CliError
    from driftgate.cli.rollout import status_dict
    from driftgate.control_channel import grpc_options
    from driftgate.home import read_private
    from driftgate.proto.inference import grpc_service_pb2 as ipb
    from driftgate.proto.inference import grpc_service_pb2_grpc
    from driftgate.proto.v1 import control_pb2 as cpb
    from driftgate.proto.v1 import control_pb2_grpc, rollout_pb2_grpc
    from driftgate.proto.v1 import rollout_pb2 as rpb

    quiet = args.json
    started = time.monotonic()
    marks: list[dict[str, Any]] = []

    def say(text: str) -> None:
        marks.append({"t": round(time.monotonic() - started, 1), "what": text})
        if not quiet:
            print(f"{time.monotonic() - started:6.1f}s  {text}", flush=True)

    from driftgate.home import DEFAULT_HOME

    tmp = None
    if args.home is DEFAULT_HOME:  # no --home given: a folder of its own, not the user's ./.driftgate
        tmp = tempfile.TemporaryDirectory(prefix="driftgate-demo-")
        home = Path(tmp.name)
    else:
        home = Path(args.home)
        home.mkdir(parents=True, exist_ok=True)
    env = {**DEMO_ENV, **(QUICK_ENV if args.quick else {})}
    warmup = args.warmup if args.warmup is not None else (2.0 if args.quick else 6.0)
    say(f"starting driftgate serve under {home} (trains and registers the demo model fraud v1)")
    process, gateway, registry, dashboard = _start_serve(home, env, args.dashboard_port)
    traffic = Traffic(gateway, args.rate)
    result: dict[str, Any] = {}
    try:
        # the serve under ``home`` wrote its admin token there
        channel = with_token(grpc.insecure_channel(registry, options=grpc_options()),
                             read_private(home / "admin.token"))
        control = control_pb2_grpc.ControlStub(channel)
        loop = rollout_pb2_grpc.RolloutsStub(channel)
        infer = grpc_service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(gateway))
        deadline = time.monotonic() + 120
        while not _ready(infer, ipb):
            if time.monotonic() > deadline:
                raise CliError("the gateway did not become ready")
            time.sleep(0.2)
        say(f"gateway {gateway} serves fraud v1; registry {registry}")
        if dashboard:
            token_file, link = _dashboard_login(home, dashboard)
            say(f"dashboard {dashboard}: log in with the token in {token_file}")
            if link and not quiet:  # the link holds the token: the local terminal only, never the JSON
                print(f"         open {link} (logs this browser in once)", flush=True)
        traffic.start()
        say(f"client sends {args.rate:g} requests/s of {traffic.batch} card transactions each")
        loop.SetRetrainPolicy(rpb.RetrainPolicy(
            model="fraud", triggers=["drift"], data_source="demo", data_options={"drift": args.drift},
            trainer="demo", trainer_options={"kind": "gbt"}, auto_rollout=True, actor="demo",
        ), timeout=30)
        say(f"retrain policy: on drift, fresh data from the demo source at drift {args.drift!r}, gbt trainer")
        time.sleep(warmup)
        traffic.drift = args.drift
        say(f"the world changes: traffic shifts to {args.drift!r}")

        def wait_for(predicate: Any, what: str, timeout: float) -> Any:
            end = time.monotonic() + timeout
            last = ""
            while time.monotonic() < end:
                status = loop.GetRollout(rpb.GetRolloutRequest(model="fraud"), timeout=30)
                line = _progress(status)
                if line != last:
                    say(line)
                    last = line
                if predicate(status):
                    return status
                time.sleep(0.5)
            raise CliError(f"timed out waiting for {what}")

        def drift_alert() -> str:
            events = control.ListEvents(cpb.ListEventsRequest(model="fraud", limit=200), timeout=30).events
            alerts = [e for e in events if e.kind == "drift_alert"]
            return alerts[-1].message if alerts else ""

        end = time.monotonic() + 120
        while not (alert := drift_alert()):
            if time.monotonic() > end:
                raise CliError("no drift alert")
            time.sleep(0.5)
        say(f"drift alert: {alert}")
        status = wait_for(lambda s: s.HasField("rollout") and s.rollout.state in ("done", "rolled_back", "aborted"),
                          "the first rollout", 420)
        promoted = int(status.rollout.challenger) if status.rollout.state == "done" else 0
        say(f"round 1 ends: rollout {status.rollout.state}; champion v{status.champion}")

        # round 2: a deliberately bad challenger, forced past its evaluation into a canary
        loop.SetRetrainPolicy(rpb.RetrainPolicy(
            model="fraud", triggers=["manual"], data_source="demo", data_options={"drift": args.drift},
            trainer="demo", trainer_options={"kind": "gbt"}, auto_rollout=True, actor="demo",
        ), timeout=30)
        run = loop.Retrain(rpb.RetrainRequest(
            model="fraud", trainer_options={"kind": "bad"}, force=True, actor="demo",
            reason="demo: a challenger trained on shuffled labels (a label-join bug)",
        ), timeout=30)
        say(f"round 2: retrain #{run.id} with trainer kind 'bad' (shuffled labels), forced into a canary")
        before = status.rollout.id
        status = wait_for(
            lambda s: (s.HasField("rollout") and s.rollout.id != before
            and s.rollout.state in ("done", "rolled_back", "aborted")) or (s.runs and s.runs[0].state == "failed"),
            "the second rollout", 420,
        )
        rolled_back = int(status.rollout.challenger) if status.rollout.state == "rolled_back" else 0
        say(f"round 2 ends: rollout {status.rollout.state}"
            + (f" ({status.rollout.reason})" if status.rollout.reason else "") + f"; champion v{status.champion}")
        time.sleep(1.0)
        traffic.stop()
        say(f"client: {traffic.sent} requests, {traffic.failed} failed; by version {traffic.by_version}")
        events = control.ListEvents(cpb.ListEventsRequest(model="fraud", limit=500), timeout=30).events
        timeline = [
            {"at": e.at, "kind": e.kind, "version": e.version, "actor": e.actor, "message": e.message}
            for e in reversed(events)
        ]
        result = {
            "requests_sent": traffic.sent,
            "failed_requests": traffic.failed,
            "promoted_version": promoted,
            "rolled_back_version": rolled_back,
            "seconds": round(time.monotonic() - started, 1),
            "errors": traffic.errors,
            "final_status": status_dict(status),
            "milestones": marks,
            "timeline": timeline,
        }
        if args.stay:
            say("the story is over; everything keeps serving until Ctrl-C (--stay)")
            traffic = Traffic(gateway, args.rate)
            traffic.drift = args.drift
            traffic.start()
            try:
                while process.poll() is None:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
        channel.close()
    finally:
        traffic.stop()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        if tmp is not None:
            tmp.cleanup()
    if args.json:
        print(json.dumps(result, indent=2, allow_nan=False), flush=True)
    else:
        table = TextTable(title="timeline (the audit log of fraud)")
        for col in ("at", "kind", "v", "actor", "what"):
            table.add_column(col)
        for e in result["timeline"]:
            table.add_row(e["at"][11:19], e["kind"], str(e["version"] or "-"), e["actor"], e["message"])
        print(table)
        print(f"requests sent {result['requests_sent']}, failed {result['failed_requests']}; promoted "
              f"v{result['promoted_version']}, rolled back v{result['rolled_back_version']} "
              f"in {result['seconds']} s")
    return 0 if result["failed_requests"] == 0 and result["promoted_version"] and result["rolled_back_version"] else 1


def _ready(infer: Any, ipb: Any) -> bool:
    """ServerReady, False while it cannot answer: a gateway compiling its kernels at start may hold
    a call past its deadline on a busy machine."""
    import grpc

    try:
        return bool(infer.ServerReady(ipb.ServerReadyRequest(), timeout=5).ready)
    except grpc.RpcError:
        return False


def _progress(status: Any) -> str:
    running = " (retrain running)" if status.retrain_running else ""
    if not status.HasField("rollout"):
        return f"champion v{status.champion}{running}"
    r = status.rollout
    gates = json.loads(r.gates_json or "{}")
    step = f" step {r.step + 1}/{len(r.steps)} at {r.steps[r.step]}%" if r.state == "canary" else ""
    psi = gates.get("score_psi")
    detail = (f" canary requests {gates.get('canary_requests', 0)}, score PSI {psi:.3f}" if psi is not None
              else "") if r.state == "canary" else ""
    return f"rollout #{r.id} v{r.challenger}: {r.state}{step}{running}" + (
        f" ({r.reason})" if r.reason and r.state != "canary" else "") + (
        "" if not detail else f" -{detail}")


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="the closed loop live: drift, retrain, canary, promote; a bad model rolled back")
    # the global --home, also accepted after "demo"; SUPPRESS keeps an absent one from hiding the global one
    p.add_argument("--home", type=Path, default=argparse.SUPPRESS,
                   help="state directory of the demo (default: a temporary one)")
    p.add_argument("--drift", default="amount_shift", help="the drift setting the traffic shifts to")
    p.add_argument("--rate", type=number(0, low_open=True), default=60.0, help="client requests per second")
    p.add_argument("--warmup", type=number(0), default=None,
                   help="seconds of steady traffic before the shift (default 6; 2 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="the same story in about a minute: a short warm-up, two short canary steps")
    p.add_argument("--json", action="store_true", help="end with one JSON object")
    p.add_argument("--dashboard-port", type=int, default=0,
                   help="the web dashboard's port (default 0: a free one, printed; -1 turns it off)")
    p.add_argument("--stay", action="store_true",
                   help="after the story, keep serving (and the client sending) until Ctrl-C, to look around")
    p.set_defaults(func=_demo)
