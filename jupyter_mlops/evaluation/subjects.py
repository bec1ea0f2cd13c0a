"""What is evaluated and where the result is recorded.

``model_or_run`` may be a fitted estimator, a loaded package, a registry reference
(``"name@alias"``, ``"name/3"``), a run (object, id or 6+ character prefix; a pipeline run
stands for its model's step), or ``None`` with the predictions given as columns or arrays.
A run's model is loaded from the run's artifact with skops, trusting only the exact types the
registry trusts for scikit-learn's own models (plus ``trust=[...]``), as export does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..exceptions import InvalidInputError, RunNotFoundError

_RUN_ID = re.compile(r"[0-9a-f]{6,32}\Z")


@dataclass
class Subject:
    model: object | None  # has predict (and maybe predict_proba); None when predictions are given
    run_id: str | None  # the run the model came from, which the evaluation is recorded on
    description: str  # for the report and the run's tag: what was evaluated


def resolve(model_or_run, the_store, trust=None) -> Subject:
    """``the_store``: a function opening the store, called only for a run or a registry reference."""
    from ..tracking.run import Run

    if model_or_run is None:
        return Subject(None, None, "given predictions")
    if hasattr(model_or_run, "predict") and not isinstance(model_or_run, (str, Run)):
        ref = getattr(model_or_run, "ref", None)
        return Subject(model_or_run, None, f"model {ref}" if ref else type(model_or_run).__name__)
    store = the_store()
    if isinstance(model_or_run, Run) or type(model_or_run).__name__ == "RunRecord":
        return _from_run(store, model_or_run.id, trust)
    if isinstance(model_or_run, str):
        text = model_or_run.strip()
        if _RUN_ID.match(text):
            try:
                return _from_run(store, store.resolve_run_id(text), trust)
            except RunNotFoundError:
                pass  # not a run: perhaps a model named like one
        from ..registry.package import load_model

        model = load_model(text, store=store)
        return Subject(model, None, f"model {model.ref}")
    if hasattr(model_or_run, "predict"):
        ref = getattr(model_or_run, "ref", None)
        return Subject(model_or_run, None, f"model {ref}" if ref else type(model_or_run).__name__)
    raise InvalidInputError(f"evaluate: cannot evaluate a {type(model_or_run).__name__}; pass a fitted model, "
                            "a run (or its id), a registry reference such as 'name@production', or None "
                            "with predictions=")


def _from_run(store, run_id: str, trust) -> Subject:
    import skops.io as sio

    from ..registry.trusted_types import check_trust, refused_types
    from ..tracking.model_runs import MODEL_ARTIFACT, model_run_of

    run_id, _ = model_run_of(store, store.resolve_run_id(run_id))
    record = store.get_run(run_id)
    files = {a["path"]: a for a in record.artifacts}
    data = store.artifacts.read_bytes(files[MODEL_ARTIFACT]["sha256"])
    needed = sio.get_untrusted_types(data=data)
    refused = refused_types(needed, check_trust(trust))
    if refused:
        raise InvalidInputError(f"run {run_id}'s model holds types that scikit-learn's own models do not: "
                                f"{', '.join(refused)}; if you trust them, pass trust=[...]")
    return Subject(sio.loads(data, trusted=needed), run_id, f"run {run_id[:8]} ({record.name})")


def features_of(model, frame, target: str, features=None):
    """The columns the model predicts from: ``features``, else the model's own input names, else all but the target."""
    if features is not None:
        columns = list(features)
    elif getattr(model, "input_columns", None):  # a loaded package: its signature
        columns = list(model.input_columns)
    elif getattr(model, "feature_names_in_", None) is not None:
        columns = [str(c) for c in model.feature_names_in_]
    else:
        return frame.drop(columns=[target])
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"evaluate: the model takes column {missing[0]!r}, which is not in the evaluation data")
    return frame[columns]
