"""Fixtures for the container tests come from the shared Docker harness."""

from tests.docker_harness import cpu_image, docker_engine, wheelhouse

__all__ = ["cpu_image", "docker_engine", "wheelhouse"]
