"""REST handlers of experiments, runs, their table, series, artifacts and notebooks, and pipelines.

The views' reads and the few writes a user makes on runs (notes, lifecycle, tags, re-runs); the
base class and the checks of request values are in handlers.py.
"""
from __future__ import annotations

import tornado.web

from ..tracking.store import now_ms
from . import (
    artifact_files,
    bulk,
    chart_series,
    nbdiff,
    notes,
    previews,
    queries,
    registry_views,
    rerun,
    run_views,
    table,
)
from .handlers import MlopsHandler, text_field
from .refusals import Refusal


class ExperimentsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        self.reply({"experiments": await self.call(self.store.experiments)})


class RunsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        page = await self.call(
            queries.runs_page, self.store, **self.table_query(),
            page=self.int_argument("page", 0, low=0),
            page_size=self.int_argument("page_size", 50),  # queries names the range
        )
        self.reply(page)


class ChangesHandler(MlopsHandler):
    """``{"cursor": ...}``: polled by open views; when it moves they reload what they show."""

    @tornado.web.authenticated
    async def get(self):
        self.reply({"cursor": await self.call(table.change_cursor, self.store)})


class TableKeysHandler(MlopsHandler):
    """Every param, metric and tag key of an experiment's runs, for the column chooser and the filter box."""

    @tornado.web.authenticated
    async def get(self):
        experiment = self.get_argument("experiment", None) or None
        self.reply(await self.call(table.column_keys, self.store, experiment))


class TableValuesHandler(MlopsHandler):
    """Chosen columns of every run the filter matches (parallel coordinates)."""

    @tornado.web.authenticated
    async def get(self):
        columns = table.parse_columns(self.get_argument("columns", None), ["name"])
        self.reply(await self.call(table.column_values, self.store, columns, **self.table_query()))


class TableExportHandler(MlopsHandler):
    """The filtered table as a CSV download, with the columns the view shows."""

    @tornado.web.authenticated
    async def get(self):
        columns = table.parse_columns(self.get_argument("columns", None), ["id", "name", "status", "start_time"])
        query = self.table_query()
        text = await self.call(table.export_csv, self.store, columns, **query)
        name = f"{query['experiment'] or 'runs'}.csv"
        self.set_header("Content-Disposition", artifact_files.content_disposition(name))
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(text.encode("utf-8"), set_content_type="text/csv; charset=utf-8")


class SeriesHandler(MlopsHandler):
    """Metrics of many runs: ``keys=["loss", "auc"]`` (or one ``key=loss``, answered with that
    metric's series alone), of ``run_ids=a,b`` or of the first ``limit`` runs of the table's selection."""

    @tornado.web.authenticated
    async def get(self):
        key, keys = self.get_argument("key", None), self.get_argument("keys", None)
        if not key and not keys:
            raise Refusal(400, 'give the metrics as query argument keys (a JSON list such as ["loss"]) or key')
        query = self.table_query()
        reply = await self.call(
            chart_series.series, self.store, [key] if key else chart_series.KEYS.decode(keys),
            run_ids=chart_series.parse_run_ids(self.get_argument("run_ids", None)),
            limit=self.int_argument("limit", 100), max_points=self.int_argument("max_points", queries.DEFAULT_MAX_POINTS),
            **query)
        self.reply(reply["series"][0] if key else reply)


class RunHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id):
        detail = await self.call(run_views.run_overview, self.store, run_id)
        detail["approval"] = await self.call(registry_views.approval_of, self.store, detail["run_id"])
        self.reply(detail)


class NoteHandler(MlopsHandler):
    """POST ``{"note": "markdown"}`` replaces the run's note, as the authenticated user (audited)."""

    @tornado.web.authenticated
    async def post(self, run_id):
        body = self.json_body()
        if "note" not in body:
            raise Refusal(400, "request body is missing note")
        text = text_field(body, "note", notes.MAX_NOTE)
        actor = self.actor() or registry_views.default_actor()
        self.reply(await self.call(notes.set_note, self.store, run_id, text, actor))


class RunLifecycleHandler(MlopsHandler):
    """POST ``{"action": "archive"|"delete"|"restore", "run_ids": [...]}``: the runs and their
    steps, as the authenticated user (audited). Deleting a run a model version was made from is 409."""

    @tornado.web.authenticated
    async def post(self):
        body = self.json_body("action", "run_ids")
        action = text_field(body, "action")
        ids = bulk.run_ids(body["run_ids"])
        actor = self.actor() or registry_views.default_actor()
        self.reply({"action": action, "changed": await self.call(bulk.change_lifecycle, self.store, action, ids, actor)})


class RunTagsHandler(MlopsHandler):
    """POST ``{"run_ids": [...], "key": ..., "value": ...}`` sets one tag on each run (audited)."""

    @tornado.web.authenticated
    async def post(self):
        body = self.json_body("run_ids", "key")
        key, value = text_field(body, "key"), text_field(body, "value") or ""
        ids = bulk.run_ids(body["run_ids"])
        actor = self.actor() or registry_views.default_actor()
        self.reply({"key": key, "tagged": await self.call(bulk.tag_runs, self.store, ids, key, value, actor)})


class PreviewHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id, path):
        rows = self.int_argument("rows", 50)
        self.reply(await self.call(previews.preview, self.store, run_id, path, rows))


class MetricHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id, key):
        max_points = self.int_argument("max_points", queries.DEFAULT_MAX_POINTS)
        self.reply(await self.call(queries.metric_series, self.store, run_id, key, max_points))


class ArtifactHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id, path):
        target, row = await self.call(artifact_files.resolve, self.store, run_id, path)
        await self.send_artifact(target, row, path)


class NotebookHandler(MlopsHandler):
    """The run's notebook snapshot as JSON, untrusted, for the read-only snapshot view."""

    @tornado.web.authenticated
    async def get(self, run_id):
        detail, nb = await self.notebook_of(run_id, self.get_argument("path", None) or None)
        self.reply({"run_id": detail["run_id"], "path": detail["notebook"], "notebook": nb})


class DiffHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        a, b = self.get_argument("a", None), self.get_argument("b", None)
        if not a or not b:
            raise Refusal(400, "give two runs as query arguments a and b")
        notebooks = [await self.notebook_of(run_id) for run_id in (a, b)]
        diff = await self.call(nbdiff.diff_notebooks, notebooks[0][1], notebooks[1][1])
        diff["a"] = {"run_id": notebooks[0][0]["run_id"], "path": notebooks[0][0]["notebook"]}
        diff["b"] = {"run_id": notebooks[1][0]["run_id"], "path": notebooks[1][0]["notebook"]}
        self.reply(diff)


class PipelinesHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        limit = self.int_argument("limit", 20)
        self.reply({"pipelines": await self.call(queries.pipelines, self.store, limit)})


class PipelineHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, run_id):
        self.reply(await self.call(queries.pipeline_detail, self.store, run_id))


class PipelineRerunHandler(MlopsHandler):
    @tornado.web.authenticated
    async def post(self, run_id):
        pipeline = await self.call(queries.pipeline_detail, self.store, run_id)
        try:
            spec = rerun.spec_of(pipeline)
        except FileNotFoundError as exc:
            raise Refusal(409, str(exc)) from exc
        started = await rerun.start(spec, self.store.uri)
        started["started_at"] = now_ms()  # the view opens the first pipeline run of this spec started since
        self.set_status(202)
        self.reply(started)
