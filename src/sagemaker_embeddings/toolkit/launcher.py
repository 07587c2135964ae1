"""Start multi-model-server (MMS) for toolkit mode and stay its parent until it ends.

``sagemaker_inference.model_server.start_model_server`` is not used: it reads the
environment at import, writes /etc, always binds 0.0.0.0, finds MMS by scanning every
process on the machine (two servers on one host confuse it), and returns 0 when MMS
dies. Here MMS is a direct child in its own process group: SIGTERM reaches the Java
frontend and every worker, and ``serve`` exits with MMS's status. The properties are
the toolkit's, written from Settings; the log configuration is the toolkit's file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

from pydantic import AliasChoices, SecretStr

from sagemaker_embeddings.settings import Settings
from sagemaker_embeddings.toolkit.mode import management_url

logger = logging.getLogger(__name__)

HANDLER = "sagemaker_embeddings.toolkit.handler_service:handle"
SINGLE_MODEL_NAME = "model"  # the name the toolkit gives the one model; /invocations uses it


def run_toolkit(settings: Settings) -> int:
    missing = missing_requirements()
    if missing:
        logger.error("toolkit mode needs %s (the `toolkit` extra and a Java runtime)", missing)
        return 1
    model_dir = settings.sagemaker_base_dir / ("models" if settings.multi_model else "model")
    requirements = model_dir / "code" / "requirements.txt"
    if requirements.is_file() and not install_requirements(requirements):
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="sagemaker-embeddings-mms-"))
    command = mms_command(settings, model_dir, workdir)
    logger.info("toolkit mode: %s", " ".join(command))
    env = mms_environment(settings, workdir)
    process = subprocess.Popen(command, env=env, start_new_session=True)
    stopping = _forward_signals(process)
    try:
        if not settings.multi_model and not _wait_until_loaded(process, settings):
            return 1
        code = _wait_reaping(process)
        # Ended by our SIGTERM (SageMaker stopping the container): a clean exit.
        return 0 if stopping else code
    finally:
        _stop_group(process)
        shutil.rmtree(workdir, ignore_errors=True)


def missing_requirements() -> str:
    """What toolkit mode lacks on this machine, in words; empty when nothing."""
    missing = [m for m in ("mms", "sagemaker_inference") if importlib.util.find_spec(m) is None]
    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home, "bin", "java") if java_home else shutil.which("java")
    if java is None or not Path(java).exists():
        missing.append("java")
    return ", ".join(missing)


def install_requirements(path: Path) -> bool:
    logger.info("installing %s", path)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-r", str(path)], check=False)
    if done.returncode != 0:
        logger.error("pip install -r %s failed with exit code %d", path, done.returncode)
    return done.returncode == 0


def mms_command(settings: Settings, model_dir: Path, workdir: Path) -> list[str]:
    properties = workdir / "mms.properties"
    properties.write_text(mms_properties(settings))
    executable = Path(sys.executable).parent / "multi-model-server"
    command = [
        str(executable) if executable.exists() else "multi-model-server",
        "--start",
        "--foreground",
        "--mms-config",
        str(properties),
        "--log-config",
        str(_toolkit_file("etc/log4j2.xml")),
        # MMS only loads models inside its store; the toolkit's store is "/" too.
        "--model-store",
        "/",
    ]
    if not settings.multi_model:
        if not model_dir.is_dir():
            # A code-only or hub-sourced model: the handler finds the weights itself.
            model_dir = workdir / SINGLE_MODEL_NAME
            model_dir.mkdir()
        command += ["--models", f"{SINGLE_MODEL_NAME}={model_dir}"]
    return command


def mms_properties(settings: Settings) -> str:
    address = f"http://{settings.listen_address}:{settings.port}"
    values: dict[str, object] = {
        "inference_address": address,
        # SageMaker calls /models on the same port as /invocations.
        "management_address": address,
        "default_service_handler": HANDLER,
        # Bodies reach the handler as bytes, decoded by Content-Type there.
        "decode_input_request": "false",
        "enable_envvars_config": "true",
        "default_response_timeout": settings.model_server_timeout,
        "max_request_size": settings.effective_payload_limit,
    }
    values["default_workers_per_model"] = worker_count(settings)
    if settings.model_server_vmargs:
        values["vmargs"] = settings.model_server_vmargs
    return "".join(f"{key}={value}\n" for key, value in values.items())


def mms_environment(settings: Settings, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(settings_environment(settings))
    # MMS keeps its pid file and worker sockets in the temp dir: a private one lets
    # several servers share a host.
    tmp = workdir / "tmp"
    tmp.mkdir()
    env.update(TMPDIR=str(tmp), TEMP=str(tmp))
    env.setdefault("LOG_LOCATION", str(workdir / "logs"))
    env.setdefault("METRICS_LOCATION", str(workdir / "logs"))
    # MMS sets OMP_NUM_THREADS=1 in each worker unless given: share the cores instead.
    cores = os.cpu_count() or 1
    env.setdefault("OMP_NUM_THREADS", str(max(1, cores // worker_count(settings))))
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def worker_count(settings: Settings) -> int:
    """One worker unless SAGEMAKER_MODEL_SERVER_WORKERS says otherwise (MMS's own default
    is one per core). The engine already batches concurrent requests and uses every core
    in one process; more workers copy the model and compete for the same cores
    (bench/toolkit_vs_native.py: 2 workers gave half the throughput of 1 on 2 cores)."""
    return settings.model_server_workers or 1


def settings_environment(settings: Settings) -> dict[str, str]:
    """The settings given to ``serve`` (flags included) as env vars: MMS workers are
    separate processes that build their Settings from the environment they inherit."""
    env: dict[str, str] = {}
    for name in sorted(settings.model_fields_set):
        value = getattr(settings, name)
        alias = Settings.model_fields[name].validation_alias
        if value is None or not isinstance(alias, AliasChoices):
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        text = str(value).lower() if isinstance(value, bool) else str(value)
        env[str(alias.choices[0])] = text
    return env


def _toolkit_file(relative: str) -> Path:
    spec = importlib.util.find_spec("sagemaker_inference")
    if spec is None or spec.origin is None:
        raise RuntimeError("toolkit mode needs the `toolkit` extra (sagemaker-inference)")
    return Path(spec.origin).parent / relative


def _wait_until_loaded(process: subprocess.Popen[bytes], settings: Settings) -> bool:
    """Bounded wait until a worker has loaded the model; False if MMS died or time ran out.

    MMS's /ping and its workers' "READY" come before the load ends, so the probe is a
    request: an empty /invocations body, which only a loaded handler can answer
    (with its own error JSON).
    """
    base = management_url(settings)
    deadline = time.monotonic() + settings.startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            logger.error("multi-model-server exited with %d during start-up", process.returncode)
            return False
        state = _probe(base, max(1.0, deadline - time.monotonic()))
        if state == "ready":
            logger.info("toolkit mode ready on port %d", settings.port)
            return True
        if state == "missing":
            # MMS registers start-up models before it listens: a 404 means it refused ours.
            logger.error("multi-model-server did not register the model; see its log above")
            return False
        time.sleep(0.5)
    logger.error("no model worker after SAGEMAKER_STARTUP_TIMEOUT=%d s", settings.startup_timeout)
    return False


def _probe(base_url: str, timeout: float) -> str:
    """ "ready" (our handler answered), "missing" (MMS has no such model), or "loading"."""
    request = urllib.request.Request(
        f"{base_url}/invocations", data=b"", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return "ready"
    except urllib.error.HTTPError as exc:
        try:
            answered = "error_type" in json.loads(exc.read())
        except ValueError:
            answered = False
        if answered:
            return "ready"
        return "missing" if exc.code == 404 else "loading"
    except (urllib.error.URLError, OSError):
        return "loading"


def _wait_reaping(process: subprocess.Popen[bytes]) -> int:
    """Wait for MMS and reap every other child meanwhile: as the image's PID 1, serve
    inherits MMS workers orphaned by a dying Java process, which would stay zombies."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return process.wait()
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode


def _forward_signals(process: subprocess.Popen[bytes]) -> list[int]:
    """SIGTERM/SIGINT go to the whole MMS group; the returned list records them."""
    received: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        _signal_group(process, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return received


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Java and the Python workers share the group; none may outlive serve."""
    _signal_group(process, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
    _signal_group(process, signal.SIGKILL)
