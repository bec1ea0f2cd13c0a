"""Current data as a Dask DataFrame, and the cluster to compute it on (batch scoring and drift at scale).

A folder, a glob or a file of Parquet or CSV, local or at a URL fsspec knows (``s3://...``), is read
lazily, one partition per file or row group, so no process ever holds the whole data set.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..exceptions import InvalidInputError


def read_partitioned(source, columns=None):
    """A Dask DataFrame from a folder, a glob or a file of Parquet or CSV (local or a URL fsspec knows)."""
    import dask.dataframe as dd

    text = os.fspath(source)
    lower = text.lower().rstrip("/")
    if lower.endswith((".csv", ".csv.gz")) or ("*" in lower and ".csv" in lower):
        return dd.read_csv(text, usecols=columns)
    if "://" not in text and not any(ch in text for ch in "*?[") and not os.path.exists(text):
        raise InvalidInputError(f"no data at {text}")
    if "://" not in text and os.path.isdir(text) and not any(Path(text).rglob("*.parquet")) \
            and any(Path(text).glob("*.csv")):
        return dd.read_csv(os.path.join(text, "*.csv"), usecols=columns)
    return dd.read_parquet(text, columns=columns)


def is_dask_frame(data) -> bool:
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(data, "map_partitions")


class dask_client:
    """The given client, a client of ``scheduler``, the current one, or a LocalCluster for this call."""

    def __init__(self, scheduler, client):
        self.scheduler, self.given, self.cluster, self.client = scheduler, client, None, None

    def __enter__(self):
        from distributed import Client, LocalCluster, default_client

        if self.given is not None:
            return self.given
        if self.scheduler:
            self.client = Client(self.scheduler)
            return self.client
        try:
            return default_client()
        except ValueError:
            self.cluster = LocalCluster(processes=True, dashboard_address=None)
            self.client = Client(self.cluster)
            return self.client

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
