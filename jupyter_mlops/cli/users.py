"""``users``: who may use the tracking server, and as what (viewer, editor, approver, admin)."""
from __future__ import annotations

import sys

from .console import emit


def register(sub) -> None:
    from ..server.roles import ROLES

    p = sub.add_parser("users", help="add, list or remove the tracking server's users")
    users_sub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    q = users_sub.add_parser("add", help="add a user and print its token (shown once)")
    q.add_argument("name")
    q.add_argument("--role", required=True, choices=ROLES,
                   help="viewer reads; editor logs and runs; approver approves, rejects and moves aliases; "
                   "admin manages users")
    q.set_defaults(handler=cmd_add)
    q = users_sub.add_parser("list", help="list users and their roles (never their tokens)")
    q.add_argument("--format", choices=("table", "json", "csv"), default="table")
    q.set_defaults(handler=cmd_list)
    q = users_sub.add_parser("remove", help="remove a user; its token stops working at once")
    q.add_argument("name")
    q.set_defaults(handler=cmd_remove)


def cmd_add(args) -> int:
    from ..server import users
    from ..tracking.capture import current_user
    from ..tracking.store import open_store

    token = users.add_user(open_store(), args.name, args.role, current_user() or "unknown")
    print(f"added {args.name} ({args.role}); its token, shown only now:", file=sys.stderr)
    print(token)
    return 0


def cmd_list(args) -> int:
    import pandas as pd

    from ..server import users
    from ..tracking.store import open_store
    from .console import as_time

    df = pd.DataFrame(users.list_users(open_store()), columns=["name", "role", "created_by", "created_at"])
    if not df.empty:
        df["created_at"] = as_time(df["created_at"])
    emit(df, args.format)
    return 0


def cmd_remove(args) -> int:
    from ..server import users
    from ..tracking.store import open_store

    users.remove_user(open_store(), args.name)
    print(f"removed {args.name}")
    return 0
