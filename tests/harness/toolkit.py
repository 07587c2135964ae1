"""Start `serve` in toolkit mode (real MMS, real Java) on loopback and stop its whole group."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from tests.harness.env import TOOLKIT_VARIABLES, loopback, without
from tests.harness.ports import free_port_between
from tests.harness.serve import SERVE

# The launcher logs this once its probe request was answered by a loaded worker.
READY_LINE = "toolkit mode ready"
# MMS refuses ports from 32767 up.
MMS_PORTS = (20000, 32000)


@dataclass
class ToolkitServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int | None:
        """SIGTERM to serve (it forwards to MMS's group); then end any of its descendants."""
        try:
            descendants = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            descendants = []
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        _, alive = psutil.wait_procs(descendants, timeout=10)
        for leftover in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
        return self.process.returncode


def start_toolkit(
    base_dir: Path, env: dict[str, str], workdir: Path, ready_timeout: float = 240
) -> ToolkitServer:
    """`serve` with SAGEMAKER_BASE_DIR=base_dir; waits (bounded) for a Healthy /ping."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port_between(*MMS_PORTS)
    tmp = workdir / "tmp"
    tmp.mkdir(exist_ok=True)
    full_env = without(TOOLKIT_VARIABLES)
    full_env.update(loopback(base_dir, port))
    full_env.update(
        TMPDIR=str(tmp),
        TEMP=str(tmp),
        LOG_LOCATION=str(workdir / "logs"),
        METRICS_LOCATION=str(workdir / "logs"),
        SAGEMAKER_STARTUP_TIMEOUT=str(int(ready_timeout)),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    full_env.update(env)
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SERVE], env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = ToolkitServer(f"http://127.0.0.1:{port}", process, log_path)
    multi_model = env.get("SAGEMAKER_MULTI_MODEL") == "true"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode}:\n{server.log()[-4000:]}")
        if multi_model:
            try:
                # MMS answers 200 even while unhealthy: the body says which.
                ping = httpx.get(f"{server.url}/ping", timeout=2)
                if ping.status_code == 200 and ping.json().get("status") == "Healthy":
                    return server
            except (httpx.TransportError, ValueError):
                pass
        elif READY_LINE in server.log():
            return server
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"toolkit did not become ready in {ready_timeout}s:\n{server.log()[-4000:]}")


def stays_absent(status: Callable[[], int], seconds: float = 60) -> bool:
    """True once ``status()`` has answered 404 for 2 s in a row. One 404 proves nothing:
    after a failed load MMS drops the model for a few milliseconds, then puts it back
    (toolkit/unregister.py)."""
    deadline = time.monotonic() + seconds
    absent_since = None
    while time.monotonic() < deadline:
        if status() != 404:
            absent_since = None
        elif absent_since is None:
            absent_since = time.monotonic()
        elif time.monotonic() - absent_since >= 2:
            return True
        time.sleep(0.1)
    return False
