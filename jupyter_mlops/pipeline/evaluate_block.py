"""A step's ``evaluate:`` block: evaluate the model the step logged, with slices, and gate on it.

In ``pipeline.yaml``::

    train:
      notebook: train.ipynb
      evaluate:
        data: data/test.csv            # an output name of this step, or a CSV/Parquet path (relative to workdir)
        target: y                      # required: the label column of that file
        slices: [sex, age_band, "sex,age_band"]
        sensitive_features: [sex]      # fairness gaps across these groups
        min_slice_count: 30            # optional; smaller slices are flagged, not hidden
        n_bootstrap: 200               # optional; resamples for the intervals (0: none)
        seed: 0                        # optional
        require:                       # optional; every rule must hold or the step fails
          - min(slice.*.recall) >= 0.8
          - fairness.demographic_parity_difference <= 0.1

After the notebook ran, ``mlops.evaluate`` loads the model the step's run logged (verified as
export loads it), records the slice metrics, fairness gaps, explanations and report on that run,
and checks ``require`` with the approval gates' rules (registry/gates.py): a failing rule fails
the step with the worst slice named, before anything downstream uses the model. The block is part
of the step's cache key: changing a rule or the data runs the step again.
"""
from __future__ import annotations

from collections.abc import Callable

EVALUATE_FIELDS = ("data", "target", "slices", "sensitive_features", "min_slice_count", "n_bootstrap", "seed",
                   "require")
MAX_BOOTSTRAP = 10_000


def check_block(raw, fail: Callable, text: Callable, string_list: Callable, known_fields: Callable) -> dict:
    """The block's settings as plain values; ``fail(path, message)`` reports a mistake where it is
    (``path`` relative to the block), the other callables are the spec reader's field checks."""
    from ..registry.gates import parse

    if not isinstance(raw, dict):
        fail((), "expected a mapping with 'data' (an output name or a path) and 'target' (its label column)")
    known_fields(raw)
    for required in ("data", "target"):
        if raw.get(required) is None:
            fail((required,), "missing; e.g. 'evaluate: {data: data/test.csv, target: y, slices: [sex]}'")
    settings = {"data": text(("data",), raw["data"]), "target": text(("target",), raw["target"]),
                "slices": string_list(("slices",), raw.get("slices"), True),
                "sensitive_features": string_list(("sensitive_features",), raw.get("sensitive_features"), True)}
    for name, low, high in (("min_slice_count", 1, 10**9), ("n_bootstrap", 0, MAX_BOOTSTRAP), ("seed", 0, 2**32 - 1)):
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                fail((name,), f"expected an integer from {low} to {high}, got {value!r}")
            settings[name] = value
    rules = string_list(("require",), raw.get("require"), True)
    for i, rule in enumerate(rules):
        if parse(rule) is None:
            fail(("require", i), f"cannot read the rule {rule!r}: expected min(GLOB) OP NUMBER, max(GLOB) OP NUMBER "
                                 "or an evaluation key (slice.*, fairness.*, eval.*) OP NUMBER, e.g. "
                                 "'min(slice.*.recall) >= 0.8'")
    settings["require"] = rules
    return settings


def evaluate_step(settings: dict, run_id: str, tracking_uri: str | None) -> str | None:
    """Evaluate the step's run as ``settings`` say and record it there; why the step fails, or None.

    ``settings["data"]`` is an absolute path by now (the spec resolved it)."""
    from ..evaluation.evaluate import evaluate
    from ..exceptions import MlopsError
    from ..registry.gates import parse
    from ..tracking.store import open_store

    store = open_store(tracking_uri)
    options = {k: settings[k] for k in ("min_slice_count", "n_bootstrap", "seed") if k in settings}
    try:
        evaluate(run_id, settings["data"], target=settings["target"], slices=settings["slices"],
                 sensitive_features=settings["sensitive_features"], store=store, **options)
    except (MlopsError, OSError, ValueError) as exc:
        return f"evaluate: {exc}"
    metrics = store.get_run(run_id).metrics
    failures = []
    for rule in settings["require"]:
        why = parse(rule).failure(metrics)
        if why:
            failures.append(f"{rule}: {why}")
    return f"evaluation gate failed: {'; '.join(failures)}" if failures else None
