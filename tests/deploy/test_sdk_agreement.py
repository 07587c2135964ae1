"""The TEI DLC URIs agree with the SageMaker Python SDK v2, called side by side.

For every region and every version (aliases and the default included) that the installed
SDK's ``huggingface-tei`` / ``huggingface-tei-cpu`` configuration knows, and for instance
types, our answer must be the SDK's answer, character for character, and where the SDK
refuses, we refuse too.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from sagemaker_embeddings.deploy import get_image_uri, load_catalog

sagemaker = pytest.importorskip("sagemaker", minversion="2.257")
from sagemaker import image_uris  # noqa: E402
from sagemaker.huggingface import get_huggingface_llm_image_uri  # noqa: E402

BACKENDS = {"huggingface-tei": "tei", "huggingface-tei-cpu": "tei-cpu"}


@pytest.fixture(scope="module", autouse=True)
def _sdk_resolver_loaded_once() -> Iterator[None]:
    """The SDK re-reads botocore's endpoints.json on every call (about 70 ms here); the
    data never changes within a run, so build its resolver once. Same answers, 840 calls
    in seconds instead of minutes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            sagemaker.utils,
            "_botocore_resolver",
            functools.cache(sagemaker.utils._botocore_resolver),
        )
        yield


def _sdk_config(backend: str) -> dict[str, object]:
    config: dict[str, object] = image_uris.config_for_framework(backend)["inference"]
    return config


@pytest.mark.parametrize(("backend", "repository"), BACKENDS.items())
def test_every_region_and_version_the_sdk_knows(backend: str, repository: str) -> None:
    config = _sdk_config(backend)
    versions: dict[str, dict[str, object]] = config["versions"]  # type: ignore[assignment]
    aliases: dict[str, str] = config["version_aliases"]  # type: ignore[assignment]
    ours = load_catalog().repository(repository)
    assert set(ours.versions) == set(versions)
    assert ours.aliases == aliases
    compared = 0
    for version in [None, *versions, *aliases]:
        registries = versions[aliases.get(version or "", version or ours.default_version)]
        regions: dict[str, str] = registries["registries"]  # type: ignore[assignment]
        dlc = {name for name, r in load_catalog().regions.items() if r.tei_dlc_account}
        assert set(regions) == dlc
        for region in regions:
            expected = get_huggingface_llm_image_uri(backend, region=region, version=version)
            assert get_image_uri(region, version=version, repository=repository) == expected
            compared += 1
    assert compared == 35 * (1 + len(versions) + len(aliases))


@pytest.mark.parametrize(("backend", "repository"), BACKENDS.items())
@pytest.mark.parametrize(
    "instance_type",
    ["ml.g5.xlarge", "ml.p4d.24xlarge", "ml.c6i.xlarge", "ml.m5.large", "local", "local_gpu"],
)
def test_instance_types_agree_including_refusals(
    backend: str, repository: str, instance_type: str
) -> None:
    try:
        expected = image_uris.retrieve(
            backend,
            region="eu-central-2",
            version="1.8.2",
            instance_type=instance_type,
            image_scope="inference",
        )
    except ValueError:
        with pytest.raises(ValueError, match=r"has no (cpu|gpu) flavor"):
            get_image_uri("eu-central-2", instance_type, version="1.8.2", repository=repository)
        return
    assert (
        get_image_uri("eu-central-2", instance_type, version="1.8.2", repository=repository)
        == expected
    )


@pytest.mark.parametrize(
    ("kwargs", "sdk_says", "we_say"),
    [
        ({"region": "mars-north-1"}, "Unsupported region", "Unknown region 'mars-north-1'"),
        # A region with SageMaker and ECR, but no TEI DLC (our own images work there).
        ({"region": "ap-southeast-5"}, "Unsupported region", "Unknown region 'ap-southeast-5'"),
        (
            {"region": "eu-west-1", "version": "1.9.3"},
            "Unsupported huggingface-tei version",
            "Unknown version '1.9.3'",
        ),
    ],
)
def test_both_refuse_unknown_regions_and_versions(
    kwargs: dict[str, str], sdk_says: str, we_say: str
) -> None:
    with pytest.raises(ValueError, match=sdk_says):
        get_huggingface_llm_image_uri("huggingface-tei", **kwargs)
    with pytest.raises(ValueError, match=we_say):
        get_image_uri(repository="tei", **kwargs)


def test_region_from_a_sagemaker_session() -> None:
    import boto3
    from sagemaker.session import Session

    session = Session(boto_session=boto3.session.Session(region_name="me-central-1"))
    assert get_image_uri(repository="tei-cpu", session=session) == (
        get_huggingface_llm_image_uri("huggingface-tei-cpu", session=session)
    )
    assert get_image_uri(session=session, account="111122223333").startswith(
        "111122223333.dkr.ecr.me-central-1.amazonaws.com/sagemaker-embeddings:"
    )
