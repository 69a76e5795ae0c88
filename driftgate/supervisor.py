"""``driftgate serve``: run the registry sidecar and N gateway workers as child processes.

One Python process is one core's worth (the GIL), so the gateway scales by processes sharing
one port with SO_REUSEPORT; the registry runs apart so that training and SQLite never take the
gateway's CPU time slice. The supervisor starts the registry, waits until it listens, starts the
first gateway worker (which may pick a free port), then the others on that same port. SIGTERM or
Ctrl-C stops the gateways first (they drain their in-flight requests), then the registry.
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

_LISTEN = re.compile(r"(gateway|registry) listening on (\S+)")


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[str] | None = None
    address: str = ""
    ready: threading.Event = field(default_factory=threading.Event)


class Supervisor:
    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {**os.environ, **(env or {})}
        self.children: list[Child] = []
        self._stopping = threading.Event()

    def _pump(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        for line in child.process.stdout:
            match = _LISTEN.search(line)
            if match and not child.ready.is_set():
                child.address = match.group(2)
                child.ready.set()
            sys.stdout.write(line)
            sys.stdout.flush()
        child.ready.set()  # exited: unblock waiters

    def start(self, name: str, args: Sequence[str], timeout: float) -> Child:
        argv = [sys.executable, "-m", "driftgate", "--home", str(self.home), *args]
        child = Child(name, argv)
        child.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=self.env, bufsize=1
        )
        threading.Thread(target=self._pump, args=(child,), daemon=True, name=f"pump-{name}").start()
        self.children.append(child)
        if not child.ready.wait(timeout) or child.process.poll() is not None:
            code = child.process.poll()
            raise RuntimeError(f"{name} did not start (exit code {code}); see its log above")
        return child

    def install_signals(self) -> None:
        def on_signal(signum: int, frame: object) -> None:
            self._stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def wait(self) -> int:
        """Block until a signal or a child's death; then stop everything. Exit code 0 on a clean stop."""
        failed = None
        while not self._stopping.wait(0.2):
            for child in self.children:
                if child.process is not None and child.process.poll() is not None:
                    failed = child
                    break
            if failed is not None:
                print(f"driftgate: {failed.name} exited with code {failed.process.returncode}; stopping",
                      file=sys.stderr, flush=True)
                break
        return self.stop(failed)

    def stop(self, failed: Child | None = None, timeout: float = 30.0) -> int:
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
        if failed is not None:
            return 1
        return 0 if all(c == 0 for c in codes) else 1
