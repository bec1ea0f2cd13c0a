"""The Datasets section and the Dataset view: the catalog (tracking/datasets.py) over REST.

``GET datasets``: each dataset with its number of versions and its latest one. ``GET
datasets/<name>``: its versions, oldest first, with the runs that consumed and produced each and
the schema changes against the version before (a dataset name may hold ``/``: a pipeline's files
are named by their path, ``build/data/train.csv``).
"""
from __future__ import annotations

import tornado.web

from ..tracking import datasets
from .handlers import MlopsHandler
from .jsonable import json_safe
from .refusals import Refusal

SHOWN_NAMES = 10  # known names a 404 lists


def dataset_list(store) -> dict:
    return {"datasets": json_safe(datasets.list_datasets(store))}


def dataset_detail(store, name: str) -> dict | None:
    """``{"name", "versions"}``, or None when no version has that name."""
    versions = datasets.dataset_versions(store, name)
    return json_safe({"name": name, "versions": versions}) if versions else None


class DatasetsHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self):
        self.reply(await self.call(dataset_list, self.store))


class DatasetHandler(MlopsHandler):
    @tornado.web.authenticated
    async def get(self, name):
        detail = await self.call(dataset_detail, self.store, name)
        if detail is None:
            listed = (await self.call(dataset_list, self.store))["datasets"]
            known = ", ".join(d["name"] for d in listed[:SHOWN_NAMES]) or "none yet"
            raise Refusal(404, f"no dataset named {name[:120]!r}; datasets: {known}")
        self.reply(detail)


def routes() -> list[tuple[str, type]]:
    return [(r"datasets", DatasetsHandler), (r"datasets/(?P<name>.+)", DatasetHandler)]
