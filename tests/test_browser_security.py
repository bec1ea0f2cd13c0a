"""Nothing a teammate stores runs in the JupyterLab page: notebook snapshots, run names, params,
tags, notes and model cards are shown inert in every view; rejecting a model in production asks first.

The snapshot below says every cell is trusted and carries a notebook signature; its outputs hold
JavaScript, a ``<script>`` tag, ``onerror``/``onload`` handlers and markdown HTML. Opened from the
Run view (its Notebook tab and "Open in a tab") and from the Pipeline view ("Open executed
notebook"), each shows its text and sanitized HTML, and none of its scripts runs: no flag set on
``window``, no handler left in the page, no kernel started, no file written beside the user's notebooks.

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
from .test_browser_lab import ARTIFACTS, Lab, click_cell, experiment_view, mirror_rows, new_page, view, wait_rows

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
    page = new_page(browser, lab)  # records dialogs: an alert() from stored data would show there
    yield page
    page.context.close()


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


def test_run_view_shows_the_snapshot_and_runs_no_script_of_it(page, lab, evil_runs):
    page.goto(f"{lab.url}/lab?mlops=run/{evil_runs['run']}&token={lab.token}")
    run = view(page, f'.jp-mlops-run-view[data-run="{evil_runs["run"]}"]')
    run.locator('.jp-mlops-tab[data-tab="notebook"]').click()
    inline = run.locator(".jp-mlops-snapshot", has_text="stdout of experiments snapshot")
    inline.wait_for()
    assert_nothing_ran(page, lab, inline, "experiments snapshot")
    run.get_by_role("button", name="Open in a tab").click()
    tab = view(page, ".jp-mlops-snapshot")
    assert_nothing_ran(page, lab, tab, "experiments snapshot")
    expect(tab.locator(".jp-mlops-snapshot-banner")).to_contain_text("read-only")
    page.screenshot(path=str(ARTIFACTS / "snapshot-untrusted.png"))


def test_open_executed_notebook_runs_no_script_of_the_step(page, lab, evil_runs):
    page.goto(f"{lab.url}/lab?mlops=pipeline/{evil_runs['pipeline']}&token={lab.token}")
    pipeline = view(page, ".jp-mlops-pipeline-view")
    pipeline.locator('g.jp-mlops-dag-node[data-node="evil"]').click()
    pipeline.get_by_text("Open executed notebook").click()
    notebook = view(page, ".jp-mlops-snapshot")
    expect(notebook).to_contain_text("stdout of executed step")
    assert_nothing_ran(page, lab, notebook, "executed step")


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

    page.goto(f"{lab.url}/lab?mlops=model/guarded&token={lab.token}")
    model = view(page, '.jp-mlops-model-view[data-model="guarded"]')
    detail = model.locator('.jp-mlops-version-detail[data-version="1"]')
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


# --- Stored names, params, tags, notes and model cards are text in every view ---------------------

EVIL = {
    "name": '<img src="x-name.png" onerror="window.__pwned_name = 1">',
    "param": '<script>window.__pwned_param = 1</script><img src="x-param.png" onerror="window.__pwned_param = 1">',
    "tag": '<img src="x-tag.png" onerror="window.__pwned_tag = 1">',
    "note": '# A note\n\n<img src="x-note.png" onerror="window.__pwned_note = 1"><script>window.__pwned_note = 1</script>',
    "card": '<img src="x-card.png" onerror="window.__pwned_card = 1"><script>window.__pwned_card = 1</script>',
    "step": '<img src="x-step.png" onerror="window.__pwned_step = 1">',
}
EVIL_FLAGS = [f"__pwned_{k}" for k in EVIL]

LOG_EVIL = """\
import json, sys
import jupyter_mlops as mlops
from jupyter_mlops.registry import approval, package
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
evil = json.loads(sys.argv[1])
X, y = load_iris(return_X_y=True, as_frame=True)
with mlops.start_run(evil["name"], experiment="escaping", params={"p": evil["param"], "C": 1},
                     tags={"t": evil["tag"], "mlops.description": evil["note"], "mlops.purpose": evil["card"]}) as run:
    for step in range(5):
        mlops.log_metric("loss", 1.0 / (step + 1), step=step)
    mlops.log_metric("auc", 0.7)
    mlops.log_model(LogisticRegression(max_iter=300).fit(X, y), training_data=X)
with mlops.start_run("plain", experiment="escaping", params={"p": "plain", "C": 2}) as other:
    for step in range(5):
        mlops.log_metric("loss", 2.0 / (step + 1), step=step)
    mlops.log_metric("auc", 0.8)
approval.approve(run.id, reason="escaping test")
package.export(run.id, "escaping")
with mlops.start_run("evil-dag", experiment="escaping",
                     tags={"mlops.kind": "pipeline", "mlops.dag": json.dumps({evil["step"]: []})}) as pipeline:
    pass
with mlops.start_run(evil["step"], experiment="escaping", parent=pipeline.id, tags={"mlops.step": evil["step"]}):
    pass
print(json.dumps({"run": run.id, "other": other.id, "pipeline": pipeline.id}))
"""


@pytest.fixture(scope="module")
def evil_names(lab_env):
    root, env = lab_env
    out = subprocess.run([sys.executable, "-c", LOG_EVIL, json.dumps(EVIL)], cwd=root, env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def open_navigator_search(page, lab, ids):
    page.goto(f"{lab.url}/lab?token={lab.token}")
    page.locator('li.lm-TabBar-tab[data-id="jp-mlops-sidebar"]').click()
    navigator = page.locator(".jp-mlops-navigator")
    navigator.locator(".jp-mlops-search").fill("x-name")
    expect(navigator.locator(f'[data-section="runs"] li[data-run="{ids["run"]}"]')).to_contain_text(EVIL["name"])
    return navigator


def open_experiment(page, lab, ids):
    page.goto(f"{lab.url}/lab?mlops=experiment/escaping&token={lab.token}")
    table = experiment_view(page, "escaping")
    wait_rows(page, table, lambda rows: any(r["name"] == EVIL["name"] for r in rows), "the evil run")
    row = next(r for r in mirror_rows(table) if r["name"] == EVIL["name"])
    assert row["params.p"] == EVIL["param"] and row["tags.t"] == EVIL["tag"]  # painted as text
    expect(table.locator('.jp-mlops-linechart[data-metric="loss"] .u-legend')).to_contain_text(EVIL["name"])
    expect(table.locator(".jp-mlops-parallel")).to_have_attribute("data-drawn", "true")
    expect(table.locator('.jp-mlops-barchart[data-metric="auc"]')).to_have_attribute("data-drawn", "true")
    return table


def open_run(page, lab, ids):
    page.goto(f"{lab.url}/lab?mlops=run/{ids['run']}&token={lab.token}")
    run = view(page, f'.jp-mlops-run-view[data-run="{ids["run"]}"]')
    expect(run.locator("h2.jp-mlops-title")).to_have_text(EVIL["name"])
    expect(run.locator('.jp-mlops-params tr[data-key="p"] td')).to_have_text(EVIL["param"])
    expect(run.locator('.jp-mlops-tags tr[data-key="t"] td')).to_have_text(EVIL["tag"])
    expect(run.locator(".jp-mlops-note h1")).to_contain_text("A note")  # Markdown, sanitized
    run.locator('.jp-mlops-tab[data-tab="charts"]').click()
    expect(run.locator('.jp-mlops-linechart[data-metric="loss"] .u-legend')).to_contain_text(EVIL["name"])
    return run


def open_compare(page, lab, ids):
    page.goto(f"{lab.url}/lab?mlops=experiment/escaping&token={lab.token}")
    table = experiment_view(page, "escaping")
    rows = wait_rows(page, table, lambda rows: {EVIL["name"], "plain"} <= {r["name"] for r in rows}, "both runs")
    for row in rows:
        if row["name"] in (EVIL["name"], "plain"):
            click_cell(page, table, "select", row["y"])
    wait_rows(page, table, lambda rows: sum(r["selected"] for r in rows) == 2, "both selected")
    table.locator(".jp-mlops-compare").click()
    compare = view(page, ".jp-mlops-compare-view")
    expect(compare.locator('table.jp-mlops-param-diff tr[data-key="p"]')).to_contain_text(EVIL["param"])
    expect(compare.locator(".jp-mlops-legend")).to_contain_text(EVIL["name"])
    return compare


def open_pipeline(page, lab, ids):
    page.goto(f"{lab.url}/lab?mlops=pipeline/{ids['pipeline']}&token={lab.token}")
    pipeline = view(page, ".jp-mlops-pipeline-view")
    node = pipeline.locator("g.jp-mlops-dag-node").first
    expect(node).to_have_attribute("data-node", EVIL["step"])
    node.click()
    expect(pipeline.locator(".jp-mlops-step h3")).to_have_text(EVIL["step"])
    return pipeline


def open_model(page, lab, ids):
    page.goto(f"{lab.url}/lab?mlops=model/escaping&token={lab.token}")
    model = view(page, '.jp-mlops-model-view[data-model="escaping"]')
    card = model.locator(".jp-mlops-card")
    expect(card.locator("h1").first).to_be_visible()  # the card is rendered, its HTML sanitized
    expect(card).to_contain_text("Intended use")
    return model


VIEWS = {"navigator": open_navigator_search, "experiment": open_experiment, "run": open_run,
         "compare": open_compare, "pipeline": open_pipeline, "model": open_model}


@pytest.mark.parametrize("name", list(VIEWS))
def test_stored_html_is_inert_in_every_view(page, lab, evil_names, name):
    shown = VIEWS[name](page, lab, evil_names)
    # Every image in the page has finished loading (here: failed to), so any onerror would have run.
    page.wait_for_function("() => Array.from(document.querySelectorAll('img')).every(i => i.complete)")
    page.wait_for_timeout(200)
    ran = page.evaluate(f"() => {json.dumps(EVIL_FLAGS)}.filter(f => window[f] !== undefined)")
    assert ran == [], f"stored HTML ran in the {name} view: {ran}"
    handlers = shown.evaluate("""v => Array.from(v.querySelectorAll('*')).flatMap(
        e => e.getAttributeNames().filter(n => n.startsWith('on')).map(n => e.tagName + ' ' + n))""")
    assert handlers == [], handlers
    assert shown.locator("script").count() == 0
    assert page.dialogs == []
    page.screenshot(path=str(ARTIFACTS / f"escaping-{name}.png"))
