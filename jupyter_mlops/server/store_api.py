"""The remote store's endpoints (tracking/remote.py talks to them): filled in with the remote client."""
from __future__ import annotations


def routes() -> list[tuple[str, type]]:
    return []
