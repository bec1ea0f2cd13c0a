"""``jupyter mlops server`` as a real process: health and metrics, Host and Origin checks, tokens, roles,
separation of duties, users over REST and the CLI."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops
from jupyter_mlops.registry.audit import audit_log
from jupyter_mlops.tracking import lifecycle
from jupyter_mlops.tracking import store as stores
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, python_env
from .helpers.tracking_server import TrackingServer


@pytest.fixture
def server(project, tmp_path):
    with TrackingServer(str(project / ".mlops" / "mlops.db"), tmp_path / "server.log") as srv:
        yield srv


def get(server, path, user=None, **headers):
    if user is not None:
        headers = server.headers(user, **headers)
    return requests.get(server.url + path, headers=headers, timeout=30)


def post(server, path, body, user, **headers):
    return requests.post(server.url + path, json=body, headers=server.headers(user, **headers), timeout=30)


def trained_run(server, name: str, started_by: str, monkeypatch) -> str:
    """A finished run with a model, logged through the server with ``started_by``'s token (the remote
    store), so the server records who started it."""
    X, y = load_iris(return_X_y=True, as_frame=True)
    with monkeypatch.context() as env:
        env.setenv("MLOPS_TRACKING_URI", server.url)
        env.setenv("MLOPS_TOKEN", server.tokens[started_by])
        env.setenv("XDG_CACHE_HOME", str(Path(server.store).parent / "client-cache"))
        forget_stores()
        with mlops.start_run(name, experiment="iris") as run:
            mlops.log_model(LogisticRegression(max_iter=300).fit(X, y), training_data=X)
        forget_stores()
    return run.id


def forget_stores() -> None:
    lifecycle.shutdown()
    stores.forget_open_stores()


def test_health_metrics_and_only_the_mlops_services(server):
    health = get(server, "/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert get(server, "/metrics").status_code == 403  # Prometheus needs a token too
    metrics = get(server, "/metrics", "vic")
    assert metrics.status_code == 200 and "http_request_duration_seconds" in metrics.text
    assert get(server, "/api/status", "vic").status_code == 200
    for path in ("/api/kernels", "/api/contents", "/api/terminals", "/api/sessions", "/lab", "/tree"):
        assert get(server, path, "ada").status_code == 404, path  # not mounted at all
    assert get(server, "/mlops/api/experiments", "vic").json() == {"experiments": []}


def test_every_request_needs_a_known_token_in_any_scheme_case(server):
    missing = get(server, "/mlops/api/experiments")
    assert missing.status_code == 401 and "Authorization: Bearer" in missing.json()["message"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert get(server, "/mlops/api/experiments", Authorization="Bearer mlops_not-a-token").status_code == 401
    assert requests.post(server.url + "/mlops/api/runs/abcdef123456/note", json={"note": "x"},
                         timeout=30).status_code == 401
    token = server.tokens["vic"]
    for header in (f"Bearer {token}", f"BEARER {token}", f"token {token}", f"Token {token}"):
        assert get(server, "/mlops/api/experiments", Authorization=header).status_code == 200, header
    assert get(server, f"/mlops/api/experiments?token={token}").status_code == 401  # never in a URL


def test_foreign_host_and_cross_origin_requests_are_refused(server):
    port = server.port
    for host in ("evil.example", f"evil.example:{port}", "10.1.2.3", f"mlops.internal:{port}"):
        refused = get(server, "/mlops/api/experiments", "vic", Host=host)
        assert refused.status_code == 403 and "is not one of this server's names" in refused.json()["message"], host
    assert get(server, "/healthz", Host="evil.example").status_code == 403
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert get(server, "/mlops/api/experiments", "vic", Host=host).status_code == 200, host
    cross = get(server, "/mlops/api/experiments", "vic", Origin="https://evil.example")
    assert cross.status_code == 403 and "cross-origin request" in cross.json()["message"]
    assert "Access-Control-Allow-Origin" not in cross.headers
    cross_post = post(server, "/mlops/api/runs/abcdef123456/note", {"note": "x"}, "eve", Origin="https://evil.example")
    assert cross_post.status_code == 403
    same = get(server, "/mlops/api/experiments", "vic", Origin=f"http://127.0.0.1:{port}")
    assert same.status_code == 200


def test_allowed_host_and_origin_are_exact_names(project, tmp_path):
    with TrackingServer(str(project / ".mlops" / "mlops.db"), tmp_path / "server.log", roles={"vic": "viewer"},
                        args=("--allowed-host", "mlops.internal", "--allow-origin", "https://ui.example")) as srv:
        assert get(srv, "/mlops/api/experiments", "vic", Host="mlops.internal").status_code == 200
        for host in ("mlops.internal.evil.example", "evil-mlops.internal", "MLOPS.internal.", "ui.example"):
            assert get(srv, "/mlops/api/experiments", "vic", Host=host).status_code == 403, host
        allowed = get(srv, "/mlops/api/experiments", "vic", Origin="https://ui.example")
        assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == "https://ui.example"
        for origin in ("https://ui.example.evil", "http://ui.example", "https://evil.example"):
            assert get(srv, "/mlops/api/experiments", "vic", Origin=origin).status_code == 403, origin


def test_roles_viewer_reads_editor_logs_approver_approves_not_their_own_run(server, monkeypatch):
    ann_run = trained_run(server, "ann-trains", "ann", monkeypatch)
    assert open_store().get_run(ann_run).user == "ann"
    note = {"note": "looks good"}
    viewer = post(server, f"/mlops/api/runs/{ann_run}/note", note, "vic")
    assert viewer.status_code == 403
    assert viewer.json()["message"] == "user 'vic' (viewer) may not log runs; that needs the editor role"
    assert post(server, f"/mlops/api/runs/{ann_run}/note", note, "eve").status_code == 200

    decision = {"decision": "approve", "reason": "fine"}
    editor = post(server, f"/mlops/api/runs/{ann_run}/approval", decision, "eve")
    assert editor.status_code == 403 and "needs the approver role" in editor.json()["message"]
    own = post(server, f"/mlops/api/runs/{ann_run}/approval", decision, "ann")
    assert own.status_code == 409 and "ann started run" in own.json()["message"]
    assert "separation of duties" in own.json()["message"]
    other = post(server, f"/mlops/api/runs/{ann_run}/approval", {**decision, "by": "ann"}, "abe")
    assert other.status_code == 200 and other.json()["actor"] == "abe"  # the token's user, not the body's
    entries = audit_log(ann_run)
    assert [(e["action"], e["actor"]) for e in entries if e["action"] == "approve"] == [("approve", "abe")]
    assert [e["actor"] for e in audit_log(ann_run, action="note")] == ["eve"]


def test_separate_duties_can_be_turned_off_per_project(project, tmp_path, monkeypatch):
    (project / "pyproject.toml").write_text("[tool.jupyter_mlops.approval]\nseparate_duties = false\n")
    with TrackingServer(str(project / ".mlops" / "mlops.db"), tmp_path / "server.log", roles={"ann": "approver"},
                        cwd=project) as srv:
        run_id = trained_run(srv, "ann-trains", "ann", monkeypatch)
        own = post(srv, f"/mlops/api/runs/{run_id}/approval", {"decision": "approve", "reason": "ok"}, "ann")
        assert own.status_code == 200 and own.json()["actor"] == "ann"


def test_admins_manage_users_over_rest_and_a_removed_token_stops_at_once(server):
    assert get(server, "/mlops/api/users", "ann").status_code == 403
    listed = get(server, "/mlops/api/users", "ada").json()["users"]
    assert {u["name"]: u["role"] for u in listed}["vic"] == "viewer"
    assert all("token" not in str(u) for u in listed)
    made = post(server, "/mlops/api/users", {"name": "new", "role": "editor"}, "ada")
    assert made.status_code == 201 and made.json()["token"].startswith("mlops_")
    new = {"Authorization": f"Bearer {made.json()['token']}"}
    assert requests.get(server.url + "/mlops/api/experiments", headers=new, timeout=30).status_code == 200
    again = post(server, "/mlops/api/users", {"name": "new", "role": "viewer"}, "ada")
    assert again.status_code == 409 and "exists already" in again.json()["message"]
    bad = post(server, "/mlops/api/users", {"name": "../x", "role": "editor"}, "ada")
    assert bad.status_code == 400 and "user name" in bad.json()["message"]
    bad = post(server, "/mlops/api/users", {"name": "x", "role": "root"}, "ada")
    assert bad.status_code == 400 and "must be one of viewer, editor, approver, admin" in bad.json()["message"]
    gone = requests.delete(server.url + "/mlops/api/users/new", headers=server.headers("ada"), timeout=30)
    assert gone.status_code == 200
    assert requests.get(server.url + "/mlops/api/experiments", headers=new, timeout=30).status_code == 401
    self_removal = requests.delete(server.url + "/mlops/api/users/ada", headers=server.headers("ada"), timeout=30)
    assert self_removal.status_code == 409
    missing = requests.delete(server.url + "/mlops/api/users/nobody", headers=server.headers("ada"), timeout=30)
    assert missing.status_code == 404 and "no user 'nobody'" in missing.json()["message"]


def cli(*args, cwd):
    return subprocess.run([PYTHON, "-m", "jupyter_mlops.cli", *args], cwd=cwd, env=python_env(),
                          capture_output=True, text=True, timeout=120, check=False)


def test_users_cli_add_list_remove(project):
    added = cli("users", "add", "zoe", "--role", "approver", cwd=project)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("mlops_") and "shown only now" in added.stderr
    listed = cli("users", "list", "--format", "json", cwd=project)
    assert '"name":"zoe"' in listed.stdout.replace(" ", "") and token not in listed.stdout
    stored = open_store().engine.connect().exec_driver_sql("SELECT token_sha256 FROM users").scalars().all()
    assert token not in stored and len(stored) == 1 and len(stored[0]) == 64
    again = cli("users", "add", "zoe", "--role", "viewer", cwd=project)
    assert again.returncode != 0 and again.stderr.count("\n") == 1 and "exists already" in again.stderr
    bad = cli("users", "add", "a/b", "--role", "viewer", cwd=project)
    assert bad.returncode == 2 and "user name 'a/b'" in bad.stderr and "Traceback" not in bad.stderr
    assert cli("users", "remove", "zoe", cwd=project).returncode == 0
    missing = cli("users", "remove", "zoe", cwd=project)
    assert missing.returncode != 0 and "no user 'zoe'" in missing.stderr
