"""``jupyter mlops ...``: the command line door onto the store (entry point ``jupyter-mlops``).

One module per area, each holding its commands' arguments next to their handlers and adding them
with ``register(subparsers)``; a parser's ``handler`` default is the function that runs it.
Every command prints its result to stdout; bad input exits non-zero with one line on stderr.
"""
from __future__ import annotations

import argparse

from . import (
    admin,
    governance,
    imports,
    lifecycle,
    monitoring,
    pipelines,
    registry,
    schedules,
    server,
    serving,
    tracking,
    users,
)
from .console import run_guarded

# In the order `jupyter mlops --help` lists them (lifecycle adds actions to tracking's listings: after it).
AREAS = (tracking, lifecycle, pipelines, monitoring, registry, governance, serving, schedules, server, users, imports,
         admin)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyter mlops", description="Notebook-first MLOps: runs, pipelines, models.")
    parser.add_argument("--uri", help="tracking store (path or SQLAlchemy URL); default: MLOPS_TRACKING_URI, "
                        "[tool.jupyter_mlops] tracking_uri, ./.mlops/mlops.db")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for area in AREAS:
        area.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> int | None:
        if args.uri:
            from ..config import set_tracking_uri

            set_tracking_uri(args.uri)
        return args.handler(args)

    return run_guarded(args.command, run)
