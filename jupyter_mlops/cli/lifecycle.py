"""``runs delete|archive|restore``, ``experiments delete|archive|restore`` and ``gc``: the life of runs.

The actions are sub-commands of the ``runs`` and ``experiments`` listings (registered after them,
by cli/tracking.py), so ``jupyter mlops runs archive ID`` reads as it should while plain
``jupyter mlops runs --filter ...`` still lists.
"""
from __future__ import annotations

import argparse
import re

from ..exceptions import InvalidInputError

ACTIONS = {
    "runs": {
        "delete": "delete runs and their pipeline steps (soft: restorable until `jupyter mlops gc`)",
        "archive": "archive runs and their steps: kept as they are, left out of listings "
                   "(the filter lifecycle = 'archived' finds them)",
        "restore": "bring archived or deleted runs back into listings",
    },
    "experiments": {
        "delete": "delete experiments: their runs are left out with them (soft: restorable until `jupyter mlops gc`)",
        "archive": "archive experiments: they and their runs are left out of listings",
        "restore": "bring experiments back; each run gets back the state it had on its own",
    },
}
ORPHANS_SHOWN = 20
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([smhd]?)\s*\Z", re.IGNORECASE)


def register(sub) -> None:
    for listing, what, nargs_help in (("runs", "run_ids", "run ids or unique prefixes (6+ characters)"),
                                      ("experiments", "experiment_names", "experiment names")):
        parent = sub.choices.get(listing)
        if parent is None:  # the listing must be registered first (AREAS order in cli/__init__.py)
            raise RuntimeError(f"cli.lifecycle registers actions under `{listing}`, which is not registered yet")
        actions = parent.add_subparsers(dest=f"{listing}_action", metavar="[ACTION]", required=False,
                                        title=f"actions (without one, `{listing}` lists)")
        for action, text in ACTIONS[listing].items():
            p = actions.add_parser(action, help=text, description=text)
            p.add_argument(what, nargs="+", metavar=listing[:-1].upper(), help=nargs_help)
            p.set_defaults(handler=cmd_runs_action if listing == "runs" else cmd_experiments_action, action=action)

    p = sub.add_parser("gc", help="collect deleted runs and artifacts no run refers to (dry run unless --yes)",
                       description="Purge deleted runs' rows and collect the artifact blobs no run that stays refers "
                                   "to. Runs a registered model version was made from, and their blobs, stay. "
                                   "Without --yes, only says what it would delete.")
    p.add_argument("--yes", "-y", action="store_true", help="delete; without it nothing is deleted")
    p.add_argument("--older-than", type=_duration, default=3600.0, metavar="AGE",
                   help="take blobs no run refers to only once older than this (default 1h; e.g. 0, 90s, 30m, 2d): "
                        "a run may be logging a new one right now")
    p.set_defaults(handler=cmd_gc)


def _duration(text: str) -> float:
    m = _DURATION.match(text)
    if m is None:
        raise argparse.ArgumentTypeError(f"expected an age such as 0, 90s, 30m, 1h or 2d, got {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2).lower()]


def cmd_runs_action(args) -> int:
    from ..api import flush
    from ..registry import run_lifecycle

    if getattr(args, "filter", None):
        raise InvalidInputError(f"runs {args.action} takes run ids, not --filter (list them first: "
                                f"jupyter mlops runs --filter ... --columns run_id)")
    flush()
    change = {"delete": run_lifecycle.delete_runs, "archive": run_lifecycle.archive_runs,
              "restore": run_lifecycle.restore_runs}[args.action]
    changed = change(args.run_ids)
    past = {"delete": "deleted", "archive": "archived", "restore": "restored"}[args.action]
    if not changed:
        print(f"nothing to do: the run{'s are' if len(args.run_ids) > 1 else ' is'} {past} already")
        return 0
    print(f"{past} {len(changed)} run{'s' if len(changed) != 1 else ''}: {', '.join(run[:8] for run in changed)}")
    if args.action == "delete":
        print("restore with `jupyter mlops runs restore RUN`; `jupyter mlops gc --yes` purges them for good")
    return 0


def cmd_experiments_action(args) -> int:
    from ..registry import run_lifecycle

    change = {"delete": run_lifecycle.delete_experiment, "archive": run_lifecycle.archive_experiment,
              "restore": run_lifecycle.restore_experiment}[args.action]
    past = {"delete": "deleted", "archive": "archived", "restore": "restored"}[args.action]
    for name in args.experiment_names:
        runs = change(name)
        print(f"{past} experiment {name!r} ({runs} run{'s' if runs != 1 else ''})")
    return 0


def cmd_gc(args) -> int:
    from ..registry.run_lifecycle import collect_garbage

    garbage = collect_garbage(yes=args.yes, grace_seconds=args.older_than)
    print("\n".join(report(garbage)))
    return 0


def report(garbage) -> list[str]:
    """What a collection took, or on a dry run would take, in a few lines."""
    done = garbage.collected
    lines = []
    verb = "purged" if done else "would purge"
    if garbage.runs:
        lines.append(f"{verb} {len(garbage.runs)} deleted run{'s' if len(garbage.runs) != 1 else ''}:")
        shares: dict[str, tuple[int, int]] = {}
        for blob in garbage.blobs:
            if blob.runs:
                count, size = shares.get(blob.runs[0], (0, 0))
                shares[blob.runs[0]] = (count + 1, size + blob.size)
        for run in garbage.runs:
            count, size = shares.get(run["run_id"], (0, 0))
            lines.append(f"  {run['run_id'][:8]}  {run['name'] or '-'}  ({run['experiment']})  "
                         f"{count} blob{'s' if count != 1 else ''}, {human_bytes(size)}")
    if garbage.experiments:
        lines.append(f"purged deleted experiment{'s' if len(garbage.experiments) != 1 else ''} "
                     f"{', '.join(map(repr, garbage.experiments))}")
    orphans = [blob for blob in garbage.blobs if not blob.runs]
    if orphans:
        lines.append(f"{'collected' if done else 'would collect'} {len(orphans)} blob{'s' if len(orphans) != 1 else ''} "
                     f"no run refers to:")
        lines += [f"  {blob.sha256[:12]}  {human_bytes(blob.size)}" for blob in orphans[:ORPHANS_SHOWN]]
        if len(orphans) > ORPHANS_SHOWN:
            lines.append(f"  ... and {len(orphans) - ORPHANS_SHOWN} more")
    total = len(garbage.blobs)
    lines.append(f"{'deleted' if done else 'would delete'} {total} artifact blob{'s' if total != 1 else ''}, "
                 f"{human_bytes(garbage.bytes)} ({garbage.bytes} bytes)" if total or garbage.runs
                 else "nothing to collect")
    for run, why in garbage.kept_runs.items():
        lines.append(f"kept deleted run {run[:8]}: {why}")
    if garbage.recent_orphans:
        lines.append(f"left alone: {garbage.recent_orphans} blob{'s' if garbage.recent_orphans != 1 else ''} no run refers "
                     f"to yet, newer than {_age(garbage.grace_seconds)} (a run may be logging it; --older-than 0 takes it)")
    if not done and (garbage.runs or garbage.blobs):
        lines.append("dry run: nothing deleted; `jupyter mlops gc --yes` deletes")
    return lines


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _age(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length and seconds % length == 0:
            return f"{int(seconds // length)}{unit}"
    return f"{seconds:g}s"
