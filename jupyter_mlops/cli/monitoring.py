"""``monitor``: drift (and performance) of new data against a model's reference profile."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .console import EXIT_FAILED


def register(sub) -> None:
    p = sub.add_parser("monitor", help="drift (and performance) of new data against a model or a profile")
    p.add_argument("reference", help="model reference (name, name/3, name@alias: always the registry), or a profile "
                                     "JSON or package file written as a path (./profile.json, /abs/x, x.json)")
    p.add_argument("current", type=Path, help="the new data: .csv or .parquet")
    p.add_argument("--target", help="column with the known outcomes, for performance: a model reference scores the "
                                    "data itself; with a profile, give --predictions too")
    p.add_argument("--predictions", help="column with the predictions already made (instead of the model scoring)")
    p.add_argument("--html", type=Path, help="also write the HTML report here")
    p.add_argument("--no-record", action="store_true", help="do not store the result as a monitoring run")
    p.add_argument("--fail-on-drift", action="store_true",
                   help="exit 1 when the dataset drifts (the share of drifted columns reaches the threshold, 50%%); "
                        "without it drift exits 0. A failed check (a reference column missing from the data) "
                        "exits 1 either way")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--retrain", action="store_true",
                   help="apply [tool.jupyter_mlops.retrain]: when it fires, retrain and export a 'candidate'")
    p.add_argument("--jobs", "-j", type=int, help="parallel steps of the retraining pipeline")
    p.set_defaults(handler=cmd_monitor)


def cmd_monitor(args) -> int:
    from ..monitoring.monitor import monitor

    result = monitor(args.reference, args.current, target=args.target, predictions=args.predictions,
                     record=not args.no_record, html=args.html)
    print(json.dumps(result.to_dict(), indent=1, default=str) if args.format == "json" else result.describe())
    if not result.ok:  # data without a column the model needs: no verdict on it is worth exit 0, nor a retraining
        missing = result.missing_columns
        print(f"jupyter mlops monitor: error: {args.current} lacks {len(missing)} column{'s' if len(missing) > 1 else ''} "
              f"of the reference: {', '.join(missing)}", file=sys.stderr)
        return EXIT_FAILED
    if args.retrain:
        from ..jobs.retrain import retrain_if_needed

        print(retrain_if_needed(args.reference, args.current, result, jobs=args.jobs).describe())
    return EXIT_FAILED if args.fail_on_drift and result.dataset_drift else 0
