"""``driftgate serve``: run the registry sidecar and N gateway workers as child processes.

One Python process is one core's worth (the GIL), so the gateway scales by processes sharing
one port with SO_REUSEPORT; the registry runs apart so that training and SQLite never take the
gateway's CPU time slice. The supervisor starts the registry, waits until it listens, starts the
first gateway worker (which may pick a free port), then the others on that same port. A child
that dies is restarted with backoff on the same port (a gateway keeps serving while the registry
restarts, and a registry keeps its state while a gateway restarts). SIGTERM or Ctrl-C stops the
gateways first (they drain their in-flight requests), then the registry. SIGHUP is passed to every
child (they re-read their TLS certificates).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Child", "Supervisor"]

_LISTEN = re.compile(r"(gateway|registry) listening on (\S+)(?: \((\w+)\))?")
_METRICS = re.compile(r"metrics on (\S+)")
_DASHBOARD = re.compile(r"dashboard on (\S+)")


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[str] | None = None
    address: str = ""
    transport: str = ""  # plaintext, TLS or mTLS, as the child says in its listening line
    metrics: str = ""
    dashboard: str = ""
    ready: threading.Event = field(default_factory=threading.Event)
    restarts: int = 0
    next_restart: float = 0.0


class Supervisor:
    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {**os.environ, **(env or {})}
        self.children: list[Child] = []
        self._stopping = threading.Event()

    def _pump(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        for line in child.process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if not child.metrics and (m := _METRICS.search(line)):
                child.metrics = m.group(1)
            if not child.dashboard and (m := _DASHBOARD.search(line)):
                child.dashboard = m.group(1)
            match = _LISTEN.search(line)
            if match and not child.ready.is_set():
                child.address = match.group(2)
                child.transport = match.group(3) or ""
                child.ready.set()
        child.ready.set()  # exited: unblock waiters

    def _spawn(self, child: Child) -> None:
        child.ready.clear()
        child.process = subprocess.Popen(
            child.argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=self.env, bufsize=1
        )
        threading.Thread(target=self._pump, args=(child,), daemon=True, name=f"pump-{child.name}").start()

    def start(self, name: str, args: Sequence[str], timeout: float) -> Child:
        """Start a child and wait until it prints its listening line. Once it listens, its
        ``--port`` is pinned to the port it got, so a restart comes back on the same one."""
        child = Child(name, [sys.executable, "-m", "driftgate", "--home", str(self.home), *args])
        self._spawn(child)
        self.children.append(child)
        assert child.process is not None
        if not child.ready.wait(timeout) or child.process.poll() is not None:
            code = child.process.poll()
            raise RuntimeError(f"{name} did not start (exit code {code}); see its log above")
        if "--port" in child.argv:
            child.argv[child.argv.index("--port") + 1] = child.address.rsplit(":", 1)[1]
        return child

    def install_signals(self) -> None:
        def on_signal(signum: int, frame: object) -> None:
            self._stopping.set()

        def on_hangup(signum: int, frame: object) -> None:  # certificates rotated: every child re-reads them
            for child in self.children:
                if child.process is not None and child.process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        child.process.send_signal(signal.SIGHUP)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGHUP, on_hangup)

    def wait(self) -> int:
        """Block until SIGTERM/SIGINT, restarting children that die; then stop everything.
        Exit code 0 when every child stopped cleanly."""
        while not self._stopping.wait(0.2):
            now = time.monotonic()
            for child in self.children:
                if child.process is None or child.process.poll() is None:
                    continue
                if child.next_restart == 0.0:
                    delay = min(30.0, 0.5 * 2**child.restarts)
                    child.next_restart = now + delay
                    print(f"driftgate: {child.name} exited with code {child.process.returncode}; "
                          f"restarting in {delay:.1f} s", file=sys.stderr, flush=True)
                elif now >= child.next_restart:
                    child.restarts += 1
                    child.next_restart = 0.0
                    self._spawn(child)
        return self.stop()

    def stop(self, timeout: float = 30.0) -> int:
        # Gateways first (they drain), the registry last.
        order = [c for c in self.children if c.name != "registry"] + [c for c in self.children if c.name == "registry"]
        codes = []
        for group in (order[:-1], order[-1:]) if len(order) > 1 else (order,):
            for child in group:
                if child.process is not None and child.process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        child.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for child in group:
                if child.process is None:
                    continue
                try:
                    child.process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
                codes.append(child.process.returncode)
        return 0 if all(c == 0 for c in codes) else 1
