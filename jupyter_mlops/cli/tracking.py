"""``experiments``, ``runs`` and ``show``: reading runs back from the store."""
from __future__ import annotations

import argparse
import json
import sys
from fnmatch import fnmatchcase

from ..exceptions import InvalidInputError
from .console import as_time, emit
from .tables import dropped_note, print_frame, render, terminal_width

DEFAULT_LIMIT = 50
SPARK_WIDTH = 24


def register(sub) -> None:
    p = sub.add_parser("experiments", help="list experiments")
    p.add_argument("--all", "-a", action="store_true", help="archived and deleted experiments too, with their state")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(handler=cmd_experiments)

    p = sub.add_parser("runs", help="list runs (newest first)")
    p.add_argument("--experiment", "-e", help="only this experiment")
    p.add_argument("--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.model = 'rf'\"")
    p.add_argument("--order-by", "-o", action="append", help="e.g. 'metrics.auc DESC' (repeatable)")
    p.add_argument("--limit", "-n", "--max-results", dest="limit", type=_positive, default=DEFAULT_LIMIT,
                   metavar="N", help=f"show at most N runs (default {DEFAULT_LIMIT}); how many more match is said")
    p.add_argument("--columns", "-c", type=_globs, metavar="GLOBS",
                   help="comma-separated column names or globs, e.g. 'params.model,metrics.*auc*' "
                        "(default: the run's attributes, params.* and metrics.*)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(handler=cmd_runs)

    p = sub.add_parser("show", help="everything recorded about one run, with each metric's history")
    p.add_argument("run", help="run id or a unique prefix (6+ characters)")
    p.add_argument("--metric", "-m", metavar="KEY", help="plot this metric's history against its steps")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("compare", help="runs side by side: the params that differ and the latest metrics")
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more run ids or unique prefixes")
    p.set_defaults(handler=cmd_compare)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of runs, 1 or more, got {text!r}")
    return value


def _globs(text: str) -> list[str]:
    globs = [part.strip() for part in text.split(",") if part.strip()]
    if not globs:
        raise argparse.ArgumentTypeError("expected column names or globs separated by commas, e.g. metrics.*auc*")
    return globs


def cmd_experiments(args) -> int:
    from ..api import list_experiments

    df = list_experiments(all_lifecycles=args.all)
    df["created_at"] = as_time(df["created_at"])
    if not args.all:
        df = df.drop(columns=["lifecycle"])  # every one listed is active
    emit(df, args.format)
    return 0


def cmd_runs(args) -> int:
    from ..api import search_runs

    df = search_runs(experiment=args.experiment, filter=args.filter, order_by=args.order_by, max_results=args.limit)
    more = count_runs(args.experiment, args.filter) - len(df) if len(df) == args.limit else 0
    if args.format == "table" and not df.empty:
        df = runs_table(df, tags=bool(args.columns))
    if args.columns:
        df = df[pick_columns(list(df.columns), args.columns)]
    if args.format == "table" and not df.empty:
        print_frame(df, hint="pick with --columns")
    else:
        emit(df, args.format)
    if more:
        note = f"... {more} more run{'s' if more != 1 else ''} (--limit {args.limit + more} shows all)"
        print(note, file=sys.stdout if args.format == "table" else sys.stderr)
    return 0


def count_runs(experiment, filter) -> int:
    """How many runs the listing's filter matches in all (it shows only the first ``--limit``)."""
    from sqlalchemy import func, select

    from ..tracking.search import select_runs
    from ..tracking.store import open_store

    store = open_store()
    stmt = select(func.count()).select_from(select_runs(store, experiment, filter).order_by(None).subquery())
    with store.engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def pick_columns(columns: list[str], globs: list[str]) -> list[str]:
    """``run_id``, then the columns each glob matches in turn (``metrics.*auc*``), each once.

    Only the runs shown have columns: a glob matching none of theirs is said on stderr."""
    picked = ["run_id"]
    for glob in globs:
        matched = [c for c in columns if fnmatchcase(c, glob)]
        if not matched:
            print(f"jupyter mlops runs: note: no column of the runs shown matches {glob!r}", file=sys.stderr)
        picked += [c for c in matched if c not in picked]
    return picked


def runs_table(df, tags: bool = False):
    """A compact view for terminals: short ids, local times, params and metrics (and tags when
    asked) after the attributes."""
    view = df.copy()
    view["run_id"] = view["run_id"].str[:8]
    duration = (view["end_time"] - view["start_time"]).dt.total_seconds().round(1)
    view["start_time"] = view["start_time"].dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S")
    view.insert(view.columns.get_loc("start_time") + 1, "duration_s", duration)
    keep = ["run_id", "name", "experiment", "status", "start_time", "duration_s"]
    if "lifecycle" in view and (view["lifecycle"] != "active").any():  # a filter on lifecycle shows them
        keep.insert(keep.index("status") + 1, "lifecycle")
    rest = [c for c in view.columns if c.startswith(("params.", "metrics.") + (("tags.",) if tags else ()))]
    return view[keep + rest]


def cmd_show(args) -> int:
    from ..api import get_run

    record = get_run(args.run)
    if args.metric is not None:
        return show_metric(record, args.metric, args.format)
    if args.format == "json":
        print(json.dumps(record.to_dict(), indent=1, default=str))
        return 0
    print(format_run(record, metric_histories(record)))
    return 0


def metric_histories(record) -> dict[str, list[tuple[int, float]]]:
    """Each metric's points as ``(step, value)``, by step."""
    from ..tracking.store import open_store

    store = open_store()
    return {key: [(step, value) for step, value, _ in store.metric_history(record.uuid, key)]
            for key in record.metrics}


def show_metric(record, key: str, fmt: str) -> int:
    """One metric's history: a text plot of value against step, or its points as JSON."""
    from ..tracking.store import open_store
    from .charts import finite_points, line_plot

    if key not in record.metrics:
        known = ", ".join(sorted(record.metrics)[:10]) or "none"
        raise InvalidInputError(f"run {record.uuid[:8]} has no metric {key!r} (its metrics: {known})")
    history = open_store().metric_history(record.uuid, key)
    if fmt == "json":
        print(json.dumps([{"step": st, "value": v, "timestamp": ts} for st, v, ts in history], indent=1))
        return 0
    points = [(step, value) for step, value, _ in history]
    finite = finite_points(points)
    values = [v for _, v in finite]
    print(f"{key} of run {record.uuid[:8]} ({record.name or '-'}): {len(points)} point{'s' if len(points) != 1 else ''}"
          + (f", last {values[-1]:.6g}, min {min(values):.6g}, max {max(values):.6g}" if values else ""))
    if len(finite) < len(points):
        print(f"({len(points) - len(finite)} NaN or infinite values left out of the plot)")
    width = min(terminal_width() or 80, 100)
    print("\n".join(line_plot(points, width=max(20, width - 14))))
    return 0


def format_run(record, histories: dict | None = None) -> str:
    """The run as text; a metric with more than one point gets a sparkline of its history."""
    import datetime as dt

    from .charts import history_summary

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
            value_width = max(len(str(v)) for v in values.values())
            for k, v in sorted(values.items()):
                line = f"  {k.ljust(width)}  {v}"
                points = (histories or {}).get(k, []) if title == "metrics" else []
                if len(points) > 1:
                    line = line.ljust(width + value_width + 4) + "  " + history_summary(points, SPARK_WIDTH)
                lines.append(line)
    if record.artifacts:
        lines.append("artifacts:")
        lines += [f"  {a['path']}  {a['size']} B  {a['media_type']}  sha256:{a['sha256'][:12]}" for a in record.artifacts]
    if record.datasets:
        lines.append("datasets:")
        lines += [f"  {d['name']}  {d['rows']}x{d['columns']}  fingerprint:{d['fingerprint'][:12]}" for d in record.datasets]
    return "\n".join(lines)


def cmd_compare(args) -> int:
    """Runs as columns: name and status, the params whose values differ, then every latest metric."""
    from ..api import get_run

    records = []
    for ref in args.runs:
        record = get_run(ref)
        if record.uuid not in [r.uuid for r in records]:
            records.append(record)
    if len(records) < 2:
        raise InvalidInputError("give two or more different runs to compare")
    param_keys = sorted(set().union(*(r.params for r in records)))
    differing = [k for k in param_keys if len({r.params.get(k) for r in records}) > 1]
    equal = [k for k in param_keys if k not in differing]
    metric_keys = sorted(set().union(*(r.metrics for r in records)))
    rows = [["name"] + [r.name or "-" for r in records], ["status"] + [r.status for r in records]]
    rows += [[f"params.{k}"] + [r.params.get(k) for r in records] for k in differing]
    rows += [[f"metrics.{k}"] + [r.metrics.get(k) for r in records] for k in metric_keys]
    headers = ["run"] + [r.uuid[:8] for r in records]
    width = terminal_width()
    lines, dropped = render(headers, rows, right=set(), width=width)
    print("\n".join(lines))
    if dropped:
        print(dropped_note(dropped, "compare fewer runs at once", width))
    if not differing:
        print("(no param differs)" if param_keys else "(no params)")
    elif equal:
        same = ", ".join(f"{k}={records[0].params[k]}" for k in equal[:8]) + (", …" if len(equal) > 8 else "")
        print(f"(equal in every run: {same})")
    return 0
