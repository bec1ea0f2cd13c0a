"""``mlops.log_model``: a fitted model stored with skops on a run, with what export needs later.

Next to the model go its signature, an input example, the list of types skops does not trust by
default, and a reference profile of the training data (for validation and drift). All of it is
computed here, in the notebook, because this is the only moment the training data is at hand.
"""
from __future__ import annotations

import json
import pydoc

from ..exceptions import InvalidInputError
from . import signature as sig

MODEL_ARTIFACT = "model/model.skops"
SIGNATURE_ARTIFACT = "model/signature.json"
EXAMPLE_ARTIFACT = "model/input_example.json"
PROFILE_ARTIFACT = "model/reference_profile.json"
UNTRUSTED_TAG = "mlops.model_untrusted_types"


def skops_bytes(estimator) -> tuple[bytes, list[str]]:
    """The skops file of ``estimator`` and the types a loader must explicitly trust."""
    import skops.io as sio

    name = type(estimator).__name__
    try:
        data = sio.dumps(estimator)
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise InvalidInputError(f"skops cannot store {name}: {exc}") from exc
    # skops stores functions by reference; a lambda or a nested function cannot be found on load.
    missing = [t for t in untrusted if pydoc.locate(t) is None]
    if missing:
        raise InvalidInputError(f"{name} refers to {', '.join(missing)}, which cannot be imported when "
                                "loading; use functions defined at the top level of a module")
    return data, untrusted


def log_model(run, estimator, input_example=None, training_data=None, target: str | None = None) -> str:
    """Store ``estimator`` on ``run``; returns the model file's sha256.

    ``input_example`` (rows like the ones the model predicts on) gives the signature;
    ``training_data`` (a DataFrame, with the target column named by ``target`` if included) gives
    the reference profile that monitoring compares new data against.
    """
    data, untrusted = skops_bytes(estimator)
    digest = run.log_artifact(data, name=MODEL_ARTIFACT)
    run.set_tag(UNTRUSTED_TAG, json.dumps(untrusted))
    example = input_example
    if example is None and training_data is not None:
        example = _features(training_data, target)
    if example is not None:
        columns = getattr(estimator, "feature_names_in_", None)
        run.log_artifact(json.dumps(sig.infer_signature(estimator, example), indent=1), name=SIGNATURE_ARTIFACT)
        run.log_artifact(json.dumps(sig.input_example(example, columns), default=str), name=EXAMPLE_ARTIFACT)
    if training_data is not None:
        from .profile import profile_dataframe

        frame = sig.as_frame(training_data)
        profile = profile_dataframe(frame, target=target if target in frame.columns else None)
        run.log_artifact(json.dumps(profile), name=PROFILE_ARTIFACT)
        # One of the run's datasets (so the package's lineage.json lists it) and a catalog version.
        run.log_dataset(frame, "training_data")
    return digest


def _features(training_data, target):
    frame = sig.as_frame(training_data)
    return frame.drop(columns=[target]) if target in frame.columns else frame
