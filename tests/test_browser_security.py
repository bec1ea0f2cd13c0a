"""A teammate's notebook snapshot opened from the sidebar runs nothing in the JupyterLab page;
rejecting a model in production from the Models panel asks first.

The snapshot below says every cell is trusted and carries a notebook signature; its outputs hold
JavaScript, a ``<script>`` tag, ``onerror``/``onload`` handlers and markdown HTML. Opened from the
Experiments panel ("notebook") and from the Pipelines panel ("Open executed notebook"), each shows
its text and sanitized HTML, and none of its scripts runs: no flag set on ``window``, no handler
left in the page, no kernel started, no file written beside the user's notebooks.

One ``jupyter lab`` and one Chromium for the module, as in test_browser_lab.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from playwright.sync_api import expect

from . import test_browser_lab as shared
from .test_browser_lab import ARTIFACTS, Lab, open_tab

# Fixtures of the lab tests: the served folder with its environment, and one Chromium per module.
lab_env, browser = shared.lab_env, shared.browser

# Each script sets its own flag, so a failure names the output that ran.
FLAGS = ("__pwned_js", "__pwned_script", "__pwned_img", "__pwned_svg", "__pwned_md", "__pwned_md_output",
         "__pwned_iframe")

HTML = ('<b class="evil-html">bold html output</b><script>window.__pwned_script = 1</script>'
        '<img class="evil-img" src="x-missing.png" onerror="window.__pwned_img = 1">'
        '<iframe srcdoc="<script>parent.__pwned_iframe = 1</script>"></iframe>')
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned_svg = 1" width="10" height="10">'
       '<circle r="5" cx="5" cy="5"/></svg>')


def evil_notebook(marker: str) -> str:
    """A notebook as an attacker writes it: raw JSON (nbformat would drop ``trusted`` on write)."""
    trusted = {"trusted": True}
    return json.dumps({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"signature": "sha256:" + "0" * 64, "trusted": True,
                     "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            {"cell_type": "markdown", "id": "md", "metadata": {},
             "source": f"# {marker}\n\n<img class='evil-md' src='y-missing.png' onerror='window.__pwned_md = 1'>"},
            {"cell_type": "code", "id": "code", "metadata": trusted, "execution_count": 1,
             "source": "show_everything()",
             "outputs": [
                 {"output_type": "stream", "name": "stdout", "text": f"stdout of {marker}\n"},
                 {"output_type": "display_data", "metadata": {},
                  "data": {"application/javascript": "window.__pwned_js = 1",
                           "text/plain": "<IPython.core.display.Javascript object>"}},
                 {"output_type": "display_data", "metadata": {}, "data": {"text/html": HTML}},
                 {"output_type": "display_data", "metadata": {}, "data": {"image/svg+xml": SVG}},
                 {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                  "data": {"text/markdown": "<img class='evil-md-output' src='z-missing.png' "
                                            "onerror='window.__pwned_md_output = 1'>",
                           "text/plain": "markdown output"}},
             ]},
        ],
    })


LOG_RUNS = """\
import json, sys
import jupyter_mlops as mlops
snapshot, executed = sys.argv[1], sys.argv[2]
with mlops.start_run("evil-snapshot", experiment="security") as run:
    mlops.log_metric("auc", 0.5)
    mlops.log_artifact(snapshot, "notebook/evil.ipynb")
with mlops.start_run("evil-pipeline", experiment="security",
                     tags={"mlops.kind": "pipeline", "mlops.dag": json.dumps({"evil": []})}) as pipeline:
    pass
with mlops.start_run("evil", experiment="security", parent=pipeline.id, tags={"mlops.step": "evil"}):
    mlops.log_artifact(executed, "executed/evil.ipynb")
print(json.dumps({"run": run.id, "pipeline": pipeline.id}))
"""


@pytest.fixture(scope="module")
def evil_runs(lab_env):
    """A run with the snapshot and a pipeline whose step's executed notebook is another copy of it."""
    root, env = lab_env
    out = subprocess.run([sys.executable, "-c", LOG_RUNS, evil_notebook("experiments snapshot"),
                          evil_notebook("executed step")],
                         cwd=root, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def lab(lab_env):
    root, env = lab_env
    server = Lab(root, env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    dialogs = []  # an alert() from a snapshot would show here
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    page.goto(f"{lab.url}/lab?token={lab.token}")
    page.wait_for_selector("#jp-main-dock-panel")
    page.locator('li.lm-TabBar-tab[data-id="jp-mlops-sidebar"]').click()
    page.wait_for_selector(".jp-mlops-sidebar")
    yield page
    context.close()


def rest(lab, path: str):
    """GET one of Jupyter Server's own REST endpoints (sessions, kernels) as JSON."""
    with urllib.request.urlopen(f"{lab.url}/{path}?token={lab.token}", timeout=10) as response:
        return json.loads(response.read())


def assert_nothing_ran(page, lab, view, marker: str) -> None:
    """The view shows the snapshot's text and sanitized HTML, and no script of it ran."""
    expect(view).to_contain_text(f"stdout of {marker}")
    expect(view.locator(".evil-html")).to_have_text("bold html output")  # sanitized HTML is shown...
    expect(view).to_contain_text("<IPython.core.display.Javascript object>")  # ...JavaScript only as its text
    # Every image of the view has finished loading (here: failed to), so any onerror would have run.
    page.wait_for_function("""view => Array.from(view.querySelectorAll('img')).every(i => i.complete)""",
                           arg=view.element_handle())
    ran = page.evaluate(f"() => {json.dumps(FLAGS)}.filter(f => window[f] !== undefined)")
    assert ran == [], f"scripts of the snapshot ran: {ran}"
    handlers = view.evaluate("""v => Array.from(v.querySelectorAll('*')).flatMap(
        e => e.getAttributeNames().filter(n => n.startsWith('on') || n === 'srcdoc'))""")
    assert handlers == [] and view.locator("script").count() == 0
    assert view.locator("iframe").count() == 0
    assert page.dialogs == []
    # Read-only: nothing editable, no kernel or session started, no copy written to the user's tree.
    assert view.locator(".cm-content[contenteditable='true'], textarea").count() == 0
    assert rest(lab, "api/sessions") == [] and rest(lab, "api/kernels") == []
    assert not (lab.root / "mlops-snapshots").exists()


def test_experiments_notebook_button_runs_no_script_of_the_snapshot(page, lab, evil_runs):
    panel = open_tab(page, "Experiments")
    panel.get_by_title("refresh").click()
    row = panel.locator(f'table.jp-mlops-runs tr[data-run="{evil_runs["run"]}"]')
    row.get_by_text("notebook", exact=True).click()
    view = page.locator(".jp-mlops-snapshot", has_text="stdout of experiments snapshot")
    view.wait_for()
    assert_nothing_ran(page, lab, view, "experiments snapshot")
    expect(view.locator(".jp-mlops-snapshot-banner")).to_contain_text("read-only")
    page.screenshot(path=str(ARTIFACTS / "snapshot-untrusted.png"))


def test_open_executed_notebook_runs_no_script_of_the_step(page, lab, evil_runs):
    panel = open_tab(page, "Pipelines")
    panel.get_by_title("refresh").click()
    panel.locator(f'tr[data-run="{evil_runs["pipeline"]}"]').click()
    panel.locator('g.jp-mlops-dag-node[data-node="evil"]').click()
    panel.get_by_text("Open executed notebook").click()
    view = page.locator(".jp-mlops-snapshot", has_text="stdout of executed step")
    view.wait_for()
    assert_nothing_ran(page, lab, view, "executed step")


LIVE_MODEL = """\
import json
import jupyter_mlops as mlops
from jupyter_mlops.registry import approval, package, versions
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True, as_frame=True)
with mlops.start_run("live-model", experiment="security") as run:
    model = LogisticRegression(max_iter=300).fit(X, y)
    mlops.log_metric("accuracy", model.score(X, y))
    mlops.log_model(model, training_data=X)
approval.approve(run.id, reason="baseline")
package.export(run.id, "guarded")
versions.set_alias("guarded", 1, "production")
print(json.dumps({"run": run.id}))
"""


def test_rejecting_a_model_in_production_asks_first(page, lab, lab_env):
    from jupyter_mlops.registry import approval
    from jupyter_mlops.tracking.store import open_store

    root, env = lab_env
    out = subprocess.run([sys.executable, "-c", LIVE_MODEL], cwd=root, env=env, capture_output=True, text=True,
                         check=True)
    run_id = json.loads(out.stdout.strip().splitlines()[-1])["run"]
    store = open_store(env["MLOPS_TRACKING_URI"])

    panel = open_tab(page, "Models")
    panel.get_by_title("refresh").click()
    panel.locator('.jp-mlops-model-list tr[data-model="guarded"]').click()
    detail = panel.locator('.jp-mlops-version-detail[data-version="1"]')
    detail.locator(".jp-mlops-reason").fill("drifted")

    detail.locator(".jp-mlops-reject").click()  # the server refuses without force; the panel asks
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("guarded@production")
    dialog.get_by_role("button", name="Cancel").click()
    expect(detail.locator(".jp-mlops-error")).to_contain_text("not rejected")
    assert approval.get_approval(run_id, store=store)["decision"] == "approved"

    detail.locator(".jp-mlops-reject").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Reject anyway").click()
    expect(detail.locator(".jp-mlops-badge.jp-mlops-rejected")).to_be_visible()
    record = approval.get_approval(run_id, store=store)
    assert record["decision"] == "rejected" and record["reason"] == "drifted"
