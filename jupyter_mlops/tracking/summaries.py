"""Run summaries: each run's params, latest metrics and tags as one JSON object in ``runs.summary``.

``search_runs`` over 10k runs would otherwise join and fetch 150k (run, key, value) rows and
pivot them; reading the summary with the run's own row is several times faster. A summary is
rewritten from the source tables (``params``, ``latest_metrics``, ``tags``) in the transaction
that changes them, so it never disagrees with them::

    {"params": {"model": "rf"}, "metrics": {"auc": 0.91}, "tags": {"stage": "dev"}}

The JSON is written and read by Python only, never by SQL functions: floats keep their exact
``repr`` (SQLite's JSON functions keep 15 digits), and NaN (stored as NULL, so ``null``) and
infinity (``Infinity``) read back as they were.
"""
from __future__ import annotations

import json
from operator import itemgetter

from sqlalchemy import bindparam, inspect, select, update

from . import schema as s

KINDS = {"params": s.params, "metrics": s.latest_metrics, "tags": s.tags}
# Run ids per IN (...) list: well under every back end's bind-parameter limit.
IDS_PER_QUERY = 500

_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode

# The summaries the latest decode() returned, by their text. Parsing is a third of a search over
# 10k runs; searching again over runs that have not changed since (re-running a cell, a panel
# refreshing) then parses only those that did. Keyed by content, so never stale. Kept for
# searches of up to RECENT_MAX runs: 10k runs of the benchmark's size hold about 16 MB.
RECENT_MAX = 20_000
_recent: dict[str, dict] = {}


def refresh(conn, kind: str, uuids) -> None:
    """Rewrite the ``kind`` part ("params", "metrics" or "tags") of the runs' summaries from its
    source table. Call inside the transaction that changed that table, after the change.

    On PostgreSQL the runs' rows are locked before anything is read: under READ COMMITTED two
    writers could otherwise each rebuild a summary without the other's new keys. They are
    locked in id order, so two writers of several runs cannot deadlock. SQLite needs no lock:
    its writers are serialised from their first write on."""
    table = KINDS[kind]
    r = s.runs
    uuids = sorted(set(uuids))
    for start in range(0, len(uuids), IDS_PER_QUERY):
        part = uuids[start:start + IDS_PER_QUERY]
        current = conn.execute(
            select(r.c.uuid, r.c.summary).where(r.c.uuid.in_(part)).order_by(r.c.uuid).with_for_update(key_share=True)
        ).all()
        found: dict[str, dict] = {uuid: {} for uuid, _ in current}
        rows = conn.execute(
            select(table.c.run_uuid, table.c.key, table.c.value)
            .where(table.c.run_uuid.in_(part))
            .order_by(table.c.run_uuid, table.c.key)
        )
        for uuid, key, value in rows:
            found[uuid][key] = value
        changed = []
        for uuid, text in current:
            summary = json.loads(text)
            summary[kind] = found[uuid]
            changed.append({"id": uuid, "new_summary": _dumps(summary)})
        _write(conn, changed)


def add_to_existing_runs(conn) -> None:
    """The migration that introduces summaries: add the column if the table predates it, then
    summarise every run there is."""
    if "summary" not in {c["name"] for c in inspect(conn).get_columns("runs")}:
        conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN summary TEXT NOT NULL DEFAULT '{}'")
    found: dict[str, dict] = {}
    for kind, table in KINDS.items():
        rows = conn.execute(
            select(table.c.run_uuid, table.c.key, table.c.value).order_by(table.c.run_uuid, table.c.key)
        )
        for uuid, key, value in rows:
            found.setdefault(uuid, {}).setdefault(kind, {})[key] = value
    changed = [{"id": uuid, "new_summary": _dumps(summary)} for uuid, summary in found.items()]
    for start in range(0, len(changed), IDS_PER_QUERY):
        _write(conn, changed[start:start + IDS_PER_QUERY])


def _write(conn, rows: list[dict]) -> None:
    if rows:
        r = s.runs
        conn.execute(update(r).where(r.c.uuid == bindparam("id")).values(summary=bindparam("new_summary")), rows)


def decode(texts: list[str]) -> list[dict]:
    """The summaries of many runs (JSON texts) as dicts, the ones not seen by the previous call
    in one parse. The dicts are shared between calls: read them, never change them."""
    global _recent
    recent = _recent
    docs = list(map(recent.get, texts))
    missing = [i for i, doc in enumerate(docs) if doc is None]
    if missing:
        parsed = json.loads("[" + ",".join([texts[i] for i in missing]) + "]")
        for i, doc in zip(missing, parsed):
            docs[i] = doc
    _recent = dict(zip(texts, docs)) if len(texts) <= RECENT_MAX else {}
    return docs


def columns_of(summaries: list[dict], kind: str) -> dict[str, list]:
    """``{key: [value in run 0, value in run 1, ...]}`` of one kind over every key any run has,
    None where a run lacks the key; keys sorted."""
    empty: dict = {}
    parts = [d.get(kind, empty) for d in summaries]
    keys = sorted(set().union(*parts)) if parts else []
    if not keys:
        return {}
    if set(map(len, parts)) == {len(keys)}:  # every run has every key: no .get per value
        if len(keys) == 1:
            return {keys[0]: [d[keys[0]] for d in parts]}
        return dict(zip(keys, map(list, zip(*map(itemgetter(*keys), parts)))))
    return {k: [d.get(k) for d in parts] for k in keys}
