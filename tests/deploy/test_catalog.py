"""regions.json: the seed's 35-region table, partitions, packaging, and our own tags."""

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


def test_every_seed_region_with_its_account_and_nothing_else() -> None:
    regions = load_catalog().regions
    assert len(SEED) == 35
    assert {name: r.account for name, r in regions.items()} == SEED


@pytest.mark.parametrize("name", sorted(SEED))
def test_registry_host_per_region(name: str) -> None:
    region = load_catalog().region(name)
    suffix = SUFFIXES.get(name, "amazonaws.com")
    assert region.dns_suffix == suffix
    assert region.registry == f"{SEED[name]}.dkr.ecr.{name}.{suffix}"


def test_partitions_and_suffixes_agree_with_botocore() -> None:
    endpoints: dict[str, Any] = botocore.loaders.create_loader().load_data("endpoints")
    partition_of = {
        region: (p["partition"], p["dnsSuffix"])
        for p in endpoints["partitions"]
        for region in p["regions"]
    }
    for region in load_catalog().regions.values():
        assert partition_of[region.name] == (region.partition, region.dns_suffix), region.name


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
    base = {"default_version": "1.0", "versions": {"1.0": {"cpu": "1.0-cpu"}}}
    return {
        "regions": {
            "us-east-1": {
                "account": "123456789012",
                "partition": "aws",
                "dns_suffix": "amazonaws.com",
            }
        },
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
        (
            {
                **_minimal(),
                "regions": {
                    "x-1": {"account": "12", "partition": "aws", "dns_suffix": "amazonaws.com"}
                },
            },
            "malformed account",
        ),
    ],
)
def test_parse_rejects_inconsistent_data(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_catalog(data)
