"""The REST API as an attacker meets it (issue 13): stored notebooks leave untrusted, the actor is
the authenticated user, and every client mistake is a JSON 4xx naming the problem, never a 500.

A real Jupyter Server per test (pytest-jupyter) with an identity provider that knows two users by
their tokens, as JupyterHub or ``jupyter mlops server`` would; approvals and aliases run on SQLite
and PostgreSQL. Attack cases are tables: a new case is one line.
"""
from __future__ import annotations

import copy
import json
import logging

import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from tornado.httpclient import HTTPClientError

import jupyter_mlops as mlops
from jupyter_mlops.registry import approval, package, versions
from jupyter_mlops.server import queries
from jupyter_mlops.tracking.store import open_store

from .test_server_models import train

TOKENS = {"alice-secret": "alice", "bob-secret": "bob"}
SECRETS = {name: secret for secret, name in TOKENS.items()} | {"nobody": "nobody-secret"}


class TwoUsers(IdentityProvider):
    """Knows alice and bob by their tokens (``Authorization: token ...``), nobody else."""

    def get_user(self, handler):
        scheme, _, token = handler.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "token" or token not in TOKENS:
            return None
        handler._token_authenticated = True  # a token request: no XSRF cookie to check, as Jupyter's own
        name = TOKENS[token]
        return User(username=name, name=f"{name.title()} Example", display_name=name.title())


@pytest.fixture
def jp_server_config(jp_server_config):
    jp_server_config["ServerApp"]["identity_provider_class"] = TwoUsers
    return jp_server_config


@pytest.fixture
def api(project, jp_fetch):
    """``await api(path, method, body, params, user=..., raw=...)`` -> ``(status, JSON body)``; never raises on 4xx.
    ``body`` is JSON-encoded unless it is str or bytes already (a deliberately broken body)."""
    async def call(path, method="GET", body=None, params=None, user="alice", raw=False):
        token = SECRETS[user]
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        try:
            response = await jp_fetch("mlops", "api", *path.split("/"), method=method, params=params, body=body,
                                      headers={"Authorization": f"token {token}"}, allow_nonstandard_methods=True)
        except HTTPClientError as exc:
            response = exc.response
        if raw:
            return response
        return response.code, json.loads(response.body) if response.body else None
    return call


# --- Item 1: notebook snapshots leave the server without any trust marker -----------------------

def raw_notebook(cells_trusted=True, signature=True, notebook_trusted=True) -> dict:
    """A snapshot as an attacker logs it: raw JSON (nbformat would drop ``trusted`` when writing)."""
    code = {"cell_type": "code", "id": "c1", "execution_count": 1, "source": "x",
            "metadata": {"trusted": True, "tags": ["kept"]} if cells_trusted else {"tags": ["kept"]},
            "outputs": [{"output_type": "display_data", "metadata": {},
                         "data": {"application/javascript": "window.__pwned = 1", "text/plain": "js"}},
                        {"output_type": "display_data", "metadata": {},
                         "data": {"text/html": "<img src=x onerror='window.__pwned = 1'>"}}]}
    metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    if signature:
        metadata["signature"] = "sha256:" + "ab" * 32
    if notebook_trusted:
        metadata["trusted"] = True
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata,
            "cells": [{"cell_type": "markdown", "id": "m1", "metadata": {"trusted": True}, "source": "# t"}, code]}


def v3_notebook() -> dict:
    """nbformat 3 kept its signature in the notebook itself."""
    return {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "", "signature": "sha256:" + "cd" * 32},
            "worksheets": [{"cells": [{"cell_type": "code", "input": "x", "language": "python",
                                       "metadata": {"trusted": True}, "prompt_number": 1,
                                       "outputs": [{"output_type": "display_data", "metadata": {},
                                                    "html": "<script>window.__pwned = 1</script>"}]}]}]}


SNAPSHOTS = [  # (case, notebook JSON as stored)
    ("every code cell trusted", raw_notebook(signature=False, notebook_trusted=False)),
    ("notebook signature", raw_notebook(cells_trusted=False, notebook_trusted=False)),
    ("notebook-level trusted", raw_notebook(cells_trusted=False, signature=False)),
    ("all markers at once", raw_notebook()),
    ("nbformat 3 with its signature", v3_notebook()),
]


def log_snapshot(nb: dict, path: str = "notebook/evil.ipynb") -> str:
    with mlops.start_run("snapshot", experiment="security") as run:
        mlops.log_artifact(json.dumps(nb), path)
    return run.id


@pytest.mark.parametrize("case,stored", SNAPSHOTS, ids=[c for c, _ in SNAPSHOTS])
async def test_notebook_snapshot_leaves_without_trust_markers(api, case, stored):
    run_id = log_snapshot(stored)
    status, body = await api(f"runs/{run_id}/notebook")
    assert status == 200, body
    nb = body["notebook"]
    assert nb["nbformat"] == 4  # v3 converted: the panel renders one format
    assert "signature" not in nb["metadata"] and "trusted" not in nb["metadata"]
    assert all("trusted" not in cell["metadata"] for cell in nb["cells"])
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert code and code[0]["outputs"]  # outputs are kept: the panel renders them untrusted
    # The notebook diff reads the same notebooks.
    status, diff = await api("diff", params={"a": run_id, "b": run_id})
    assert status == 200 and diff["summary"]["changed"] == 0


async def test_a_copy_an_earlier_sidebar_saved_loads_untrusted_once_handed_out(api, jp_fetch, jp_serverapp):
    """Earlier versions saved the snapshot through the contents API as it was, which signed it."""
    stored = raw_notebook(signature=False, notebook_trusted=False)
    stored["cells"][0]["metadata"] = {}  # the form in which the save's signature matches on reload
    run_id = log_snapshot(stored)
    model = {"type": "notebook", "format": "json", "content": stored}
    alice = {"Authorization": f"token {SECRETS['alice']}"}
    await jp_fetch("api", "contents", "old-copy.ipynb", method="PUT", body=json.dumps(model), headers=alice)

    async def code_cell_trusted() -> bool:
        got = json.loads((await jp_fetch("api", "contents", "old-copy.ipynb", headers=alice)).body)
        return got["content"]["cells"][1]["metadata"]["trusted"]

    assert await code_cell_trusted()  # the attack as it was: the saved copy loads trusted
    status, body = await api(f"runs/{run_id}/notebook")
    assert status == 200
    assert not await code_cell_trusted()
    # Nor does the notebook as handed out, had the user trusted a copy of it before.
    notary = jp_serverapp.contents_manager.notary
    import nbformat

    handed_out = nbformat.from_dict(copy.deepcopy(body["notebook"]))
    notary.sign(handed_out)
    status, body = await api(f"runs/{run_id}/notebook")
    assert not notary.check_signature(nbformat.from_dict(body["notebook"]))


@pytest.mark.parametrize("stored,named", [
    ("not json at all", "is not a readable notebook"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": "nope"}', "is not a readable notebook"),
    ("[" * 100_000, "is not a readable notebook"),
])
async def test_an_unreadable_snapshot_is_422_naming_the_artifact(api, stored, named):
    with mlops.start_run("broken", experiment="security") as run:
        mlops.log_artifact(stored, "notebook/broken.ipynb")
    status, body = await api(f"runs/{run.id}/notebook")
    assert status == 422 and named in body["message"] and "notebook/broken.ipynb" in body["message"]


# --- Item 7: the actor is the authenticated user, never the body ----------------------------------

@pytest.fixture
def live_model(backend):
    """iris v1 (approved by the registry's default user, exported, @production) and a second run to decide on."""
    first = train("first", 1.0)
    approval.approve(first, reason="baseline")
    package.export(first, "iris")
    versions.set_alias("iris", 1, "production")
    return {"first": first, "second": train("second", 0.1)}


async def test_approvals_and_aliases_record_the_authenticated_user(api, live_model):
    second = live_model["second"]
    status, record = await api(f"runs/{second}/approval", "POST",
                               {"decision": "approve", "reason": "better holdout", "by": "mallory"}, user="alice")
    assert status == 200 and record["actor"] == "alice"
    assert record["reason"] == "better holdout [the request said by: mallory]"
    status, record = await api(f"runs/{second}/approval", "POST",
                               {"decision": "reject", "reason": "leaks the label"}, user="bob")
    assert status == 200 and record["actor"] == "bob" and record["reason"] == "leaks the label"
    status, body = await api("models/iris/aliases", "POST", {"alias": "staging", "version": 1, "by": "mallory"},
                             user="bob")
    assert status == 200 and body["aliases"] == {"production": 1, "staging": 1}

    status, audit = await api("audit", params={"limit": 3}, user="alice")
    assert status == 200
    assert [(e["action"], e["subject"], e["actor"]) for e in audit["entries"]] == [
        ("alias", "iris@staging", "bob"), ("reject", second, "bob"), ("approve", second, "alice")]
    assert approval.get_approval(second, store=open_store())["actor"] == "bob"
    # An unknown token is nobody: refused before anything is recorded, whatever the body says.
    status, _ = await api(f"runs/{second}/approval", "POST", {"decision": "approve", "reason": "x", "by": "alice"},
                          user="nobody")
    assert status == 403
    status, audit = await api("audit", params={"limit": 1}, user="bob")
    assert audit["entries"][0]["subject"] == "iris@staging"


async def test_rejecting_a_version_in_production_needs_force(api, live_model):
    first = live_model["first"]
    status, body = await api(f"runs/{first}/approval", "POST", {"decision": "reject", "reason": "drifted"})
    assert status == 409 and body["needs"] == "force"
    assert "iris@production" in body["message"] and "force" in body["message"]
    assert approval.get_approval(first, store=open_store())["decision"] == "approved"  # nothing changed
    status, body = await api(f"runs/{first}/approval", "POST",
                             {"decision": "reject", "reason": "drifted", "force": "yes"})
    assert status == 400 and "force must be true or false" in body["message"]
    status, record = await api(f"runs/{first}/approval", "POST",
                               {"decision": "reject", "reason": "drifted", "force": True}, user="bob")
    assert status == 200 and record["decision"] == "rejected" and record["actor"] == "bob"


# --- Low items: every client mistake is a JSON 4xx naming the problem ----------------------------

DEEP = 5000
MISTAKES = [  # (case, method, path, query or body, status, words of the message)
    ("nested brackets", "GET", "runs", {"filter": "(" * DEEP + "status = 'FINISHED'" + ")" * DEEP}, 400, "filter"),
    ("nested nots", "GET", "runs", {"filter": "not " * DEEP + "status = 'FINISHED'"}, 400, "filter"),
    # 2000 terms: as many as fit in the 64 KB a request line may hold (SQLite gives up at 1000 deep).
    ("2000 ands", "GET", "runs", {"filter": " and ".join(["status = 'FINISHED'"] * 2000)}, 400, "filter"),
    ("2000 ors in brackets", "GET", "runs", {"filter": "(" + " or ".join(["params.C = '1'"] * 2000) + ")"}, 400,
     "filter"),
    ("page 10**20", "GET", "runs", {"page": str(10**20)}, 400, "page"),
    ("page -1", "GET", "runs", {"page": "-1"}, 400, "page"),
    ("page_size 10**20", "GET", "runs", {"page_size": str(10**20)}, 400, "page_size"),
    ("page 1.5", "GET", "runs", {"page": "1.5"}, 400, "page must be an integer"),
    ("max_points 10**20", "GET", "runs/{run}/metrics/auc", {"max_points": str(10**20)}, 400, "max_points"),
    ("pipelines limit 10**20", "GET", "pipelines", {"limit": str(10**20)}, 400, "limit"),
    ("audit limit -1", "GET", "audit", {"limit": "-1"}, 400, "limit must be between 1"),
    ("audit limit 0", "GET", "audit", {"limit": "0"}, 400, "limit must be between 1"),
    ("audit limit 10**20", "GET", "audit", {"limit": str(10**20)}, 400, "limit"),
    ("pending limit -1", "GET", "approvals/pending", {"limit": "-1"}, 400, "limit must be between 1"),
    ("version 10**20", "GET", f"models/iris/versions/{10**20}", None, 400, "version must be between"),
    ("verify version 10**20", "GET", f"models/iris/versions/{10**20}/verify", None, 400, "version"),
    ("version 0", "GET", "models/iris/versions/0", None, 400, "version must be between"),
    ("alias version 1.9", "POST", "models/iris/aliases", {"alias": "staging", "version": 1.9}, 400, "got 1.9"),
    ("alias version true", "POST", "models/iris/aliases", {"alias": "staging", "version": True}, 400, "got true"),
    ("alias version '1.9'", "POST", "models/iris/aliases", {"alias": "staging", "version": "1.9"}, 400, "integer"),
    ("alias version 10**20", "POST", "models/iris/aliases", {"alias": "staging", "version": 10**20}, 400, "between"),
    ("alias version of 5000 digits", "POST", "models/iris/aliases", '{"alias": "a", "version": ' + "9" * 5000 + "}",
     400, "not JSON"),
    ("alias body of 100k [", "POST", "models/iris/aliases", "[" * 100_000, 400, "nested too deeply"),
    ("alias body a list", "POST", "models/iris/aliases", [], 400, "must be a JSON object"),
    ("alias body not UTF-8", "POST", "models/iris/aliases", b'{"alias": "\xff"}', 400, "not JSON"),
    ("alias a number", "POST", "models/iris/aliases", {"alias": 7, "version": 1}, 400, "alias must be a string"),
    ("decision a list", "POST", "runs/{run}/approval", {"decision": ["approve"], "reason": "x"}, 400, "decision"),
    ("reason an object", "POST", "runs/{run}/approval", {"decision": "approve", "reason": {"a": 1}}, 400, "reason"),
    ("reason of 1 MB", "POST", "runs/{run}/approval", {"decision": "approve", "reason": "x" * 2**20}, 400, "reason"),
    ("by a number", "POST", "runs/{run}/approval", {"decision": "approve", "reason": "x", "by": 3}, 400, "by"),
    ("NUL in the body", "POST", "runs/{run}/approval", {"decision": "approve", "reason": "a\x00b"}, 400, "NUL"),
    ("lone surrogate in the body", "POST", "runs/{run}/approval", '{"decision": "reject", "reason": "\\ud800"}', 400,
     "cannot be encoded"),
    ("NUL in a run id", "GET", "runs/ab\x00cd", None, 400, "NUL"),
    ("% in a run id", "GET", "runs/100%done", None, 404, "no run '100%done'"),
    ("% in a filter", "GET", "runs", {"filter": "name LIKE 'a%' and"}, 400, "'a%'"),
]


@pytest.fixture
def one_run(project):
    with mlops.start_run("one", experiment="security") as run:
        mlops.log_metric("auc", 0.5)
    return run.id


@pytest.mark.parametrize("case,method,path,data,status,words", MISTAKES, ids=[m[0] for m in MISTAKES])
async def test_client_mistakes_are_a_json_4xx_naming_the_problem(api, one_run, case, method, path, data, status,
                                                                 words):
    path = path.replace("{run}", one_run)
    if method == "GET":
        got, body = await api(path, params=data)
    else:
        got, body = await api(path, "POST", body=data)
    assert (got, words in body["message"]) == (status, True), body
    assert "Traceback" not in body["message"] and "%%" not in body["message"]
    assert len(body["message"]) < 600  # one readable line, not the whole input echoed


ARTIFACT_NAMES = [  # (logged path, ASCII fallback, RFC 5987 filename*)
    ("notes/résumé.txt", 'filename="r_sum_.txt"', "filename*=UTF-8''r%C3%A9sum%C3%A9.txt"),
    ("notes/two\nlines.txt", 'filename="two_lines.txt"', "filename*=UTF-8''two%0Alines.txt"),
    ('notes/say "hi".txt', 'filename="say _hi_.txt"', "filename*=UTF-8''say%20%22hi%22.txt"),
    ("notes/日本語.txt", 'filename="___.txt"', "filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt"),
    ("notes/plain.txt", 'filename="plain.txt"', "filename*=UTF-8''plain.txt"),
]


@pytest.mark.parametrize("path,fallback,exact", ARTIFACT_NAMES, ids=[p for p, _, _ in ARTIFACT_NAMES])
async def test_artifact_names_of_any_characters_download(api, one_run, path, fallback, exact):
    from jupyter_mlops.tracking.artifacts import put_bytes

    store = open_store()
    # Straight into the store: a name logged before log_artifact refused control characters, or by another client.
    store.add_artifact(one_run, path, *put_bytes(store.artifact_root, b"content"), "text/plain\r\nX-Injected: 1")
    response = await api(f"runs/{one_run}/artifacts/{path}", raw=True)
    assert response.code == 200 and response.body == b"content"
    disposition = response.headers["Content-Disposition"]
    assert disposition == f"attachment; {fallback}; {exact}"
    assert response.headers["Content-Type"] == "text/plain"  # the stored value held a header; its type is guessed
    assert "X-Injected" not in response.headers


async def test_a_bug_is_a_500_with_a_log_line_and_no_traceback_in_the_reply(api, one_run, monkeypatch, caplog):
    def broken(store, run_id):
        raise KeyError("a bug, not the client's doing")

    monkeypatch.setattr(queries, "run_detail", broken)
    with caplog.at_level(logging.ERROR):
        status, body = await api(f"runs/{one_run}")
    assert status == 500 and body["message"].startswith("internal error, see the server log: KeyError")
    assert "Traceback" not in json.dumps(body)
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is KeyError]
    assert logged and "Uncaught exception" in logged[0].getMessage()
