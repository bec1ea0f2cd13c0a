"""The lineage graph around one reference, walked upstream (where it came from) or downstream
(what was made from it), read from the store alone.

Nodes: dataset versions (the catalog, tracking/datasets.py), runs (pipeline runs, their steps,
training, evaluation and monitor runs), model versions, aliases, and served models (a version
whose predictions the server logged). Edges follow the data: dataset -> run that consumed it,
run -> dataset it produced, pipeline run -> its steps, run -> model version exported from it,
version -> alias pointing at it, version -> served, version -> monitor run that watched it.
"""
from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import func, select

from ..exceptions import InvalidInputError, RunNotFoundError
from ..tracking import schema as s

MAX_NODES = 2000
_RUN_ID = re.compile(r"[0-9a-f]{6,32}\Z")


@dataclass
class Lineage:
    start: list[str]
    direction: str
    nodes: dict[str, dict] = field(default_factory=dict)  # id -> {"kind", "label", ...}
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (source, target, relation), data order
    truncated: bool = False

    def to_dict(self) -> dict:
        return {"start": self.start, "direction": self.direction, "truncated": self.truncated,
                "nodes": [{"id": k, **v} for k, v in self.nodes.items()],
                "edges": [{"source": a, "target": b, "relation": r} for a, b, r in self.edges]}

    def to_dot(self) -> str:
        shapes = {"dataset": "cylinder", "run": "box", "pipeline": "box3d", "model": "component", "alias": "tag",
                  "served": "doubleoctagon", "monitor": "note"}
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for node_id, node in self.nodes.items():
            extra = ", style=bold" if node_id in self.start else ""
            lines.append(f"  {_dot(node_id)} [label={_dot(node['label'])}, shape={shapes.get(node['kind'], 'ellipse')}{extra}];")
        for a, b, relation in self.edges:
            lines.append(f"  {_dot(a)} -> {_dot(b)} [label={_dot(relation)}];")
        lines.append("}")
        return "\n".join(lines)

    def to_text(self) -> str:
        """One line per node in walking order, indented by distance from the start."""
        depth = {n: 0 for n in self.start}
        neighbours: dict[str, list[tuple[str, str]]] = {}
        for a, b, relation in self.edges:
            here, there = (b, a) if self.direction == "up" else (a, b)
            neighbours.setdefault(here, []).append((there, relation))
        lines, seen, queue = [], set(), deque(self.start)
        while queue:
            node = queue.popleft()
            if node in seen:
                continue
            seen.add(node)
            lines.append("  " * depth[node] + f"{self.nodes[node]['kind']:8} {self.nodes[node]['label']}")
            for nxt, _ in neighbours.get(node, []):
                if nxt not in depth:
                    depth[nxt] = depth[node] + 1
                queue.append(nxt)
        if self.truncated:
            lines.append(f"... stopped at {MAX_NODES} nodes")
        return "\n".join(lines)


def _dot(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def lineage(store, ref: str, direction: str = "up") -> Lineage:
    """The graph reachable from ``ref`` (a run id, ``name/N``, ``name@alias``, a model name: its latest
    version, or a dataset name: all its versions) in ``direction`` ("up" or "down")."""
    return lineage_from(store, _Walker(store).resolve(ref), direction)


def lineage_from(store, start: list[str], direction: str = "up") -> Lineage:
    """The graph reachable from the node ids ``start`` (``run:<uuid>``, ``dataset:<version id>``,
    ``model:NAME/N``...; each must exist) in ``direction`` ("up" or "down")."""
    if direction not in ("up", "down"):
        raise InvalidInputError(f"lineage: direction must be 'up' or 'down', got {direction!r}")
    walker = _Walker(store)
    found = Lineage(list(start), direction)
    queue, seen = deque(start), set(start)
    for node in start:
        found.nodes[node] = walker.describe(node)
    while queue:
        node = queue.popleft()
        for source, target, relation in walker.edges(node, direction):
            other = source if direction == "up" else target
            if (source, target, relation) not in found.edges:
                found.edges.append((source, target, relation))
            if other not in seen:
                if len(seen) >= MAX_NODES:
                    found.truncated = True
                    continue
                seen.add(other)
                found.nodes[other] = walker.describe(other)
                queue.append(other)
    found.edges = [e for e in found.edges if e[0] in found.nodes and e[1] in found.nodes]
    return found


class _Walker:
    def __init__(self, store):
        self.store = store
        self.conn_engine = store.engine

    # -- references ---------------------------------------------------------------------------
    def resolve(self, ref: str) -> list[str]:
        from ..registry import versions
        from ..registry.names import parse_ref

        text = str(ref).strip()
        if not text:
            raise InvalidInputError("lineage: give a run id, NAME/VERSION, NAME@ALIAS or a dataset name")
        if _RUN_ID.match(text):
            try:
                return [f"run:{self.store.resolve_run_id(text)}"]
            except RunNotFoundError:
                pass
        datasets = self._dataset_ids(text)
        if "@" in text or "/" in text and text.rsplit("/", 1)[-1].isdigit():
            try:
                parsed = parse_ref(text)
            except InvalidInputError:
                parsed = None
            if parsed is not None:
                record = versions.get_version(text, store=self.store)
                model = f"model:{record['name']}/{record['version']}"
                return [f"alias:{record['name']}@{parsed.alias.lower()}"] if parsed.alias else [model]
        if datasets:
            return datasets
        with self.store.engine.connect() as conn:
            registered = conn.execute(select(s.registered_models.c.name).where(s.registered_models.c.name == text)).first()
        if registered:
            record = versions.get_version(text, store=self.store)
            return [f"model:{record['name']}/{record['version']}"]
        raise InvalidInputError(f"lineage: {text[:80]!r} is no run, model reference or dataset in this store")

    def _dataset_ids(self, name: str) -> list[str]:
        v = s.dataset_versions
        with self.store.engine.connect() as conn:
            ids = conn.execute(select(v.c.id).where(v.c.name == name).order_by(v.c.created_at, v.c.id)).scalars().all()
        return [f"dataset:{i}" for i in ids]

    # -- nodes --------------------------------------------------------------------------------
    def describe(self, node: str) -> dict:
        kind, _, key = node.partition(":")
        with self.store.engine.connect() as conn:
            if kind == "dataset":
                v = s.dataset_versions
                row = conn.execute(select(v.c.name, v.c.fingerprint, v.c.rows, v.c.source_uri).where(v.c.id == int(key))).first()
                return {"kind": "dataset", "label": f"{row.name} @{row.fingerprint[:8]}", "name": row.name,
                        "fingerprint": row.fingerprint, "rows": row.rows, "source_uri": row.source_uri}
            if kind == "run":
                r = s.runs
                row = conn.execute(select(r.c.name, r.c.status, r.c.summary).where(r.c.uuid == key)).first()
                if row is None:  # a use or a version left by a run deleted since
                    return {"kind": "run", "label": f"{key[:8]} (deleted)", "run_id": key, "run_kind": "run",
                            "status": "DELETED"}
                tags = json.loads(row.summary or "{}").get("tags", {})
                run_kind = tags.get("mlops.kind", "run")
                shown = {"pipeline": "pipeline", "monitor": "monitor"}.get(run_kind, "run")
                what = f"step {tags['mlops.step']}" if run_kind == "step" else (row.name or key[:8])
                return {"kind": shown, "label": f"{what} ({key[:8]}, {row.status})", "run_id": key,
                        "run_kind": run_kind, "status": row.status}
            if kind == "model":
                name, version = key.rsplit("/", 1)
                mv = s.model_versions
                row = conn.execute(select(mv.c.run_uuid, mv.c.package_uri).where(
                    mv.c.name == name, mv.c.version == int(version))).first()
                return {"kind": "model", "label": key, "name": name, "version": int(version),
                        "run_id": row.run_uuid if row else None, "package_uri": row.package_uri if row else None}
            if kind == "alias":
                return {"kind": "alias", "label": key}
            if kind == "served":
                name, version = key.rsplit("/", 1)
                p = s.prediction_log
                count = conn.execute(select(func.count()).select_from(p).where(
                    p.c.name == name, p.c.version == int(version))).scalar()
                return {"kind": "served", "label": f"served {key} ({count} logged predictions)", "predictions": count}
        return {"kind": kind, "label": key}

    # -- edges --------------------------------------------------------------------------------
    def edges(self, node: str, direction: str) -> list[tuple[str, str, str]]:
        kind, _, key = node.partition(":")
        method = getattr(self, f"_{kind}_{direction}", None)
        return method(key) if method else []

    def _dataset_up(self, version_id: str):
        u = s.dataset_uses
        with self.store.engine.connect() as conn:
            runs = conn.execute(select(u.c.run_uuid).where(u.c.version_id == int(version_id), u.c.role == "output")).scalars()
            return [(f"run:{r}", f"dataset:{version_id}", "produced") for r in runs]

    def _dataset_down(self, version_id: str):
        u = s.dataset_uses
        with self.store.engine.connect() as conn:
            runs = conn.execute(select(u.c.run_uuid).where(u.c.version_id == int(version_id), u.c.role == "input")).scalars()
            return [(f"dataset:{version_id}", f"run:{r}", "consumed by") for r in runs]

    def _run_up(self, run_id: str):
        u, r = s.dataset_uses, s.runs
        with self.store.engine.connect() as conn:
            inputs = conn.execute(select(u.c.version_id).where(u.c.run_uuid == run_id, u.c.role == "input")).scalars().all()
            row = conn.execute(select(r.c.parent_uuid, r.c.summary).where(r.c.uuid == run_id)).first()
        edges = [(f"dataset:{v}", f"run:{run_id}", "consumed by") for v in inputs]
        if row is not None:
            tags = json.loads(row.summary or "{}").get("tags", {})
            if row.parent_uuid:
                edges.append((f"run:{row.parent_uuid}", f"run:{run_id}", "step"))
            if tags.get("mlops.cached_from"):
                edges.append((f"run:{tags['mlops.cached_from']}", f"run:{run_id}", "reused by"))
            watched = tags.get("mlops.model") if tags.get("mlops.kind") == "monitor" else None
            if watched and "/" in watched:
                edges.append((f"model:{watched}", f"run:{run_id}", "monitored by"))
        return edges

    def _run_down(self, run_id: str):
        u, r, mv = s.dataset_uses, s.runs, s.model_versions
        with self.store.engine.connect() as conn:
            outputs = conn.execute(select(u.c.version_id).where(u.c.run_uuid == run_id, u.c.role == "output")).scalars().all()
            children = conn.execute(select(r.c.uuid).where(r.c.parent_uuid == run_id)).scalars().all()
            models = conn.execute(select(mv.c.name, mv.c.version).where(mv.c.run_uuid == run_id)).all()
            reused = conn.execute(select(s.tags.c.run_uuid).where(
                s.tags.c.key == "mlops.cached_from", s.tags.c.value == run_id)).scalars().all()
        return ([(f"run:{run_id}", f"dataset:{v}", "produced") for v in outputs]
                + [(f"run:{run_id}", f"run:{c}", "step") for c in children]
                + [(f"run:{run_id}", f"run:{c}", "reused by") for c in reused]
                + [(f"run:{run_id}", f"model:{n}/{v}", "exported as") for n, v in models])

    def _model_up(self, key: str):
        name, version = key.rsplit("/", 1)
        mv = s.model_versions
        with self.store.engine.connect() as conn:
            run_id = conn.execute(select(mv.c.run_uuid).where(mv.c.name == name, mv.c.version == int(version))).scalar()
        return [(f"run:{run_id}", f"model:{key}", "exported as")] if run_id else []

    def _model_down(self, key: str):
        name, version = key.rsplit("/", 1)
        a, p = s.model_aliases, s.prediction_log
        with self.store.engine.connect() as conn:
            aliases = conn.execute(select(a.c.alias).where(a.c.name == name, a.c.version == int(version))).scalars().all()
            served = conn.execute(select(p.c.id).where(p.c.name == name, p.c.version == int(version)).limit(1)).first()
            monitors = conn.execute(select(s.tags.c.run_uuid).where(
                s.tags.c.key == "mlops.model", s.tags.c.value == key)).scalars().all()
        edges = [(f"model:{key}", f"alias:{name}@{alias.lower()}", "alias") for alias in aliases]
        if served:
            edges.append((f"model:{key}", f"served:{key}", "served"))
        edges += [(f"model:{key}", f"run:{m}", "monitored by") for m in monitors]
        return edges

    def _alias_up(self, key: str):
        name, alias = key.split("@", 1)
        a = s.model_aliases
        with self.store.engine.connect() as conn:
            version = conn.execute(select(a.c.version).where(a.c.name == name, func.lower(a.c.alias) == alias)).scalar()
        return [(f"model:{name}/{version}", f"alias:{key}", "alias")] if version is not None else []

    def _served_up(self, key: str):
        return [(f"model:{key}", f"served:{key}", "served")]
