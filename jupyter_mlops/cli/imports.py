"""``import mlflow``: an MLflow store's experiments, runs, artifacts and registered models, brought here."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("import", help="import runs and models from another tool")
    tools = p.add_subparsers(dest="import_tool", required=True, metavar="TOOL")
    q = tools.add_parser("mlflow", help="experiments, runs (params, full metric histories, tags, artifacts) and "
                         "registered model versions with their aliases, from an MLflow store; importing twice "
                         "imports nothing new")
    q.add_argument("--from", dest="source", required=True, metavar="SOURCE",
                   help="./mlruns (a file store), sqlite:///mlflow.db (or another database URL), or "
                   "http://host:5000 (an MLflow server; its token in MLFLOW_TRACKING_TOKEN)")
    q.add_argument("--experiment", metavar="NAME", help="only this experiment (and the model versions of its runs)")
    q.add_argument("--unsafe-pickle", action="store_true",
                   help="also package model versions saved as pickle; loading a pickle runs code, so only for "
                   "stores you trust (the model is then stored as skops)")
    q.add_argument("--by", help="who approves the imported versions (default: you)")
    q.set_defaults(handler=cmd_import_mlflow)


def cmd_import_mlflow(args) -> int:
    from ..registry.mlflow_import import import_mlflow

    print(import_mlflow(args.source, experiment=args.experiment, unsafe_pickle=args.unsafe_pickle, by=args.by))
    return 0
