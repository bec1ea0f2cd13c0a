"""The tracking server's users: a name, a role and the sha256 of one token, kept in the store.

A token is shown once, when it is issued; the store keeps only its digest, so a copy of the
database (a backup, a read replica) hands out no working tokens. Tokens are 256 random bits, so
one unsalted sha256 is enough: there is no dictionary to try.
"""
from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import delete, select

from ..exceptions import InvalidInputError, MlopsError
from ..tracking import schema as s
from ..tracking.store import now_ms
from .roles import ROLES

TOKEN_PREFIX = "mlops_"
# A user name becomes the actor of the audit log and the user of the runs it starts: one plain word.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


class UserExistsError(MlopsError, ValueError):
    """``users add`` for a name that has a user already."""


class UnknownUserError(MlopsError, LookupError):
    """No user of that name."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def checked_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(f"user name {str(name)[:80]!r} must be 1-128 letters, digits or . _ @ - "
                                "(starting with a letter or digit)")
    return name


def checked_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInputError(f"role {str(role)[:40]!r} must be one of {', '.join(ROLES)}")
    return role


def add_user(store, name: str, role: str, created_by: str) -> str:
    """Create user ``name`` with ``role``; returns its token (shown once, never stored)."""
    name, role = checked_name(name), checked_role(role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = {"name": name, "role": role, "token_sha256": token_digest(token), "created_by": created_by,
           "created_at": now_ms()}
    with store.writing() as conn:
        if not store.insert_if_absent(conn, s.users, row, ("name",)):
            raise UserExistsError(f"user {name!r} exists already; remove it first to issue a new token")
    return token


def remove_user(store, name: str) -> None:
    with store.writing() as conn:
        gone = conn.execute(delete(s.users).where(s.users.c.name == name).returning(s.users.c.name)).first()
    if gone is None:
        raise UnknownUserError(f"no user {str(name)[:80]!r}")


def list_users(store) -> list[dict]:
    u = s.users
    with store.engine.connect() as conn:
        rows = conn.execute(select(u.c.name, u.c.role, u.c.created_by, u.c.created_at).order_by(u.c.name))
        return [dict(row) for row in rows.mappings()]


def user_for_token(store, token: str) -> dict | None:
    """``{"name", "role"}`` of the user holding ``token``, or None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    u = s.users
    with store.engine.connect() as conn:
        row = conn.execute(select(u.c.name, u.c.role).where(u.c.token_sha256 == token_digest(token))).first()
    return None if row is None else {"name": row.name, "role": row.role}
