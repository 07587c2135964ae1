"""Free loopback ports for servers the tests start."""

from __future__ import annotations

import random
import socket


def free_port() -> int:
    """An ephemeral loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_between(low: int, high: int) -> int:
    """A free loopback port in [low, high], for servers that refuse some ports (MMS: < 32767)."""
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")
