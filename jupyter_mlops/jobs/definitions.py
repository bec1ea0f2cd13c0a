"""Defining a schedule from what the user points at: a pipeline spec, a notebook, or a model to monitor.

Each checks everything it can before storing (the spec loads, the notebook declares the
parameters, the model is registered, the retraining policy reads), so a schedule that was
accepted does not fail at 6 a.m. for a typo. Options come as the fields of a ``schedule:``
block; for a pipeline they are laid over the spec's own block.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from ..exceptions import InvalidInputError, SpecError
from ..pipeline.schedule_block import ScheduleBlock, check_block, template_problem
from . import schedules

Label = Callable[[tuple], str]


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _block(options: dict, label: Label, check_parameter=None) -> ScheduleBlock:
    def fail(path: tuple, message: str, at_key: bool = False):
        where = label(path)
        raise InvalidInputError(f"{where}: {message}" if where else message)

    return check_block({k: v for k, v in options.items() if v is not None}, fail, check_parameter)


def define_pipeline(spec_path, options: dict, *, by: str, now_ms: int, name: str | None = None,
                    replace: bool = False, label: Label = _dotted, store=None) -> schedules.Schedule:
    """A schedule of ``pipeline.yaml``: its ``schedule:`` block, with ``options`` laid over it."""
    from ..pipeline.spec import load_spec

    spec = load_spec(spec_path)
    merged = spec.schedule.to_dict() if spec.schedule is not None else {}
    merged.update({k: v for k, v in options.items() if v is not None})
    if "cron" not in merged:
        raise InvalidInputError(f"{spec_path}: no schedule: block with a cron and no cron given; add "
                                "'schedule: {cron: \"0 6 * * *\"}' to the spec or pass --cron")

    def parameter_problem(key: str) -> str | None:
        try:
            spec._parse_override(f"{key}=0")
        except SpecError as exc:
            return exc.reason.split(": ", 1)[-1]
        return None

    block = _block(merged, label, parameter_problem)
    return schedules.add_schedule(name or spec.name, "pipeline", schedules.pipeline_target(spec_path), block,
                                  by=by, now_ms=now_ms, replace=replace, store=store)


def define_notebook(notebook, options: dict, *, by: str, now_ms: int, name: str | None = None,
                    replace: bool = False, label: Label = _dotted, store=None) -> schedules.Schedule:
    """A schedule of one notebook (run as a one-step pipeline); parameters must be declared in its
    ``parameters`` cell."""
    from ..pipeline.notebook_params import parameters_cell

    target = schedules.notebook_target(notebook)
    declared, has_cell = parameters_cell(target["notebook"])

    def parameter_problem(key: str) -> str | None:
        if not str(key).isidentifier():
            return f"parameter names are Python identifiers, got {key!r}"
        if has_cell and key not in declared:
            import difflib

            close = difflib.get_close_matches(key, list(declared), n=1)
            return (f"{Path(notebook).name} declares no parameter {key!r} in its parameters cell"
                    + (f"; did you mean {close[0]!r}?" if close else ""))
        return None

    if options.get("cron") is None:
        raise InvalidInputError("a notebook schedule needs --cron, e.g. --cron '0 6 * * *'")
    block = _block(options, label, parameter_problem)
    return schedules.add_schedule(name or _name_from(Path(notebook).stem), "notebook", target, block, by=by,
                                  now_ms=now_ms, replace=replace, store=store)


def define_monitor(reference: str, data: str, options: dict, *, by: str, now_ms: int, target: str | None = None,
                   retrain: bool = False, name: str | None = None, replace: bool = False, label: Label = _dotted,
                   project=None, store=None) -> schedules.Schedule:
    """A schedule that monitors a registered model on data at a path template, retraining per the
    project's policy with ``retrain``."""
    from ..registry import versions

    versions.get_version(reference, store=store)  # a registered model, now (else: which one is missing)
    if not isinstance(data, str) or not data.strip():
        raise InvalidInputError("--data: expected a path or URL, e.g. 'events/{date}/'")
    problem = template_problem(data)
    if problem:
        raise InvalidInputError(f"{label(('data',))}: {problem}")
    if options.get("parameters"):
        raise InvalidInputError(f"{label(('parameters',))}: a monitor takes no parameters; put {{date}} in --data")
    if options.get("cron") is None:
        raise InvalidInputError("a monitor schedule needs --cron, e.g. --cron '0 6 * * *'")
    project = os.path.abspath(os.fspath(project or os.getcwd()))
    if retrain:
        from .. import config
        from ..monitoring.policy import load_policy

        load_policy(config.project_settings(Path(project)))  # the policy reads now, or the error says why
    block = _block(options, label)
    model = re.split(r"[@/]", reference.rstrip("/"))[-1 if reference.startswith((".", "/")) else 0]
    return schedules.add_schedule(name or _name_from(f"monitor-{model}"), "monitor",
                                  schedules.monitor_target(reference, data, target=target, retrain=retrain,
                                                           project=project),
                                  block, by=by, now_ms=now_ms, replace=replace, store=store)


def _name_from(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "schedule"
    return name[:128]
