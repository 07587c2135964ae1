"""Server processes: start in their own process group, wait (bounded) until they can
serve, sample the resident memory of the whole process tree, stop the group by id."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

# MMS refuses ports from 32767 up, and OS-chosen ports are above that: pick our own.
PORT_RANGE = (20000, 32000)
READY_POLL_SECONDS = 0.05
MEMORY_POLL_SECONDS = 0.1


def free_port() -> int:
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(*PORT_RANGE)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {PORT_RANGE}")


@dataclass(frozen=True)
class Probe:
    """The request that proves a server can serve: /ping, or a real request for
    peers whose /ping answers before the model is loaded."""

    method: str
    path: str
    body: Any = None


@dataclass
class Launch:
    label: str
    argv: list[str]
    env: dict[str, str]
    port: int
    probe: Probe
    cwd: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class ServerFailed(RuntimeError):
    pass


@dataclass
class ServerProcess:
    launch: Launch
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    peak_rss: int = 0
    _stop_sampling: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.started_at = time.perf_counter()
            self.process = subprocess.Popen(
                self.launch.argv, env=self.launch.env, cwd=self.launch.cwd,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def wait_ready(self, timeout: float) -> float:
        """Seconds from process start to the first successful probe."""
        assert self.process is not None
        probe = self.launch.probe
        deadline = self.started_at + timeout
        with httpx.Client(base_url=self.launch.url, timeout=30) as client:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise ServerFailed(f"{self.launch.label} exited: {self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    reply = client.request(probe.method, probe.path, json=probe.body)
                    if reply.status_code == 200:
                        return time.perf_counter() - self.started_at
                time.sleep(READY_POLL_SECONDS)
        raise ServerFailed(f"{self.launch.label} not ready after {timeout:.0f} s: "
                           f"{self.log_tail()}")

    def log_tail(self, chars: int = 1500) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def _sample(self) -> None:
        assert self.process is not None
        try:
            root = psutil.Process(self.process.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop_sampling.is_set():
            total = 0
            try:
                for proc in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                        total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                return
            self.peak_rss = max(self.peak_rss, total)
            self._stop_sampling.wait(MEMORY_POLL_SECONDS)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left of it."""
        self._stop_sampling.set()
        if self.process is None:
            return
        pgid = self.process.pid  # start_new_session: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)  # workers the leader left behind
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        if self._sampler is not None:
            self._sampler.join(2)
