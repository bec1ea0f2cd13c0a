"""``datasets``, ``lineage``: what a model was made from, and what was made from a dataset."""
from __future__ import annotations

import json

from ..exceptions import InvalidInputError


def register(sub) -> None:
    p = sub.add_parser("datasets", help="the dataset catalog: datasets, or one dataset's versions and runs")
    p.add_argument("name", nargs="?", help="a dataset (e.g. build/data/train.csv or a log_dataset name)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_datasets)

    p = sub.add_parser("lineage", help="what REF came from (--up) or what came from it (--down)")
    p.add_argument("ref", help="a run id (6+ characters), NAME/VERSION, NAME@ALIAS, or a dataset name")
    direction = p.add_mutually_exclusive_group()
    direction.add_argument("--up", dest="direction", action="store_const", const="up",
                           help="towards the raw inputs (default)")
    direction.add_argument("--down", dest="direction", action="store_const", const="down",
                           help="towards models, aliases, served packages and monitor runs")
    p.add_argument("--format", choices=("text", "dot", "json"), default="text")
    p.set_defaults(handler=cmd_lineage, direction="up")


def cmd_datasets(args) -> int:
    from ..tracking import datasets
    from ..tracking.store import open_store

    store = open_store()
    if not args.name:
        listed = datasets.list_datasets(store)
        if args.format == "json":
            print(json.dumps(listed, indent=1))
        elif not listed:
            print("(none)")
        else:
            print(f"{'DATASET':40} {'VERSIONS':>8}  {'ROWS':>10}  LATEST")
            for d in listed:
                rows = "" if d["latest_rows"] is None else d["latest_rows"]
                print(f"{d['name'][:40]:40} {d['versions']:>8}  {rows:>10}  {d['latest_fingerprint'][:12]}")
        return 0
    versions = datasets.dataset_versions(store, args.name)
    if not versions:
        known = ", ".join(d["name"] for d in datasets.list_datasets(store)[:10]) or "none yet"
        raise InvalidInputError(f"no dataset named {args.name!r} in the catalog (known: {known})")
    if args.format == "json":
        print(json.dumps(versions, indent=1))
        return 0
    for v in versions:
        print(f"{v['name']} v{v['version']}  {v['fingerprint'][:12]}  rows={v['rows']}  size={v['size_bytes']}"
              + (f"  {v['source_uri']}" if v["source_uri"] else ""))
        for role, label in (("produced_by", "produced by"), ("consumed_by", "consumed by")):
            if v[role]:
                print(f"  {label}: " + ", ".join(f"{u['run_id'][:8]} ({u['run_name']})" for u in v[role]))
        changes = v["schema_changes"]
        if changes and any(changes.values()):
            parts = [f"{k}: {', '.join(changes[k])}" for k in ("added", "removed") if changes[k]]
            parts += [f"changed: {c} {a} -> {b}" for c, (a, b) in changes["changed"].items()]
            print("  schema " + "; ".join(parts))
    return 0


def cmd_lineage(args) -> int:
    from ..lineage import graph
    from ..tracking.store import open_store

    found = graph.lineage(open_store(), args.ref, args.direction)
    if args.format == "json":
        print(json.dumps(found.to_dict(), indent=1))
    elif args.format == "dot":
        print(found.to_dot())
    else:
        print(found.to_text())
    return 0
