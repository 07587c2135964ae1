"""regions.json as typed values: the regions images can live in, and image repositories.

The JSON file at the repository root is the single source of truth; the wheel build copies it
into this package (setup.py), so an installed package reads the same data.

Two kinds of repository live in two kinds of registry. This project's images are built and
published by their user, into their own account: any region with SageMaker and ECR will do.
The Hugging Face TEI DLC lives in AWS's accounts, one per region, and only where it is
published; those accounts are never a place to push to.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast, get_args

Flavor = Literal["cpu", "gpu", "cpu-arm64"]
FLAVORS: tuple[Flavor, ...] = get_args(Flavor)
# What `publish` builds unless told otherwise: cpu-arm64 (Graviton) builds under emulation
# on x86 machines, so it is asked for by name.
DEFAULT_FLAVORS: tuple[Flavor, ...] = ("cpu", "gpu")
# This project's repository in regions.json, and the local name its builds get.
DEFAULT_REPOSITORY = "sagemaker-embeddings"

_ACCOUNT = re.compile(r"^\d{12}$")


RegistryKind = Literal["own-account", "tei-dlc"]
REGISTRY_KINDS: tuple[RegistryKind, ...] = get_args(RegistryKind)


@dataclass(frozen=True)
class Region:
    """One AWS region with SageMaker and ECR: its partition, and the TEI DLC's account there."""

    name: str
    partition: str
    dns_suffix: str
    tei_dlc_account: str | None = None

    def ecr_host(self, account: str) -> str:
        """``account``'s ECR host here: ``123456789012.dkr.ecr.eu-west-1.amazonaws.com``."""
        return f"{account}.dkr.ecr.{self.name}.{self.dns_suffix}"


@dataclass(frozen=True)
class Repository:
    """An image repository: its versions, each with one tag per flavor it is built for."""

    name: str
    registry: RegistryKind
    default_version: str
    aliases: dict[str, str]
    versions: dict[str, dict[Flavor, str]]

    def resolve_version(self, version: str | None) -> str:
        """The full version for ``version`` (None → default, alias → its target)."""
        if version is None:
            return self.default_version
        full = self.aliases.get(version, version)
        if full not in self.versions:
            choices = ", ".join([*self.versions, *self.aliases])
            raise ValueError(
                f"Unknown version {version!r} of repository {self.name!r}. "
                f"Valid versions: {choices}."
            )
        return full

    def flavors(self, version: str) -> tuple[Flavor, ...]:
        """The flavors ``version`` (a full version) is built for, in a stable order."""
        return tuple(f for f in FLAVORS if f in self.versions[version])


@dataclass(frozen=True)
class Catalog:
    """Everything regions.json says."""

    regions: dict[str, Region]
    repositories: dict[str, Repository]

    def region(self, name: str) -> Region:
        """The region called ``name`` (SageMaker and ECR exist there); a ValueError lists them.

        A region newer than regions.json is taken from botocore's endpoint data, when
        botocore is installed and lists both services there.
        """
        found = self.regions.get(name) or _region_from_botocore(name)
        if found is None:
            known = ", ".join(self.regions)
            raise ValueError(f"Unknown region {name!r}. Regions with SageMaker and ECR: {known}.")
        return found

    def tei_dlc_region(self, name: str) -> Region:
        """The region called ``name`` where the TEI DLC is published; a ValueError lists them."""
        found = self.regions.get(name)
        if found is None or found.tei_dlc_account is None:
            dlc = [r.name for r in self.regions.values() if r.tei_dlc_account]
            raise ValueError(
                f"Unknown region {name!r} for the TEI DLC. Valid regions: {', '.join(dlc)}."
            )
        return found

    def repository(self, name: str) -> Repository:
        """The repository called ``name``; a ValueError lists the valid ones."""
        try:
            return self.repositories[name]
        except KeyError:
            raise ValueError(
                f"Unknown repository {name!r}. Valid repositories: {', '.join(self.repositories)}."
            ) from None


def _region_from_botocore(name: str) -> Region | None:
    try:
        import botocore.loaders
    except ImportError:  # the light base install: regions.json is all there is
        return None
    endpoints: dict[str, Any] = botocore.loaders.create_loader().load_data("endpoints")
    for partition in endpoints["partitions"]:
        services = partition.get("services", {})
        if name in partition.get("regions", {}) and all(
            name in services.get(service, {}).get("endpoints", {})
            for service in ("api.sagemaker", "api.ecr")
        ):
            return Region(name, str(partition["partition"]), str(partition["dnsSuffix"]))
    return None


def _parse_regions(data: dict[str, Any]) -> dict[str, Region]:
    dlc_accounts: dict[str, str] = {str(k): str(v) for k, v in data["tei_dlc_accounts"].items()}
    regions: dict[str, Region] = {}
    for partition, raw in data["partitions"].items():
        for name in raw["regions"]:
            if name in regions:
                raise ValueError(f"regions.json: region {name!r} is in two partitions")
            account = dlc_accounts.get(name)
            if account is not None and not _ACCOUNT.match(account):
                raise ValueError(
                    f"regions.json: region {name!r} has a malformed account {account!r}"
                )
            regions[name] = Region(name, str(partition), str(raw["dns_suffix"]), account)
    unknown = set(dlc_accounts) - set(regions)
    if unknown:
        raise ValueError(f"regions.json: TEI DLC accounts for unlisted regions {sorted(unknown)}")
    return dict(sorted(regions.items()))


def _parse_repository(name: str, raw: dict[str, Any]) -> Repository:
    versions: dict[str, dict[Flavor, str]] = {}
    for version, tags in raw["versions"].items():
        unknown = set(tags) - set(FLAVORS)
        if unknown:
            raise ValueError(f"regions.json: {name} {version} has unknown flavors {unknown}")
        versions[version] = {cast(Flavor, f): str(t) for f, t in tags.items()}
    aliases = {str(k): str(v) for k, v in raw.get("aliases", {}).items()}
    registry = raw.get("registry")
    if registry not in REGISTRY_KINDS:
        kinds = ", ".join(REGISTRY_KINDS)
        raise ValueError(f"regions.json: {name} has registry {registry!r}; choose from {kinds}")
    repo = Repository(
        name, cast(RegistryKind, registry), str(raw["default_version"]), aliases, versions
    )
    for target in [repo.default_version, *aliases.values()]:
        if target not in versions:
            raise ValueError(f"regions.json: {name} points at missing version {target!r}")
    return repo


def parse_catalog(data: dict[str, Any]) -> Catalog:
    """Validate and convert the decoded regions.json."""
    repos = {n: _parse_repository(n, r) for n, r in data["repositories"].items()}
    return Catalog(_parse_regions(data), repos)


@cache
def load_catalog() -> Catalog:
    """The catalog shipped with this package (read once)."""
    source = resources.files(__name__.rpartition(".")[0]) / "regions.json"
    if not source.is_file():
        # An editable install imports this package straight from the checkout's deploy/
        # folder, where no copy is kept: the file is then the one at the repository root.
        source = Path(__file__).resolve().parents[1] / "regions.json"
    text = source.read_text(encoding="utf-8")
    return parse_catalog(json.loads(text))
