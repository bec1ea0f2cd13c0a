"""``serve`` and ``predict``: a model package over REST, or scoring a file in chunks."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .console import REF_HELP


def register(sub) -> None:
    from ..serving import DEFAULT_CHUNK_ROWS, DEFAULT_MAX_BODY_BYTES

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
    p.add_argument("--quiet", "-q", action="store_true", help="no access log line per request (warnings and errors only)")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("predict", help="score a CSV or Parquet file, chunk by chunk")
    p.add_argument("ref", help=REF_HELP)
    p.add_argument("input", type=Path, help=".csv or .parquet (with --executor dask: a folder or glob of them)")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help=".parquet or .csv (with --executor dask: a folder of Parquet parts)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="dask: score partitions in parallel on a Dask cluster")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: a LocalCluster)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_ROWS, help="rows per chunk (bounds memory)")
    p.add_argument("--runtime", choices=("sklearn", "onnx"))
    p.add_argument("--probabilities", action="store_true", help="add a proba_<class> column per class")
    p.add_argument("--keep-input", action="store_true",
                   help="copy every input column into the output, those the model does not take (ids, the label) too")
    p.add_argument("--passthrough", nargs="+", action="extend", default=[], metavar="COL",
                   help="copy these input columns into the output (e.g. an id). Columns the model does not take "
                        "are never scored; only missing or mistyped features are errors")
    p.set_defaults(handler=cmd_predict)


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


def cmd_serve(args) -> int:
    from ..registry.package import load_model
    from ..serving.app import serve

    model = load_model(args.ref, runtime=args.runtime or "auto")
    token = args.token or os.environ.get("MLOPS_SERVE_TOKEN") or None
    where = f"http://{args.host}:{args.port}"
    print(f"serving {model.ref} on {where} ({model.runtime_note}); docs at {where}/docs", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1") and token is None:
        print(f"jupyter mlops serve: warning: listening on {args.host} without a token; anyone who can reach it "
              "can call the model (use --token or MLOPS_SERVE_TOKEN)", file=sys.stderr)
    serve(model, host=args.host, port=args.port, token=token, max_body_bytes=args.max_body_bytes,
          log_predictions=args.log_predictions, access_log=not args.quiet)
    print(f"stopped serving {model.ref} on {where}", flush=True)
    return 0


def cmd_predict(args) -> int:
    from ..serving.batch import predict

    if args.executor == "dask":
        from ..serving.dask_batch import predict as predict_on_dask

        summary = predict_on_dask(args.ref, str(args.input), output=args.output, scheduler=args.scheduler,
                                  runtime=args.runtime, probabilities=args.probabilities, keep_input=args.keep_input,
                                  passthrough=tuple(dict.fromkeys(args.passthrough)))
        print(f"{summary['rows']} rows scored by {summary['model']} ({summary['runtime']}) in {summary['seconds']} s "
              f"on {summary['workers']} Dask workers -> {summary['output']} ({summary['partitions']} parts)")
        return 0
    summary = predict(args.ref, args.input, output=args.output, chunk_size=args.chunk_size, runtime=args.runtime,
                      probabilities=args.probabilities, keep_input=args.keep_input, progress=True,
                      passthrough=tuple(dict.fromkeys(args.passthrough)))
    print(f"{summary['rows']} rows scored by {summary['model']} ({summary['runtime']}) in {summary['seconds']} s "
          f"-> {summary['output']}")
    return 0
