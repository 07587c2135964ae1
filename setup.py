"""Package layout; the metadata lives in pyproject.toml.

``sagemaker_embeddings.deploy`` (client-side tooling) lives in the top-level deploy/ folder,
apart from the serving code in src/, and ships in the same distribution. The image's build
context holds src/ only, so there the deploy package is simply left out: the wheel built
inside the image never contains it. The top-level regions.json is the one copy in the
repository; build_py copies it into the built deploy package as package data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
HAS_DEPLOY = (HERE / "deploy" / "__init__.py").is_file()

packages = find_packages("src")
package_dir = {"": "src"}
if HAS_DEPLOY:
    packages.append("sagemaker_embeddings.deploy")
    package_dir["sagemaker_embeddings.deploy"] = "deploy"


class BuildPy(build_py):
    """build_py that also places the top-level regions.json inside the deploy package."""

    def run(self) -> None:
        super().run()
        if HAS_DEPLOY and not self.editable_mode:
            target = Path(self.build_lib, "sagemaker_embeddings", "deploy", "regions.json")
            shutil.copy2(HERE / "regions.json", target)


setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"sagemaker_embeddings": ["py.typed", "models/fastest_paths.json"]},
    cmdclass={"build_py": BuildPy},
)
