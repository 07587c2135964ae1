"""regions.json: every SageMaker+ECR region by partition, the TEI DLC's 35-region account
table (the seed's), packaging, and our own tags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest

from sagemaker_embeddings.deploy import build
from sagemaker_embeddings.deploy.catalog import FLAVORS, load_catalog, parse_catalog

REPO_ROOT = Path(__file__).resolve().parents[2]

# The per-region registry table of the TEI DLC page (shared/seeds/000_f860fe7eb647bf01.txt),
# copied verbatim: the test compares regions.json with it, not with itself.
SEED_TABLE = """
af-south-1 510948584623
ap-east-1 651117190479
ap-northeast-1 354813040037
ap-northeast-2 366743142698
ap-northeast-3 867004704886
ap-south-1 720646828776
ap-south-2 628508329040
ap-southeast-1 121021644041
ap-southeast-2 783357654285
ap-southeast-3 951798379941
ap-southeast-4 106583098589
ca-central-1 341280168497
ca-west-1 190319476487
cn-north-1 450853457545
cn-northwest-1 451049120500
eu-central-1 492215442770
eu-central-2 680994064768
eu-north-1 662702820516
eu-south-1 978288397137
eu-south-2 104374241257
eu-west-1 141502667606
eu-west-2 764974769150
eu-west-3 659782779980
il-central-1 898809789911
me-central-1 272398656194
me-south-1 801668240914
sa-east-1 737474898029
us-east-1 683313688378
us-east-2 257758044811
us-gov-east-1 237065988967
us-gov-west-1 414596584902
us-iso-east-1 833128469047
us-isob-east-1 281123927165
us-west-1 746614075791
us-west-2 246618743249
"""
SEED = dict(line.split() for line in SEED_TABLE.strip().splitlines())
SUFFIXES = {
    "cn-north-1": "amazonaws.com.cn",
    "cn-northwest-1": "amazonaws.com.cn",
    "us-iso-east-1": "c2s.ic.gov",
    "us-isob-east-1": "sc2s.sgov.gov",
}


# Regions where SageMaker and ECR exist but the TEI DLC is not published (issue 18):
# own-account images must work there.
NEWER_REGIONS = {
    "ap-east-2": "amazonaws.com",
    "ap-southeast-5": "amazonaws.com",
    "ap-southeast-6": "amazonaws.com",
    "ap-southeast-7": "amazonaws.com",
    "mx-central-1": "amazonaws.com",
    "eu-isoe-west-1": "cloud.adc-e.uk",
    "us-isof-east-1": "csp.hci.ic.gov",
    "us-isof-south-1": "csp.hci.ic.gov",
    "eusc-de-east-1": "amazonaws.eu",
}


def test_the_tei_dlc_accounts_are_the_seed_table_and_nothing_else() -> None:
    regions = load_catalog().regions
    assert len(SEED) == 35
    dlc = {name: r.tei_dlc_account for name, r in regions.items() if r.tei_dlc_account}
    assert dlc == SEED


@pytest.mark.parametrize("name", sorted(SEED))
def test_tei_dlc_registry_host_per_region(name: str) -> None:
    region = load_catalog().tei_dlc_region(name)
    suffix = SUFFIXES.get(name, "amazonaws.com")
    assert region.dns_suffix == suffix
    assert region.ecr_host(SEED[name]) == f"{SEED[name]}.dkr.ecr.{name}.{suffix}"


def test_regions_without_the_dlc_take_own_account_images_only() -> None:
    catalog = load_catalog()
    for name, suffix in NEWER_REGIONS.items():
        region = catalog.region(name)
        assert (region.dns_suffix, region.tei_dlc_account) == (suffix, None), name
        with pytest.raises(ValueError, match=f"Unknown region '{name}' for the TEI DLC"):
            catalog.tei_dlc_region(name)


def _botocore_regions_with_sagemaker_and_ecr() -> dict[str, tuple[str, str]]:
    endpoints: dict[str, Any] = botocore.loaders.create_loader().load_data("endpoints")
    found = {}
    for p in endpoints["partitions"]:
        services = p["services"]
        for region in p["regions"]:
            if all(region in services[s]["endpoints"] for s in ("api.sagemaker", "api.ecr")):
                found[region] = (p["partition"], p["dnsSuffix"])
    return found


def test_every_region_is_one_botocore_knows_with_sagemaker_and_ecr() -> None:
    botocore_says = _botocore_regions_with_sagemaker_and_ecr()
    regions = load_catalog().regions
    for region in regions.values():
        assert botocore_says[region.name] == (region.partition, region.dns_suffix), region.name
    # A botocore newer than regions.json may know more regions; those still resolve.
    for name, (partition, suffix) in botocore_says.items():
        region = load_catalog().region(name)
        assert (region.partition, region.dns_suffix) == (partition, suffix)
    assert set(NEWER_REGIONS) <= set(regions)


def test_a_region_botocore_lacks_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown region 'mars-north-1'\. Regions with SageMaker "
                       r"and ECR: af-south-1, ap-east-1, ap-east-2"):  # fmt: skip
        load_catalog().region("mars-north-1")


def test_the_package_reads_the_repository_root_file() -> None:
    # The checkout keeps one regions.json, at the root: deploy/ holds no copy, and an
    # editable install reads the root file (a built wheel's copy: test_structure).
    assert not (REPO_ROOT / "deploy" / "regions.json").exists()
    root = parse_catalog(json.loads((REPO_ROOT / "regions.json").read_text()))
    assert load_catalog() == root


def test_our_tags_for_this_version_are_the_builds_truthful_tags() -> None:
    repo = load_catalog().repository("sagemaker-embeddings")
    version = build.project_version(REPO_ROOT)
    assert version in repo.versions, f"regions.json lacks the package version {version}"
    assert repo.default_version == version
    assert repo.versions[version] == {f: build.image_tag(f, REPO_ROOT) for f in FLAVORS}


def _minimal(**repository: Any) -> dict[str, Any]:
    base = {"registry": "own-account", "default_version": "1.0",
            "versions": {"1.0": {"cpu": "1.0-cpu"}}}  # fmt: skip
    return {
        "partitions": {"aws": {"dns_suffix": "amazonaws.com", "regions": ["us-east-1"]}},
        "tei_dlc_accounts": {"us-east-1": "123456789012"},
        "repositories": {"r": {**base, **repository}},
    }


def test_parse_accepts_a_minimal_catalog() -> None:
    catalog = parse_catalog(_minimal())
    assert catalog.repository("r").resolve_version(None) == "1.0"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_minimal(aliases={"1": "2.0"}), "missing version '2.0'"),
        (_minimal(default_version="3.0"), "missing version '3.0'"),
        (_minimal(versions={"1.0": {"tpu": "x"}}), "unknown flavors"),
        (_minimal(registry="dockerhub"), "has registry 'dockerhub'"),
        ({**_minimal(), "tei_dlc_accounts": {"us-east-1": "12"}}, "malformed account"),
        ({**_minimal(), "tei_dlc_accounts": {"x-1": "123456789012"}}, "unlisted regions"),
    ],
)
def test_parse_rejects_inconsistent_data(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_catalog(data)
