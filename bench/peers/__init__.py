"""Peer servers that the benchmark starts next to ours."""
