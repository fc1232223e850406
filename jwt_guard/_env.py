"""Verifier options from environment variables (``Verifier.from_env``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jwt_guard.errors import ConfigurationError

__all__ = ["options_from_env"]


def options_from_env(prefix: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Read ``Verifier`` keyword arguments from *environ* (placeholder)."""
    issuer = environ.get(prefix + "ISSUER")
    if not issuer:
        raise ConfigurationError(f"{prefix}ISSUER is not set")
    return {"issuer": issuer, "audience": environ.get(prefix + "AUDIENCE")}
