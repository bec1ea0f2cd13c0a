"""``approve``, ``reject``, ``export``, ``models``, ``versions``, ``alias``, ``verify``, ``audit``: the model registry."""
from __future__ import annotations

import argparse
import json
import sys

from .console import EXIT_FAILED, REF_HELP, as_time, emit


def register(sub) -> None:
    p = sub.add_parser("approve", help="approve a finished run for export (checks the approval gates)")
    p.add_argument("run", help="run id or a unique prefix (6+ characters)")
    p.add_argument("--by", help="who approves (default: the current user)")
    p.add_argument("--reason", default="", help="why")
    p.set_defaults(handler=cmd_approve)

    p = sub.add_parser("reject", help="record that a run must not be exported")
    p.add_argument("run")
    p.add_argument("--by")
    p.add_argument("--reason", required=True, help="what is wrong with it")
    p.add_argument("--force", action="store_true", help="reject even a run whose version is in production")
    p.set_defaults(handler=cmd_reject)

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
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("models", help="registered models with their latest version and aliases")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("versions", help="the versions of one model, newest first")
    p.add_argument("name")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_versions)

    p = sub.add_parser("alias", help="point NAME@ALIAS at a version (e.g. production)")
    p.add_argument("name")
    p.add_argument("version", type=_version)
    p.add_argument("alias", help="case-insensitive: Production and production are one alias")
    p.add_argument("--by")
    p.set_defaults(handler=cmd_alias)

    p = sub.add_parser("verify", help="check a package (reference, folder or .zip) against the registry")
    p.add_argument("package", help=REF_HELP)
    p.set_defaults(handler=cmd_verify)

    p = sub.add_parser("audit", help="approvals, rejections, exports and alias changes, newest first")
    p.add_argument("subject", nargs="?", help="a run id or a model name")
    p.add_argument("--max-results", "-n", type=int, default=100)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_audit)


def _version(text: str) -> int:
    from ..exceptions import InvalidNameError
    from ..registry.names import check_version

    try:
        return check_version(text)
    except InvalidNameError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_approve(args) -> int:
    from ..api import approve

    record = approve(args.run, by=args.by, reason=args.reason)
    if record.get("note"):
        print(record["note"])  # a pipeline run stands for the step holding its model: say which
    print(f"approved run {record['run_id']} by {record['actor']}")
    return 0


def cmd_reject(args) -> int:
    import warnings

    from ..api import reject

    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        record = reject(args.run, by=args.by, reason=args.reason, force=args.force)
    for warning in warned:
        print(f"jupyter mlops reject: warning: {warning.message}", file=sys.stderr)
    print(f"rejected run {record['run_id']} by {record['actor']}: {record['reason']}")
    return 0


def cmd_export(args) -> int:
    from ..api import export

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

    from ..registry.versions import list_models

    models = list_models()
    if args.format == "json":
        print(json.dumps(models, indent=1))
        return 0
    rows = [{"name": m["name"], "latest": m["latest_version"],
             "aliases": ", ".join(f"{a}={v}" for a, v in sorted(m["aliases"].items())) or "-",
             "created": m["created_at"]} for m in models]
    df = pd.DataFrame(rows, columns=["name", "latest", "aliases", "created"])
    if not df.empty:
        df["created"] = as_time(df["created"])
    emit(df, "table")
    return 0


def cmd_versions(args) -> int:
    import pandas as pd

    from ..registry.versions import list_versions

    found = list_versions(args.name)
    if args.format == "json":
        print(json.dumps(found, indent=1))
        return 0
    df = pd.DataFrame([{"version": v["version"], "aliases": ", ".join(v["aliases"]) or "-", "run_id": v["run_id"][:8],
                        "created_by": v["created_by"], "created": v["created_at"],
                        "onnx": v["tags"].get("mlops.onnx", "-").split(":")[0],
                        "metrics": ", ".join(f"{k}={val:.4g}" if isinstance(val, float) else f"{k}={val}"
                                             for k, val in sorted(v["metrics"].items()))} for v in found])
    df["created"] = as_time(df["created"])
    emit(df, "table")
    return 0


def cmd_alias(args) -> int:
    from ..api import set_alias

    record = set_alias(args.name, args.version, args.alias, by=args.by)
    print(f"{args.name}@{args.alias} -> {record['ref']}")
    return 0


def cmd_verify(args) -> int:
    from ..api import verify

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

    from ..registry.audit import audit_log

    entries = audit_log(args.subject, limit=args.max_results)
    if args.format == "json":
        print(json.dumps(entries, indent=1, default=str))
        return 0
    df = pd.DataFrame([{"time": e["created_at"], "actor": e["actor"], "action": e["action"], "subject": e["subject"],
                        "details": _brief_details(e["details"])} for e in entries],
                      columns=["time", "actor", "action", "subject", "details"])
    if not df.empty:
        df["time"] = as_time(df["time"])
    emit(df, "table")
    return 0


def _brief_details(details: dict) -> str:
    keep = {k: v for k, v in details.items() if k in ("reason", "version", "previous", "run_id")}
    return ", ".join(f"{k}={v}" for k, v in keep.items())
