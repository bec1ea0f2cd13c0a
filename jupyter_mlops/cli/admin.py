"""``doctor`` and ``demo``: what this machine uses and what is wrong, and the whole loop shown once."""
from __future__ import annotations

import sys
from pathlib import Path

from ..exceptions import MlopsError
from .console import EXIT_FAILED, emit


def register(sub) -> None:
    p = sub.add_parser("doctor", help="show the store, artifacts and kernel in use, and what is misconfigured")
    p.set_defaults(handler=cmd_doctor)

    p = sub.add_parser("demo", help="run the demo pipeline (notebooks/pipeline.yaml) end to end, tracked")
    p.add_argument("--notebook", type=Path, help="run just this notebook with papermill instead")
    p.add_argument("--output", type=Path, help="where to write the executed notebook")
    p.set_defaults(handler=cmd_demo)


def cmd_doctor(args) -> int:
    from ..doctor import run

    return run()


def demo_file(name: str) -> Path:
    """``notebooks/<name>`` of the project in the cwd, else of this source checkout."""
    for candidate in (Path.cwd() / "notebooks" / name, Path(__file__).resolve().parents[2] / "notebooks" / name):
        if candidate.is_file():
            return candidate
    raise MlopsError(f"no notebooks/{name} here; run the demo from a clone of jupyter_mlops")


def cmd_demo(args) -> int:
    """The demo pipeline end to end (prepare -> a 4-point sweep of train -> evaluate), or one notebook."""
    if args.notebook is None:
        from ..config import set_tracking_uri, tracking_uri_and_source
        from . import main

        spec = demo_file("pipeline.yaml")
        # The pipeline's store is found from the spec's folder; registering the model must use the same one.
        set_tracking_uri(tracking_uri_and_source(start=spec.parent)[0])
        print(f"running the demo pipeline {spec}", flush=True)
        code = main(["run", str(spec)])  # the store chosen by --uri stays in effect
        if code != 0:
            return code
        from ..demo import MODEL_NAME, register_best

        done = register_best()
        print(f"\napproved run {done['run_id'][:8]} (best of the sweep), exported {done['ref']} -> "
              f"{done['package']}\nONNX for {done['ref']}: {done['onnx']}\n"
              f"{MODEL_NAME}@production verified (MANIFEST sha256 {done['digest'][:16]})")
        print("\nlook next: jupyter mlops runs --experiment demo  |  jupyter mlops pipelines  |  "
              f"jupyter mlops show <run>  |  python -c \"import jupyter_mlops as m; "
              f"print(m.load_model('{MODEL_NAME}@production'))\"")
        return 0
    from ..api import search_runs
    from ..config import get_artifact_root
    from ..execute import execute_notebook
    from .tracking import runs_table

    notebook = args.notebook.resolve()
    output = args.output or get_artifact_root().parent / "executed" / f"{notebook.stem}-output.ipynb"
    print(f"running {notebook} with papermill -> {output}", flush=True)
    try:
        execute_notebook(notebook, output)
    except Exception as exc:  # noqa: BLE001 - any failure of the notebook is reported; papermill names the cell
        print(f"jupyter mlops demo: the notebook failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    df = search_runs(experiment="demo", max_results=10)
    emit(runs_table(df) if not df.empty else df, "table")
    return 0
