"""Talking to image registries: the docker CLI, and ECR's login and repositories.

Every ECR call names the registry it is about (``registryId``, the account in the target
host), so a repository is created, and a token asked for, in the account the push goes to,
whichever account the credentials belong to.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import aws
from .errors import PublishError
from .remote import EcrHost, parse_ecr_host

_PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
PUSH_ATTEMPTS = 3
PUSH_BACKOFF_S = 2.0  # doubled after each failed attempt

__all__ = ["Docker", "LocalImage", "PublishError", "ecr_credentials", "ecr_login",
           "ensure_ecr_repository", "is_ecr_host"]  # fmt: skip


def is_ecr_host(host: str) -> bool:
    """Whether ``host`` is an ECR registry (``<account>.dkr.ecr.<region>.<suffix>``)."""
    return parse_ecr_host(host) is not None


@dataclass(frozen=True)
class LocalImage:
    """An image in the local engine: its ID (the config digest) and platform."""

    id: str
    platform: str  # os/architecture
    revision: str | None  # the org.opencontainers.image.revision label, when set


@dataclass(frozen=True)
class Docker:
    """The docker CLI; each call fails loudly with docker's own message."""

    executable: str = "docker"
    sleep: Callable[[float], None] = time.sleep

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
            reason = aws.one_line(RuntimeError(done.stderr.strip() or done.stdout.strip()))
            raise PublishError(f"docker {args[0]} failed ({done.returncode}): {reason}")
        return done.stdout

    def exists(self, reference: str) -> bool:
        """Whether the image ``reference`` is present locally."""
        try:
            self.run("image", "inspect", "--format", "{{.Id}}", reference)
        except PublishError:
            return False
        return True

    def inspect(self, reference: str) -> LocalImage:
        """ID, platform and revision label of the local image ``reference``."""
        try:
            raw = self.run("image", "inspect", "--format", "{{json .}}", reference)
        except PublishError:
            raise PublishError(f"no local image {reference}: run the build step first") from None
        found = json.loads(raw)
        labels = (found.get("Config") or {}).get("Labels") or {}
        return LocalImage(
            id=str(found["Id"]),
            platform=f"{found.get('Os')}/{found.get('Architecture')}",
            revision=labels.get("org.opencontainers.image.revision"),
        )

    def tag(self, source: str, target: str) -> None:
        self.run("tag", source, target)

    def push(self, reference: str, say: Callable[[str], None] = print) -> str:
        """Push ``reference``, retrying with backoff; returns the digest the registry reported."""
        delay = PUSH_BACKOFF_S
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                output = self.run("push", reference)
                break
            except PublishError as error:
                if attempt == PUSH_ATTEMPTS:
                    raise PublishError(f"{error} (after {attempt} attempts)") from None
                say(f"push of {reference} failed, retrying in {delay:g} s: {error}")
                self.sleep(delay)
                delay *= 2
        found = _PUSH_DIGEST.findall(output)
        if not found:
            raise PublishError(f"docker push {reference} reported no digest: {output.strip()}")
        return str(found[-1])

    def login(self, host: str, username: str, password: str) -> None:
        """``docker login``; the password goes through stdin, never the command line."""
        self.run("login", "--username", username, "--password-stdin", host, stdin=password)


def _ecr(host: str) -> EcrHost:
    ecr = parse_ecr_host(host)
    if ecr is None:
        raise PublishError(f"{host} is not an ECR registry")
    return ecr


def ecr_credentials(
    host: str, session: object | None = None, region: str | None = None
) -> tuple[str, str]:
    """User name and password from ECR ``GetAuthorizationToken`` for the registry ``host``
    (for another host, ``--login always``: the token of ``region``'s ECR)."""
    ecr = parse_ecr_host(host)
    if ecr is None and region is None:
        raise PublishError(f"{host} is not an ECR registry: say which region's ECR to ask")
    where = ecr.region if ecr else str(region)
    client = aws.client("ecr", where, session)
    # registryIds is deprecated (a token now opens every registry the caller may use), but
    # naming the target account keeps the call about that account.
    about = {"registryIds": [ecr.account]} if ecr else {}
    with aws.aws_errors(f"ECR GetAuthorizationToken for {host}"):
        data = client.get_authorization_token(**about)["authorizationData"][0]
    decoded = base64.b64decode(data["authorizationToken"]).decode("utf-8")
    username, sep, password = decoded.partition(":")
    if not sep:
        raise PublishError(f"ECR in {where} returned a malformed authorization token")
    return username, password


def ecr_login(
    host: str, docker: Docker, session: object | None = None, region: str | None = None
) -> None:
    """Log the docker CLI in to ``host`` with an ECR token (see :func:`ecr_credentials`)."""
    username, password = ecr_credentials(host, session, region)
    docker.login(host, username, password)


def ensure_ecr_repository(host: str, name: str, session: object | None = None) -> bool:
    """Create the repository ``name`` in the ECR registry ``host`` unless it exists, with
    scan-on-push on; True if created."""
    ecr = _ecr(host)
    client = aws.client("ecr", ecr.region, session)
    with aws.aws_errors(f"ECR DescribeRepositories {name} in {host}"):
        try:
            client.describe_repositories(registryId=ecr.account, repositoryNames=[name])
            return False
        except client.exceptions.RepositoryNotFoundException:
            pass
    with aws.aws_errors(f"ECR CreateRepository {name} in {host}"):
        client.create_repository(
            registryId=ecr.account,
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": True},
        )
    return True
