"""The web UI of ``jupyter mlops server`` at ``/``, driven in Debian's Chromium through Playwright.

One real server process and one browser for the module. Its users are made with the CLI
(``jupyter mlops users add``), its runs and model version are logged into its store by a process
of their own. A viewer signs in with their token and browses the navigator, the Experiment, Run
and Model views with every control that changes something hidden; an approver sees those
controls and approves a run through them, recorded as themselves. Screenshots land in
``test-artifacts/server-ui-*.png``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import requests
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from jupyter_mlops.registry.audit import audit_log
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, ROOT, python_env
from .helpers.tracking_server import TrackingServer
from .test_browser_lab import click_cell, mirror_rows, view

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"

RUNS = """\
import json
import jupyter_mlops as mlops
from jupyter_mlops.registry import approval, package
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True, as_frame=True)
ids = {}
for name, C in (("churn-a", 1.0), ("churn-b", 0.1), ("churn-c", 3.0)):
    with mlops.start_run(name, experiment="churn", params={"C": C}) as run:
        for step in range(5):
            mlops.log_metric("loss", 1.0 / (step + 1 + C), step=step)
        model = LogisticRegression(C=C, max_iter=300).fit(X, y)
        mlops.log_metric("accuracy", model.score(X, y))
        if name != "churn-c":
            mlops.log_model(model, training_data=X)
    ids[name] = run.id
approval.approve(ids["churn-a"], by="alice", reason="baseline")
package.export(ids["churn-a"], "churn", by="alice")
print(json.dumps(ids))
"""


def cli(store: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "jupyter_mlops.cli", "--uri", store, *args], env=python_env(),
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The server on a store with three runs of 'churn' (two with a model; churn-a approved and
    exported as churn v1) and two users added with the CLI: vic (viewer) and abe (approver)."""
    base = tmp_path_factory.mktemp("server-ui")
    store = str(base / "mlops.db")
    logged = subprocess.run([PYTHON, "-c", RUNS], cwd=base, env=python_env(MLOPS_TRACKING_URI=store),
                            capture_output=True, text=True, timeout=300, check=False)
    assert logged.returncode == 0, logged.stderr[-3000:]
    runs = json.loads(logged.stdout.strip().splitlines()[-1])
    tokens = {}
    for name, role in (("vic", "viewer"), ("abe", "approver")):
        added = cli(store, "users", "add", name, "--role", role)
        assert added.returncode == 0, added.stderr
        tokens[name] = added.stdout.strip()
    with TrackingServer(store, base / "server.log", roles={}) as server:
        server.tokens.update(tokens)
        server.runs = runs
        yield server


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, site):
    """``open_page(path)``: a fresh tab (its own sessionStorage) on the server; what it threw and
    any Content-Security-Policy refusal are collected for the test to check."""
    contexts = []

    def open_page(path: str = "/"):
        context = browser.new_context(viewport={"width": 1500, "height": 950})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.exceptions, page.csp = [], []
        page.on("pageerror", lambda exc: page.exceptions.append(f"{exc}\n{exc.stack}"))
        page.on("console", lambda msg: "Content Security Policy" in msg.text and page.csp.append(msg.text))
        page.goto(site.url + path)
        return page

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page, token: str) -> None:
    page.locator(".jp-mlops-login-token").fill(token)
    page.locator(".jp-mlops-login-submit").click()
    expect(page.locator(".jp-mlops-navigator")).to_be_visible()


def shoot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"server-ui-{name}.png"))
    assert page.exceptions == [], page.exceptions
    assert page.csp == [], page.csp  # the page runs within its own policy


def open_experiment(page, name: str, runs: list[str]):
    page.locator(f'.jp-mlops-navigator li[data-experiment="{name}"]').click()
    table = view(page, ".jp-mlops-experiment-view")
    names = table.locator("table.jp-mlops-grid-mirror tbody tr[data-run] td:nth-child(2)")
    expect(names).to_have_text(runs)  # the rows the grid painted (its mirror), newest first
    return table


def select_row(page, table, run_id: str) -> None:
    (row,) = [r for r in mirror_rows(table) if r["run"] == run_id]
    click_cell(page, table, "select", row["y"])
    expect(table.locator(f'table.jp-mlops-grid-mirror tr[data-run="{run_id}"]')).to_have_attribute(
        "data-selected", "true")


def open_run(page, name: str, run_id: str):
    """Through the navigator's search box, which finds runs by name."""
    navigator = page.locator(".jp-mlops-navigator")
    navigator.locator(".jp-mlops-search").fill(name)
    navigator.locator('[data-section="runs"] li', has_text=name).click()
    navigator.locator(".jp-mlops-search").fill("")
    return view(page, f'.jp-mlops-run-view[data-run="{run_id}"]')


def open_model(page, name: str):
    page.locator(f'.jp-mlops-navigator li[data-model="{name}"]').click()
    model = view(page, f'.jp-mlops-model-view[data-model="{name}"]')
    expect(model.locator(".jp-mlops-version-detail")).to_be_visible()
    return model


# --- serving -----------------------------------------------------------------------------------

def test_root_serves_the_page_under_its_policy_and_the_json_index_to_json_clients(site):
    page = requests.get(site.url + "/", timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-eval" not in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    scripts = re.findall(r'<script defer src="?(ui/[^" >]+)"?>', page.text)
    assert scripts and "<script>" not in page.text  # no inline script: the policy would refuse it
    asset = requests.get(f"{site.url}/{scripts[0]}", timeout=30)
    assert asset.status_code == 200 and "javascript" in asset.headers["Content-Type"]
    assert "immutable" in asset.headers["Cache-Control"]

    index = requests.get(site.url + "/", headers={"Accept": "application/json"}, timeout=30)
    assert index.headers["Content-Type"] == "application/json"
    assert index.json()["web_ui"] == "/" and index.json()["api"] == "/mlops/api/"
    assert requests.get(site.url + "/api-index", timeout=30).json() == index.json()

    for path in ("/ui/..%2Fweb_page.py", "/ui/%2E%2E/standalone.py", "/ui/.hidden", "/ui/sub/main.js",
                 "/ui/nothing.js"):
        assert requests.get(site.url + path, timeout=30).status_code == 404, path
    assert requests.get(site.url + "/", headers={"Host": "evil.example"}, timeout=30).status_code == 403

    me = requests.get(site.url + "/mlops/api/whoami", headers=site.headers("vic"), timeout=30)
    assert me.json() == {"name": "vic", "role": "viewer", "may": {
        "read": True, "log": False, "run": False, "approve": False, "alias": False, "admin": False}}
    abe = requests.get(site.url + "/mlops/api/whoami", headers=site.headers("abe"), timeout=30).json()
    assert abe["role"] == "approver" and abe["may"]["approve"] and abe["may"]["alias"] and not abe["may"]["admin"]
    nobody = requests.get(site.url + "/mlops/api/whoami", headers={"Authorization": "token mlops_nope"}, timeout=30)
    assert nobody.status_code == 401


# --- signing in --------------------------------------------------------------------------------

def test_a_wrong_token_is_refused_with_a_message_and_nothing_is_shown(open_page):
    page = open_page()
    page.locator(".jp-mlops-login-token").fill("mlops_not-a-token")
    page.locator(".jp-mlops-login-submit").click()
    expect(page.locator(".jp-mlops-login-error")).to_contain_text("This token is not accepted")
    expect(page.locator(".jp-mlops-login-error")).to_contain_text("jupyter mlops users add NAME --role viewer")
    assert page.evaluate("sessionStorage.length") == 0
    expect(page.locator(".jp-mlops-navigator")).to_have_count(0)
    page.locator(".jp-mlops-login-token").fill("two words")
    page.locator(".jp-mlops-login-submit").click()
    expect(page.locator(".jp-mlops-login-error")).to_contain_text("one word without spaces")
    shoot(page, "login-refused")


def test_a_user_removed_mid_session_is_returned_to_sign_in_with_the_reason(open_page, site):
    added = cli(site.store, "users", "add", "rita", "--role", "viewer")
    assert added.returncode == 0, added.stderr
    page = open_page()
    sign_in(page, added.stdout.strip())
    experiment = page.locator('.jp-mlops-navigator li[data-experiment="churn"]')
    expect(experiment).to_be_visible()  # the navigator's first requests were answered
    removed = cli(site.store, "users", "remove", "rita")
    assert removed.returncode == 0, removed.stderr
    # Her next request gets a 401: opening an experiment, unless the navigator's own poll asked first
    # and the page is back at sign-in already. Either way: no error inside a view, the sign-in form.
    try:
        experiment.click(timeout=5_000)
    except PlaywrightTimeout:
        pass
    expect(page.locator(".jp-mlops-login-error")).to_contain_text("no longer accepts your token")
    expect(page.locator(".jp-mlops-navigator")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('jupyter-mlops:token')") is None
    assert not page.exceptions


# --- the viewer: everything to see, nothing to change ------------------------------------------

def test_a_viewer_browses_experiment_run_and_model_with_no_control_that_changes_things(open_page, site):
    runs = site.runs
    page = open_page()
    sign_in(page, site.tokens["vic"])
    who = page.locator(".jp-mlops-whoami")
    expect(who).to_have_text("signed in as vic · viewer")
    expect(page.locator(".jp-mlops-read-only")).to_be_visible()
    navigator = page.locator(".jp-mlops-navigator")
    expect(navigator.locator('li[data-experiment="churn"] .jp-mlops-nav-count')).to_have_text("3 runs")
    expect(navigator.locator('li[data-model="churn"]')).to_contain_text("v1")

    table = open_experiment(page, "churn", ["churn-c", "churn-b", "churn-a"])
    select_row(page, table, runs["churn-b"])
    expect(table.locator(".jp-mlops-compare")).to_have_text("Compare (1)")  # reading tools stay
    for control in (".jp-mlops-archive", ".jp-mlops-delete", ".jp-mlops-tag"):
        expect(table.locator(control)).to_have_count(1)  # drawn by the view, hidden for this role
        expect(table.locator(control)).to_be_hidden()
    shoot(page, "experiment-viewer")

    run = open_run(page, "churn-b", runs["churn-b"])
    expect(run.locator(".jp-mlops-params")).to_contain_text("0.1")
    expect(run.locator(".jp-mlops-metric-summary")).to_contain_text("accuracy")
    expect(run.locator(".jp-mlops-badge.jp-mlops-pending")).to_have_text("not reviewed")
    expect(run.locator(".jp-mlops-decide")).to_have_count(1)
    expect(run.locator(".jp-mlops-decide")).to_be_hidden()
    expect(run.locator(".jp-mlops-edit-note")).to_be_hidden()
    shoot(page, "run-viewer")

    model = open_model(page, "churn")
    expect(model.locator(".jp-mlops-versions")).to_contain_text("approved")
    expect(model.locator(".jp-mlops-verify")).to_be_visible()
    for control in (".jp-mlops-decide", ".jp-mlops-alias-input", ".jp-mlops-set-alias"):
        expect(model.locator(control)).to_be_hidden()
    shoot(page, "model-viewer")

    # The governance views open in the page too (the lab's own openers): the dataset log_model recorded.
    navigator.locator('li[data-dataset="training_data"]').click()
    dataset = view(page, '.jp-mlops-dataset-view[data-dataset="training_data"]')
    expect(dataset).to_contain_text("churn-b")  # the runs that used it

    # The token stays for the tab (a reload keeps the user signed in) until they sign out.
    page.reload()
    expect(who).to_have_text("signed in as vic · viewer")
    page.locator(".jp-mlops-sign-out").click()
    expect(page.locator(".jp-mlops-login-form")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


# --- the approver: the same views, with the controls, acting as themselves ---------------------

def test_an_approver_sees_the_controls_and_approves_as_themselves(open_page, site):
    runs = site.runs
    page = open_page()
    sign_in(page, site.tokens["abe"])
    expect(page.locator(".jp-mlops-whoami")).to_have_text("signed in as abe · approver")
    expect(page.locator(".jp-mlops-read-only")).to_have_count(0)

    table = open_experiment(page, "churn", ["churn-c", "churn-b", "churn-a"])
    select_row(page, table, runs["churn-c"])
    for control in (".jp-mlops-archive", ".jp-mlops-delete", ".jp-mlops-tag"):
        expect(table.locator(control)).to_be_visible()

    model = open_model(page, "churn")
    for control in (".jp-mlops-alias-input", ".jp-mlops-verify"):
        expect(model.locator(control)).to_be_visible()
    expect(model.locator(".jp-mlops-set-alias")).to_be_disabled()  # until an alias is typed
    shoot(page, "model-approver")

    # A deep link opens the run in a new page load; the tab's token still signs it in.
    page.goto(f"{site.url}/?mlops=run/{runs['churn-b']}")
    run = view(page, f'.jp-mlops-run-view[data-run="{runs["churn-b"]}"]')
    expect(run.locator(".jp-mlops-edit-note")).to_be_visible()
    decide = run.locator(".jp-mlops-decide")
    decide.locator(".jp-mlops-reason").fill("checked in the web UI")
    decide.locator(".jp-mlops-approve").click()
    expect(run.locator(".jp-mlops-badge.jp-mlops-approved").first).to_be_visible()
    shoot(page, "run-approver")
    entries = audit_log(runs["churn-b"], action="approve", store=open_store(site.store))
    assert [(e["actor"], e["details"]["reason"]) for e in entries] == [("abe", "checked in the web UI")]
