"""``schedule ...`` and ``scheduler``: scheduled pipelines, notebooks and monitors, and the loop that fires them."""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from .console import REF_HELP, as_time, emit

# Option names as the user typed them, for errors about a field (``--cron: expected five fields``).
FLAGS = {"cron": "--cron", "timezone": "--timezone", "overlap": "--overlap", "catchup": "--catchup",
         "retries": "--retries", "timeout": "--timeout", "notify": "--notify-on/--webhook/--email",
         "data": "--data"}


def register(sub) -> None:
    p = sub.add_parser("schedule", help="scheduled pipelines, notebooks and monitors (see also: scheduler)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    a = actions.add_parser("add", help="schedule a pipeline.yaml (its schedule: block) or a notebook")
    a.add_argument("target", type=Path, help="pipeline.yaml, or a notebook (.ipynb) run as a one-step pipeline")
    _schedule_options(a, parameters=True)
    a.set_defaults(handler=cmd_add)

    m = actions.add_parser("add-monitor", help="monitor a model on new data on a schedule (and retrain)")
    m.add_argument("ref", help=REF_HELP)
    m.add_argument("--data", required=True, help="the data's path or URL; {date}, {yesterday} are filled in, "
                                                 "e.g. 'events/{date}/' (a folder of CSV/Parquet files) or 'new-{date}.csv'")
    m.add_argument("--target", help="column with the known outcomes (performance next to drift)")
    m.add_argument("--retrain", action="store_true",
                   help="when [tool.jupyter_mlops.retrain] fires, retrain and export a 'candidate'")
    _schedule_options(m, parameters=False)
    m.set_defaults(handler=cmd_add_monitor)

    ls = actions.add_parser("list", help="schedules with their next fire time and last outcome")
    ls.add_argument("--format", choices=("table", "json", "csv"), default="table")
    ls.set_defaults(handler=cmd_list)

    for action, help_text in (("pause", "stop firing (what is waiting is skipped)"),
                              ("resume", "fire again from the next time on (no catch-up of the pause)")):
        q = actions.add_parser(action, help=help_text)
        q.add_argument("name")
        q.set_defaults(handler=cmd_pause if action == "pause" else cmd_resume)

    r = actions.add_parser("run-now", help="queue an occurrence now; a running scheduler starts it")
    r.add_argument("name")
    r.add_argument("--wait", action="store_true", help="wait until it has ended; exit 1 unless it FINISHED")
    r.set_defaults(handler=cmd_run_now)

    rm = actions.add_parser("remove", help="delete a schedule and its history (its runs stay)")
    rm.add_argument("name")
    rm.add_argument("--force", action="store_true", help="even while an occurrence runs")
    rm.set_defaults(handler=cmd_remove)

    h = actions.add_parser("history", help="a schedule's occurrences: time, status, duration, run, error")
    h.add_argument("name")
    h.add_argument("--max-results", "-n", type=int, default=20)
    h.add_argument("--format", choices=("table", "json", "csv"), default="table")
    h.set_defaults(handler=cmd_history)

    s = sub.add_parser("scheduler", help="fire due schedules until SIGTERM/Ctrl-C (foreground; any number may run)")
    s.add_argument("--jobs", "-j", type=int, default=4, help="jobs this scheduler runs at once (default 4)")
    s.add_argument("--poll", type=float, default=1.0, help="seconds between looks at the store (default 1)")
    s.add_argument("--drain", type=float, default=30.0,
                   help="on SIGTERM, seconds to let running jobs finish before handing them back (default 30)")
    s.add_argument("--lease", type=float, default=60.0,
                   help="seconds after which another scheduler takes over this one's jobs if it vanishes")
    s.add_argument("--quiet", "-q", action="store_true", help="log warnings and errors only")
    s.set_defaults(handler=cmd_scheduler)


def _schedule_options(p, parameters: bool) -> None:
    p.add_argument("--name", help="schedule name (default: the pipeline's, notebook's or model's name)")
    p.add_argument("--cron", help="five fields: minute hour day month weekday, e.g. '0 6 * * *' (06:00 daily)")
    p.add_argument("--timezone", "--tz", help="IANA zone the cron is read in (default UTC), e.g. Europe/Berlin")
    if parameters:
        p.add_argument("-p", "--param", action="append", default=[], metavar="[STEP.]KEY=VALUE",
                       help="a parameter per occurrence; {date}, {yesterday}, {scheduled_time}, {schedule} "
                            "are filled in")
    p.add_argument("--overlap", choices=("skip", "queue", "allow"), help="if the previous one still runs (default skip)")
    p.add_argument("--catchup", choices=("none", "latest", "all"),
                   help="occurrences missed while no scheduler ran (default latest)")
    p.add_argument("--retries", type=int, help="attempts after a failed one (default 0)")
    p.add_argument("--timeout", type=float, help="seconds for the whole job (default none)")
    p.add_argument("--notify-on", action="append", choices=("failure", "drift", "success"),
                   help="events to notify about (repeatable; default failure)")
    p.add_argument("--webhook", help="http(s) URL for a JSON POST (Slack-compatible 'text'), or env:NAME")
    p.add_argument("--email", action="append", help="address to mail (repeatable); SMTP from MLOPS_SMTP_* variables")
    p.add_argument("--replace", action="store_true", help="replace a schedule of the same name")


def _options(args) -> dict:
    options = {"cron": args.cron, "timezone": args.timezone, "overlap": args.overlap, "catchup": args.catchup,
               "retries": args.retries, "timeout": args.timeout}
    if args.webhook or args.email or args.notify_on:
        options["notify"] = {k: v for k, v in (("on", args.notify_on), ("webhook", args.webhook),
                                               ("email", args.email)) if v}
    if getattr(args, "param", None):
        options["parameters"] = dict(_parameter(text) for text in args.param)
    return options


def _parameter(text: str) -> tuple[str, object]:
    from ..exceptions import InvalidInputError

    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise InvalidInputError(f"-p {text!r}: expected KEY=VALUE or STEP.KEY=VALUE")
    if "{" in value:
        return key.strip(), value  # a template stays text
    import yaml

    try:
        parsed = yaml.safe_load(value) if value.strip() else value
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed if isinstance(parsed, (int, float, bool, str)) or parsed is None else value


def _label(path: tuple) -> str:
    if path and path[0] == "parameters" and len(path) > 1:
        return f"-p {path[1]}"
    return FLAGS.get(path[0], ".".join(map(str, path))) if path else ""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _user() -> str:
    from ..tracking.capture import current_user

    return current_user() or "unknown"


def _added(schedule) -> int:
    from ..jobs.cron import describe, iso

    print(f"schedule {schedule.name} ({schedule.kind}): {schedule.cron} in {schedule.timezone} "
          f"({describe(schedule.cron)}); next {iso(schedule.next_fire_at, schedule.timezone)}")
    print("it fires while a scheduler runs: jupyter mlops scheduler")
    return 0


def cmd_add(args) -> int:
    from ..exceptions import InvalidInputError
    from ..jobs import definitions

    common = {"by": _user(), "now_ms": _now_ms(), "name": args.name, "replace": args.replace, "label": _label}
    suffix = args.target.suffix.lower()
    if suffix in (".yaml", ".yml"):
        schedule = definitions.define_pipeline(args.target, _options(args), **common)
    elif suffix == ".ipynb":
        schedule = definitions.define_notebook(args.target, _options(args), **common)
    else:
        raise InvalidInputError(f"{args.target}: expected a pipeline spec (.yaml) or a notebook (.ipynb)")
    return _added(schedule)


def cmd_add_monitor(args) -> int:
    from ..jobs import definitions

    schedule = definitions.define_monitor(args.ref, args.data, _options(args), target=args.target,
                                          retrain=args.retrain, by=_user(), now_ms=_now_ms(), name=args.name,
                                          replace=args.replace, label=_label)
    return _added(schedule)


def cmd_list(args) -> int:
    import pandas as pd

    from ..jobs.cron import iso
    from ..jobs.schedules import list_schedules

    found = list_schedules()
    if args.format == "json":
        print(json.dumps([s.to_dict() for s in found], indent=1, default=str))
        return 0
    rows = []
    for s in found:
        last = s.last or {}
        rows.append({"name": s.name, "kind": s.kind, "cron": s.cron, "timezone": s.timezone,
                     "next": "paused" if s.paused else iso(s.next_fire_at, s.timezone),
                     "last": last.get("scheduled") or "", "status": last.get("state") or "",
                     "duration_s": last.get("duration_s")})
    emit(pd.DataFrame(rows, columns=["name", "kind", "cron", "timezone", "next", "last", "status", "duration_s"]),
         args.format)
    return 0


def cmd_pause(args) -> int:
    from ..jobs.schedules import set_paused

    set_paused(args.name, True, now_ms=_now_ms())
    print(f"schedule {args.name} paused")
    return 0


def cmd_resume(args) -> int:
    from ..jobs.cron import iso
    from ..jobs.schedules import set_paused

    schedule = set_paused(args.name, False, now_ms=_now_ms())
    print(f"schedule {args.name} resumed; next {iso(schedule.next_fire_at, schedule.timezone)}")
    return 0


def cmd_run_now(args) -> int:
    from ..jobs.schedules import history, run_now

    occurrence = run_now(args.name, now_ms=_now_ms(), by=_user())
    print(f"queued occurrence {occurrence} of {args.name}; a running scheduler starts it", flush=True)
    if not args.wait:
        return 0
    while True:
        row = next((r for r in history(args.name, limit=200) if r["id"] == occurrence), None)
        if row is None:
            print(f"jupyter mlops schedule run-now: the occurrence is gone (schedule {args.name} removed?)",
                  file=sys.stderr)
            return 1
        if row["state"] in ("FINISHED", "FAILED", "KILLED", "SKIPPED"):
            print(f"{row['state']} run {row['run_id'] or '-'} in {row['duration_s']} s"
                  + (f": {row['error'].splitlines()[0]}" if row.get("error") else ""))
            return 0 if row["state"] == "FINISHED" else 1
        time.sleep(0.5)


def cmd_remove(args) -> int:
    from ..jobs.schedules import remove_schedule

    removed = remove_schedule(args.name, force=args.force)
    print(f"schedule {args.name} removed with {removed} occurrence{'s' if removed != 1 else ''} of history")
    return 0


def cmd_history(args) -> int:
    import pandas as pd

    from ..jobs.schedules import history

    rows = history(args.name, limit=args.max_results)
    if args.format == "json":
        print(json.dumps(rows, indent=1, default=str))
        return 0
    table = pd.DataFrame([{"scheduled": r["scheduled"], "status": r["state"], "attempt": r["attempt"],
                           "started": r["started_at"], "duration_s": r["duration_s"], "run": r["run_id"] or "",
                           "error": (r["error"] or "").strip().splitlines()[-1:][0][:80] if r["error"] else "",
                           "note": (r["note"] or "")[:80]} for r in rows],
                         columns=["scheduled", "status", "attempt", "started", "duration_s", "run", "error", "note"])
    if not table.empty:
        table["started"] = as_time(table["started"]).fillna("")
    emit(table, args.format)
    return 0


def cmd_scheduler(args) -> int:
    from ..exceptions import InvalidInputError
    from ..jobs.scheduler import Scheduler
    from ..tracking.engine import mask_password

    if args.jobs < 1 or args.poll <= 0 or args.lease <= 0 or args.drain < 0:
        raise InvalidInputError("--jobs must be at least 1, --poll and --lease positive, --drain not negative")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    scheduler = Scheduler(capacity=args.jobs, poll_s=args.poll, lease_s=args.lease)
    print(f"scheduler {scheduler.name} on {mask_password(scheduler.store.uri)}: up to {args.jobs} jobs at once; "
          "SIGTERM or Ctrl-C stops it", flush=True)
    code = scheduler.run(drain_s=args.drain)
    print(f"scheduler {scheduler.name} stopped", flush=True)
    return code

