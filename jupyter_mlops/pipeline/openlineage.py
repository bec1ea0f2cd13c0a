"""OpenLineage run events for pipeline runs, so Marquez, DataHub and the like can ingest them.

With ``MLOPS_OPENLINEAGE_URL`` set, the pipeline run and each executed step emit ``START`` and
then ``COMPLETE``, ``FAIL`` or ``ABORT`` (a step skipped or killed), with their input and output
files as datasets (namespace ``file``, the absolute path as name, a schema facet for CSV and
Parquet) and the job type facet; a step's events carry the pipeline run as their parent. The
URL is ``http(s)://host/api/v1/lineage`` (each event POSTed as JSON, Marquez's endpoint) or a
file path / ``file://`` URL (one event per line appended). ``MLOPS_OPENLINEAGE_NAMESPACE`` names
the jobs' namespace (default ``jupyter_mlops``).

This lives beside the pipeline records (records.py calls it) rather than in lineage/: the events
describe the pipeline run as it happens, and the layers let the pipeline import nothing above it.
Emitting never fails a pipeline: a receiver that is down costs one warning, not the run.
"""
from __future__ import annotations

import json
import logging
import os
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("jupyter_mlops")

ENV_URL = "MLOPS_OPENLINEAGE_URL"
ENV_NAMESPACE = "MLOPS_OPENLINEAGE_NAMESPACE"
PRODUCER = "https://github.com/jupyter-mlops/jupyter_mlops"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACETS = "https://openlineage.io/spec/facets"
TIMEOUT_S = 5.0
TERMINAL = {"FINISHED": "COMPLETE", "CACHED": "COMPLETE", "FAILED": "FAIL", "KILLED": "ABORT", "SKIPPED": "ABORT",
            "CRASHED": "FAIL"}


def from_environment():
    """An emitter for ``MLOPS_OPENLINEAGE_URL``, or None when it is not set."""
    url = os.environ.get(ENV_URL, "").strip()
    return Emitter(url, os.environ.get(ENV_NAMESPACE, "").strip() or "jupyter_mlops") if url else None


def run_uuid(run_id: str) -> str:
    """Our run ids are uuid4 hex; OpenLineage wants the dashed form."""
    return str(uuid.UUID(hex=run_id))


def _facet(schema: str, **fields) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": f"{FACETS}/{schema}", **fields}


def dataset(path, with_schema: bool = True) -> dict:
    """A file as an OpenLineage dataset: namespace ``file``, the absolute path as its name."""
    from ..tracking.datasets import file_schema

    resolved = Path(path).resolve()
    entry = {"namespace": "file", "name": resolved.as_posix()}
    if with_schema and resolved.is_file():
        columns, _ = file_schema(resolved)
        if columns:
            entry["facets"] = {"schema": _facet("1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                                                fields=[{"name": c, "type": t} for c, t in columns.items()])}
    return entry


class Emitter:
    def __init__(self, url: str, namespace: str):
        self.url, self.namespace = url, namespace
        self._warned = False

    def event(self, event_type: str, run_id: str, job: str, job_type: str, inputs=(), outputs=(),
              parent: tuple[str, str] | None = None, error: str | None = None) -> dict:
        """One RunEvent; ``parent``: (run id, job name) of the pipeline run for a step."""
        run_facets = {}
        if parent:
            run_facets["parent"] = _facet("1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
                                          run={"runId": run_uuid(parent[0])},
                                          job={"namespace": self.namespace, "name": parent[1]})
        if error:
            run_facets["errorMessage"] = _facet("1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
                                                message=error[-4000:], programmingLanguage="python")
        from .. import __version__

        run_facets["processing_engine"] = _facet("1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
                                                 version=__version__, name="jupyter_mlops")
        job_facets = {"jobType": _facet("2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet", processingType="BATCH",
                                        integration="JUPYTER_MLOPS", jobType=job_type)}
        return {
            "eventTime": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "producer": PRODUCER, "schemaURL": SPEC, "eventType": event_type,
            "run": {"runId": run_uuid(run_id), "facets": run_facets},
            "job": {"namespace": self.namespace, "name": job, "facets": job_facets},
            "inputs": [dataset(p) for p in inputs], "outputs": [dataset(p) for p in outputs],
        }

    def emit(self, event: dict) -> None:
        body = json.dumps(event).encode()
        try:
            if self.url.startswith(("http://", "https://")):
                request = urllib.request.Request(self.url, data=body, method="POST",
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                    answer.read()
            else:
                path = Path(self.url.removeprefix("file://"))
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "ab") as fh:
                    fh.write(body + b"\n")
        except (OSError, ValueError) as exc:
            if not self._warned:
                log.warning("OpenLineage events to %s are not getting through (%s); the pipeline goes on", self.url, exc)
                self._warned = True
