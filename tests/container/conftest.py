"""Fixtures for the container tests come from the shared Docker harness."""

from tests.harness.docker import cpu_image, docker_engine, wheelhouse

__all__ = ["cpu_image", "docker_engine", "wheelhouse"]
