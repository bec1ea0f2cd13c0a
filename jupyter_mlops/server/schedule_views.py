"""The Schedules section, the Schedule view and the notebook's "Schedule..." dialog over REST
(jobs/queries.py underneath, as for ``jupyter mlops schedule``).

- ``GET schedules``: every schedule with its next fire time, paused state and newest occurrence.
- ``POST schedules`` ``{"notebook": "<path under the server's root>", "cron", "timezone"?, "name"?,
  "parameters"?, "overlap"?, "catchup"?, "retries"?, "timeout"?, "replace"?}``: a one-step schedule
  of that notebook, as ``jupyter mlops schedule add NOTEBOOK`` makes. A field the schedule refuses
  is a 400 whose ``field`` names it (the dialog marks it).
- ``GET schedule-form?notebook=<path>``: what the dialog shows (the parameters cell's names and defaults).
- ``GET schedules/<name>``: the schedule and its history; ``POST schedules/<name>/pause|resume|run-now``.

Every change is made and audited as the authenticated user (subject ``schedule:<name>``); on
``jupyter mlops server`` each needs the role that may start pipelines (viewers read only).
"""
from __future__ import annotations

import ast
import os
import time
from pathlib import Path
from typing import ClassVar

import tornado.web
from jupyter_server.utils import ApiPath, ensure_async, to_os_path

from ..exceptions import InvalidInputError
from ..jobs import definitions
from ..jobs import queries as jobs
from ..jobs.schedules import ScheduleNotFoundError, check_name, get_schedule
from ..registry import audit
from . import registry_views
from .handlers import MlopsHandler, text_field
from .jsonable import json_safe
from .refusals import Refusal

# What the dialog may set; notifications are not among them (their addresses and credentials
# belong in the environment or a spec, see README "Scheduled jobs").
FIELDS = ("notebook", "name", "cron", "timezone", "parameters", "overlap", "catchup", "retries", "timeout", "replace")
ACTIONS = ("pause", "resume", "run-now")
MAX_HISTORY = 1000
MAX_VALUE = 1000  # characters of a parameter's value


def audited(store, actor: str, action: str, name: str, reply: dict, **details) -> dict:
    audit.record(store, actor, f"schedule-{action}", f"schedule:{name}", **details)
    return json_safe(reply)


def parameter_value(value):
    """A parameter as the dialog sends it: a JSON value as it is; text is read as a Python literal
    (``0.25``, ``'rf'``, ``None``, as the parameters cell writes it) when it is one, else kept as
    text (``rf``, a template such as ``data/{date}.csv``)."""
    if not isinstance(value, str) or "{" in value:
        return value
    if len(value) > MAX_VALUE:
        raise InvalidInputError(f"a parameter value is {len(value)} characters long; at most {MAX_VALUE} are kept")
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value
    return parsed if parsed is None or isinstance(parsed, (bool, int, float, str)) else value


def create(store, notebook: str, body: dict, actor: str) -> dict:
    """The schedule of ``notebook`` (a file path) from the dialog's fields; 400 names the field refused."""
    failed: list[tuple] = []

    def label(path: tuple) -> str:
        failed.append(path)
        return ".".join(str(p) for p in path)

    options = {key: body.get(key) for key in ("cron", "timezone", "overlap", "catchup", "retries", "timeout")}
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise Refusal(400, "parameters must be an object of parameter names to values", field="parameters")
    options["parameters"] = {key: parameter_value(value) for key, value in parameters.items()}
    name = body.get("name") or definitions._name_from(Path(notebook).stem)
    try:
        check_name(name)
    except InvalidInputError as exc:
        raise Refusal(400, f"name: {exc}", field="name") from exc
    if not body["replace"]:
        try:
            get_schedule(name, store=store)
        except ScheduleNotFoundError:
            pass
        else:
            raise Refusal(409, f"a schedule named {name!r} exists; choose another name", field="name")
    try:
        made = definitions.define_notebook(notebook, options, by=actor, now_ms=time.time_ns() // 1_000_000, name=name,
                                           replace=body["replace"], label=label, store=store).to_dict()
    except InvalidInputError as exc:
        field = str(failed[-1][0]) if failed else None
        raise Refusal(400, str(exc), **({"field": field} if field else {})) from exc
    return audited(store, actor, "add", made["name"], {"schedule": made}, notebook=notebook, cron=made["cron"],
                   timezone=made["timezone"])


def act(store, name: str, action: str, actor: str) -> dict:
    do = {"pause": jobs.pause, "resume": jobs.resume, "run-now": jobs.run_now}[action]
    return audited(store, actor, action, name, do(name, actor=actor, store=store))


class ScheduleHandler(MlopsHandler):
    """Schedules' errors as refusals: an unknown name is a 404."""

    async def call(self, fn, *args, **kwargs):
        try:
            return await super().call(fn, *args, **kwargs)
        except ScheduleNotFoundError as exc:
            raise Refusal(404, str(exc)) from exc

    def actor_name(self) -> str:
        return self.actor() or registry_views.default_actor()

    async def notebook_path(self, path: str | None) -> str:
        """A notebook path of the Contents API (relative to the server's root) as a file on disk,
        refused unless it is a notebook the server would show."""
        if not isinstance(path, str) or not path.strip("/"):
            raise Refusal(400, "give the notebook as its path under the server's root, e.g. work/train.ipynb",
                          field="notebook")
        path = path.strip("/")
        if not path.endswith(".ipynb"):
            raise Refusal(400, f"{path[:200]!r} is not a notebook (.ipynb)", field="notebook")
        if any(part in ("", ".", "..") for part in path.split("/")):
            raise Refusal(400, f"notebook path {path[:200]!r} must name a file below the server's root",
                          field="notebook")
        cm = self.contents_manager
        root = getattr(cm, "root_dir", None)
        if not root:
            raise Refusal(409, "this server keeps no notebooks on disk; schedule one with: jupyter mlops schedule add")
        if not getattr(cm, "allow_hidden", False) and await ensure_async(cm.is_hidden(path)):
            raise Refusal(404, f"no notebook {path[:200]!r} on this server", field="notebook")
        if not await ensure_async(cm.file_exists(path)):
            raise Refusal(404, f"no notebook {path[:200]!r} on this server", field="notebook")
        os_path = to_os_path(ApiPath(path), root)
        real, base = os.path.realpath(os_path), os.path.realpath(root)
        if os.path.commonpath([real, base]) != base:
            raise Refusal(403, f"notebook {path[:200]!r} lies outside the server's root", field="notebook")
        return str(Path(os_path))


class SchedulesHandler(ScheduleHandler):
    mlops_actions: ClassVar[dict[str, str]] = {"POST": "run"}  # on jupyter mlops server: editors and up

    @tornado.web.authenticated
    async def get(self):
        self.reply(json_safe(await self.call(jobs.list_schedules, store=self.store)))

    @tornado.web.authenticated
    async def post(self):
        body = self.json_body("notebook", "cron")
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            raise Refusal(400, f"unknown field {unknown[0][:60]!r}; fields: {', '.join(FIELDS)}", field=unknown[0][:60])
        for key in ("notebook", "name", "cron", "timezone", "overlap", "catchup"):
            text_field(body, key, 1000)
        replace = body.get("replace", False)
        if not isinstance(replace, bool):
            raise Refusal(400, "replace must be true or false", field="replace")
        notebook = await self.notebook_path(body["notebook"])
        made = await self.call(create, self.store, notebook, {**body, "replace": replace}, self.actor_name())
        self.set_status(201)
        self.reply(made)


class ScheduleFormHandler(ScheduleHandler):
    """What the "Schedule..." dialog shows for a notebook: its parameters cell and the policies' choices."""

    @tornado.web.authenticated
    async def get(self):
        path = self.get_argument("notebook", None)
        notebook = await self.notebook_path(path)
        form = await self.call(jobs.notebook_form, notebook)
        form["notebook"] = path.strip("/")  # the server's own file path is none of the page's business
        self.reply(json_safe(form))


class ScheduleDetailHandler(ScheduleHandler):
    @tornado.web.authenticated
    async def get(self, name):
        limit = self.int_argument("limit", 50)
        if not 1 <= limit <= MAX_HISTORY:
            raise Refusal(400, f"limit must be between 1 and {MAX_HISTORY}, got {limit}")
        self.reply(json_safe(await self.call(jobs.schedule_detail, name, limit=limit, store=self.store)))


class ScheduleActionHandler(ScheduleHandler):
    """POST pauses, resumes or queues an occurrence now, as the authenticated user (audited)."""

    mlops_actions: ClassVar[dict[str, str]] = {"POST": "run"}

    @tornado.web.authenticated
    async def post(self, name, action):
        if action not in ACTIONS:
            raise Refusal(404, f"no action {action[:40]!r}; actions: {', '.join(ACTIONS)}")
        self.reply(await self.call(act, self.store, name, action, self.actor_name()))


def routes() -> list[tuple[str, type]]:
    return [
        (r"schedules", SchedulesHandler),
        (r"schedule-form", ScheduleFormHandler),
        (r"schedules/(?P<name>[^/]+)", ScheduleDetailHandler),
        (r"schedules/(?P<name>[^/]+)/(?P<action>[^/]+)", ScheduleActionHandler),
    ]

