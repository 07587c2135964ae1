"""Security: the API key, request fields that must not reach files, models or code,
safetensors-only loading, secrets and texts kept out of logs, the dependency audit."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import httpx
import pytest
import tomllib
from packaging.requirements import Requirement

from tests.harness.serve import RunningServer, run_to_exit, start_server
from tests.reliability.conftest import HF_TOKEN_MARKER, figure

ModelDirs = Callable[[str], Path]
ROOT = Path(__file__).resolve().parents[2]
AUDIT_EXCEPTIONS = Path(__file__).with_name("audit_exceptions.txt")


# --- request fields cannot reach files, models or code ------------------------------
def _hostile_fields(canary: Path, other_model: Path) -> dict[str, object]:
    return {
        "model": str(other_model),
        "model_id": str(other_model),
        "hf_model_id": str(other_model),
        "model_name_or_path": str(other_model),
        "revision": "../../../../etc",
        "trust_remote_code": True,
        "allow_pickle_weights": True,
        "pooling": "splade",
        "task": "rerank",
        "path": str(canary),
        "file": str(canary),
        "url": f"file://{canary}",
        "tokenizer": str(canary),
        "__class__": "os.system",
        "code": "__import__('os').system('touch /tmp/pwned')",
    }


ROUTES = [
    ("/embed", {"inputs": "hello"}),
    ("/embed_all", {"inputs": "hello"}),
    ("/tokenize", {"inputs": "hello"}),
    ("/decode", {"ids": [101, 7592, 102]}),
    ("/similarity", {"inputs": {"source_sentence": "a", "sentences": ["b"]}}),
    ("/v1/embeddings", {"input": "hello"}),
    ("/invocations", {"inputs": "hello"}),
]


def test_request_fields_cannot_load_models_read_files_or_run_code(
    bert: RunningServer, model_dirs: ModelDirs, tmp_path: Path
) -> None:
    canary = tmp_path / "canary.txt"
    secret = "CANARY-" + "7" * 24
    canary.write_text(secret)
    pwned = Path("/tmp/pwned")
    assert not pwned.exists()
    info = httpx.get(f"{bert.url}/info").json()
    hostile = _hostile_fields(canary, model_dirs("reranker"))
    for route, body in ROUTES:
        plain = httpx.post(f"{bert.url}{route}", json=body, timeout=30)
        assert plain.status_code == 200
        for name, value in hostile.items():
            answer = httpx.post(f"{bert.url}{route}", json={**body, name: value}, timeout=30)
            assert answer.status_code in (200, 422), (route, name, answer.text[:200])
            assert secret not in answer.text
            if answer.status_code == 200:
                # The field changed nothing: the same model answered the same way.
                assert answer.json() == plain.json() or route == "/v1/embeddings", (route, name)
    # prompt_name names a prompt of the model, never a file.
    for prompt in (str(canary), "../../canary.txt", "file://" + str(canary)):
        answer = httpx.post(f"{bert.url}/embed", json={"inputs": "a", "prompt_name": prompt})
        assert answer.status_code == 422
        assert secret not in answer.text
    assert httpx.get(f"{bert.url}/info").json() == info
    assert not pwned.exists()


# --- safetensors only unless asked ---------------------------------------------------
def _pickle_only(model: Path, target: Path) -> Path:
    import torch
    from safetensors.torch import load_file

    shutil.copytree(model, target)
    weights = target / "model.safetensors"
    torch.save(load_file(str(weights)), target / "pytorch_model.bin")
    weights.unlink()
    return target


def test_pickle_weights_need_the_setting(model_dirs: ModelDirs, tmp_path: Path) -> None:
    model = _pickle_only(model_dirs("bert"), tmp_path / "pickle-only")
    code, log, answered = run_to_exit({"HF_MODEL_ID": str(model)}, tmp_path / "refused")
    assert code == 1
    assert not answered
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, log
    assert "cannot start:" in errors[0]
    assert "safetensors" in errors[0].lower()
    # The same directory serves when pickle is explicitly allowed.
    server = start_server(
        {"HF_MODEL_ID": str(model), "ALLOW_PICKLE_WEIGHTS": "true"}, tmp_path / "allowed"
    )
    try:
        reference = start_server({"HF_MODEL_ID": str(model_dirs("bert"))}, tmp_path / "st")
        try:
            ours = httpx.post(f"{server.url}/embed", json={"inputs": "pickle"}).json()
            theirs = httpx.post(f"{reference.url}/embed", json={"inputs": "pickle"}).json()
        finally:
            reference.stop()
    finally:
        server.stop()
    assert ours == theirs


# --- secrets and texts stay out of logs ------------------------------------------------
def test_texts_and_token_never_reach_logs_or_answers(bert: RunningServer) -> None:
    """The bert server logs at DEBUG (one line per request) with HF_TOKEN set."""
    marker = "zebracornflower"
    for route, body in [
        ("/embed", {"inputs": f"{marker} one"}),
        ("/embed", {"inputs": f"{marker} " * 400, "truncate": False}),  # 422
        ("/embed", {"inputs": [f"{marker}"] * 100}),  # 422, too many
        ("/embed", {"inputs": f"{marker}", "dimensions": 10_000}),  # 422
        ("/embed", {"inputs": f"{marker}", "prompt_name": marker}),  # 422
        ("/rerank", {"query": marker, "texts": [marker]}),  # 424
        ("/tokenize", {"inputs": marker}),
        ("/v1/embeddings", {"input": marker}),
        ("/invocations", {"inputs": marker}),
        ("/similarity", {"inputs": {"source_sentence": marker, "sentences": [marker]}}),
    ]:
        httpx.post(f"{bert.url}{route}", json=body, timeout=30)
    httpx.post(
        f"{bert.url}/invocations",
        content=f"{marker},{marker}\n".encode(),
        headers={"content-type": "text/csv", "x-amzn-sagemaker-custom-attributes": marker},
    )
    httpx.post(f"{bert.url}/embed", content=f'{{"inputs": "{marker}'.encode())  # malformed
    log = bert.log()
    assert "sagemaker_embeddings.request" in log  # the DEBUG request lines are there
    assert marker not in log
    assert HF_TOKEN_MARKER not in log
    for path in ("/info", "/metrics", "/openapi.json", "/execution-parameters"):
        assert HF_TOKEN_MARKER not in httpx.get(f"{bert.url}{path}").text, path


# --- dependency audit -------------------------------------------------------------------
def _serving_closure() -> dict[str, str]:
    """Every installed distribution the `serve` extra pulls in, pinned as installed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = list(project["optional-dependencies"]["serve"])
    pinned: dict[str, str] = {}
    while pending:
        requirement = Requirement(pending.pop())
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if name in pinned:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        pinned[name] = dist.version.split("+")[0]  # torch 2.x+cpu is torch 2.x on PyPI
        for sub in dist.requires or []:
            dependency = Requirement(sub)
            extras = ["", *sorted(requirement.extras)]
            if dependency.marker is None or any(
                dependency.marker.evaluate({"extra": e}) for e in extras
            ):
                pending.append(sub)
    return pinned


def _exceptions() -> dict[str, str]:
    """``ID  reason`` per line (# comments): vulnerabilities accepted, each with why."""
    accepted = {}
    for line in AUDIT_EXCEPTIONS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            vuln_id, _, reason = line.partition(" ")
            assert reason.strip(), f"{vuln_id}: an exception needs its reason"
            accepted[vuln_id] = reason.strip()
    return accepted


def test_pip_audit_of_the_serving_requirements(tmp_path: Path) -> None:
    accepted = _exceptions()  # a malformed exceptions file fails even where we skip
    pinned = _serving_closure()
    assert {"torch", "transformers", "fastapi", "uvicorn"} <= set(pinned)
    requirements = tmp_path / "serve-requirements.txt"
    requirements.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pinned.items())))
    report = tmp_path / "audit.json"
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("pip-audit")),
            "--requirement", str(requirements),
            "--no-deps", "--disable-pip", "--progress-spinner", "off",
            "--format", "json", "--output", str(report),
        ],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if not report.is_file():
        pytest.skip(f"pip-audit could not reach its vulnerability service: {done.stderr[-300:]}")
    dependencies = json.loads(report.read_text())["dependencies"]
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:
        pytest.skip(
            "the vulnerability service knows none of the pinned versions here "
            f"(e.g. {dependencies[0]['skip_reason']})"
        )
    found = {v["id"]: d["name"] for d in audited for v in d.get("vulns", [])}
    unexplained = {vid: name for vid, name in found.items() if vid not in accepted}
    assert not unexplained, f"vulnerabilities without a written exception: {unexplained}"
    figure(
        f"audit: {len(audited)} of {len(pinned)} serving distributions audited, "
        f"{len(found)} known vulnerabilities, all with a written exception"
    )
