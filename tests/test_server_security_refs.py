"""REST verify of a registered version ignores a same-named folder in the server's working directory
(issue 13, item 4): the registry's package is what is checked, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.registry import approval, package

from .test_server_models import train

PLANTED = [  # what is planted at ./iris/1 in the server's working directory
    "a copy of iris/2",
    "a copy of iris/1 with an edited README",
]


@pytest.mark.parametrize("planted", PLANTED)
async def test_rest_verify_checks_the_registry_package_not_a_planted_folder(backend, project, jp_fetch, planted):
    records = {}
    for version, C in ((1, 1.0), (2, 0.1)):
        run_id = train(f"run-{version}", C)
        approval.approve(run_id, by="alice", reason="ok")
        records[version] = package.export(run_id, "iris", by="alice")
    fake = project / "iris" / "1"
    shutil.copytree(records[2 if "iris/2" in planted else 1]["package_uri"], fake)
    if "README" in planted:
        (fake / "README.md").write_text("edited\n")

    try:
        response = await jp_fetch("mlops", "api", "models", "iris", "versions", "1", "verify")
    except HTTPClientError as exc:
        response = exc.response
    assert Path.cwd() == project
    assert (response.code, json.loads(response.body)) == (
        200, {"ok": True, "problems": [], "digest": records[1]["manifest_digest"]})
