"""The ``jwt-guard demo`` command: a local issuer and a protected API (placeholder)."""

from __future__ import annotations


def run_demo(*, host: str = "127.0.0.1", port: int = 0) -> int:
    """Run the demo until interrupted; return an exit code."""
    raise NotImplementedError
