"""regions.json as typed values: regions with their registry account, and image repositories.

The JSON file at the repository root is the single source of truth; the wheel build copies it
into this package (setup.py), so an installed package reads the same data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast, get_args

Flavor = Literal["cpu", "gpu"]
FLAVORS: tuple[Flavor, ...] = get_args(Flavor)
# This project's repository in regions.json, and the local name its builds get.
DEFAULT_REPOSITORY = "sagemaker-embeddings"

_ACCOUNT = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Region:
    """One AWS region: where its image registry lives."""

    name: str
    account: str
    partition: str
    dns_suffix: str

    @property
    def registry(self) -> str:
        """The ECR registry host, e.g. ``683313688378.dkr.ecr.us-east-1.amazonaws.com``."""
        return f"{self.account}.dkr.ecr.{self.name}.{self.dns_suffix}"


@dataclass(frozen=True)
class Repository:
    """An image repository: its versions, each with one tag per flavor it is built for."""

    name: str
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
        """The region called ``name``; a ValueError lists the valid ones."""
        try:
            return self.regions[name]
        except KeyError:
            raise ValueError(
                f"Unknown region {name!r}. Valid regions: {', '.join(self.regions)}."
            ) from None

    def repository(self, name: str) -> Repository:
        """The repository called ``name``; a ValueError lists the valid ones."""
        try:
            return self.repositories[name]
        except KeyError:
            raise ValueError(
                f"Unknown repository {name!r}. Valid repositories: {', '.join(self.repositories)}."
            ) from None


def _parse_region(name: str, raw: dict[str, Any]) -> Region:
    account = str(raw["account"])
    if not _ACCOUNT.match(account):
        raise ValueError(f"regions.json: region {name!r} has a malformed account {account!r}")
    return Region(name, account, str(raw["partition"]), str(raw["dns_suffix"]))


def _parse_repository(name: str, raw: dict[str, Any]) -> Repository:
    versions: dict[str, dict[Flavor, str]] = {}
    for version, tags in raw["versions"].items():
        unknown = set(tags) - set(FLAVORS)
        if unknown:
            raise ValueError(f"regions.json: {name} {version} has unknown flavors {unknown}")
        versions[version] = {cast(Flavor, f): str(t) for f, t in tags.items()}
    aliases = {str(k): str(v) for k, v in raw.get("aliases", {}).items()}
    repo = Repository(name, str(raw["default_version"]), aliases, versions)
    for target in [repo.default_version, *aliases.values()]:
        if target not in versions:
            raise ValueError(f"regions.json: {name} points at missing version {target!r}")
    return repo


def parse_catalog(data: dict[str, Any]) -> Catalog:
    """Validate and convert the decoded regions.json."""
    regions = {n: _parse_region(n, r) for n, r in data["regions"].items()}
    repos = {n: _parse_repository(n, r) for n, r in data["repositories"].items()}
    return Catalog(regions, repos)


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
