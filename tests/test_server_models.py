"""Models endpoints on a real Jupyter Server: approvals, versions, aliases, verify, the audit log."""
from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from tornado.httpclient import HTTPClientError

import jupyter_mlops as mlops
from jupyter_mlops.registry import approval, package, versions
from jupyter_mlops.tracking.store import open_store


def train(name: str, C: float) -> str:
    X, y = load_iris(return_X_y=True, as_frame=True)
    with mlops.start_run(name, experiment="iris", params={"C": C}) as run:
        model = LogisticRegression(C=C, max_iter=300).fit(X, y)
        mlops.log_metric("accuracy", model.score(X, y))
        mlops.log_model(model, training_data=X)
    return run.id


@pytest.fixture
def registered(project):
    """iris v1 exported from an approved run, and a second trained run nobody has decided on yet."""
    first = train("first", 1.0)
    approval.approve(first, by="alice", reason="baseline")
    v1 = package.export(first, "iris", by="alice")
    second = train("second", 0.1)
    return {"first": first, "second": second, "v1": v1}


@pytest.fixture
def api(jp_fetch):
    async def call(path, method="GET", body=None, params=None):
        try:
            response = await jp_fetch("mlops", "api", *path.split("/"), method=method, params=params,
                                      body=None if body is None else json.dumps(body))
        except HTTPClientError as exc:
            response = exc.response
        return response.code, json.loads(response.body)
    return call


async def test_models_versions_card_and_verify(registered, api):
    status, body = await api("models")
    assert status == 200
    (model,) = body["models"]
    assert model["name"] == "iris" and model["latest_version"] == 1 and model["aliases"] == {}

    status, body = await api("models/iris")
    (v1,) = body["versions"]
    assert v1["run_id"] == registered["first"] and v1["approval"]["actor"] == "alice"
    assert v1["metrics"]["accuracy"] > 0.9

    status, detail = await api("models/iris/versions/1")
    assert status == 200 and detail["manifest_digest"] == registered["v1"]["manifest_digest"]
    assert detail["card"].startswith("#") and "iris/1" in detail["card"]

    status, verified = await api("models/iris/versions/1/verify")
    assert status == 200 and verified == {"ok": True, "problems": [], "digest": registered["v1"]["manifest_digest"]}
    # A package changed after export fails verification, naming the file.
    readme = Path(registered["v1"]["package_uri"]) / "README.md"
    readme.write_text(readme.read_text() + "\nedited\n")
    status, verified = await api("models/iris/versions/1/verify")
    assert status == 200 and not verified["ok"] and any("README.md" in p for p in verified["problems"])


async def test_model_404s(registered, api):
    status, body = await api("models/nope")
    assert status == 404 and "nope" in body["message"]
    status, body = await api("models/iris/versions/7")
    assert status == 404 and "iris" in body["message"]
    status, body = await api("models/nope/versions/1/verify")
    assert status == 404


async def test_approve_and_reject_from_the_api(registered, api):
    status, pending = await api("approvals/pending")
    assert status == 200 and [r["run_id"] for r in pending["runs"]] == [registered["second"]]
    assert pending["runs"][0]["metrics"]["accuracy"] > 0.5

    # Under Jupyter's shared token nobody is named: the actor is the user the server runs as (as
    # for the CLI), and a "by" in the body is only a note after the reason.
    status, record = await api(f"runs/{registered['second']}/approval", "POST",
                               {"decision": "approve", "reason": "good enough", "by": "bob"})
    assert status == 200 and record["decision"] == "approved" and record["actor"] == getpass.getuser()
    assert approval.get_approval(registered["second"], store=open_store())["reason"] == \
        "good enough [the request said by: bob]"
    status, pending = await api("approvals/pending")
    assert pending["runs"] == []

    status, record = await api(f"runs/{registered['second']}/approval")
    assert status == 200 and record["actor"] == getpass.getuser()
    status, run = await api(f"runs/{registered['second']}")
    assert run["approval"]["decision"] == "approved"

    status, record = await api(f"runs/{registered['second']}/approval", "POST",
                               {"decision": "reject", "reason": "overfits"})
    assert status == 200 and record["decision"] == "rejected" and record["actor"] == getpass.getuser()
    assert record["reason"] == "overfits"

    status, body = await api(f"runs/{registered['second']}/approval", "POST", {"decision": "approve"})
    assert status == 400 and "missing reason" in body["message"]
    status, body = await api(f"runs/{registered['second']}/approval", "POST", {"decision": "maybe", "reason": "x"})
    assert status == 400 and "approve or reject" in body["message"]
    status, body = await api("runs/abcdef123456/approval", "POST", {"decision": "approve", "reason": "x"})
    assert status == 404


async def test_approving_a_running_run_is_refused(project, api):
    run = mlops.start_run("still-going", experiment="iris")
    status, body = await api(f"runs/{run.id}/approval", "POST", {"decision": "approve", "reason": "x"})
    assert status == 409 and "only a FINISHED run can be approved" in body["message"]
    status, body = await api(f"runs/{run.id}/approval")
    assert status == 404 and "no approval decision" in body["message"]
    mlops.end_run()


async def test_set_alias_changes_the_store_and_is_audited(registered, api):
    status, body = await api("models/iris/aliases", "POST", {"alias": "production", "version": 1, "by": "carol"})
    assert status == 200 and body["aliases"] == {"production": 1}
    assert versions.get_version("iris@production", store=open_store())["version"] == 1

    status, body = await api("models/iris/aliases", "POST", {"alias": "bad/alias", "version": 1})
    assert status == 400
    status, body = await api("models/iris/aliases", "POST", {"alias": "staging", "version": 9})
    assert status == 404
    status, body = await api("models/iris/aliases", "POST", {"alias": "staging", "version": "one"})
    assert status == 400 and "version must be an integer" in body["message"]
    status, body = await api("models/iris/aliases", "POST", {"alias": "staging"})
    assert status == 400 and "missing version" in body["message"]

    status, audit = await api("audit", params={"subject": "iris"})
    assert status == 200
    actions = [(e["action"], e["actor"]) for e in audit["entries"]]
    assert actions[0] == ("alias", getpass.getuser())  # the body's "by": "carol" names nobody
