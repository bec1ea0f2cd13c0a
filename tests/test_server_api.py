"""The REST API under /mlops/api/ on a real Jupyter Server (pytest-jupyter), against a real store."""
from __future__ import annotations

import json
import urllib.parse
from http.cookies import SimpleCookie

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from tornado.httpclient import HTTPClientError

import jupyter_mlops as mlops
from jupyter_mlops.registry.approval import get_approval
from jupyter_mlops.tracking.store import open_store


@pytest.fixture
def api(project, jp_fetch):
    """GET/POST JSON under /mlops/api/; returns ``(status, body)`` and never raises on 4xx."""
    async def call(path, method="GET", body=None, params=None, raw=False):
        try:
            response = await jp_fetch("mlops", "api", *path.split("/"), method=method, params=params,
                                      body=None if body is None else json.dumps(body),
                                      allow_nonstandard_methods=True)
        except HTTPClientError as exc:
            response = exc.response
        if raw:
            return response
        return response.code, json.loads(response.body) if response.body else None
    return call


def notebook_json(*sources, output="") -> str:
    cells = [new_markdown_cell("# Title")]
    for source in sources:
        cell = new_code_cell(source)
        if output:
            cell.outputs = [new_output("stream", name="stdout", text=output)]
        cells.append(cell)
    return nbformat.writes(new_notebook(cells=cells))


@pytest.fixture
def runs(project):
    """Three runs: two with notebook snapshots that differ in one cell, and one still RUNNING."""
    with mlops.start_run("baseline", experiment="churn", params={"C": 1.0, "model": "logreg"}) as a:
        for step in range(2000):
            mlops.log_metric("loss", 1.0 / (step + 1), step=step)
        mlops.log_metric("auc", 0.81)
        mlops.log_artifact(notebook_json("C = 1.0", "fit()", output="ok\n"), "notebook/train.ipynb")
        mlops.log_artifact("hello artifact", "notes/hello.txt")
        mlops.set_tag("stage", "candidate")
    with mlops.start_run("stronger", experiment="churn", params={"C": 10.0, "model": "logreg"}) as b:
        mlops.log_metric("auc", 0.93)
        mlops.log_artifact(notebook_json("C = 10.0", "fit()", "plot()", output="better\n"), "notebook/train.ipynb")
    live = mlops.start_run("live", experiment="other", params={"C": 3.0})
    mlops.log_metric("auc", 0.5)
    mlops.flush()
    yield {"a": a.id, "b": b.id, "live": live.id}
    mlops.end_run()


async def test_experiments_and_runs_page_sort_filter(runs, api):
    status, body = await api("experiments")
    assert status == 200
    assert {e["name"]: e["runs"] for e in body["experiments"]} == {"churn": 2, "other": 1}

    status, page = await api("runs", params={"sort": "metrics.auc", "order": "desc", "page_size": 2})
    assert status == 200
    assert page["total"] == 3 and page["page_size"] == 2
    assert [r["name"] for r in page["runs"]] == ["stronger", "baseline"]
    assert page["runs"][0]["metrics"]["auc"] == 0.93 and page["runs"][0]["params"]["C"] == "10.0"
    assert page["param_keys"] == ["C", "model"] and "loss" in page["metric_keys"]
    assert page["runs"][1]["tags"] == {"stage": "candidate"}  # mlops.* bookkeeping tags stay out of the list

    status, second = await api("runs", params={"sort": "metrics.auc", "order": "desc", "page_size": 2, "page": 1})
    assert [r["name"] for r in second["runs"]] == ["live"] and second["any_running"] is True
    assert second["total"] == 3
    status, beyond = await api("runs", params={"page_size": 2, "page": 5})
    assert status == 200 and beyond["runs"] == [] and beyond["total"] == 3

    status, filtered = await api("runs", params={"filter": "params.C > 2 and experiment = 'churn'"})
    assert status == 200 and [r["run_id"] for r in filtered["runs"]] == [runs["b"]] and filtered["total"] == 1
    status, by_exp = await api("runs", params={"experiment": "other"})
    assert [r["status"] for r in by_exp["runs"]] == ["RUNNING"]


async def test_runs_bad_input_is_400_naming_the_problem(runs, api):
    status, body = await api("runs", params={"filter": "metrics.auc >> 3"})
    assert status == 400 and "position 13" in body["message"]
    status, body = await api("runs", params={"sort": "metrics.auc sideways"})
    assert status == 400 and "ASC, DESC" in body["message"]
    status, body = await api("runs", params={"page_size": "lots"})
    assert status == 400 and "page_size must be an integer" in body["message"]
    status, body = await api("runs", params={"page_size": "100000"})
    assert status == 400 and "between 1 and 500" in body["message"]
    status, body = await api("runs", params={"order": "up"})
    assert status == 400 and "asc or desc" in body["message"]


async def test_run_detail_with_lineage_and_404(runs, api):
    status, run = await api(f"runs/{runs['a'][:8]}")  # a unique prefix is enough, as in the CLI
    assert status == 200 and run["run_id"] == runs["a"]
    assert run["params"] == {"C": "1.0", "model": "logreg"} and run["metrics"]["auc"] == 0.81
    assert {a["path"] for a in run["artifacts"]} == {"notebook/train.ipynb", "notes/hello.txt"}
    assert run["notebook"] == "notebook/train.ipynb"
    assert run["lineage"]["parent"] is None and run["lineage"]["children"] == []
    assert run["approval"] is None
    status, body = await api("runs/0123456789abcdef")
    assert status == 404 and "no run '0123456789abcdef'" in body["message"]
    status, body = await api("runs/not-a-run")
    assert status == 404


async def test_metric_series_is_downsampled_keeping_the_extremes(runs, api):
    status, full = await api(f"runs/{runs['a']}/metrics/loss", params={"max_points": 5000})
    assert status == 200 and full["total"] == 2000 and len(full["points"]) == 2000 and not full["downsampled"]
    status, small = await api(f"runs/{runs['a']}/metrics/loss", params={"max_points": 100})
    assert small["downsampled"] and 2 < len(small["points"]) <= 100
    values = [p[1] for p in small["points"]]
    assert max(values) == 1.0 and small["points"][-1][0] == 1999  # the spike at step 0 and the last point survive
    steps = [p[0] for p in small["points"]]
    assert steps == sorted(steps)
    status, body = await api(f"runs/{runs['a']}/metrics/loss", params={"max_points": 1})
    assert status == 400 and "max_points" in body["message"]
    status, empty = await api(f"runs/{runs['a']}/metrics/nothing")
    assert status == 200 and empty["points"] == [] and empty["total"] == 0
    status, _ = await api("runs/ffffffffffff/metrics/loss")
    assert status == 404


async def test_artifact_download_with_content_type(runs, api):
    response = await api(f"runs/{runs['a']}/artifacts/notes/hello.txt", raw=True)
    assert response.code == 200 and response.body == b"hello artifact"
    assert response.headers["Content-Type"].startswith("text/plain")
    response = await api(f"runs/{runs['a']}/artifacts/notebook/train.ipynb", raw=True)
    assert response.headers["Content-Type"] == "application/x-ipynb+json"
    assert "".join(json.loads(response.body)["cells"][1]["source"]) == "C = 1.0"
    big = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB: sent in several chunks
    open_store().add_artifact(runs["a"], "data/big.bin", *_put(big), "application/octet-stream")
    response = await api(f"runs/{runs['a']}/artifacts/data/big.bin", raw=True)
    assert response.code == 200 and response.body == big
    assert response.headers["Content-Type"] == "application/octet-stream"
    status, body = await api(f"runs/{runs['a']}/artifacts/notes/missing.txt")
    assert status == 404 and "no artifact 'notes/missing.txt'" in body["message"]


def _put(data: bytes) -> tuple[str, int]:
    from jupyter_mlops.tracking.artifacts import put_bytes

    return put_bytes(open_store().artifact_root, data)


async def raw_get(http_server_client, jp_auth_header, path: str):
    """A GET with the path sent exactly as written (no client-side escaping or normalising)."""
    try:
        return await http_server_client.fetch(path, headers=jp_auth_header, raise_error=False)
    except HTTPClientError as exc:
        return exc.response


async def test_artifact_path_traversal_is_refused(runs, api, http_server_client, jp_auth_header, jp_base_url,
                                                  project):
    secret = project / "secret.txt"
    secret.write_text("do not serve")
    base = f"{jp_base_url}mlops/api/runs/{runs['a']}/artifacts/"
    for path in ("../../../secret.txt", "notes/../../secret.txt", "%2e%2e/%2e%2e/secret.txt",
                 "..%2f..%2fsecret.txt", "%2Fetc%2Fpasswd", "notes%2F..%2F..%2Fsecret.txt"):
        response = await raw_get(http_server_client, jp_auth_header, base + path)
        assert response.code in (400, 403, 404), path
        assert b"do not serve" not in response.body and b"root:" not in response.body
    response = await raw_get(http_server_client, jp_auth_header, base + "..%2f..%2fsecret.txt")
    assert response.code == 400 and b"contains '..'" in response.body
    response = await raw_get(http_server_client, jp_auth_header, base + "%2Fetc%2Fpasswd")
    assert response.code == 400 and b"is absolute" in response.body

    # A blob replaced by a symlink that leads out of the store is not followed.
    store = open_store()
    sha = store.get_run(runs["a"]).artifacts[1]["sha256"]
    blob = store.artifact_root / sha[:2] / sha[2:]
    blob.unlink()
    blob.symlink_to(secret)
    status, body = await api(f"runs/{runs['a']}/artifacts/notes/hello.txt")
    assert status == 403 and "outside the artifact store" in body["message"]
    # ... nor a digest in the database that is not a digest.
    store.add_artifact(runs["a"], "notes/evil.txt", "../../secret.txt", 12, "text/plain")
    status, body = await api(f"runs/{runs['a']}/artifacts/notes/evil.txt")
    assert status == 403 and "malformed digest" in body["message"]


async def test_notebook_snapshot_and_cell_level_diff(runs, api):
    status, snap = await api(f"runs/{runs['b']}/notebook")
    assert status == 200 and snap["path"] == "notebook/train.ipynb" and len(snap["notebook"]["cells"]) == 4

    status, diff = await api("diff", params={"a": runs["a"], "b": runs["b"]})
    assert status == 200
    ops = [(c["op"], c["source_a"], c["source_b"]) for c in diff["cells"]]
    assert ops == [("equal", "# Title", "# Title"), ("changed", "C = 1.0", "C = 10.0"),
                   ("equal", "fit()", "fit()"), ("added", None, "plot()")]
    changed = diff["cells"][1]
    assert "-C = 1.0" in changed["source_diff"] and "+C = 10.0" in changed["source_diff"]
    assert diff["cells"][2]["outputs_changed"] and diff["cells"][2]["outputs_a"] == "ok"
    assert diff["summary"] == {"equal": 2, "changed": 1, "added": 1, "removed": 0, "outputs_changed": 2}

    status, body = await api("diff", params={"a": runs["a"]})
    assert status == 400 and "a and b" in body["message"]
    status, body = await api("diff", params={"a": runs["a"], "b": runs["live"]})
    assert status == 404 and "no notebook snapshot" in body["message"]
    status, body = await api(f"runs/{runs['live']}/notebook")
    assert status == 404


async def test_requests_without_a_token_are_refused(runs, http_server_client, jp_base_url):
    api = f"{jp_base_url}mlops/api/"
    for path in ("runs", f"runs/{runs['a']}", f"runs/{runs['a']}/artifacts/notes/hello.txt", f"runs/{runs['a']}/notebook",
                 f"runs/{runs['a']}/metrics/auc", "experiments", "pipelines", "models", "audit"):
        response = await http_server_client.fetch(api + path, raise_error=False)
        assert response.code == 403, path
    for path in (f"runs/{runs['a']}/approval", "models/churn/aliases", f"pipelines/{runs['a']}/rerun"):
        response = await http_server_client.fetch(api + path, method="POST", raise_error=False,
                                                  body=json.dumps({"decision": "approve", "reason": "x"}))
        assert response.code == 403, path
    response = await http_server_client.fetch(api + "runs", headers={"Authorization": "token wrong"},
                                              raise_error=False)
    assert response.code == 403


@pytest.mark.parametrize("scheme", ["token", "Token", "bearer", "Bearer", "BEARER"])
async def test_the_authorization_scheme_is_case_insensitive(runs, http_server_client, jp_serverapp, jp_base_url,
                                                            scheme):
    token = jp_serverapp.identity_provider.token
    response = await http_server_client.fetch(f"{jp_base_url}mlops/api/runs", raise_error=False,
                                              headers={"Authorization": f"{scheme} {token}"})
    assert response.code == 200


async def browser_session(http_server_client, base_url: str, token: str) -> dict:
    """Log in as a browser does: the login form, then cookies only (no Authorization header)."""
    page = await http_server_client.fetch(f"{base_url}login", raise_error=False)
    jar = SimpleCookie()
    for header in page.headers.get_list("Set-Cookie"):
        jar.load(header)
    xsrf = jar["_xsrf"].value
    login = await http_server_client.fetch(
        f"{base_url}login", method="POST", body=urllib.parse.urlencode({"password": token, "_xsrf": xsrf}),
        headers={"Cookie": f"_xsrf={xsrf}"}, follow_redirects=False, raise_error=False)
    for header in login.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {"cookie": "; ".join(f"{k}={m.value}" for k, m in jar.items()), "xsrf": xsrf}


async def test_post_with_a_login_cookie_needs_the_xsrf_token(runs, http_server_client, jp_serverapp, jp_base_url):
    from sklearn.dummy import DummyClassifier

    with mlops.start_run("modelled", experiment="churn") as modelled:  # only a run with a model is approved
        mlops.log_model(DummyClassifier().fit([[0], [1]], [0, 1]))
    runs = {**runs, "a": modelled.id}
    session = await browser_session(http_server_client, jp_base_url, jp_serverapp.identity_provider.token)
    url = f"{jp_base_url}mlops/api/runs/{runs['a']}/approval"
    body = json.dumps({"decision": "approve", "reason": "good enough"})
    # The cookie alone authenticates a GET ...
    response = await http_server_client.fetch(f"{jp_base_url}mlops/api/runs", headers={"Cookie": session["cookie"]},
                                              raise_error=False)
    assert response.code == 200
    # ... but a POST without the XSRF token is refused, as everywhere in Jupyter.
    response = await http_server_client.fetch(url, method="POST", body=body, headers={"Cookie": session["cookie"]},
                                              raise_error=False)
    assert response.code == 403 and b"_xsrf" in response.body
    assert get_approval(runs["a"], store=open_store()) is None
    response = await http_server_client.fetch(url, method="POST", body=body, raise_error=False,
                                              headers={"Cookie": session["cookie"], "X-XSRFToken": session["xsrf"]})
    assert response.code == 200
    assert get_approval(runs["a"], store=open_store())["reason"] == "good enough"
