"""Test harness: free ports, server environments, `serve` processes, Docker, in-process ASGI.

One implementation of each; tests import from the submodules (``tests.harness.ports`` ...).
"""
