"""Closing the loop: when the policy fires, retrain with the new data and propose a candidate.

The model's pipeline runs with the new data; the resulting model is approved by the policy
(the project's approval gates still apply), exported and aliased ``candidate``; candidate and
production are scored on the same held-out rows; production moves only when the policy says
``auto_promote = true`` and the candidate is not worse. Each step lands in the audit log.

A job, above the domain layer: it drives the pipeline runner, the registry and monitoring
together (the pipeline's ``validate:`` gate itself uses monitoring, so this loop cannot live there).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import MlopsError
from ..monitoring import policy as policies
from ..registry import approval, audit, package, versions
from ..tracking.store import open_store

ACTOR = "retrain-policy"
LOWER_IS_BETTER = ("rmse", "mae")


@dataclass
class RetrainOutcome:
    fired: bool
    facts: dict
    pipeline_run_id: str | None = None
    candidate: dict | None = None  # the exported version record
    scores: dict = field(default_factory=dict)  # {"candidate": x, "production": y}
    promoted: bool = False
    reason: str = ""

    def describe(self) -> str:
        if not self.fired:
            return f"policy did not fire ({self.reason})"
        lines = [f"policy fired: {self.reason}", f"retraining pipeline run {self.pipeline_run_id}",
                 f"candidate {self.candidate['ref']} (alias candidate)"]
        if self.scores:
            lines.append("holdout " + ", ".join(f"{k}={v:.4f}" for k, v in self.scores.items()))
        lines.append("promoted to production" if self.promoted else "production unchanged")
        return "\n".join(lines)


def retrain_if_needed(reference: str, current, result, policy: policies.RetrainPolicy | None = None,
                      jobs: int | None = None, store=None) -> RetrainOutcome:
    """Check ``result`` (a drift result for ``reference``, a registered ``name@alias``) against the policy."""
    store = store or open_store()
    policy = policy or policies.load_policy()
    facts = policies.facts_of(result)
    if not policies.evaluate(policy.when, facts):
        return RetrainOutcome(False, facts, reason=f"when = {policy.when!r} is false")
    production = versions.get_version(reference, store=store)
    name = production["name"]
    outcome = RetrainOutcome(True, facts, reason=f"when = {policy.when!r} holds")
    _audit(store, "retrain-triggered", f"{name}/{production['version']}", when=policy.when, facts=facts,
           monitoring_run=result.run_id, data=str(current))

    current_path = _data_path(current)
    outcome.pipeline_run_id, candidate_run = _run_pipeline(policy, current_path, jobs)
    approval.approve(candidate_run, by=ACTOR, reason=f"retrained because {policy.when} "
                     f"(monitoring run {result.run_id})", store=store)
    outcome.candidate = package.export(candidate_run, name, by=ACTOR, store=store)
    versions.set_alias(name, outcome.candidate["version"], "candidate", by=ACTOR, store=store)

    holdout = _holdout(store, outcome.pipeline_run_id, policy)
    outcome.scores = {
        "candidate": _score(f"{name}/{outcome.candidate['version']}", holdout, policy, store),
        "production": _score(f"{name}/{production['version']}", holdout, policy, store),
    }
    better_or_equal = _not_worse(outcome.scores["candidate"], outcome.scores["production"], policy.metric)
    _audit(store, "retrain-evaluated", outcome.candidate["ref"], metric=policy.metric, holdout=str(holdout["path"]),
           compared_with=f"{name}/{production['version']}", **outcome.scores)
    if policy.auto_promote and better_or_equal:
        versions.set_alias(name, outcome.candidate["version"], "production", by=ACTOR, store=store)
        outcome.promoted = True
    else:
        why = "auto_promote is false" if not policy.auto_promote else f"candidate {policy.metric} is worse"
        _audit(store, "promotion-skipped", outcome.candidate["ref"], reason=why)
    return outcome


def _run_pipeline(policy, current_path: str, jobs):
    from ..pipeline import results
    from ..pipeline.runner import PipelineRunner
    from ..pipeline.spec import load_spec

    spec = load_spec(policy.pipeline, policy.overrides(current_path))
    run = PipelineRunner(spec, jobs=jobs).run()
    if not run.ok:
        raise MlopsError(f"retraining pipeline {policy.pipeline} failed (run {run.run_id}):\n{run.failures()}")
    store = open_store()
    return run.run_id, results.model_run(store, run.run_id)


def _holdout(store, pipeline_run_id: str, policy) -> dict:
    from ..monitoring.sources import read_all
    from ..pipeline import results

    path = results.step_output(store, pipeline_run_id, policy.holdout)
    frame = read_all(path)  # CSV or Parquet, as monitoring reads current data
    if policy.target not in frame.columns:
        raise MlopsError(f"holdout {path} has no target column {policy.target!r} ({policy.source}: target)")
    return {"path": path, "frame": frame}


def _score(ref: str, holdout: dict, policy, store) -> float:
    from ..monitoring.performance import performance_metrics

    model = package.load_model(ref, store=store)
    frame = holdout["frame"]
    X, y = frame.drop(columns=[policy.target]), frame[policy.target]
    scores = model.predict_proba(X) if policy.metric == "roc_auc" else None
    value = performance_metrics(y, model.predict(X), scores).get(policy.metric)
    if value is None:
        raise MlopsError(f"cannot compute {policy.metric!r} on the holdout ({policy.source}: metric)")
    return float(value)


def _not_worse(candidate: float, production: float, metric: str) -> bool:
    return candidate <= production if metric in LOWER_IS_BETTER else candidate >= production


def _data_path(current) -> str:
    if isinstance(current, (str, Path)):
        return str(Path(current).resolve())
    raise MlopsError("retraining needs the new data as a CSV or Parquet file path, so the pipeline can read it")


def _audit(store, action: str, subject: str, **details) -> None:
    audit.record(store, ACTOR, action, subject, **details)
