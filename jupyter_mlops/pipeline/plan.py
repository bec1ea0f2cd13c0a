"""What a pipeline run would do, before it does it: the dry run, and the steps ``--to`` / ``--only`` pick.

The dry run settles every node as the runner would (same cache keys, same cache lookup) but writes
nothing and starts no kernel. A node that would execute says why: never ran, forced, its outputs
changed, or the input that changed since the step's latest finished run, found by comparing the
key parts that run recorded (``mlops.step_key_parts``, see ``cache.key_parts``) with today's.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..exceptions import InvalidInputError
from . import cache

CACHED, RUN, UNDECIDED = "CACHED", "RUN", "UNDECIDED"


@dataclass
class PlannedNode:
    name: str
    status: str  # CACHED, RUN, or UNDECIDED (its inputs are known only once an upstream sweep has run)
    reason: str
    run_id: str | None = None  # the run a CACHED node would reuse, or the one a RUN node is compared with


def select_steps(spec, to: str | None = None, only: str | None = None):
    """The part of ``spec`` that ``--to STEP`` (STEP and all it depends on) or ``--only STEP`` runs.

    ``--only`` keeps STEP's upstream steps too: they must come from the cache (see
    :func:`check_only`), and give STEP its inputs."""
    target = only or to
    if target is None:
        return spec
    if target not in spec.steps:
        option = "--only" if only else "--to"
        raise InvalidInputError(f"{option} {target}: no step {target!r} in {spec.path}; steps: {', '.join(spec.steps)}")
    keep = spec.upstream_of(target) | {target}
    steps = type(spec.steps)({name: step for name, step in spec.steps.items() if name in keep})
    sweep = spec.sweep if spec.sweep is not None and spec.sweep.step in keep else None
    return replace(spec, steps=steps, sweep=sweep)


def dry_run(runner) -> list[PlannedNode]:
    """Each node of ``runner`` (a PipelineRunner not yet run) as it would be settled; nothing is written."""
    from .runner import _NoBestPoint

    plan: dict[str, PlannedNode] = {}
    sweep = runner.spec.sweep
    for name, node in runner.nodes.items():
        st = runner.states[name]
        undecided = [u for u in node.upstream if plan[u].status == UNDECIDED]
        sweeping = [u for u in node.upstream if plan[u].status == RUN and sweep is not None
                    and runner.nodes[u].step.name == sweep.step]
        if undecided or sweeping:
            after = f"the sweep over {sweep.step!r} has run (its best point is an input)" if sweeping \
                else f"upstream {undecided[0]} is settled"
            plan[name] = PlannedNode(name, UNDECIDED, f"decided after {after}")
            continue
        try:
            node.injected, st.key, st.inputs, st.key_parts = runner._inputs_and_key(node)
        except _NoBestPoint as exc:
            plan[name] = PlannedNode(name, RUN, f"would be SKIPPED: {exc}")
            continue
        earlier = runner.cached_run(st.key)
        if name in runner.forced:
            plan[name] = PlannedNode(name, RUN, "forced (--force, --from or --only)")
        elif earlier is not None:
            st.status, st.cached_from = CACHED, earlier  # so a sweep's best point can be read as the runner would
            plan[name] = PlannedNode(name, CACHED, f"from run {earlier[:8]}", earlier)
        else:
            plan[name] = why_not_cached(runner, node, st)
        if plan[name].status == RUN:
            st.status = "PLANNED"  # not done: a downstream sweep reads no metric of it
    return list(plan.values())


def why_not_cached(runner, node, state) -> PlannedNode:
    """A node whose key matches no usable earlier run: what changed since its latest finished run."""
    same_key = runner.store.latest_run_with_tag("mlops.step_key", state.key)
    if same_key is not None:  # same key, but its outputs were changed or removed since
        return PlannedNode(node.name, RUN, f"its outputs changed since run {same_key[:8]}", same_key)
    previous = latest_finished(runner.store, runner.spec.name, node)
    if previous is None:
        return PlannedNode(node.name, RUN, "never ran")
    tags = runner.store.tags_of(previous)
    recorded = tags.get("mlops.step_key_parts")
    if recorded is None:
        return PlannedNode(node.name, RUN, f"its cache key differs from run {previous[:8]}'s (which recorded no "
                                           "key parts to compare)", previous)
    base = Path(runner.spec.path).parent
    changes = cache.changed_parts(json.loads(recorded), state.key_parts, lambda path: _relative(path, base))
    if not changes:
        changes = ["its cache key differs"]
    params = runner.store.get_run(previous).params
    shown = [_with_values(change, params, node.injected or {}) for change in changes]
    return PlannedNode(node.name, RUN, "; ".join(shown) + f" (since run {previous[:8]})", previous)


def latest_finished(store, experiment: str, node) -> str | None:
    """The newest FINISHED run of this node (same pipeline, same step, same node name)."""
    from ..tracking.search import select_runs

    def quoted(text: str) -> str:
        return "'" + str(text).replace("'", "''") + "'"

    stmt = select_runs(store, experiment, f"name = {quoted(node.name)} and tags.`mlops.step` = "
                                          f"{quoted(node.step.name)} and status = 'FINISHED'", max_results=1)
    with store.engine.connect() as conn:
        row = conn.execute(stmt).first()
    return None if row is None else row[0]


def _with_values(change: str, previous_params: dict, current: dict) -> str:
    """``parameter C changed`` -> ``parameter C changed: 0.1 -> 1.0`` when both values are short."""
    prefix = "parameter "
    if not change.startswith(prefix) or not change.endswith(" changed"):
        return change
    name = change[len(prefix):-len(" changed")]
    before, after = previous_params.get(name), current.get(name)
    if before is None or after is None or len(before) > 40 or len(str(after)) > 40:
        return change
    return f"{change}: {before} -> {after}"


def _relative(path: str, base: Path) -> str:
    try:
        return os.path.relpath(path, base) if Path(path).is_absolute() else path
    except ValueError:  # another drive
        return path


def check_only(plan: list[PlannedNode], runner, step: str) -> None:
    """``--only STEP`` runs STEP on its upstream's cached results: refuse when one has none."""
    for planned in plan:
        if runner.nodes[planned.name].step.name != step and planned.status != CACHED:
            upstream = runner.nodes[planned.name].step.name
            raise InvalidInputError(
                f"--only {step}: upstream step {planned.name!r} has no cached result ({planned.reason}); "
                f"run it first: jupyter mlops run {runner.spec.path} --to {upstream}")


def describe(plan: list[PlannedNode], spec) -> str:
    """The dry run as a table: step, what would happen, and why."""
    from .report import format_table

    running = sum(p.status == RUN for p in plan)
    rows = [{"step": p.name, "would be": "EXECUTED" if p.status == RUN else p.status, "why": p.reason} for p in plan]
    head = f"dry run of pipeline {spec.name!r} ({spec.path}): {running} of {len(plan)} steps would execute, " \
           f"{sum(p.status == CACHED for p in plan)} cached; nothing was run or recorded"
    return head + "\n" + format_table(rows, ["step", "would be", "why"])
