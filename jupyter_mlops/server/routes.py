"""The URL patterns of the REST API under ``/mlops/api/`` and their mounting in Jupyter Server.

One list for both mounts: the JupyterLab server extension (below) and the tracking server
(standalone.py, through auth.authorized_lab_routes, which puts a role check in front of each).
"""
from __future__ import annotations

from jupyter_server.utils import url_path_join

from . import dataset_views, lineage_views, schedule_views, table_groups
from .handlers import API
from .model_handlers import (
    AliasHandler,
    ApprovalHandler,
    AuditHandler,
    ModelsHandler,
    ModelVersionHandler,
    ModelVersionsHandler,
    PendingApprovalsHandler,
    VerifyHandler,
)
from .run_handlers import (
    ArtifactHandler,
    ChangesHandler,
    DiffHandler,
    ExperimentsHandler,
    MetricHandler,
    NotebookHandler,
    NoteHandler,
    PipelineHandler,
    PipelineRerunHandler,
    PipelinesHandler,
    PreviewHandler,
    RunHandler,
    RunLifecycleHandler,
    RunsHandler,
    RunTagsHandler,
    SeriesHandler,
    TableExportHandler,
    TableKeysHandler,
    TableValuesHandler,
)

RUN = r"(?P<run_id>[^/]+)"
NAME = r"(?P<name>[^/]+)"


def routes() -> list[tuple[str, type]]:
    """``(pattern relative to the base URL, handler)``; every value is checked by the handler, so bad ones get a JSON error."""
    return [
        (r"experiments", ExperimentsHandler),
        (r"runs", RunsHandler),
        (r"changes", ChangesHandler),
        (r"table/keys", TableKeysHandler),
        (r"table/values", TableValuesHandler),
        (r"table/export", TableExportHandler),
        (r"series", SeriesHandler),
        (r"bulk/lifecycle", RunLifecycleHandler),
        (r"bulk/tags", RunTagsHandler),
        (rf"runs/{RUN}", RunHandler),
        (rf"runs/{RUN}/note", NoteHandler),
        (rf"runs/{RUN}/preview/(?P<path>.*)", PreviewHandler),
        (rf"runs/{RUN}/metrics/(?P<key>.+)", MetricHandler),
        (rf"runs/{RUN}/artifacts/(?P<path>.*)", ArtifactHandler),
        (rf"runs/{RUN}/notebook", NotebookHandler),
        (rf"runs/{RUN}/approval", ApprovalHandler),
        (r"approvals/pending", PendingApprovalsHandler),
        (r"diff", DiffHandler),
        (r"pipelines", PipelinesHandler),
        (rf"pipelines/{RUN}", PipelineHandler),
        (rf"pipelines/{RUN}/rerun", PipelineRerunHandler),
        (r"models", ModelsHandler),
        (rf"models/{NAME}", ModelVersionsHandler),
        (rf"models/{NAME}/versions/(?P<version>\d+)", ModelVersionHandler),
        (rf"models/{NAME}/versions/(?P<version>\d+)/verify", VerifyHandler),
        (rf"models/{NAME}/aliases", AliasHandler),
        (r"audit", AuditHandler),
        *dataset_views.routes(),
        *lineage_views.routes(),
        *schedule_views.routes(),
        *table_groups.routes(),
    ]


def setup_handlers(web_app, tracking_uri: str | None = None) -> None:
    base_url = web_app.settings["base_url"]
    web_app.settings["mlops_tracking_uri"] = tracking_uri
    handlers = [(url_path_join(base_url, API, pattern) + "$", handler) for pattern, handler in routes()]
    web_app.add_handlers(".*$", handlers)
