"""Talking to image registries: the docker CLI, ECR login and repositories.

boto3 (the ``deploy`` extra) is imported only by the functions that call ECR.
"""

from __future__ import annotations

import base64
import re
import subprocess
from dataclasses import dataclass
from typing import Any

_ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.")
_PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


class PublishError(RuntimeError):
    """A step of building, logging in or pushing failed; the message says which and why."""


def is_ecr_host(host: str) -> bool:
    """Whether ``host`` is an ECR registry (``<account>.dkr.ecr.<region>.<suffix>``)."""
    return _ECR_HOST.match(host) is not None


@dataclass(frozen=True)
class Docker:
    """The docker CLI; each call fails loudly with docker's own message."""

    executable: str = "docker"

    def run(self, *args: str, stdin: str | None = None) -> str:
        try:
            done = subprocess.run(
                [self.executable, *args],
                input=stdin,
                capture_output=True,
                text=True,
                check=False,
            )
        except FileNotFoundError:
            raise PublishError(f"{self.executable!r} not found: install Docker") from None
        if done.returncode != 0:
            raise PublishError(
                f"docker {args[0]} failed ({done.returncode}): "
                f"{done.stderr.strip() or done.stdout.strip()}"
            )
        return done.stdout

    def exists(self, reference: str) -> bool:
        """Whether the image ``reference`` is present locally."""
        try:
            self.run("image", "inspect", "--format", "{{.Id}}", reference)
        except PublishError:
            return False
        return True

    def tag(self, source: str, target: str) -> None:
        self.run("tag", source, target)

    def push(self, reference: str) -> str:
        """Push ``reference``; returns the digest the registry reported (``sha256:...``)."""
        output = self.run("push", reference)
        found = _PUSH_DIGEST.findall(output)
        if not found:
            raise PublishError(f"docker push {reference} reported no digest:\n{output}")
        return str(found[-1])

    def login(self, host: str, username: str, password: str) -> None:
        """``docker login``; the password goes through stdin, never the command line."""
        self.run("login", "--username", username, "--password-stdin", host, stdin=password)


def _ecr_client(region: str) -> Any:
    try:
        import boto3
    except ImportError:
        raise PublishError("ECR needs boto3: pip install 'sagemaker-embeddings[deploy]'") from None
    return boto3.client("ecr", region_name=region)


def ecr_credentials(region: str) -> tuple[str, str]:
    """User name and password from ECR ``GetAuthorizationToken`` in ``region``."""
    data = _ecr_client(region).get_authorization_token()["authorizationData"][0]
    decoded = base64.b64decode(data["authorizationToken"]).decode("utf-8")
    username, sep, password = decoded.partition(":")
    if not sep:
        raise PublishError(f"ECR in {region} returned a malformed authorization token")
    return username, password


def ecr_login(region: str, host: str, docker: Docker) -> None:
    """Log the docker CLI in to ``host`` with an ECR token of ``region``."""
    username, password = ecr_credentials(region)
    docker.login(host, username, password)


def ensure_ecr_repository(region: str, name: str) -> bool:
    """Create the ECR repository ``name`` in ``region`` unless it exists; True if created."""
    client = _ecr_client(region)
    try:
        client.describe_repositories(repositoryNames=[name])
    except client.exceptions.RepositoryNotFoundException:
        client.create_repository(repositoryName=name)
        return True
    return False
