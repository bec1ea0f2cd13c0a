"""MLflow's tracking REST API (``/api/2.0/mlflow/...``) on our store: an MLflow run is one of our runs.

Plain functions of ``(store, user, request)`` returning the response as a dict, with the field
names of MLflow's ``service.proto``; the handlers in mlflow_routes.py only parse and answer. What
an MLflow client logs lands in the same tables as ``mlops.log_*``: its params, metrics and tags
show in our views, ``search_runs`` and the filter language, and MLflow's ``search_runs`` filter
is passed to our filter language (the same ``metrics.x > 1 and params.y = 'z'`` grammar).

Mapping: MLflow's default experiment ``"0"`` is our ``Default``; other experiment ids are ours.
The run's user is the authenticated user, never the request's ``user_id``. ``mlflow.source.name``,
``mlflow.source.git.commit`` and ``mlflow.parentRunId`` also fill the run's source, commit and
parent. A run's artifacts live at ``mlflow-artifacts:/<experiment>/<run>/artifacts``, which the
artifact proxy (mlflow_routes.py) maps onto the run's content-addressed artifacts.

Errors are :class:`MlflowApiError` with MLflow's codes: ``RESOURCE_DOES_NOT_EXIST`` (404),
``INVALID_PARAMETER_VALUE`` (400), ``RESOURCE_ALREADY_EXISTS`` (400).

It runs past 400 lines on purpose: one function per endpoint of MLflow's service.proto, in its
order, so the covered subset can be compared with MLflow's list line by line.
"""
from __future__ import annotations

import base64
import json
import math
import threading
import time
import uuid as uuidlib

from sqlalchemy import select

from ..exceptions import FilterSyntaxError, InvalidInputError, RegistryError, RunNotFoundError
from ..registry import run_lifecycle
from ..tracking import lifecycle_states as states
from ..tracking import schema as s
from ..tracking.run import MAX_KEY_LENGTH, param_text
from ..tracking.search import raw_rows, select_runs
from ..tracking.store import now_ms

DEFAULT_EXPERIMENT = "Default"  # lifecycle.DEFAULT_EXPERIMENT, MLflow's experiment "0"
DEFAULT_EXPERIMENT_ID = "0"
# MLflow's own limits (mlflow/utils/validation.py), so a client that works here works there too.
MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS, MAX_BATCH_ENTITIES = 1000, 100, 100, 1000
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_SEARCH_RESULTS = 50_000
DEFAULT_SEARCH_RESULTS = 1000
MAX_HISTORY_PAGE = 25_000
IDS_PER_QUERY = 500
# MLflow clients send no heartbeats: a run is read as CRASHED after STALE_HEARTBEATS (4) hours
# without any logging call; each call beats at most once a minute.
HEARTBEAT_INTERVAL_S = 3600.0
BEAT_EVERY_MS = 60_000
STATUS_TO_MLFLOW = {"RUNNING": "RUNNING", "FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED",
                    "CRASHED": "FAILED", "CACHED": "FINISHED", "SKIPPED": "KILLED"}
MLFLOW_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
RUN_FIELD_TAGS = {"mlflow.source.name": "source_path", "mlflow.source.git.commit": "git_commit"}
RUN_NAME_TAG, PARENT_TAG = "mlflow.runName", "mlflow.parentRunId"


class MlflowApiError(Exception):
    """A refusal in MLflow's shape: ``{"error_code": ..., "message": ...}`` with its HTTP status."""

    def __init__(self, error_code: str, message: str, status: int):
        super().__init__(message)
        self.error_code, self.message, self.status = error_code, message, status


def invalid(message: str) -> MlflowApiError:
    return MlflowApiError("INVALID_PARAMETER_VALUE", message, 400)


def not_found(message: str) -> MlflowApiError:
    return MlflowApiError("RESOURCE_DOES_NOT_EXIST", message, 404)


# -- request fields ------------------------------------------------------------------------------
def text(request: dict, field: str, required: bool = True, limit: int = MAX_KEY_LENGTH) -> str | None:
    value = request.get(field)
    if value in (None, ""):
        if required:
            raise invalid(f"Missing value for required parameter '{field}'.")
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid value {_brief(value)} for parameter '{field}': must be a string.")
    if len(value) > limit:
        raise invalid(f"Parameter '{field}' is {len(value)} characters long; at most {limit} are allowed.")
    return value


def integer(request: dict, field: str, default: int | None = None, low: int = -(2**63), high: int = 2**63 - 1) -> int:
    """An int64 field; GET requests bring it as text, protobuf's JSON as a number or a string."""
    value = request.get(field)
    if value in (None, ""):
        if default is None:
            raise invalid(f"Missing value for required parameter '{field}'.")
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str, float)):
        raise invalid(f"Invalid value {_brief(value)} for parameter '{field}': must be an integer.")
    try:
        number = int(value) if not isinstance(value, float) else value
    except ValueError:
        raise invalid(f"Invalid value {_brief(value)} for parameter '{field}': must be an integer.") from None
    if isinstance(number, float) and not number.is_integer():
        raise invalid(f"Invalid value {_brief(value)} for parameter '{field}': must be an integer.")
    number = int(number)
    if not low <= number <= high:
        raise invalid(f"Parameter '{field}' must be between {low} and {high}, got {number}.")
    return number


def number(value, field: str) -> float | None:
    """A double as protobuf's JSON writes it (a number, or "NaN" / "Infinity" / "-Infinity");
    NaN is None, as the store keeps it."""
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"Invalid value {_brief(value)} for parameter '{field}': must be a number.")
    value = float(value)
    return None if math.isnan(value) else value


def key_of(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"Invalid {what} name {_brief(value)}: must be a non-empty string.")
    if len(value) > MAX_KEY_LENGTH:
        raise invalid(f"{what.capitalize()} name {value[:40]!r}... is longer than {MAX_KEY_LENGTH} characters.")
    return value


def entries(request: dict, field: str) -> list[dict]:
    value = request.get(field) or []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise invalid(f"Invalid value for parameter '{field}': must be a list of objects.")
    return value


def _brief(value) -> str:
    shown = json.dumps(value, default=str)
    return shown if len(shown) <= 60 else shown[:60] + "..."


# -- experiments ---------------------------------------------------------------------------------
def mlflow_experiment_id(our_id: int, name: str) -> str:
    return DEFAULT_EXPERIMENT_ID if name == DEFAULT_EXPERIMENT else str(our_id)


def experiment_json(row) -> dict:
    exp_id = mlflow_experiment_id(row["id"], row["name"])
    return {"experiment_id": exp_id, "name": row["name"], "artifact_location": f"mlflow-artifacts:/{exp_id}",
            "lifecycle_stage": _stage(row["lifecycle"]), "creation_time": row["created_at"],
            "last_update_time": row["created_at"],
            "tags": []}


def _experiment_rows(store, where=None) -> list:
    e = s.experiments
    stmt = select(e.c.id, e.c.name, e.c.created_at, e.c.lifecycle).order_by(e.c.id)
    if where is not None:
        stmt = stmt.where(where)
    with store.engine.connect() as conn:
        return list(conn.execute(stmt).mappings())


def experiment_row(store, experiment_id) -> dict:
    """Our experiment behind MLflow's id (``"0"``: Default, made on first use)."""
    if experiment_id == DEFAULT_EXPERIMENT_ID:
        store.experiment_id(DEFAULT_EXPERIMENT)
        return dict(_experiment_rows(store, s.experiments.c.name == DEFAULT_EXPERIMENT)[0])
    if not isinstance(experiment_id, str) or not experiment_id.isdigit() or len(experiment_id) > 18:
        raise not_found(f"No Experiment with id={str(experiment_id)[:40]} exists")
    rows = _experiment_rows(store, s.experiments.c.id == int(experiment_id))
    if not rows:
        raise not_found(f"No Experiment with id={experiment_id} exists")
    return dict(rows[0])


def create_experiment(store, user, request: dict) -> dict:
    name = text(request, "name")
    if _experiment_rows(store, s.experiments.c.name == name):
        raise MlflowApiError("RESOURCE_ALREADY_EXISTS", f"Experiment '{name}' already exists.", 400)
    if request.get("artifact_location"):
        raise invalid("artifact_location cannot be chosen on this server: artifacts go to its artifact store")
    row = dict(_experiment_rows(store, s.experiments.c.id == store.experiment_id(name))[0])
    return {"experiment_id": mlflow_experiment_id(row["id"], row["name"])}


def get_experiment(store, user, request: dict) -> dict:
    return {"experiment": experiment_json(experiment_row(store, text(request, "experiment_id")))}


def get_experiment_by_name(store, user, request: dict) -> dict:
    name = text(request, "experiment_name")
    rows = _experiment_rows(store, s.experiments.c.name == name)
    if not rows and name == DEFAULT_EXPERIMENT:
        rows = [experiment_row(store, DEFAULT_EXPERIMENT_ID)]
    if not rows:
        raise not_found(f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_json(rows[0])}


def search_experiments(store, user, request: dict) -> dict:
    """Every experiment (an empty filter, or ``name = '...'`` / ``name LIKE '...'``), in id order."""
    e = s.experiments
    where = None
    condition = (request.get("filter") or "").strip()
    if condition:
        parts = condition.split(None, 2)
        if len(parts) != 3 or parts[0].lower() not in ("name", "attribute.name", "attributes.name") \
                or parts[1].upper() not in ("=", "LIKE", "ILIKE", "!=") or not _quoted(parts[2]):
            raise invalid(f"Unsupported experiment filter {condition[:100]!r}: this server takes "
                          "name = '...', name != '...' or name LIKE '...'")
        value = parts[2][1:-1]
        op = parts[1].upper()
        where = {"=": e.c.name == value, "!=": e.c.name != value, "LIKE": e.c.name.like(value),
                 "ILIKE": e.c.name.ilike(value)}[op]
    max_results = integer(request, "max_results", 1000, 1, MAX_SEARCH_RESULTS)
    offset = _offset(request)
    rows = _experiment_rows(store, where)
    page = rows[offset:offset + max_results]
    found = {"experiments": [experiment_json(row) for row in page]}
    if offset + max_results < len(rows):
        found["next_page_token"] = _token(offset + max_results)
    return found


def _quoted(value: str) -> bool:
    return len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" and value[0] not in value[1:-1]


def _offset(request: dict) -> int:
    token = request.get("page_token")
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(str(token).encode("ascii")))["offset"]
    except (ValueError, KeyError, TypeError, UnicodeError):
        raise invalid(f"Invalid page token {str(token)[:40]!r}") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < 2**62:
        raise invalid(f"Invalid page token {str(token)[:40]!r}")
    return offset


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode("ascii")


# -- runs ----------------------------------------------------------------------------------------
_beaten: dict[str, int] = {}
_beaten_lock = threading.Lock()


def run_id_of(store, request: dict, logging: bool = False) -> str:
    """The request's run (``run_id``, or the older ``run_uuid``), which must exist; when
    ``logging`` to it, it must not be deleted (MLflow's rule) and the call is its heartbeat."""
    run_id = request.get("run_id") or request.get("run_uuid")
    if not run_id:
        raise invalid("Missing value for required parameter 'run_id'.")
    if not isinstance(run_id, str) or len(run_id) != 32:
        raise not_found(f"Run with id={str(run_id)[:40]} not found")
    r, e = s.runs, s.experiments
    with store.engine.connect() as conn:
        row = conn.execute(select(r.c.lifecycle, e.c.lifecycle).join(e, e.c.id == r.c.experiment_id)
                           .where(r.c.uuid == run_id)).first()
    if row is None:
        raise not_found(f"Run with id={run_id} not found")
    if logging:
        if states.effective(*row) == states.DELETED:
            raise invalid(f"The run {run_id} must be in the 'active' state. Current state is deleted.")
        _beat(store, run_id)
    return run_id


def _beat(store, run_id: str) -> None:
    """A logging call is the MLflow run's sign of life (at most one heartbeat write a minute)."""
    now = now_ms()
    with _beaten_lock:
        if now - _beaten.get(run_id, 0) < BEAT_EVERY_MS:
            return
        _beaten[run_id] = now
        if len(_beaten) > 100_000:
            _beaten.clear()
    store.beat([run_id])


def create_run(store, user, request: dict) -> dict:
    experiment = experiment_row(store, str(request.get("experiment_id") or DEFAULT_EXPERIMENT_ID))
    tags = {key_of(t.get("key"), "tag"): _tag_value(t.get("value")) for t in entries(request, "tags")}
    name = text(request, "run_name", required=False) or tags.get(RUN_NAME_TAG) or _generated_name()
    fields = {column: tags[tag][:255 if column == "source_path" else 64] for tag, column in RUN_FIELD_TAGS.items()
              if tags.get(tag)}
    parent = tags.get(PARENT_TAG)
    if parent:
        try:
            fields["parent_uuid"] = store.resolve_run_id(parent)
        except RunNotFoundError:
            raise not_found(f"Parent run with id={parent[:40]} not found") from None
    run_id = uuidlib.uuid4().hex
    store.create_run(run_id, experiment["id"], HEARTBEAT_INTERVAL_S, name=name[:255], user=user, **fields)
    start_time = integer(request, "start_time", 0, 0)
    if start_time:
        store.update_run(run_id, start_time=start_time, heartbeat=max(start_time, now_ms()))
    tags[RUN_NAME_TAG] = name
    store.set_tags(run_id, tags)
    return {"run": run_json(store, run_id)}


def _generated_name() -> str:
    return f"mlflow-run-{time.strftime('%Y%m%d-%H%M%S')}"


def _tag_value(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"Invalid tag value {_brief(value)}: must be a string.")
    if len(value) > MAX_TAG_VALUE:
        raise invalid(f"Tag value is {len(value)} characters long; at most {MAX_TAG_VALUE} are allowed.")
    return value


def update_run(store, user, request: dict) -> dict:
    run_id = run_id_of(store, request, logging=True)
    fields = {}
    status = request.get("status")
    if status not in (None, ""):
        if status not in MLFLOW_STATUSES:
            raise invalid(f"Invalid value {_brief(status)} for parameter 'status': must be one of "
                          f"{', '.join(MLFLOW_STATUSES)}.")
        fields["status"] = "RUNNING" if status == "SCHEDULED" else status
        if status != "RUNNING":
            fields["end_time"] = integer(request, "end_time", now_ms(), 0)
    name = text(request, "run_name", required=False)
    if name:
        fields["name"] = name
    if fields:
        fields["heartbeat"] = now_ms()
        store.update_run(run_id, **fields)
    if name:
        store.set_tags(run_id, {RUN_NAME_TAG: name})
    return {"run_info": run_json(store, run_id)["info"]}


def delete_run(store, user, request: dict) -> dict:
    """Soft-delete (restorable until ``jupyter mlops gc``), with its steps and nested runs, audited."""
    run_id = run_id_of(store, request)
    try:
        run_lifecycle.delete_runs([run_id], by=user, store=store)
    except RegistryError as exc:  # a model version was made from it
        raise MlflowApiError("INVALID_STATE", str(exc), 400) from None
    return {}


def restore_run(store, user, request: dict) -> dict:
    run_id = run_id_of(store, request)
    try:
        run_lifecycle.restore_runs([run_id], by=user, store=store)
    except InvalidInputError as exc:  # its experiment is deleted or archived
        raise MlflowApiError("INVALID_STATE", str(exc), 400) from None
    return {}


def get_run(store, user, request: dict) -> dict:
    return {"run": run_json(store, run_id_of(store, request))}


def run_json(store, run_id: str) -> dict:
    return runs_json(store, [run_id])[0]


def runs_json(store, run_ids: list[str]) -> list[dict]:
    """MLflow's ``Run`` (info, data, inputs) of each run, in the order given, in a few queries."""
    r, e = s.runs, s.experiments
    found: dict[str, dict] = {}
    from ..tracking.filters import status_expression

    with store.engine.connect() as conn:
        for start in range(0, len(run_ids), IDS_PER_QUERY):
            part = run_ids[start:start + IDS_PER_QUERY]
            rows = conn.execute(select(r.c.uuid, r.c.name, r.c.user, r.c.start_time, r.c.end_time,
                                       status_expression().label("status"), e.c.id.label("experiment_id"),
                                       e.c.name.label("experiment"), states.lifecycle_expression().label("lifecycle"))
                                .join(e, e.c.id == r.c.experiment_id).where(r.c.uuid.in_(part))).mappings()
            for row in rows:
                exp_id = mlflow_experiment_id(row["experiment_id"], row["experiment"])
                found[row["uuid"]] = {
                    "info": {"run_id": row["uuid"], "run_uuid": row["uuid"], "run_name": row["name"] or "",
                             "experiment_id": exp_id, "user_id": row["user"] or "",
                             "status": STATUS_TO_MLFLOW.get(row["status"], "FAILED"),
                             "start_time": row["start_time"], "end_time": row["end_time"],
                             "artifact_uri": f"mlflow-artifacts:/{exp_id}/{row['uuid']}/artifacts",
                             "lifecycle_stage": _stage(row["lifecycle"])},
                    "data": {"metrics": [], "params": [], "tags": []},
                    "inputs": {"dataset_inputs": []},
                }
            lm = s.latest_metrics
            for uuid, key, value, step, timestamp in conn.execute(
                    select(lm.c.run_uuid, lm.c.key, lm.c.value, lm.c.step, lm.c.timestamp)
                    .where(lm.c.run_uuid.in_(part)).order_by(lm.c.run_uuid, lm.c.key)):
                found[uuid]["data"]["metrics"].append(metric_json(key, value, step, timestamp))
            for table, kind in ((s.params, "params"), (s.tags, "tags")):
                for uuid, key, value in conn.execute(select(table.c.run_uuid, table.c.key, table.c.value)
                                                     .where(table.c.run_uuid.in_(part))
                                                     .order_by(table.c.run_uuid, table.c.key)):
                    found[uuid]["data"][kind].append({"key": key, "value": value})
            d = s.datasets
            for uuid, name, digest, rows_, schema in conn.execute(
                    select(d.c.run_uuid, d.c.name, d.c.fingerprint, d.c.rows, d.c.schema)
                    .where(d.c.run_uuid.in_(part)).order_by(d.c.id)):
                found[uuid]["inputs"]["dataset_inputs"].append({"tags": [], "dataset": {
                    "name": name, "digest": digest, "source_type": "", "source": "",
                    "schema": schema, "profile": json.dumps({"num_rows": rows_})}})
    for run in found.values():
        if not any(t["key"] == RUN_NAME_TAG for t in run["data"]["tags"]) and run["info"]["run_name"]:
            run["data"]["tags"].append({"key": RUN_NAME_TAG, "value": run["info"]["run_name"]})
    return [found[run_id] for run_id in run_ids if run_id in found]


def _stage(lifecycle: str) -> str:
    """MLflow knows active and deleted; an archived run or experiment is still there: active."""
    return "deleted" if lifecycle == states.DELETED else "active"


def metric_json(key: str, value, step: int, timestamp: int) -> dict:
    if value is None:
        shown = "NaN"
    elif math.isinf(value):
        shown = "Infinity" if value > 0 else "-Infinity"
    else:
        shown = value
    return {"key": key, "value": shown, "timestamp": timestamp, "step": step}


def search_runs(store, user, request: dict) -> dict:
    """Runs of the given experiments matching ``filter`` (our filter language), in ``order_by``."""
    ids = request.get("experiment_ids") or []
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, list) or not ids:
        raise invalid("Missing value for required parameter 'experiment_ids'.")
    names = []
    for exp_id in ids:
        try:
            names.append(experiment_row(store, str(exp_id))["name"])
        except MlflowApiError:
            continue  # MLflow returns no runs for an unknown experiment
    if not names:
        return {"runs": []}
    view = request.get("run_view_type") or "ACTIVE_ONLY"
    if view not in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL", 1, 2, 3):
        raise invalid(f"Invalid value {_brief(view)} for parameter 'run_view_type'.")
    max_results = integer(request, "max_results", DEFAULT_SEARCH_RESULTS, 1, MAX_SEARCH_RESULTS)
    offset = _offset(request)
    order_by = request.get("order_by") or None
    if order_by is not None and (not isinstance(order_by, list) or not all(isinstance(o, str) for o in order_by)):
        raise invalid("Invalid value for parameter 'order_by': must be a list of strings.")
    filter_ = request.get("filter") or None
    if filter_ is not None and not isinstance(filter_, str):
        raise invalid("Invalid value for parameter 'filter': must be a string.")
    try:
        stmt = select_runs(store, names, filter_, order_by, max_results + 1, offset,
                           all_lifecycles=view not in ("ACTIVE_ONLY", 1))
    except (FilterSyntaxError, InvalidInputError) as exc:
        raise invalid(f"Invalid filter or order_by: {exc}") from None
    if view in ("DELETED_ONLY", 2):
        stmt = stmt.where(states.lifecycle_expression() == states.DELETED)
    with store.engine.connect() as conn:
        run_ids = [row[0] for row in raw_rows(conn, stmt)]
    found = {"runs": runs_json(store, run_ids[:max_results])}
    if len(run_ids) > max_results:
        found["next_page_token"] = _token(offset + max_results)
    return found


# -- logging -------------------------------------------------------------------------------------
def log_metric(store, user, request: dict) -> dict:
    run_id = run_id_of(store, request, logging=True)
    store.insert_metrics([_point(run_id, request)])
    return {}


def _point(run_id: str, metric: dict) -> tuple:
    key = key_of(metric.get("key"), "metric")
    value = number(metric.get("value"), f"metric {key!r} value")
    timestamp = integer(metric, "timestamp", now_ms(), 0)
    step = integer(metric, "step", 0)
    return (s.run_key(run_id), run_id, key, step, value, timestamp)


def log_param(store, user, request: dict) -> dict:
    run_id = run_id_of(store, request, logging=True)
    _set_params(store, run_id, {key_of(request.get("key"), "param"): request.get("value")})
    return {}


def _set_params(store, run_id: str, values: dict) -> None:
    """MLflow's rule: a param is written once; the same value again is fine, another is refused."""
    checked = {}
    for key, value in values.items():
        if value is None:
            raise invalid(f"Missing value for param {key!r}.")
        value = param_text(key, value)
        if len(value) > MAX_PARAM_VALUE:
            raise invalid(f"Param {key!r} value is {len(value)} characters long; at most {MAX_PARAM_VALUE} "
                          "are allowed.")
        checked[key] = value
    if not checked:
        return
    p = s.params
    with store.engine.connect() as conn:
        stored = dict(conn.execute(select(p.c.key, p.c.value).where(p.c.run_uuid == run_id, p.c.key.in_(list(checked)))).all())
    for key, value in checked.items():
        if key in stored and stored[key] != value:
            raise invalid(f"Changing param values is not allowed. Param with key='{key}' was already logged with "
                          f"value='{stored[key][:100]}' for run ID='{run_id}'. Attempted logging new value "
                          f"'{value[:100]}'.")
    store.set_params(run_id, checked)


def set_tag(store, user, request: dict) -> dict:
    run_id = run_id_of(store, request, logging=True)
    _set_tags(store, run_id, {key_of(request.get("key"), "tag"): _tag_value(request.get("value"))})
    return {}


def _set_tags(store, run_id: str, tags: dict) -> None:
    if not tags:
        return
    store.set_tags(run_id, tags)
    if tags.get(RUN_NAME_TAG):
        store.update_run(run_id, name=tags[RUN_NAME_TAG][:255])


def delete_tag(store, user, request: dict) -> dict:
    raise invalid("Deleting tags is not supported by this server: set the tag to a new value instead.")


def log_batch(store, user, request: dict) -> dict:
    run_id = run_id_of(store, request, logging=True)
    metrics, params, tags = entries(request, "metrics"), entries(request, "params"), entries(request, "tags")
    if len(metrics) > MAX_BATCH_METRICS or len(params) > MAX_BATCH_PARAMS or len(tags) > MAX_BATCH_TAGS \
            or len(metrics) + len(params) + len(tags) > MAX_BATCH_ENTITIES:
        raise invalid(f"A batch logging request can contain at most {MAX_BATCH_METRICS} metrics, {MAX_BATCH_PARAMS} "
                      f"params and {MAX_BATCH_TAGS} tags, and {MAX_BATCH_ENTITIES} in all; got {len(metrics)} "
                      f"metrics, {len(params)} params and {len(tags)} tags.")
    points = [_point(run_id, metric) for metric in metrics]
    param_values: dict = {}
    for param in params:
        key = key_of(param.get("key"), "param")
        if key in param_values and param_values[key] != param.get("value"):
            raise invalid(f"Duplicate parameter keys have been submitted: {key!r} with different values.")
        param_values[key] = param.get("value")
    tag_values = {key_of(t.get("key"), "tag"): _tag_value(t.get("value")) for t in tags}
    _set_params(store, run_id, param_values)
    _set_tags(store, run_id, tag_values)
    if points:
        store.insert_metrics(points)
    return {}


def log_inputs(store, user, request: dict) -> dict:
    """Datasets as the run's dataset records: MLflow's digest is their fingerprint; rows and schema
    from its profile and schema when they are MLflow's JSON (else 0 rows, no columns)."""
    run_id = run_id_of(store, request, logging=True)
    d = s.datasets
    with store.engine.connect() as conn:
        logged = set(conn.execute(select(d.c.name, d.c.fingerprint).where(d.c.run_uuid == run_id)).all())
    for item in entries(request, "datasets"):
        dataset = item.get("dataset")
        if not isinstance(dataset, dict):
            raise invalid("Invalid value for parameter 'datasets': each needs a dataset object.")
        name = key_of(dataset.get("name"), "dataset")
        digest = text(dataset, "digest", limit=64)
        if (name, digest) in logged:
            continue
        schema = _columns(dataset.get("schema"))
        rows = _profile_rows(dataset.get("profile"))
        store.add_dataset(run_id, name, digest, rows, len(schema), schema)
        logged.add((name, digest))
    return {}


def _columns(schema) -> dict:
    try:
        spec = json.loads(schema) if isinstance(schema, str) and schema else {}
    except ValueError:
        return {}
    columns = spec.get("mlflow_colspec") if isinstance(spec, dict) else None
    if not isinstance(columns, list):
        return {}
    return {str(c.get("name", i)): str(c.get("type", "")) for i, c in enumerate(columns) if isinstance(c, dict)}


def _profile_rows(profile) -> int:
    try:
        rows = json.loads(profile).get("num_rows", 0) if isinstance(profile, str) and profile else 0
    except (ValueError, AttributeError):
        return 0
    return rows if isinstance(rows, int) and not isinstance(rows, bool) and 0 <= rows < 2**62 else 0


def get_metric_history(store, user, request: dict) -> dict:
    run_id = run_id_of(store, request)
    key = key_of(request.get("metric_key"), "metric")
    max_results = integer(request, "max_results", MAX_HISTORY_PAGE, 1, MAX_HISTORY_PAGE)
    offset = _offset(request)
    m = s.metrics
    with store.engine.connect() as conn:
        rows = conn.execute(select(m.c.step, m.c.value, m.c.timestamp)
                            .where(m.c.run_key == s.run_key(run_id), m.c.run_uuid == run_id, m.c.key == key)
                            .order_by(m.c.step, m.c.timestamp, m.c.id).limit(max_results + 1).offset(offset)).all()
    found = {"metrics": [metric_json(key, value, step, ts) for step, value, ts in rows[:max_results]]}
    if len(rows) > max_results:
        found["next_page_token"] = _token(offset + max_results)
    return found


def search_logged_models(store, user, request: dict) -> dict:
    """MLflow 3's logged models are not kept here: none to list (``mlflow.search_runs`` asks)."""
    return {"models": []}


# (path under /api/2.0/mlflow/, HTTP method, function, action of auth.ROLE_ACTIONS)
ENDPOINTS = (
    ("experiments/create", "POST", create_experiment, "log"),
    ("experiments/get", "GET", get_experiment, "read"),
    ("experiments/get-by-name", "GET", get_experiment_by_name, "read"),
    ("experiments/search", "POST", search_experiments, "read"),
    ("experiments/search", "GET", search_experiments, "read"),
    ("runs/create", "POST", create_run, "log"),
    ("runs/update", "POST", update_run, "log"),
    ("runs/get", "GET", get_run, "read"),
    ("runs/delete", "POST", delete_run, "log"),
    ("runs/restore", "POST", restore_run, "log"),
    ("runs/search", "POST", search_runs, "read"),
    ("runs/log-metric", "POST", log_metric, "log"),
    ("runs/log-parameter", "POST", log_param, "log"),
    ("runs/set-tag", "POST", set_tag, "log"),
    ("runs/delete-tag", "POST", delete_tag, "log"),
    ("runs/log-batch", "POST", log_batch, "log"),
    ("runs/log-inputs", "POST", log_inputs, "log"),
    ("metrics/get-history", "GET", get_metric_history, "read"),
    ("logged-models/search", "POST", search_logged_models, "read"),
)
