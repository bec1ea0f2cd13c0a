"""What the runs browser reads: one page of the runs a filter keeps, how many it keeps, their keys.

The page and the total are the Experiment view's (``server.queries.runs_page``: filter, order and
page cut in SQL, the total counted by the database, never by loading the runs); against a
tracking server (``MLOPS_TRACKING_URI=http...``) the same function answers behind its
``GET /mlops/api/runs``. The column chooser's keys are those of the runs the filter keeps, read
with ``select_runs``'s own SELECT as a subquery.
"""
from __future__ import annotations

from sqlalchemy import select

from ..exceptions import InvalidInputError
from ..server.queries import MAX_PAGE_SIZE
from ..server.queries import runs_page as _runs_page
from ..server.table import INTERNAL_TAG_PREFIX
from ..tracking import schema as s
from ..tracking.search import select_runs

LAB_API = "/mlops/api"
KINDS = ("metrics", "params", "tags")


def check_page_size(page_size) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"max_results must be a whole number from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
    return page_size


def runs_page(store, experiment: str | None, filter: str | None, page: int, page_size: int) -> dict:
    """``{"runs": [{run_id, name, status, params, metrics, tags, ...}], "total": N, ...}``, newest first."""
    if getattr(store, "is_remote", False):
        query = {"experiment": experiment or "", "filter": filter or "", "page": page, "page_size": page_size}
        return store.request("GET", f"{LAB_API}/runs", params=query).json()
    return _runs_page(store, experiment=experiment, filter=filter, page=page, page_size=page_size)


def column_keys(store, experiment: str | None, filter: str | None) -> dict[str, list[str]]:
    """``{"metrics": [...], "params": [...], "tags": [...]}``: every key a run the filter keeps has
    (tags the tracker writes for itself left out). A tracking server answers for the experiment."""
    if getattr(store, "is_remote", False):
        keys = store.request("GET", f"{LAB_API}/table/keys", params={"experiment": experiment or ""}).json()
        return {kind: list(keys.get(kind, [])) for kind in KINDS}
    kept = select_runs(store, experiment, filter).order_by(None).subquery()
    out = {}
    with store.engine.connect() as conn:
        for kind, table in (("metrics", s.latest_metrics), ("params", s.params), ("tags", s.tags)):
            stmt = select(table.c.key).distinct().where(table.c.run_uuid.in_(select(kept.c.run_id)))
            keys = sorted(conn.execute(stmt).scalars())
            out[kind] = [k for k in keys if not (kind == "tags" and k.startswith(INTERNAL_TAG_PREFIX))]
    return out
