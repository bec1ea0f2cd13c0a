"""``jupyter mlops ...``: the command line door onto the store (entry point ``jupyter-mlops``).

Every command prints its result to stdout; bad input exits non-zero with one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .exceptions import MlopsError

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away
REF_HELP = "NAME, NAME/VERSION, NAME@ALIAS (the registry), or a package folder or .zip written as a path (./x, /abs/x)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyter mlops", description="Notebook-first MLOps: runs, pipelines, models.")
    parser.add_argument("--uri", help="tracking store (path or SQLAlchemy URL); default: MLOPS_TRACKING_URI, "
                        "[tool.jupyter_mlops] tracking_uri, ./.mlops/mlops.db")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("experiments", help="list experiments")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")

    p = sub.add_parser("runs", help="list runs (newest first)")
    p.add_argument("--experiment", "-e", help="only this experiment")
    p.add_argument("--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.model = 'rf'\"")
    p.add_argument("--order-by", "-o", action="append", help="e.g. 'metrics.auc DESC' (repeatable)")
    p.add_argument("--max-results", "-n", type=int, default=100)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")

    p = sub.add_parser("show", help="everything recorded about one run")
    p.add_argument("run", help="run id or a unique prefix (6+ characters)")
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = sub.add_parser("run", help="run a pipeline spec (pipeline.yaml)")
    p.add_argument("spec", type=Path)
    p.add_argument("-j", "--jobs", type=int, help="steps at once (default: number of cores)")
    p.add_argument("--executor", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    p.add_argument("--force", nargs="?", const="*", action="append", metavar="STEP",
                   help="re-run every step, or STEP and its downstream steps, ignoring the cache")
    p.add_argument("--from", dest="from_step", metavar="STEP", help="re-run STEP and everything downstream of it")
    p.add_argument("-p", "--param", action="append", default=[], metavar="[STEP.]KEY=VALUE",
                   help="override a parameter of every step, or of one step")
    p.add_argument("--fail-fast", action="store_true", help="stop everything at the first failing step")

    p = sub.add_parser("pipelines", help="past pipeline runs with the status of each step")
    p.add_argument("--max-results", "-n", type=int, default=20)

    p = sub.add_parser("dag", help="show a pipeline's steps and their dependencies")
    p.add_argument("spec", type=Path)
    p.add_argument("--format", choices=("text", "dot", "png"), default="text")
    p.add_argument("--output", "-o", type=Path, help="file for --format png (default: <spec>.png)")

    sub.add_parser("doctor", help="show the store, artifacts and kernel in use, and what is misconfigured")

    p = sub.add_parser("monitor", help="drift (and performance) of new data against a model or a profile")
    p.add_argument("reference", help="model reference (name, name/3, name@alias) or a profile JSON file")
    p.add_argument("current", type=Path, help="the new data: .csv or .parquet")
    p.add_argument("--target", help="column with the known outcomes (needs --predictions)")
    p.add_argument("--predictions", help="column with the model's predictions")
    p.add_argument("--html", type=Path, help="also write the HTML report here")
    p.add_argument("--no-record", action="store_true", help="do not store the result as a monitoring run")
    p.add_argument("--fail-on-drift", action="store_true", help="exit 1 when the dataset drifts")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--retrain", action="store_true",
                   help="apply [tool.jupyter_mlops.retrain]: when it fires, retrain and export a 'candidate'")
    p.add_argument("--jobs", "-j", type=int, help="parallel steps of the retraining pipeline")

    p = sub.add_parser("reproduce", help="re-run the pipeline a model version was trained by and compare metrics")
    p.add_argument("ref", help="model reference: name, name/3 or name@alias")
    p.add_argument("--tolerance", type=float, default=1e-9, help="relative and absolute tolerance per metric")
    p.add_argument("--jobs", "-j", type=int, help="parallel steps")

    _registry_commands(sub)
    _serving_commands(sub)

    p = sub.add_parser("demo", help="run the demo pipeline (notebooks/pipeline.yaml) end to end, tracked")
    p.add_argument("--notebook", type=Path, help="run just this notebook with papermill instead")
    p.add_argument("--output", type=Path, help="where to write the executed notebook")
    return parser


def _registry_commands(sub) -> None:
    p = sub.add_parser("approve", help="approve a finished run for export (checks the approval gates)")
    p.add_argument("run", help="run id or a unique prefix (6+ characters)")
    p.add_argument("--by", help="who approves (default: the current user)")
    p.add_argument("--reason", default="", help="why")

    p = sub.add_parser("reject", help="record that a run must not be exported")
    p.add_argument("run")
    p.add_argument("--by")
    p.add_argument("--reason", required=True, help="what is wrong with it")
    p.add_argument("--force", action="store_true", help="reject even a run whose version is in production")

    p = sub.add_parser("export", help="package an approved run as the next version of a model")
    p.add_argument("run")
    p.add_argument("--name", required=True, help="model name (letters, digits, '.', '_', '-')")
    p.add_argument("--by")
    p.add_argument("--zip", action="store_true", help="also write NAME-VERSION.zip next to the package")
    p.add_argument("--trust", action="append", default=[], metavar="TYPE",
                   help="an exact type (e.g. a function) to trust beyond what scikit-learn's own models hold; "
                        "it runs when the model predicts (repeatable)")
    p.add_argument("--unsafe-pickle", action="store_true",
                   help="accept a pickle model: loading it can run arbitrary code")

    p = sub.add_parser("models", help="registered models with their latest version and aliases")
    p.add_argument("--format", choices=("table", "json"), default="table")

    p = sub.add_parser("versions", help="the versions of one model, newest first")
    p.add_argument("name")
    p.add_argument("--format", choices=("table", "json"), default="table")

    p = sub.add_parser("alias", help="point NAME@ALIAS at a version (e.g. production)")
    p.add_argument("name")
    p.add_argument("version", type=_version)
    p.add_argument("alias", help="case-insensitive: Production and production are one alias")
    p.add_argument("--by")

    p = sub.add_parser("verify", help="check a package (reference, folder or .zip) against the registry")
    p.add_argument("package", help=REF_HELP)

    p = sub.add_parser("audit", help="approvals, rejections, exports and alias changes, newest first")
    p.add_argument("subject", nargs="?", help="a run id or a model name")
    p.add_argument("--max-results", "-n", type=int, default=100)
    p.add_argument("--format", choices=("table", "json"), default="table")


def _serving_commands(sub) -> None:
    from .serving import DEFAULT_CHUNK_ROWS, DEFAULT_MAX_BODY_BYTES

    p = sub.add_parser("serve", help="serve a model over REST (FastAPI + uvicorn)")
    p.add_argument("ref", help=REF_HELP)
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1: this machine only")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--runtime", choices=("sklearn", "onnx"),
                   help="default: onnx when the package has model.onnx and onnxruntime is installed")
    p.add_argument("--token", help="require 'Authorization: Bearer TOKEN' (default: MLOPS_SERVE_TOKEN)")
    p.add_argument("--max-body-bytes", type=_size, default=DEFAULT_MAX_BODY_BYTES, metavar="SIZE",
                   help="largest request body, e.g. 10MiB (default), 512KiB, 1000000")
    p.add_argument("--log-predictions", type=_rate, default=0.0, metavar="RATE",
                   help="share of requests (0-1] written with their predictions to the prediction_log table")

    p = sub.add_parser("predict", help="score a CSV or Parquet file, chunk by chunk")
    p.add_argument("ref", help=REF_HELP)
    p.add_argument("input", type=Path, help=".csv or .parquet")
    p.add_argument("-o", "--output", type=Path, required=True, help=".parquet or .csv")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_ROWS, help="rows per chunk (bounds memory)")
    p.add_argument("--runtime", choices=("sklearn", "onnx"))
    p.add_argument("--probabilities", action="store_true", help="add a proba_<class> column per class")
    p.add_argument("--keep-input", action="store_true", help="copy the input columns into the output")


def _version(text: str) -> int:
    from .exceptions import InvalidNameError
    from .registry.names import check_version

    try:
        return check_version(text)
    except InvalidNameError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share of requests between 0 and 1, got {text!r}")
    return value


def _size(text: str) -> int:
    units = {"": 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3}
    number = text.strip().rstrip("bBiIkKmMgG")
    unit = text.strip()[len(number):].lower()
    try:
        value = int(float(number) * units[unit])
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a size such as 10MiB, 512KiB or 1000000, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"the size must be positive, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.uri:
            from .config import set_tracking_uri

            set_tracking_uri(args.uri)
        code = COMMANDS[args.command](args) or 0
        sys.stdout.flush()  # here, so a closed pipe is met inside this try and not at interpreter exit
        return code
    except MlopsError as exc:
        print(f"jupyter mlops {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(exc, ValueError | LookupError) else EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `jupyter mlops versions m | head`: the reader has what it wanted
        _quiet_stdout()
        return EXIT_BROKEN_PIPE


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in a test)
        pass


def _emit(df, fmt: str) -> None:
    if fmt == "json":
        print(df.to_json(orient="records", date_format="iso", indent=1))
    elif fmt == "csv":
        print(df.to_csv(index=False), end="")
    elif df.empty:
        print("(none)")
    else:
        print(df.to_string(index=False, max_colwidth=40))


def cmd_experiments(args) -> int:
    from .api import list_experiments

    df = list_experiments()
    df["created_at"] = _as_time(df["created_at"])
    _emit(df, args.format)
    return 0


def _as_time(column):
    import pandas as pd

    return pd.to_datetime(column, unit="ms", utc=True).dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S")


def cmd_runs(args) -> int:
    from .api import search_runs

    df = search_runs(experiment=args.experiment, filter=args.filter, order_by=args.order_by,
                     max_results=args.max_results)
    if args.format == "table" and not df.empty:
        df = runs_table(df)
    _emit(df, args.format)
    return 0


def runs_table(df):
    """A compact view for terminals: short ids, local times, params and metrics after the attributes."""
    view = df.copy()
    view["run_id"] = view["run_id"].str[:8]
    duration = (view["end_time"] - view["start_time"]).dt.total_seconds().round(1)
    view["start_time"] = view["start_time"].dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S")
    view.insert(view.columns.get_loc("start_time") + 1, "duration_s", duration)
    keep = ["run_id", "name", "experiment", "status", "start_time", "duration_s"]
    rest = [c for c in view.columns if c.startswith(("params.", "metrics."))]
    return view[keep + rest]


def cmd_show(args) -> int:
    from .api import get_run

    record = get_run(args.run)
    if args.format == "json":
        print(json.dumps(record.to_dict(), indent=1, default=str))
        return 0
    print(format_run(record))
    return 0


def format_run(record) -> str:
    import datetime as dt

    def when(ms):
        return "-" if ms is None else dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")

    lines = [
        f"run        {record.uuid}",
        f"name       {record.name}",
        f"experiment {record.experiment}",
        f"status     {record.status}",
        f"started    {when(record.start_time)}    ended {when(record.end_time)}",
        f"source     {record.source_path or '-'}",
        f"git        {record.git_commit or '-'}{' (dirty)' if record.git_dirty else ''}",
        f"user       {record.user or '-'}",
    ]
    if record.parent_uuid:
        lines.append(f"parent     {record.parent_uuid}")
    for title, values in (("params", record.params), ("metrics", record.metrics), ("tags", record.tags)):
        if values:
            lines.append(f"{title}:")
            width = max(len(k) for k in values)
            lines += [f"  {k.ljust(width)}  {v}" for k, v in sorted(values.items())]
    if record.artifacts:
        lines.append("artifacts:")
        lines += [f"  {a['path']}  {a['size']} B  {a['media_type']}  sha256:{a['sha256'][:12]}" for a in record.artifacts]
    if record.datasets:
        lines.append("datasets:")
        lines += [f"  {d['name']}  {d['rows']}x{d['columns']}  fingerprint:{d['fingerprint'][:12]}" for d in record.datasets]
    return "\n".join(lines)


def demo_file(name: str) -> Path:
    """``notebooks/<name>`` of the project in the cwd, else of this source checkout."""
    for candidate in (Path.cwd() / "notebooks" / name, Path(__file__).resolve().parents[1] / "notebooks" / name):
        if candidate.is_file():
            return candidate
    raise MlopsError(f"no notebooks/{name} here; run the demo from a clone of jupyter_mlops")


def cmd_demo(args) -> int:
    """The demo pipeline end to end (prepare -> a 4-point sweep of train -> evaluate), or one notebook."""
    if args.notebook is None:
        spec = demo_file("pipeline.yaml")
        print(f"running the demo pipeline {spec}", flush=True)
        code = main(["run", str(spec)])  # the store chosen by --uri stays in effect
        if code != 0:
            return code
        from .demo import MODEL_NAME, register_best

        done = register_best()
        print(f"\napproved run {done['run_id'][:8]} (best of the sweep), exported {done['ref']} -> "
              f"{done['package']}\n{MODEL_NAME}@production verified (MANIFEST sha256 {done['digest'][:16]})")
        print("\nlook next: jupyter mlops runs --experiment demo  |  jupyter mlops pipelines  |  "
              f"jupyter mlops show <run>  |  python -c \"import jupyter_mlops as m; "
              f"print(m.load_model('{MODEL_NAME}@production'))\"")
        return 0
    from .api import search_runs
    from .config import get_artifact_root
    from .execute import execute_notebook

    notebook = args.notebook.resolve()
    output = args.output or get_artifact_root().parent / "executed" / f"{notebook.stem}-output.ipynb"
    print(f"running {notebook} with papermill -> {output}", flush=True)
    try:
        execute_notebook(notebook, output)
    except Exception as exc:  # papermill's error names the failing cell
        print(f"jupyter mlops demo: the notebook failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    df = search_runs(experiment="demo", max_results=10)
    _emit(runs_table(df) if not df.empty else df, "table")
    return 0


def cmd_run(args) -> int:
    from .pipeline.progress import ConsoleProgress
    from .pipeline.report import print_result
    from .pipeline.runner import PipelineRunner, Stopped
    from .pipeline.spec import load_spec

    spec = load_spec(args.spec, args.param)
    force = None
    if args.force:
        force = True if "*" in args.force else set(args.force)
    runner = PipelineRunner(spec, jobs=args.jobs, executor=args.executor, scheduler=args.scheduler, force=force,
                            from_step=args.from_step, fail_fast=args.fail_fast)
    runner.progress = progress = ConsoleProgress(total=len(runner.nodes))  # sweep points are nodes too
    try:
        result = runner.run()
    except Stopped as stop:
        progress.close()
        print("jupyter mlops run: stopped; running steps were killed", file=sys.stderr)
        if stop.args and hasattr(stop.args[0], "states"):
            print_result(stop.args[0])
        return 128 + stop.signum  # 130 after Ctrl-C, 143 after SIGTERM, as shells report them
    progress.close()
    print_result(result)
    return 0 if result.ok else EXIT_FAILED


def cmd_pipelines(args) -> int:
    from .pipeline.report import pipeline_runs_table

    print(pipeline_runs_table(args.max_results))
    return 0


def cmd_dag(args) -> int:
    from .pipeline.report import dag_dot, dag_png, dag_text
    from .pipeline.spec import load_spec

    spec = load_spec(args.spec)
    if args.format == "dot":
        print(dag_dot(spec))
    elif args.format == "png":
        out = args.output or args.spec.with_suffix(".png")
        dag_png(spec, out)
        print(out)
    else:
        print(dag_text(spec))
    return 0


def cmd_monitor(args) -> int:
    from .monitoring.monitor import monitor

    result = monitor(args.reference, args.current, target=args.target, predictions=args.predictions,
                     record=not args.no_record, html=args.html)
    print(json.dumps(result.to_dict(), indent=1, default=str) if args.format == "json" else result.describe())
    if args.retrain:
        from .monitoring.retrain import retrain_if_needed

        print(retrain_if_needed(args.reference, args.current, result, jobs=args.jobs).describe())
    return EXIT_FAILED if args.fail_on_drift and result.dataset_drift else 0


def cmd_reproduce(args) -> int:
    from .pipeline.reproduce import reproduce

    result = reproduce(args.ref, tolerance=args.tolerance, jobs=args.jobs)
    print(result.describe())
    return 0 if result.matches else EXIT_FAILED


def cmd_doctor(args) -> int:
    from .doctor import run

    return run()


# -- registry ------------------------------------------------------------------------------------
def cmd_approve(args) -> int:
    from .api import approve

    record = approve(args.run, by=args.by, reason=args.reason)
    print(f"approved run {record['run_id']} by {record['actor']}")
    return 0


def cmd_reject(args) -> int:
    import warnings

    from .api import reject

    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        record = reject(args.run, by=args.by, reason=args.reason, force=args.force)
    for warning in warned:
        print(f"jupyter mlops reject: warning: {warning.message}", file=sys.stderr)
    print(f"rejected run {record['run_id']} by {record['actor']}: {record['reason']}")
    return 0


def cmd_export(args) -> int:
    from .api import export

    record = export(args.run, name=args.name, by=args.by, zip=args.zip, trust=args.trust,
                    unsafe_pickle=args.unsafe_pickle)
    print(f"exported {record['ref']} -> {record['package_uri']}")
    if record.get("zip"):
        print(f"zip: {record['zip']}")
    if record["tags"].get("mlops.onnx"):
        print(f"onnx: {record['tags']['mlops.onnx']}")
    return 0


def cmd_models(args) -> int:
    import pandas as pd

    from .registry.versions import list_models

    models = list_models()
    if args.format == "json":
        print(json.dumps(models, indent=1))
        return 0
    rows = [{"name": m["name"], "latest": m["latest_version"],
             "aliases": ", ".join(f"{a}={v}" for a, v in sorted(m["aliases"].items())) or "-",
             "created": m["created_at"]} for m in models]
    df = pd.DataFrame(rows, columns=["name", "latest", "aliases", "created"])
    if not df.empty:
        df["created"] = _as_time(df["created"])
    _emit(df, "table")
    return 0


def cmd_versions(args) -> int:
    import pandas as pd

    from .registry.versions import list_versions

    found = list_versions(args.name)
    if args.format == "json":
        print(json.dumps(found, indent=1))
        return 0
    df = pd.DataFrame([{"version": v["version"], "aliases": ", ".join(v["aliases"]) or "-", "run_id": v["run_id"][:8],
                        "created_by": v["created_by"], "created": v["created_at"],
                        "onnx": v["tags"].get("mlops.onnx", "-").split(":")[0],
                        "metrics": ", ".join(f"{k}={val:.4g}" if isinstance(val, float) else f"{k}={val}"
                                             for k, val in sorted(v["metrics"].items()))} for v in found])
    df["created"] = _as_time(df["created"])
    _emit(df, "table")
    return 0


def cmd_alias(args) -> int:
    from .api import set_alias

    record = set_alias(args.name, args.version, args.alias, by=args.by)
    print(f"{args.name}@{args.alias} -> {record['ref']}")
    return 0


def cmd_verify(args) -> int:
    from .api import verify

    result = verify(args.package)
    label = result.ref or result.path
    if result.ok:
        print(f"{label}: OK (manifest sha256 {result.digest})")
        return 0
    print(f"{label}: FAILED", file=sys.stderr)
    for problem in result.problems:
        print(f"  {problem}", file=sys.stderr)
    return EXIT_FAILED


def cmd_audit(args) -> int:
    import pandas as pd

    from .registry.audit import audit_log

    entries = audit_log(args.subject, limit=args.max_results)
    if args.format == "json":
        print(json.dumps(entries, indent=1, default=str))
        return 0
    df = pd.DataFrame([{"time": e["created_at"], "actor": e["actor"], "action": e["action"], "subject": e["subject"],
                        "details": _brief_details(e["details"])} for e in entries],
                      columns=["time", "actor", "action", "subject", "details"])
    if not df.empty:
        df["time"] = _as_time(df["time"])
    _emit(df, "table")
    return 0


def _brief_details(details: dict) -> str:
    keep = {k: v for k, v in details.items() if k in ("reason", "version", "previous", "run_id")}
    return ", ".join(f"{k}={v}" for k, v in keep.items())


# -- serving -------------------------------------------------------------------------------------
def cmd_serve(args) -> int:
    import os

    from .registry.package import load_model
    from .serving.app import serve

    model = load_model(args.ref, runtime=args.runtime or "auto")
    token = args.token or os.environ.get("MLOPS_SERVE_TOKEN") or None
    where = f"http://{args.host}:{args.port}"
    print(f"serving {model.ref} on {where} ({model.runtime_note}); docs at {where}/docs", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1") and token is None:
        print(f"jupyter mlops serve: warning: listening on {args.host} without a token; anyone who can reach it "
              "can call the model (use --token or MLOPS_SERVE_TOKEN)", file=sys.stderr)
    serve(model, host=args.host, port=args.port, token=token, max_body_bytes=args.max_body_bytes,
          log_predictions=args.log_predictions)
    return 0


def cmd_predict(args) -> int:
    from .serving.batch import predict

    summary = predict(args.ref, args.input, output=args.output, chunk_size=args.chunk_size, runtime=args.runtime,
                      probabilities=args.probabilities, keep_input=args.keep_input, progress=True)
    print(f"{summary['rows']} rows scored by {summary['model']} ({summary['runtime']}) in {summary['seconds']} s "
          f"-> {summary['output']}")
    return 0


COMMANDS = {
    "approve": cmd_approve,
    "reject": cmd_reject,
    "export": cmd_export,
    "models": cmd_models,
    "versions": cmd_versions,
    "alias": cmd_alias,
    "verify": cmd_verify,
    "audit": cmd_audit,
    "serve": cmd_serve,
    "predict": cmd_predict,
    "doctor": cmd_doctor,
    "run": cmd_run,
    "pipelines": cmd_pipelines,
    "dag": cmd_dag,
    "experiments": cmd_experiments,
    "runs": cmd_runs,
    "show": cmd_show,
    "demo": cmd_demo,
    "monitor": cmd_monitor,
    "reproduce": cmd_reproduce,
}


if __name__ == "__main__":
    sys.exit(main())
