"""``jupyter mlops reproduce REF``: re-run the pipeline a model version came from and compare.

Before anything runs, the recorded pipeline spec, every notebook of the model's lineage and
every input file are checked against their recorded sha256, so "it did not reproduce" can
never be the result of silently changed code or data: those are reported first, by name.
Then the pipeline runs again (nothing cached) with the recorded overrides, and the new run of
the same step and sweep point is compared metric by metric within a tolerance.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import MlopsError
from ..tracking.artifacts import sha256_file
from ..tracking.store import open_store


class NotReproducibleError(MlopsError):
    """The code or data a version was trained on has changed (names the file), or lineage is missing."""


@dataclass
class ReproduceResult:
    ref: str
    original_run: str
    new_run: str
    pipeline_run_id: str
    tolerance: float
    rows: list[dict] = field(default_factory=list)  # metric, recorded, reproduced, difference, ok

    @property
    def matches(self) -> bool:
        return bool(self.rows) and all(r["ok"] for r in self.rows)

    def describe(self) -> str:
        lines = [(f"{self.ref}: run {self.original_run[:8]} re-run as {self.new_run[:8]} "
                  f"(pipeline run {self.pipeline_run_id[:8]}), tolerance {self.tolerance:g}")]
        for r in self.rows:
            lines.append(f"  {'ok ' if r['ok'] else 'DIFFERS'} {r['metric']:<20} recorded {r['recorded']!r:<22} "
                         f"reproduced {r['reproduced']!r}")
        lines.append("reproduced: every metric matches" if self.matches else "NOT reproduced: metrics differ")
        return "\n".join(lines)


def reproduce(ref: str, tolerance: float = 1e-9, jobs: int | None = None, store=None) -> ReproduceResult:
    from ..registry import package
    from . import results
    from .runner import PipelineRunner
    from .spec import load_spec

    store = store or open_store()
    model = package.load_model(ref, store=store)  # verifies the package first
    lineage = model.lineage
    if not lineage.get("pipeline_run_id"):
        raise NotReproducibleError(f"{model.ref} was not trained by a pipeline (its run has no pipeline run); "
                                   "only pipeline-made versions can be reproduced")
    pipeline = store.get_run(lineage["pipeline_run_id"])
    spec_path = Path(pipeline.source_path or "")
    _same_file(spec_path, pipeline.source_hash, "the pipeline spec")
    original = store.get_run(lineage["run_id"])
    for run_id in [original.uuid] + [u["run_id"] for u in lineage.get("upstream", [])]:
        step_run = store.get_run(run_id)
        _same_file(Path(step_run.source_path or ""), step_run.source_hash, f"the notebook of step {step_run.name!r}")
        for path, digest in json.loads(step_run.tags.get("mlops.inputs", "{}")).items():
            _same_file(Path(path), digest, f"input data of step {step_run.name!r}")

    overrides = json.loads(pipeline.tags.get("mlops.overrides", "[]"))
    rerun = PipelineRunner(load_spec(spec_path, overrides), jobs=jobs, force=True).run()
    if not rerun.ok:
        raise MlopsError(f"the re-run of {spec_path} failed (run {rerun.run_id}):\n{rerun.failures()}")
    new_results = results.step_results(store, rerun.run_id)
    if original.name not in new_results:
        raise NotReproducibleError(f"the re-run has no step {original.name!r}; the pipeline's steps changed")
    new = store.get_run(new_results[original.name])
    _same_datasets(lineage, new, store, new_results)

    result = ReproduceResult(model.ref, original.uuid, new.uuid, rerun.run_id, tolerance)
    for key, recorded in sorted(lineage.get("metrics", {}).items()):
        again = new.metrics.get(key)
        ok = again is not None and (recorded == again or (
            isinstance(recorded, float) and math.isclose(recorded, again, rel_tol=tolerance, abs_tol=tolerance)))
        result.rows.append({"metric": key, "recorded": recorded, "reproduced": again, "ok": ok})
    from ..registry import audit

    audit.record(store, "reproduce", "reproduce", model.ref, new_run=new.uuid, matches=result.matches,
                 tolerance=tolerance, differing=[r["metric"] for r in result.rows if not r["ok"]])
    return result


def _same_file(path: Path, recorded: str | None, what: str) -> None:
    if recorded is None:
        return
    if not path.is_file():
        raise NotReproducibleError(f"{what} {path} is gone; it is needed to reproduce")
    now = sha256_file(path)
    if now != recorded:
        raise NotReproducibleError(f"{what} {path} changed since training (sha256 {recorded[:12]} then, {now[:12]} now)")


def _same_datasets(lineage: dict, new, store, new_results: dict) -> None:
    """Datasets the re-run logged must have the recorded fingerprints: same data in, or stop."""
    recorded = {(lineage["run_name"], d["name"]): d["fingerprint"] for d in lineage.get("datasets", [])}
    for up in lineage.get("upstream", []):
        recorded.update({(up["step"], d["name"]): d["fingerprint"] for d in up.get("datasets", [])})
    for (step, name), fingerprint in recorded.items():
        run_id = new.uuid if step == lineage["run_name"] else new_results.get(step)
        logged = {d["name"]: d["fingerprint"] for d in store.get_run(run_id).datasets} if run_id else {}
        if name in logged and logged[name] != fingerprint:
            raise NotReproducibleError(f"dataset {name!r} of step {step!r} changed: fingerprint {fingerprint[:12]} "
                                       f"at training, {logged[name][:12]} now")
