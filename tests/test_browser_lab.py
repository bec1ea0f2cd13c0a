"""The sidebar in a real JupyterLab, driven in Debian's Chromium through Playwright.

One ``jupyter lab`` and one browser for the whole module, stopped as soon as its tests are done
(starting JupyterLab takes seconds; the suite has 2 cores). The store is a fresh SQLite file the
server, the notebooks executed here and the demo pipeline all share. Screenshots of each panel land in ``test-artifacts/``.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import expect

from .conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
BIN = Path(sys.executable).parent

TRAIN = """\
import jupyter_mlops as mlops
with mlops.start_run(run_name, experiment="browser", params={"C": C, "model": "logreg"}):
    for step in range(20):
        mlops.log_metric("loss", 1.0 / (step + 1 + C), step=step)
    mlops.log_metric("auc", 0.8 + C / 100)
"""


MODELS = """\
import jupyter_mlops as mlops
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True, as_frame=True)
for name, C in (("iris-baseline", 1.0), ("iris-candidate", 0.1)):
    with mlops.start_run(name, experiment="models", params={"C": C}):
        model = LogisticRegression(C=C, max_iter=300).fit(X, y)
        mlops.log_metric("accuracy", model.score(X, y))
        mlops.log_model(model, training_data=X)
"""


def write_train_notebook(path: Path, steps: int = 20) -> None:
    nb = new_notebook(cells=[new_code_cell("C = 1.0\nrun_name = 'default'", metadata={"tags": ["parameters"]}),
                             new_code_cell(TRAIN.replace("range(20)", f"range({steps})"))],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A ``jupyter lab`` process on 127.0.0.1 with a token, serving ``root``."""

    def __init__(self, root: Path, env: dict):
        self.root, self.env = root, env
        self.port, self.token = free_port(), uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(root.parent / "lab.log", "wb")  # noqa: SIM115  (the server's output until stop())
        self.proc = subprocess.Popen(
            [str(BIN / "jupyter-lab"), "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             "--ServerApp.port_retries=0", "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
            + (["--allow-root"] if os.geteuid() == 0 else []),
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {(self.root.parent / 'lab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("jupyter lab did not answer within 60 s")

    def api(self, path: str):
        with urllib.request.urlopen(f"{self.url}/mlops/api/{path}?token={self.token}", timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def lab_env(tmp_path_factory):
    """The served folder and the environment of everything started here: one store, private Jupyter dirs."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update({
        "MLOPS_TRACKING_URI": str(root / ".mlops" / "mlops.db"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    })
    # No "get news?" toast over the panels in the screenshots.
    notification = base / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    return root, env


@pytest.fixture(scope="module")
def demo_pipeline(lab_env):
    """The demo pipeline (notebooks/pipeline.yaml) run through the runner, started at once, awaited on use."""
    root, env = lab_env
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("build", ".mlops"))
    proc = subprocess.Popen([sys.executable, "-m", "jupyter_mlops", "run", "notebooks/pipeline.yaml", "-j", "2"],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield proc


@pytest.fixture(scope="module")
def lab(lab_env, demo_pipeline):
    root, env = lab_env
    server = Lab(root, env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


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


@pytest.fixture(scope="module")
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors = []  # shown when a test fails: a panel that throws shows nothing else
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.errors = errors
    page.goto(f"{lab.url}/lab?token={lab.token}")
    page.wait_for_selector("#jp-main-dock-panel")
    page.locator('li.lm-TabBar-tab[data-id="jp-mlops-sidebar"]').click()
    page.wait_for_selector(".jp-mlops-sidebar")
    # Widen the left sidebar as a user would, by dragging its edge.
    box = page.locator("#jp-left-stack").bounding_box()
    edge_x, middle_y = box["x"] + box["width"] + 2, box["y"] + box["height"] / 2
    page.mouse.move(edge_x, middle_y)
    page.mouse.down()
    page.mouse.move(edge_x + 300, middle_y, steps=5)
    page.mouse.up()
    yield page
    context.close()


def execute(notebook: Path, env: dict, **parameters) -> None:
    from jupyter_mlops.execute import execute_notebook

    execute_notebook(notebook, notebook.with_name(f"out-{uuid.uuid4().hex[:6]}.ipynb"), parameters,
                     env={"MLOPS_TRACKING_URI": env["MLOPS_TRACKING_URI"]}, timeout=120)


def open_tab(page, name: str):
    page.locator(".jp-mlops-sidebar .lm-TabBar-tab", has_text=name).click()
    panel = page.locator(f"#jp-mlops-{name.lower()}")
    panel.wait_for(state="visible")
    return panel


@pytest.fixture(scope="module")
def notebook_runs(lab_env):
    """A notebook executed (papermill, a real kernel), edited, and executed again with another C."""
    root, env = lab_env
    write_train_notebook(root / "train.ipynb")
    execute(root / "train.ipynb", env, C=1.0, run_name="small-C")
    write_train_notebook(root / "train.ipynb", steps=30)
    execute(root / "train.ipynb", env, C=10.0, run_name="large-C")


@pytest.fixture(scope="module")
def model_runs(lab_env):
    """Two runs that logged a model; the first approved and exported as iris v1, the second undecided."""
    from jupyter_mlops.registry import approval, package
    from jupyter_mlops.tracking.store import open_store

    root, env = lab_env
    nb = new_notebook(cells=[new_code_cell(MODELS)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, root / "models.ipynb")
    execute(root / "models.ipynb", env)
    store = open_store(env["MLOPS_TRACKING_URI"])
    runs = {r["name"]: r["run_id"] for r in lab_api_runs(store, "experiment = 'models'")}
    approval.approve(runs["iris-baseline"], by="alice", reason="baseline", store=store)
    package.export(runs["iris-baseline"], "iris", by="alice", store=store)
    return store, runs


def lab_api_runs(store, filter: str) -> list[dict]:
    from jupyter_mlops.server.queries import runs_page

    return runs_page(store, filter=filter)["runs"]


def test_a_run_a_notebook_just_logged_shows_up(page, lab, notebook_runs):
    panel = open_tab(page, "Experiments")
    panel.get_by_title("refresh").click()
    rows = panel.locator("table.jp-mlops-runs tbody tr")
    rows.filter(has_text="large-C").wait_for()
    small = rows.filter(has_text="small-C")
    assert "FINISHED" in small.inner_text()
    assert small.locator(".jp-mlops-status-finished").count() == 1
    page.screenshot(path=str(ARTIFACTS / "experiments.png"))

    # The filter box speaks the filter language, evaluated by the server.
    panel.locator(".jp-mlops-filter-input").fill("params.C > 5")
    panel.locator(".jp-mlops-filter-input").press("Enter")
    rows.filter(has_text="small-C").wait_for(state="detached")
    assert rows.filter(has_text="large-C").count() == 1
    panel.locator(".jp-mlops-filter-input").fill("params.C >> 5")
    panel.locator(".jp-mlops-filter-input").press("Enter")
    assert "position" in panel.locator(".jp-mlops-error").inner_text()
    panel.locator(".jp-mlops-filter-input").fill("")
    panel.locator(".jp-mlops-filter-input").press("Enter")
    rows.filter(has_text="small-C").wait_for()


def test_compare_two_runs_highlights_the_changed_parameter(page, lab, notebook_runs):
    panel = open_tab(page, "Experiments")
    panel.locator(".jp-mlops-filter-input").fill("experiment = 'browser'")
    panel.locator(".jp-mlops-filter-input").press("Enter")
    panel.get_by_title("refresh").click()
    rows = panel.locator("table.jp-mlops-runs tbody tr")
    for name in ("small-C", "large-C"):
        rows.filter(has_text=name).first.locator("input[type=checkbox]").check()
    panel.locator(".jp-mlops-compare").click()

    view = page.locator(".jp-mlops-compare-view")
    view.wait_for()
    changed = view.locator("table.jp-mlops-param-diff tr.jp-mlops-differs")
    changed.first.wait_for()
    # C, and run_name: papermill's injected parameters are logged as params too.
    assert {changed.nth(i).get_attribute("data-param") for i in range(changed.count())} == {"C", "run_name"}
    c_row = view.locator('table.jp-mlops-param-diff tr[data-param="C"]')
    assert c_row.locator("td").all_inner_texts()[1:] in (["1.0", "10.0"], ["10.0", "1.0"])
    same = view.locator('table.jp-mlops-param-diff tr[data-param="model"]')
    assert same.get_attribute("class") == ""
    view.locator('svg.jp-mlops-chart[data-metric="loss"] polyline').nth(1).wait_for()
    assert view.locator('svg.jp-mlops-chart[data-metric="loss"] polyline').count() == 2
    assert view.locator("svg.jp-mlops-parallel polyline").count() == 2
    page.screenshot(path=str(ARTIFACTS / "compare.png"))

    panel.locator(".jp-mlops-diff").click()
    diff = page.locator(".jp-mlops-nbdiff")
    diff.wait_for()
    changed = diff.locator('.jp-mlops-cell[data-op="changed"]')
    assert changed.count() == 1  # the training cell edited between the two runs; the rest is hidden as equal
    assert changed.locator(".jp-mlops-del").all_inner_texts() == ["-    for step in range(20):"]
    assert changed.locator(".jp-mlops-add").all_inner_texts() == ["+    for step in range(30):"]
    page.screenshot(path=str(ARTIFACTS / "notebook-diff.png"))


def test_demo_pipeline_dag_with_step_statuses(page, lab, demo_pipeline):
    out, _ = demo_pipeline.communicate(timeout=300)
    assert demo_pipeline.returncode == 0, out[-3000:]
    (pipeline,) = lab.api("pipelines")["pipelines"]

    panel = open_tab(page, "Pipelines")
    panel.get_by_title("refresh").click()
    panel.locator(f'tr[data-run="{pipeline["run_id"]}"]').click()
    nodes = panel.locator("svg.jp-mlops-dag g.jp-mlops-dag-node")
    nodes.first.wait_for()
    shown = {nodes.nth(i).get_attribute("data-node"): nodes.nth(i).get_attribute("data-status")
             for i in range(nodes.count())}
    assert shown == {s["node"]: s["status"] for s in pipeline["steps"]}
    assert set(shown) == {"prepare", "train[0]", "train[1]", "train[2]", "train[3]", "evaluate"}
    assert set(shown.values()) == {"FINISHED"}
    best = [s["node"] for s in pipeline["steps"] if s["best"]]
    assert len(best) == 1 and "★ best" in panel.locator(f'g.jp-mlops-dag-node[data-node="{best[0]}"]').text_content()
    fill = panel.locator('g.jp-mlops-dag-node[data-node="evaluate"] rect').get_attribute("fill")
    assert fill == "#c8e6c9"  # FINISHED green
    panel.locator('g.jp-mlops-dag-node[data-node="evaluate"]').click()
    assert "evaluate" in panel.locator(".jp-mlops-step").inner_text()
    page.screenshot(path=str(ARTIFACTS / "pipelines.png"))

    panel.get_by_text("Open executed notebook").click()
    notebook = page.locator(".jp-mlops-snapshot").first
    notebook.wait_for()  # shown read-only and untrusted, no kernel (test_browser_security.py)
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
    assert tab.inner_text().strip().startswith("evaluate.ipynb")
    expect(notebook).to_contain_text("test_auc")  # the executed evaluate step, with its outputs


def test_approve_a_run_and_set_an_alias_from_the_models_panel(page, lab, model_runs):
    from jupyter_mlops.registry import approval, versions

    store, runs = model_runs
    panel = open_tab(page, "Models")
    panel.get_by_title("refresh").click()
    candidate = panel.locator(f'.jp-mlops-candidate[data-run="{runs["iris-candidate"]}"]')
    candidate.wait_for()
    # The exported run is decided already; the demo pipeline's trained models wait too.
    assert panel.locator(f'.jp-mlops-candidate[data-run="{runs["iris-baseline"]}"]').count() == 0
    page.screenshot(path=str(ARTIFACTS / "models.png"))

    candidate.locator(".jp-mlops-reason").fill("smaller C generalises better")
    candidate.locator(".jp-mlops-approve").click()
    candidate.wait_for(state="detached")
    record = approval.get_approval(runs["iris-candidate"], store=store)
    assert record["decision"] == "approved" and record["reason"] == "smaller C generalises better"

    detail = panel.locator('.jp-mlops-version-detail[data-version="1"]')
    detail.wait_for()
    assert "approved" in detail.inner_text() and "alice" in detail.inner_text()
    assert "iris/1" in detail.locator(".jp-mlops-card").inner_text()  # the model card
    detail.locator(".jp-mlops-verify").click()
    detail.locator('[data-verify="ok"]').wait_for()
    detail.locator(".jp-mlops-alias-input").fill("production")
    detail.locator(".jp-mlops-set-alias").click()
    panel.locator('.jp-mlops-model-list tr[data-model="iris"]', has_text="@production").wait_for()
    assert versions.get_version("iris@production", store=store)["version"] == 1
    page.screenshot(path=str(ARTIFACTS / "models-after.png"))


LIVE = """\
import time
import jupyter_mlops as mlops
run = mlops.start_run("live-chart", experiment="browser")
display(mlops.widgets.live(interval=0.3))
for step in range(80):
    mlops.log_metric("loss", 1.0 / (step + 1), step=step)
    time.sleep(0.1)
mlops.end_run()
"""


def test_live_chart_updates_in_the_browser_while_the_cell_logs(page, lab, lab_env):
    """Last in this module: it navigates the shared page to a notebook."""
    root, _ = lab_env
    nb = new_notebook(cells=[new_code_cell(LIVE)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, root / "live.ipynb")
    page.goto(f"{lab.url}/lab/tree/live.ipynb?token={lab.token}")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)", has_text="widgets.live")
    # Run the cell once its kernel is idle. Even then a Shift+Enter can go unexecuted on a loaded
    # machine (seen in CI: the cell kept its "[ ]:" prompt and the kernel stayed idle), so press
    # again while the prompt shows that no execution was requested (a queued one shows "[*]:").
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_attached(timeout=120_000)
    cell = notebook.locator(".jp-Cell").first
    for _ in range(3):
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        try:
            expect(cell.locator(".jp-InputArea-prompt")).not_to_have_text("[ ]:", timeout=15_000)
            break
        except AssertionError:
            continue

    label = notebook.locator(".jp-OutputArea-output .widget-html-content").first
    expect(label).to_be_attached(timeout=120_000)  # the widget's first render, after its imports
    chart = notebook.locator(".jp-OutputArea-output img")

    def points() -> int:
        text = label.inner_text(timeout=60_000)
        return int(text.split(" points")[0].rsplit(" ", 1)[-1]) if " points" in text else 0

    deadline = time.monotonic() + 90
    while points() == 0:
        assert time.monotonic() < deadline, "the live chart never showed a point"
        time.sleep(0.2)
    first_points, first_src = points(), chart.get_attribute("src")
    while points() <= first_points:  # it redraws in the browser while the cell is still logging
        assert time.monotonic() < deadline, "the live chart did not update"
        time.sleep(0.2)
    assert chart.get_attribute("src") != first_src
    assert "RUNNING" in label.inner_text()
    page.screenshot(path=str(ARTIFACTS / "live-chart.png"))
    expect(label).to_contain_text("FINISHED", timeout=60_000)
    assert points() == 80
