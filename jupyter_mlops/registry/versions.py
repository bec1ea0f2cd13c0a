"""Registered model names, their numbered versions, aliases and tags.

Versions of a name count up from 1 and are never reused. Two exports racing for the same
name both try to insert ``max + 1``; the primary key lets exactly one win, and the other
retries with the next number, so racers get distinct consecutive versions.
"""
from __future__ import annotations

import json

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ..exceptions import ModelNotFoundError, RegistryError
from ..tracking import capture
from ..tracking import schema as s
from ..tracking.store import now_ms, open_store
from . import audit
from .names import check_alias, check_name, check_version, parse_ref

MAX_VERSION_RACE_RETRIES = 50


def register_version(store, name: str, run_id: str, package_uri_for, fields: dict, actor: str,
                     finish, place) -> dict:
    """Insert the next version of ``name`` and put its package in place, in one transaction.

    ``finish(version)`` writes the version-specific files and returns the remaining columns
    (the manifest digest); ``place(version)`` moves the package to ``package_uri_for(version)``.
    Both run while the version is held, so a version row never exists without its package
    (unless the process dies between the move and the commit: `verify` then reports it).
    """
    check_name(name)
    for _ in range(MAX_VERSION_RACE_RETRIES):
        try:
            with store.writing() as conn:
                store.insert_if_absent(conn, s.registered_models, {"name": name, "created_at": now_ms()}, ("name",))
                mv = s.model_versions
                version = (conn.execute(select(func.max(mv.c.version)).where(mv.c.name == name)).scalar() or 0) + 1
                row = dict(fields, **finish(version), name=name, version=version, run_uuid=run_id,
                           package_uri=package_uri_for(version), created_by=actor, created_at=now_ms())
                conn.execute(mv.insert().values(**row))
                place(version)
                audit.append(conn, actor, "export", f"{name}/{version}", run_id=run_id,
                             manifest_digest=row["manifest_digest"], package=row["package_uri"])
            return get_version(f"{name}/{version}", store=store)
        except IntegrityError:
            continue  # another export took this number first
    raise RegistryError(f"could not allocate a version of {name!r} after {MAX_VERSION_RACE_RETRIES} tries")


def list_models(store=None) -> list[dict]:
    store = store or open_store()
    mv = s.model_versions
    with store.engine.connect() as conn:
        latest = dict(conn.execute(select(mv.c.name, func.max(mv.c.version)).group_by(mv.c.name)).all())
        created = dict(conn.execute(select(s.registered_models.c.name, s.registered_models.c.created_at)).all())
        aliases: dict[str, dict] = {}
        for name, alias, version in conn.execute(select(s.model_aliases.c.name, s.model_aliases.c.alias,
                                                        s.model_aliases.c.version)):
            aliases.setdefault(name, {})[alias] = version
    return [{"name": n, "latest_version": latest.get(n), "aliases": aliases.get(n, {}), "created_at": created[n]}
            for n in sorted(created)]


def list_versions(name: str, store=None) -> list[dict]:
    store = store or open_store()
    check_name(name)
    with store.engine.connect() as conn:
        rows = conn.execute(select(s.model_versions).where(s.model_versions.c.name == name)
                            .order_by(s.model_versions.c.version.desc())).mappings().all()
        if not rows:
            raise ModelNotFoundError(f"no registered model named {name!r}; see `jupyter mlops models`")
        return [_version_dict(conn, row) for row in rows]


def get_version(ref: str, store=None) -> dict:
    """The version a reference points at: ``name`` (latest), ``name/3`` or ``name@alias``."""
    store = store or open_store()
    parsed = parse_ref(ref)
    mv = s.model_versions
    with store.engine.connect() as conn:
        version = parsed.version
        if parsed.alias is not None:
            version = _alias_version(conn, parsed.name, parsed.alias)
            if version is None:
                raise ModelNotFoundError(f"model {parsed.name!r} has no alias {parsed.alias!r}"
                                         f"{_known_aliases(conn, parsed.name)}")
        elif version is None:
            version = conn.execute(select(func.max(mv.c.version)).where(mv.c.name == parsed.name)).scalar()
            if version is None:
                raise ModelNotFoundError(f"no registered model named {parsed.name!r}; see `jupyter mlops models`")
        row = conn.execute(select(mv).where(mv.c.name == parsed.name, mv.c.version == version)).mappings().first()
        if row is None:
            raise ModelNotFoundError(f"model {parsed.name!r} has no version {version}")
        return _version_dict(conn, row)


def set_alias(name: str, version: int, alias: str, by: str | None = None, store=None) -> dict:
    """Point ``name@alias`` at ``version`` (moving it if it pointed elsewhere); audited.

    Aliases are case-insensitive: ``Production`` is stored as ``production`` and moves that alias."""
    store = store or open_store()
    check_name(name)
    alias = check_alias(alias)
    actor = by or capture.current_user() or "unknown"
    target = get_version(f"{name}/{check_version(version)}", store=store)
    row = {"name": name, "alias": alias, "version": target["version"], "updated_by": actor, "updated_at": now_ms()}
    stmt, _ = store._upsert(s.model_aliases, [row], ("name", "alias"))
    a = s.model_aliases
    with store.writing() as conn:
        previous = _alias_version(conn, name, alias)
        # Rows written in another case before aliases were case-insensitive give way to this one.
        conn.execute(delete(a).where(a.c.name == name, func.lower(a.c.alias) == alias, a.c.alias != alias))
        conn.execute(stmt, row)
        audit.append(conn, actor, "alias", f"{name}@{alias}", version=target["version"], previous=previous)
    return get_version(f"{name}@{alias}", store=store)


def delete_alias(name: str, alias: str, by: str | None = None, store=None) -> None:
    store = store or open_store()
    actor = by or capture.current_user() or "unknown"
    alias = check_alias(alias)
    with store.writing() as conn:
        gone = conn.execute(delete(s.model_aliases).where(s.model_aliases.c.name == check_name(name),
                                                          func.lower(s.model_aliases.c.alias) == alias)).rowcount
        if not gone:
            raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
        audit.append(conn, actor, "alias-delete", f"{name}@{alias}")


def set_version_tag(name: str, version: int, key: str, value: str, store=None) -> None:
    store = store or open_store()
    version = check_version(version)
    get_version(f"{name}/{version}", store=store)
    row = {"name": name, "version": version, "key": str(key), "value": str(value)}
    stmt, _ = store._upsert(s.model_version_tags, [row], ("name", "version", "key"))
    with store.writing() as conn:
        conn.execute(stmt, row)


def _alias_version(conn, name: str, alias: str) -> int | None:
    """The version ``name@alias`` points at; ``alias`` is lower case, stored rows may not be (older stores)."""
    a = s.model_aliases
    return conn.execute(select(a.c.version).where(a.c.name == name, func.lower(a.c.alias) == alias)
                        .order_by((a.c.alias == alias).desc(), a.c.updated_at.desc()).limit(1)).scalar()


def _known_aliases(conn, name: str) -> str:
    known = conn.execute(select(s.model_aliases.c.alias).where(s.model_aliases.c.name == name)).scalars().all()
    return f" (its aliases: {', '.join(sorted(known))})" if known else " (it has no aliases)"


def _version_dict(conn, row) -> dict:
    name, version = row["name"], row["version"]
    aliases = conn.execute(select(s.model_aliases.c.alias).where(
        s.model_aliases.c.name == name, s.model_aliases.c.version == version)).scalars().all()
    tags = dict(conn.execute(select(s.model_version_tags.c.key, s.model_version_tags.c.value).where(
        s.model_version_tags.c.name == name, s.model_version_tags.c.version == version)).all())
    a = s.approvals
    approval = conn.execute(select(a).where(a.c.run_uuid == row["run_uuid"])).mappings().first()
    return {
        "name": name, "version": version, "ref": f"{name}/{version}", "run_id": row["run_uuid"],
        "aliases": sorted(aliases), "tags": tags, "package_uri": row["package_uri"],
        "manifest_digest": row["manifest_digest"], "trusted_types": json.loads(row["trusted_types"]),
        "model_format": row["model_format"], "signature": json.loads(row["signature"]),
        "metrics": json.loads(row["metrics"]), "created_by": row["created_by"], "created_at": row["created_at"],
        "approval": None if approval is None else {
            "decision": approval["decision"], "actor": approval["actor"], "reason": approval["reason"],
            "created_at": approval["created_at"]},
    }
