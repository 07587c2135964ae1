"""What SageMaker accepts as an image: one Docker v2 schema 2 manifest for its platform.

SageMaker refuses an image index (what BuildKit makes of a tag when it adds provenance or
SBOM attestations) and has been reported to refuse a single OCI manifest too
(``Unsupported manifest media type application/vnd.oci.image.manifest.v1+json``); an arm64
image on an x86 host (or the reverse) starts and then fails its ping with ``exec format
error``. ``publish`` reads every
pushed tag back and checks it here.
"""

from __future__ import annotations

from .errors import PublishError
from .registry import LocalImage
from .remote import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, RemoteImage

_WHAT = {
    DOCKER_LIST: "an image index (a Docker manifest list)",
    OCI_INDEX: "an OCI image index (BuildKit attestations?)",
    OCI_MANIFEST: "an OCI manifest",
}


def check_pushed(
    uri: str, held: RemoteImage, local: LocalImage, platform: str | None, expected: str
) -> None:
    """Raise PublishError unless ``uri`` holds ``local`` as one Docker v2 manifest for the
    ``expected`` platform (``linux/amd64``, or ``linux/arm64`` for Graviton).

    ``platform`` is what the registry's copy of the image config says, where it could be
    read; else the config digest ties the pushed image to ``local``, whose platform is known.
    """
    if held.media_type != DOCKER_MANIFEST:
        what = _WHAT.get(held.media_type, f"media type {held.media_type or 'unknown'}")
        raise PublishError(
            f"{uri} is {what}; SageMaker needs one Docker v2 schema 2 manifest "
            f"({DOCKER_MANIFEST}): build with provenance and SBOM attestations off and "
            "the classic image store (docs/images.md)"
        )
    if held.config_digest != local.id:
        raise PublishError(
            f"{uri} holds image {held.config_digest}, not the local {local.id}: "
            "something else pushed to this tag meanwhile"
        )
    found = platform or local.platform
    if found != expected:
        raise PublishError(f"{uri} is {found}; the instances it is for run {expected}")
