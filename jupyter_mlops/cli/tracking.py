"""``experiments``, ``runs`` and ``show``: reading runs back from the store."""
from __future__ import annotations

import json

from .console import as_time, emit


def register(sub) -> None:
    p = sub.add_parser("experiments", help="list experiments")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(handler=cmd_experiments)

    p = sub.add_parser("runs", help="list runs (newest first)")
    p.add_argument("--experiment", "-e", help="only this experiment")
    p.add_argument("--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.model = 'rf'\"")
    p.add_argument("--order-by", "-o", action="append", help="e.g. 'metrics.auc DESC' (repeatable)")
    p.add_argument("--max-results", "-n", type=int, default=100)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(handler=cmd_runs)

    p = sub.add_parser("show", help="everything recorded about one run")
    p.add_argument("run", help="run id or a unique prefix (6+ characters)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=cmd_show)


def cmd_experiments(args) -> int:
    from ..api import list_experiments

    df = list_experiments()
    df["created_at"] = as_time(df["created_at"])
    emit(df, args.format)
    return 0


def cmd_runs(args) -> int:
    from ..api import search_runs

    df = search_runs(experiment=args.experiment, filter=args.filter, order_by=args.order_by,
                     max_results=args.max_results)
    if args.format == "table" and not df.empty:
        df = runs_table(df)
    emit(df, args.format)
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
    from ..api import get_run

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
