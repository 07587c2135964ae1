"""Start the real `serve` process on a free loopback port and stop it by its pid."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.harness.env import server_env
from tests.harness.ports import free_port

SERVE = str(Path(sys.executable).parent / "serve")


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float
    ready_seconds: float = field(default=0.0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)


def run_to_exit(
    extra_env: dict[str, str], workdir: Path, timeout: float = 120
) -> tuple[int, str, bool]:
    """Run `serve` expecting it to stop by itself: (exit code, log, ever answered /ping)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [SERVE],
        env=server_env(extra_env, workdir / "opt-ml", port),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    answered = False
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            answered |= httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200
        time.sleep(0.2)
    if process.poll() is None:
        process.kill()
    output = process.communicate(timeout=30)[0].decode(errors="replace")
    return int(process.returncode), output, answered


def refused_start(extra_env: dict[str, str], workdir: Path) -> str:
    """Run `serve` expecting it to refuse the model: it exits with 1 before ever answering
    /ping, logging one ERROR line and no traceback. Returns that line."""
    code, log, answered = run_to_exit(extra_env, workdir)
    assert code == 1, log
    assert not answered
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, log
    assert "Traceback" not in log
    return errors[0]


def start_server(
    extra_env: dict[str, str],
    workdir: Path,
    ready_timeout: float = 180,
    args: tuple[str, ...] = (),
) -> RunningServer:
    """Start `serve`, wait (bounded) for /ping to answer 200, or raise with the log."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / f"serve-{port}.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SERVE, *args],
            env=server_env(extra_env, workdir / "opt-ml", port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", process, log_path, started)
    deadline = started + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/ping", timeout=2).status_code == 200:
                server.ready_seconds = time.monotonic() - started
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"serve did not become ready in {ready_timeout}s:\n{server.log()}")
