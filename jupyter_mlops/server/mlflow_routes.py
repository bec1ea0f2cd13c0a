"""The MLflow-compatible REST API (/api/2.0/mlflow/...): filled in with the MLflow compatibility."""
from __future__ import annotations


def routes() -> list[tuple[str, type]]:
    return []
