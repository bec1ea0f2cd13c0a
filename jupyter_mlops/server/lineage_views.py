"""The lineage graph view's endpoint: the graph around one run, model version, alias or dataset
version, upstream and downstream at once (lineage/graph.py walks each direction).

``GET lineage?node=run:<id>`` (or ``model:NAME/N``, ``alias:NAME@ALIAS``, ``dataset:<version id>``)
names the start exactly, as the views do; ``GET lineage?ref=...`` takes what ``jupyter mlops
lineage`` takes (a run id, ``NAME/N``, ``NAME@ALIAS``, a model or dataset name). ``direction`` is
``both`` (default), ``up`` or ``down``.
"""
from __future__ import annotations

import re

import tornado.web
from sqlalchemy import func, select

from ..exceptions import InvalidInputError
from ..lineage.graph import lineage, lineage_from
from ..tracking import schema as s
from .handlers import MlopsHandler
from .jsonable import json_safe
from .refusals import Refusal

DIRECTIONS = ("both", "up", "down")
KINDS = ("run", "model", "alias", "dataset")
_VERSION = re.compile(r"[0-9]{1,9}\Z")


class NodeNotFoundError(LookupError):
    """The node a request starts from is not in the store."""


def start_node(store, node: str) -> str:
    """``node`` checked and made canonical (a run id prefix becomes the full id, an alias lower case)."""
    kind, colon, key = node.partition(":")
    if not colon or kind not in KINDS or not key:
        raise InvalidInputError(f"node must be KIND:KEY with KIND one of {', '.join(KINDS)} (run:<id>, "
                                f"model:NAME/VERSION, alias:NAME@ALIAS, dataset:<version id>), got {node[:80]!r}")
    if kind == "run":
        return f"run:{store.resolve_run_id(key)}"  # RunNotFoundError: 404
    if kind == "dataset":
        if not _VERSION.match(key):
            raise InvalidInputError(f"node dataset:{key[:40]}: a dataset version is its number id, e.g. dataset:12")
        v = s.dataset_versions
        with store.engine.connect() as conn:
            found = conn.execute(select(v.c.id).where(v.c.id == int(key))).scalar()
        if found is None:
            raise NodeNotFoundError(f"no dataset version with id {key}")
        return f"dataset:{found}"
    if kind == "model":
        name, slash, version = key.rpartition("/")
        if not slash or not name or not _VERSION.match(version):
            raise InvalidInputError(f"node model:{key[:80]}: expected model:NAME/VERSION, e.g. model:churn/3")
        mv = s.model_versions
        with store.engine.connect() as conn:
            found = conn.execute(select(mv.c.version).where(mv.c.name == name, mv.c.version == int(version))).scalar()
        if found is None:
            raise NodeNotFoundError(f"model {name[:80]!r} has no version {int(version)}")
        return f"model:{name}/{found}"
    name, at, alias = key.partition("@")
    if not at or not name or not alias:
        raise InvalidInputError(f"node alias:{key[:80]}: expected alias:NAME@ALIAS, e.g. alias:churn@production")
    a = s.model_aliases
    with store.engine.connect() as conn:
        found = conn.execute(select(a.c.alias).where(a.c.name == name, func.lower(a.c.alias) == alias.lower())).scalar()
    if found is None:
        raise NodeNotFoundError(f"model {name[:80]!r} has no alias {alias[:80]!r}")
    return f"alias:{name}@{alias.lower()}"


def graph(store, *, node: str | None = None, ref: str | None = None, direction: str = "both") -> dict:
    """The graph from ``node`` (or ``ref``): nodes with where they lie (``start``, ``up``, ``down``)
    and the edges between them, each once."""
    if direction not in DIRECTIONS:
        raise InvalidInputError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction[:40]!r}")
    if (node is None) == (ref is None):
        raise InvalidInputError("give exactly one of the query arguments node (run:<id>, model:NAME/VERSION, "
                                "alias:NAME@ALIAS, dataset:<version id>) and ref (as jupyter mlops lineage takes it)")
    walks = ("up", "down") if direction == "both" else (direction,)
    if node is not None:
        start = [start_node(store, node)]
        found = [lineage_from(store, start, way) for way in walks]
    else:
        found = [lineage(store, ref, way) for way in walks]
        start = found[0].start
    nodes: dict[str, dict] = {}
    edges: dict[tuple[str, str, str], None] = {}
    for way in found:
        for node_id, described in way.nodes.items():
            entry = nodes.setdefault(node_id, {"id": node_id, **described, "sides": []})
            side = "start" if node_id in start else way.direction
            if side not in entry["sides"]:
                entry["sides"].append(side)
        edges.update(dict.fromkeys(way.edges))
    return json_safe({
        "start": start, "direction": direction, "truncated": any(way.truncated for way in found),
        "nodes": list(nodes.values()),
        "edges": [{"source": a, "target": b, "relation": r} for a, b, r in edges],
    })


class LineageHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        node, ref = self.get_argument("node", None) or None, self.get_argument("ref", None) or None
        direction = self.get_argument("direction", "both")
        try:
            self.reply(await self.call(graph, self.store, node=node, ref=ref, direction=direction))
        except NodeNotFoundError as exc:
            raise Refusal(404, str(exc)) from exc


def routes() -> list[tuple[str, type]]:
    return [(r"lineage", LineageHandler)]
