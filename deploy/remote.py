"""Reading an image back from the registry it was pushed to: its manifest's media type, the
image config it points at, and the tags that share it.

Two readers: ECR through its API (``DescribeImages``, ``BatchGetImage``), and any other
registry through the Docker Registry HTTP API v2 (loopback registries over plain HTTP, as
Docker itself allows; no authentication).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from . import aws
from .errors import PublishError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPES = (DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX)
HTTP_TIMEOUT_S = 30.0

_ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.")
_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")


@dataclass(frozen=True)
class EcrHost:
    account: str
    region: str


def parse_ecr_host(host: str) -> EcrHost | None:
    """``<account>.dkr.ecr.<region>.<suffix>`` → its account and region; None otherwise."""
    match = _ECR_HOST.match(host)
    return EcrHost(match[1], match[2]) if match else None


@dataclass(frozen=True)
class RemoteImage:
    """What a registry holds under one tag."""

    digest: str  # the manifest's digest
    media_type: str
    config_digest: str | None  # the image config (= the local image ID); None for an index


class Registry(Protocol):
    def lookup(self, repository: str, tag: str) -> RemoteImage | None:
        """What ``tag`` holds, or None when the tag (or the repository) does not exist."""

    def platform(self, repository: str, image: RemoteImage) -> str | None:
        """``os/architecture`` from the image config, or None when it cannot be read."""

    def tags_of(self, repository: str, image: RemoteImage) -> list[str]:
        """Every tag that holds ``image``."""


def _config_digest(manifest: dict[str, Any]) -> str | None:
    config = manifest.get("config")
    return str(config["digest"]) if isinstance(config, dict) and "digest" in config else None


class EcrRegistry:
    """An ECR registry, read through the ECR API on its own account (``registryId``)."""

    def __init__(self, host: EcrHost, session: object | None = None) -> None:
        self.host = host
        self.client = aws.client("ecr", host.region, session)

    def _describe(self, repository: str, image_id: dict[str, str]) -> dict[str, Any] | None:
        errors = self.client.exceptions
        with aws.aws_errors(f"ECR DescribeImages {repository} in {self.host.region}"):
            try:
                found = self.client.describe_images(
                    registryId=self.host.account, repositoryName=repository, imageIds=[image_id]
                )["imageDetails"]
            except (errors.ImageNotFoundException, errors.RepositoryNotFoundException):
                return None
        return dict(found[0]) if found else None

    def lookup(self, repository: str, tag: str) -> RemoteImage | None:
        detail = self._describe(repository, {"imageTag": tag})
        if detail is None:
            return None
        digest = str(detail["imageDigest"])
        media_type = str(detail.get("imageManifestMediaType", ""))
        with aws.aws_errors(f"ECR BatchGetImage {repository} in {self.host.region}"):
            images = self.client.batch_get_image(
                registryId=self.host.account,
                repositoryName=repository,
                imageIds=[{"imageDigest": digest}],
                acceptedMediaTypes=list(MEDIA_TYPES),
            )["images"]
        manifest = json.loads(images[0]["imageManifest"]) if images else {}
        media_type = media_type or str(manifest.get("mediaType", ""))
        return RemoteImage(digest, media_type, _config_digest(manifest))

    def platform(self, repository: str, image: RemoteImage) -> str | None:
        return None  # blobs are behind pre-signed S3 URLs; the caller checks the local image

    def tags_of(self, repository: str, image: RemoteImage) -> list[str]:
        detail = self._describe(repository, {"imageDigest": image.digest})
        return [str(t) for t in (detail or {}).get("imageTags", [])]


class HttpRegistry:
    """Any registry speaking the Docker Registry HTTP API v2, without authentication."""

    def __init__(self, host: str) -> None:
        scheme = "http" if _LOOPBACK.match(host) else "https"
        self.base = f"{scheme}://{host}/v2"

    def _get(self, path: str, method: str = "GET") -> tuple[dict[str, str], bytes] | None:
        request = urllib.request.Request(f"{self.base}/{path}", method=method)
        request.add_header("Accept", ", ".join(MEDIA_TYPES))
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                return dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise PublishError(f"{method} {request.full_url}: HTTP {error.code}") from None
        except OSError as error:
            raise PublishError(f"{method} {request.full_url}: {aws.one_line(error)}") from None

    def lookup(self, repository: str, tag: str) -> RemoteImage | None:
        answer = self._get(f"{repository}/manifests/{tag}")
        if answer is None:
            return None
        headers, body = answer
        headers = {k.lower(): v for k, v in headers.items()}
        manifest = json.loads(body)
        media_type = headers.get("content-type", "").split(";")[0] or manifest.get("mediaType", "")
        digest = headers.get("docker-content-digest", "")
        return RemoteImage(digest, str(media_type), _config_digest(manifest))

    def platform(self, repository: str, image: RemoteImage) -> str | None:
        if image.config_digest is None:
            return None
        answer = self._get(f"{repository}/blobs/{image.config_digest}")
        if answer is None:
            return None
        config = json.loads(answer[1])
        return f"{config.get('os')}/{config.get('architecture')}"

    def tags_of(self, repository: str, image: RemoteImage) -> list[str]:
        answer = self._get(f"{repository}/tags/list")
        tags = [str(t) for t in (json.loads(answer[1]).get("tags") or [])] if answer else []
        return [t for t in tags if (found := self.lookup(repository, t)) and found == image]


def open_registry(host: str, session: object | None = None) -> Registry:
    """The reader for ``host``: the ECR API for ECR hosts, the HTTP API otherwise."""
    ecr = parse_ecr_host(host)
    return EcrRegistry(ecr, session) if ecr else HttpRegistry(host)
