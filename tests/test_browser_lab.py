"""The MLOps views in a real JupyterLab, driven in Debian's Chromium through Playwright.

One ``jupyter lab`` and one browser for the whole module, stopped as soon as its tests are done
(starting JupyterLab takes seconds; the suite has 2 cores). The store is a fresh SQLite file the
server, the notebooks executed here and the pipelines all share. Screenshots of every view, in
the light and the dark theme, land in ``test-artifacts/``.

The runs table is drawn on a canvas (Lumino's DataGrid); its hidden mirror table holds the text
of the rows in view and where each cell is painted, so a test reads rows there and clicks the
canvas where the cell is.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from .conftest import ROOT
from .helpers.net import free_port
from .helpers.waiting import CEILING

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
BIN = Path(sys.executable).parent
KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}

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

# A run with an image, a CSV, an HTML page and a JSON file among its artifacts.
ARTIFACT_RUN = """\
import json, struct, zlib
import jupyter_mlops as mlops

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

rows = b"".join(b"\\x00" + b"\\xd6\\x27\\x28" * 16 for _ in range(16))  # a 16x16 red square
PNG = (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
with mlops.start_run("with-artifacts", experiment="artifacts", params={"C": 3}) as run:
    mlops.log_metric("auc", 0.9)
    mlops.log_artifact(PNG, "plots/roc.png")
    mlops.log_artifact("fold,auc\\n1,0.91\\n2,0.88\\n3,0.93\\n", "eval/folds.csv")
    mlops.log_artifact("<h1 class='page'>report</h1><script>parent.__pwned_html = 1</script>", "eval/report.html")
    mlops.log_artifact(json.dumps({"threshold": 0.5}), "eval/config.json")
print(json.dumps({"run": run.id}))
"""

FAILING_SPEC = """\
name: failing
steps:
  fit:
    notebook: fit.ipynb
"""
FAILING_CELL = "import jupyter_mlops as mlops\nmlops.log_metric('loss', 1.0)\nraise ValueError('the training data has no rows')"


def write_train_notebook(path: Path, steps: int = 20) -> None:
    nb = new_notebook(cells=[new_code_cell("C = 1.0\nrun_name = 'default'", metadata={"tags": ["parameters"]}),
                             new_code_cell(TRAIN.replace("range(20)", f"range({steps})"))], metadata=KERNEL)
    nbformat.write(nb, path)


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
        with urllib.request.urlopen(f"{self.url}/mlops/api/{path}{'&' if '?' in path else '?'}token={self.token}",
                                    timeout=10) as r:
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
    # No "get news?" toast over the views in the screenshots.
    notification = base / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    return root, env


def run_python(lab_env, code: str, *args: str) -> dict:
    """Run ``code`` against the test store in a process of its own; returns its last line as JSON."""
    root, env = lab_env
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=root, env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


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


def new_page(browser, lab, url: str = "/lab"):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors = []  # shown when a test fails: a view that throws shows nothing else
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.errors = errors
    exceptions = []  # uncaught in the page: a bug in a view, whatever the test looked at
    page.on("pageerror", lambda exc: exceptions.append(f"{exc}\n{exc.stack}"))
    page.exceptions = exceptions
    dialogs = []  # an alert() from stored data would show here
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    page.goto(f"{lab.url}{url}{'&' if '?' in url else '?'}token={lab.token}")
    page.wait_for_selector("#jp-main-dock-panel")
    return page


@pytest.fixture(scope="module")
def page(browser, lab):
    page = new_page(browser, lab)
    yield page
    page.context.close()


def execute(notebook: Path, env: dict, **parameters) -> None:
    from jupyter_mlops.execute import execute_notebook

    execute_notebook(notebook, notebook.with_name(f"out-{uuid.uuid4().hex[:6]}.ipynb"), parameters,
                     env={"MLOPS_TRACKING_URI": env["MLOPS_TRACKING_URI"]}, timeout=120)


@pytest.fixture(scope="module")
def notebook_runs(lab_env):
    """A notebook executed (papermill, a real kernel) with C=8, edited, and executed again with C=12."""
    root, env = lab_env
    write_train_notebook(root / "train.ipynb")
    execute(root / "train.ipynb", env, C=8, run_name="c8")
    write_train_notebook(root / "train.ipynb", steps=30)
    execute(root / "train.ipynb", env, C=12, run_name="c12")
    return {r["name"]: r["run_id"] for r in runs_of(env, "experiment = 'browser'")}


@pytest.fixture(scope="module")
def artifact_run(lab_env):
    return run_python(lab_env, ARTIFACT_RUN)["run"]


@pytest.fixture(scope="module")
def failing_pipeline(lab_env):
    """A one-step pipeline whose notebook raises: its step run is FAILED with the traceback recorded."""
    root, env = lab_env
    folder = root / "failing"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text(FAILING_SPEC)
    nbformat.write(new_notebook(cells=[new_code_cell(FAILING_CELL)], metadata=KERNEL), folder / "fit.ipynb")
    proc = subprocess.run([sys.executable, "-m", "jupyter_mlops", "run", "failing/pipeline.yaml"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout[-2000:]
    (step,) = [r for r in runs_of(env, "name = 'fit'")]
    return step["run_id"]


@pytest.fixture(scope="module")
def model_runs(lab_env):
    """Two runs that logged a model; the first approved and exported as iris v1, the second undecided."""
    from jupyter_mlops.registry import approval, package
    from jupyter_mlops.tracking.store import open_store

    root, env = lab_env
    nbformat.write(new_notebook(cells=[new_code_cell(MODELS)], metadata=KERNEL), root / "models.ipynb")
    execute(root / "models.ipynb", env)
    store = open_store(env["MLOPS_TRACKING_URI"])
    runs = {r["name"]: r["run_id"] for r in runs_of(env, "experiment = 'models'")}
    approval.approve(runs["iris-baseline"], by="alice", reason="baseline", store=store)
    package.export(runs["iris-baseline"], "iris", by="alice", store=store)
    return store, runs


def runs_of(env, filter: str) -> list[dict]:
    from jupyter_mlops.server.queries import runs_page
    from jupyter_mlops.tracking.store import open_store

    return runs_page(open_store(env["MLOPS_TRACKING_URI"]), filter=filter, page_size=500)["runs"]


def demo_run(lab) -> dict:
    """The first run of the demo pipeline (a re-run makes another)."""
    return [p for p in lab.api("pipelines")["pipelines"] if p["name"] == "demo"][-1]


# --- helpers that drive the views -----------------------------------------------------------

def open_navigator(page):
    """The navigator, shown (its sidebar tab toggles it, so it is clicked only when hidden)."""
    navigator = page.locator(".jp-mlops-navigator")
    page.locator('li.lm-TabBar-tab[data-id="jp-mlops-sidebar"]').wait_for()
    if not navigator.is_visible():
        page.locator('li.lm-TabBar-tab[data-id="jp-mlops-sidebar"]').click()
    navigator.wait_for(state="visible")
    return navigator


def current_tab(page):
    return page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")


def view(page, selector: str):
    """The view of that class in the current main-area tab.

    Often the first thing a test waits for after loading the page, so the wait spans the lab's
    whole start (extensions, settings, the restored workspace, then the deep link): on an
    overloaded machine that can pass Playwright's 30 s per step, so it gets the suite's ceiling."""
    found = page.locator(f".jp-mlops-view-widget:not(.lm-mod-hidden) {selector}").first
    found.wait_for(timeout=CEILING * 1000)
    return found


def experiment_view(page, name: str):
    return view(page, f'.jp-mlops-experiment-view[data-experiment="{name}"]')


def mirror_rows(table) -> list[dict]:
    """The rows the grid paints, read from its mirror: ``{run, name, status, <column id>: text}``."""
    return table.evaluate("""v => Array.from(v.querySelectorAll('table.jp-mlops-grid-mirror tbody tr[data-run]')).map(tr => {
        const cells = Array.from(tr.cells);
        const row = {run: tr.dataset.run, name: cells[1].textContent, status: cells[2].textContent,
                     selected: tr.dataset.selected === 'true', y: Number(tr.dataset.y)};
        cells.slice(3).forEach(td => { row[td.dataset.column] = td.textContent; });
        return row;
    })""")


def wait_rows(page, table, predicate, what: str, timeout: float = 30):
    """Wait until the painted rows satisfy ``predicate`` (read from the mirror); returns them."""
    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        rows = mirror_rows(table)
        if predicate(rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"{what}: rows were {[r['name'] for r in rows]}")


def click_cell(page, table, column: str, row_y: float | None = None):
    """Click the canvas where the mirror says ``column``'s header (or its cell at ``row_y``) is painted."""
    th = table.locator(f'table.jp-mlops-grid-mirror th[data-column="{column}"]')
    box = table.locator(".jp-mlops-runs-grid").bounding_box()
    x = float(th.get_attribute("data-x"))
    y = float(th.get_attribute("data-y")) if row_y is None else row_y
    page.mouse.click(box["x"] + x, box["y"] + y)


def shoot(page, name: str) -> None:
    """A screenshot of what the test sees, taken when the page has thrown nothing so far."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    assert page.exceptions == [], page.exceptions


# --- shape: navigator, commands, deep links ----------------------------------------------------

def test_navigator_lists_experiments_pipelines_models_and_opens_views(page, lab, notebook_runs, model_runs,
                                                                       demo_pipeline):
    out, _ = demo_pipeline.communicate(timeout=300)
    assert demo_pipeline.returncode == 0, out[-3000:]
    navigator = open_navigator(page)
    experiment = navigator.locator('li[data-experiment="browser"]')
    expect(experiment.locator(".jp-mlops-nav-count")).to_have_text("2 runs")
    expect(navigator.locator('li[data-model="iris"]')).to_contain_text("iris")
    expect(navigator.locator('[data-section="pipelines"] li', has_text="demo")).to_have_count(1)
    expect(navigator.locator('[data-section="pending"] li').first).to_be_visible()
    shoot(page, "navigator")

    # The search box narrows every list and finds runs by name.
    navigator.locator(".jp-mlops-search").fill("c1")
    expect(navigator.locator('[data-section="runs"] li')).to_contain_text(["c12"])
    expect(navigator.locator('li[data-experiment="browser"]')).to_have_count(0)
    navigator.locator('[data-section="runs"] li', has_text="c12").click()
    view(page, f'.jp-mlops-run-view[data-run="{notebook_runs["c12"]}"]')
    expect(current_tab(page)).to_have_text("c12")  # titled by name, not by id
    navigator.locator(".jp-mlops-search").fill("")

    navigator.locator('li[data-experiment="browser"]').click()
    experiment_view(page, "browser")
    expect(current_tab(page)).to_have_text("browser")
    navigator.locator('li[data-model="iris"]').click()
    view(page, '.jp-mlops-model-view[data-model="iris"]')
    expect(current_tab(page)).to_have_text("iris")
    navigator.locator('[data-section="pipelines"] li', has_text="demo").click()
    view(page, ".jp-mlops-pipeline-view")
    expect(current_tab(page)).to_have_text("demo (pipeline)")


def test_deep_links_and_the_palette_open_every_view(browser, lab, notebook_runs, model_runs):
    pipeline = demo_run(lab)
    links = {
        f"run/{notebook_runs['c8']}": (".jp-mlops-run-view", "c8"),
        "experiment/browser": ('.jp-mlops-experiment-view[data-experiment="browser"]', "browser"),
        f"pipeline/{pipeline['run_id']}": (".jp-mlops-pipeline-view", "demo (pipeline)"),
        "model/iris": ('.jp-mlops-model-view[data-model="iris"]', "iris"),
    }
    for link, (selector, title) in links.items():
        page = new_page(browser, lab, f"/lab?mlops={link}")
        try:
            view(page, selector)
            expect(current_tab(page)).to_have_text(title)
            assert "mlops=" not in page.url  # handled once, not again on reload
        finally:
            page.context.close()

    page = new_page(browser, lab)
    try:
        run_command(page, "MLOps: Open run…")
        dialog = page.locator(".jp-Dialog")
        dialog.locator("input").fill("c12")
        dialog.get_by_role("button", name="Ok").click()
        view(page, f'.jp-mlops-run-view[data-run="{notebook_runs["c12"]}"]')
        expect(current_tab(page)).to_have_text("c12")
    finally:
        page.context.close()


# --- experiment view ---------------------------------------------------------------------------

LIVE_NOTEBOOK = "import jupyter_mlops as mlops\nwith mlops.start_run('appeared-live', experiment='browser', params={'C': 100}):\n    mlops.log_metric('auc', 0.7)"


def test_experiment_table_shows_a_run_started_by_a_notebook_without_refreshing(page, lab, lab_env, notebook_runs):
    root, env = lab_env
    page.goto(f"{lab.url}/lab?mlops=experiment/browser&token={lab.token}")
    table = experiment_view(page, "browser")
    rows = wait_rows(page, table, lambda rows: {"c8", "c12"} <= {r["name"] for r in rows}, "the notebook runs")
    c8 = next(r for r in rows if r["name"] == "c8")
    assert c8["status"] == "FINISHED" and c8["params.C"] == "8" and c8["metrics.auc"] == "0.8800"
    assert c8["duration"].endswith(("ms", "s")) and c8["start_time"].endswith("ago")
    groups = table.evaluate("""v => Array.from(v.querySelectorAll('table.jp-mlops-grid-mirror th'))
        .map(th => th.dataset.group)""")
    assert groups.index("params") < groups.index("metrics")  # grouped headers: run | params | metrics | tags
    shoot(page, "experiment")

    nbformat.write(new_notebook(cells=[new_code_cell(LIVE_NOTEBOOK)], metadata=KERNEL), root / "live_run.ipynb")
    execute(root / "live_run.ipynb", env)
    # Nobody presses anything: the change cursor moves and the rows in view reload.
    rows = wait_rows(page, table, lambda rows: any(r["name"] == "appeared-live" for r in rows), "the new run")
    expect(table.locator(".jp-mlops-count")).to_have_text("3 runs")
    assert rows[0]["name"] == "appeared-live"  # newest first


def test_sorting_by_a_numeric_parameter_orders_12_after_8(page, lab, notebook_runs):
    page.goto(f"{lab.url}/lab?mlops=experiment/browser&token={lab.token}")
    table = experiment_view(page, "browser")
    wait_rows(page, table, lambda rows: {"c8", "c12"} <= {r["name"] for r in rows}, "the runs")

    def sorted_by_c(direction: str, names: list[str]):
        """The header says ``direction`` and c8/c12 are painted in the order ``names``."""
        header = table.locator(f'th[data-column="params.C"][aria-sort="{direction}"]')
        return lambda rows: header.count() == 1 and [r["name"] for r in rows if r["name"] in names] == names

    click_cell(page, table, "params.C")
    wait_rows(page, table, sorted_by_c("ascending", ["c8", "c12"]), "ascending by C (8 before 12: as numbers)")
    click_cell(page, table, "params.C")
    wait_rows(page, table, sorted_by_c("descending", ["c12", "c8"]), "descending by C")


def test_column_chooser_hides_a_column_and_it_stays_hidden_after_a_reload(page, lab, lab_env, notebook_runs):
    saved = Path(lab_env[1]["JUPYTERLAB_SETTINGS_DIR"]) / "jupyter-mlops" / "plugin.jupyterlab-settings"
    page.goto(f"{lab.url}/lab?mlops=experiment/browser&token={lab.token}")
    table = experiment_view(page, "browser")
    wait_rows(page, table, lambda rows: rows and "params.model" in rows[0], "the model column")
    table.locator(".jp-mlops-columns-button").click()
    table.locator('.jp-mlops-columns-popup label[data-column="params.model"] input').uncheck()
    table.locator(".jp-mlops-columns-popup").get_by_role("button", name="Done").click()
    wait_rows(page, table, lambda rows: rows and "params.model" not in rows[0], "the model column hidden")
    deadline = time.monotonic() + 30
    while not (saved.exists() and "params.model" in saved.read_text()):  # saved in the user's settings
        assert time.monotonic() < deadline, "the hidden column was not saved"
        time.sleep(0.1)

    page.reload()
    page.wait_for_selector("#jp-main-dock-panel")
    page.goto(f"{lab.url}/lab?mlops=experiment/browser&token={lab.token}")
    table = experiment_view(page, "browser")
    rows = wait_rows(page, table, lambda rows: len(rows) >= 2, "the rows after the reload")
    assert "params.model" not in rows[0] and "params.C" in rows[0]
    table.locator(".jp-mlops-columns-button").click()
    table.locator('.jp-mlops-columns-popup label[data-column="params.model"] input').check()
    table.locator(".jp-mlops-columns-popup").get_by_role("button", name="Done").click()
    wait_rows(page, table, lambda rows: rows and "params.model" in rows[0], "the model column shown again")


def test_filter_box_suggests_keys_and_greys_the_old_rows_while_invalid(page, lab, notebook_runs):
    page.goto(f"{lab.url}/lab?mlops=experiment/browser&token={lab.token}")
    table = experiment_view(page, "browser")
    wait_rows(page, table, lambda rows: len(rows) >= 2, "the runs")
    box = table.locator(".jp-mlops-filter-input")
    box.click()
    box.type("au")
    suggestions = table.locator(".jp-mlops-suggestions li")
    expect(suggestions.first).to_have_attribute("data-value", "metrics.auc")  # a metric key, found by its name
    box.press("Enter")
    expect(box).to_have_value("metrics.auc ")
    expect(suggestions.filter(has_text=">=")).to_have_count(1)  # then the operators
    # The half-written filter is applied after a pause (and said to be incomplete); the view keeps it
    # trimmed, but the space the user types on from stays in the box.
    expect(table.locator(".jp-mlops-filter-error")).to_contain_text("expected an operator")
    expect(box).to_have_value("metrics.auc ")
    box.type("> 0.9")
    expect(box).to_have_value("metrics.auc > 0.9")  # typed right after the suggestion, in order
    wait_rows(page, table, lambda rows: [r["name"] for r in rows] == ["c12"], "metrics.auc > 0.9")

    box.fill("metrics.auc >> 0.9")
    expect(table.locator(".jp-mlops-filter-error")).to_contain_text("position")
    expect(table.locator(".jp-mlops-runs-table")).to_have_class(re.compile("jp-mlops-stale"))
    assert [r["name"] for r in mirror_rows(table)] == ["c12"]  # the old rows stay, greyed
    shoot(page, "experiment-invalid-filter")
    box.fill("params.C >= 8")
    expect(table.locator(".jp-mlops-runs-table")).not_to_have_class(re.compile("jp-mlops-stale"))
    wait_rows(page, table, lambda rows: {"c8", "c12"} <= {r["name"] for r in rows}, "params.C >= 8")


def test_csv_export_holds_the_filtered_rows_and_the_shown_columns(page, lab, notebook_runs):
    page.goto(f"{lab.url}/lab?mlops=experiment/browser&token={lab.token}")
    table = experiment_view(page, "browser")
    wait_rows(page, table, lambda rows: len(rows) >= 2, "the runs")
    table.locator(".jp-mlops-filter-input").fill("params.C = 8")
    wait_rows(page, table, lambda rows: [r["name"] for r in rows] == ["c8"], "the filtered run")
    with page.expect_download() as download:
        table.locator(".jp-mlops-export").click()
    assert download.value.suggested_filename == "browser.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["name"] for r in rows] == ["c8"] and rows[0]["params.C"] == "8" and rows[0]["status"] == "FINISHED"
    assert "metrics.auc" in rows[0] and "id" not in rows[0]  # the columns shown (id is hidden by default)


def test_charts_panel_draws_lines_and_the_parallel_brush_narrows_the_table(page, lab, notebook_runs):
    page.goto(f"{lab.url}/lab?mlops=experiment/browser&token={lab.token}")
    table = experiment_view(page, "browser")
    wait_rows(page, table, lambda rows: len(rows) >= 2, "the runs")
    chart = table.locator('.jp-mlops-linechart[data-metric="loss"]')
    expect(chart).to_have_attribute("data-drawn", "true")
    expect(chart.locator(".u-legend")).to_contain_text("c8")  # legends by run name
    expect(chart.locator(".u-legend")).to_contain_text("c12")
    table.locator(".jp-mlops-log").check()  # log scale redraws
    expect(chart).to_have_attribute("data-drawn", "true")
    bars = table.locator('.jp-mlops-barchart[data-metric="auc"]')  # one value per run: bars
    expect(bars).to_have_attribute("data-drawn", "true")

    parallel = table.locator(".jp-mlops-parallel")
    expect(parallel).to_have_attribute("data-drawn", "true")
    parallel.scroll_into_view_if_needed()
    expect(parallel).to_have_attribute("data-extents", re.compile(r"^\["))
    shoot(page, "experiment-charts")
    # Brush the colour axis (the last: auc) from above 0.92 down to 0.90: c12 (0.92) only, not c8 (0.88).
    box = parallel.bounding_box()
    right = float(parallel.get_attribute("data-right"))
    top, bottom = float(parallel.get_attribute("data-top")), float(parallel.get_attribute("data-bottom"))
    low, high = json.loads(parallel.get_attribute("data-extents"))[-1]
    x = box["x"] + box["width"] - right
    y_top, y_bottom = box["y"] + top, box["y"] + box["height"] - bottom

    def y(value):
        return y_bottom - (value - low) / (high - low) * (y_bottom - y_top)

    # From 0.93, or from the top margin when 0.93 is above the chart (the axis ends at the highest
    # auc: 0.92 when this test runs alone, higher after the live test's run).
    page.mouse.move(x, max(y(0.93), box["y"] + top / 2))
    page.mouse.down()
    page.mouse.move(x, y(0.90), steps=5)
    page.mouse.up()
    expect(table.locator(".jp-mlops-brush-filter")).to_contain_text("metrics.auc >=")
    wait_rows(page, table, lambda rows: [r["name"] for r in rows] == ["c12"], "the brushed runs")
    table.locator(".jp-mlops-clear-brush").click()
    wait_rows(page, table, lambda rows: {"c8", "c12"} <= {r["name"] for r in rows}, "every run again")


ELSEWHERE_RUN = "import jupyter_mlops as mlops, json\nwith mlops.start_run('elsewhere', experiment='other') as run:\n    pass\nprint(json.dumps({'run': run.id}))"


def test_a_live_refresh_that_brings_the_same_series_leaves_the_charts_alone(page, lab, lab_env, notebook_runs):
    """A run logged in another experiment moves the change cursor: the panel asks again, gets the
    same series, and redraws neither its line charts (a user's zoom would go), its scatter (the
    tip of the point under the mouse would go) nor its parallel coordinates (a brush being dragged
    would go)."""
    page.goto(f"{lab.url}/lab?mlops=experiment/browser&token={lab.token}")
    table = experiment_view(page, "browser")
    wait_rows(page, table, lambda rows: len(rows) >= 2, "the runs")
    chart = table.locator('.jp-mlops-linechart[data-metric="loss"]')
    expect(chart).to_have_attribute("data-drawn", "true")
    parallel = table.locator(".jp-mlops-parallel")
    expect(parallel).to_have_attribute("data-drawn", "true")
    charts = table.locator(".jp-mlops-charts")
    answered = charts.get_attribute("data-answered")
    chart.evaluate("c => { c.querySelector('canvas').dataset.before = 'refresh'; }")
    scatter = table.locator(".jp-mlops-scatter")
    expect(scatter).to_have_attribute("data-drawn", "true")
    given = [parallel.get_attribute("data-options"), scatter.get_attribute("data-options")]  # ECharts keeps its canvas
    run_python(lab_env, ELSEWHERE_RUN)
    page.wait_for_function("([node, old]) => node.dataset.answered !== old", arg=[charts.element_handle(), answered])
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    expect(chart).to_have_attribute("data-drawn", "true")
    assert chart.evaluate("c => c.querySelector('canvas').dataset.before") == "refresh"
    assert [parallel.get_attribute("data-options"), scatter.get_attribute("data-options")] == given


def test_compare_view_highlights_differences_overlays_charts_and_diffs_notebooks(page, lab, notebook_runs):
    page.goto(f"{lab.url}/lab?mlops=experiment/browser&token={lab.token}")
    table = experiment_view(page, "browser")
    table.locator(".jp-mlops-filter-input").fill("name IN ('c8', 'c12')")
    rows = wait_rows(page, table, lambda rows: {r["name"] for r in rows} == {"c8", "c12"}, "the two runs")
    for row in rows:
        click_cell(page, table, "select", row["y"])
    wait_rows(page, table, lambda rows: all(r["selected"] for r in rows), "both selected")
    table.locator(".jp-mlops-compare").click()

    compare = view(page, ".jp-mlops-compare-view")
    expect(current_tab(page)).to_have_text(re.compile(r"^(c12 vs c8|c8 vs c12)$"))
    changed = compare.locator("table.jp-mlops-param-diff tr.jp-mlops-differs")
    changed.first.wait_for()
    # C, and run_name: papermill's injected parameters are logged as params too.
    assert {changed.nth(i).get_attribute("data-key") for i in range(changed.count())} == {"C", "run_name"}
    assert compare.locator('table.jp-mlops-param-diff tr[data-key="model"]').get_attribute("class") == ""
    expect(compare.locator('.jp-mlops-linechart[data-metric="loss"]')).to_have_attribute("data-series", "2")
    cells = compare.locator('.jp-mlops-nbdiff .jp-mlops-cell[data-op="changed"]')
    expect(cells).to_have_count(1)  # the training cell edited between the two runs
    assert cells.locator(".jp-mlops-del").all_inner_texts() == ["-    for step in range(20):"]
    assert cells.locator(".jp-mlops-add").all_inner_texts() == ["+    for step in range(30):"]
    shoot(page, "compare")


BULK_RUNS = """\
import json
import jupyter_mlops as mlops
ids = {}
for name in ("keep", "old-1", "old-2"):
    with mlops.start_run(name, experiment="bulk") as run:
        mlops.log_metric("auc", 0.5)
    ids[name] = run.id
print(json.dumps(ids))
"""


def select_rows(page, table, names: set[str]) -> None:
    """Make exactly the rows named ``names`` selected, by clicking their selection boxes."""
    for row in mirror_rows(table):
        if (row["name"] in names) != row["selected"]:
            click_cell(page, table, "select", row["y"])
    wait_rows(page, table, lambda rows: {r["name"] for r in rows if r["selected"]} == names, f"{names} selected")


def test_bulk_archive_restore_tag_and_delete_the_selected_runs(page, lab, lab_env):
    from jupyter_mlops.registry import audit
    from jupyter_mlops.tracking.store import open_store

    ids = run_python(lab_env, BULK_RUNS)
    page.goto(f"{lab.url}/lab?mlops=experiment/bulk&token={lab.token}")
    table = experiment_view(page, "bulk")
    wait_rows(page, table, lambda rows: len(rows) == 3, "three runs")
    select_rows(page, table, {"old-1", "old-2"})
    table.locator(".jp-mlops-archive").click()
    wait_rows(page, table, lambda rows: [r["name"] for r in rows] == ["keep"], "the archived runs gone")
    table.locator(".jp-mlops-lifecycle").select_option("archived")
    wait_rows(page, table, lambda rows: {r["name"] for r in rows} == {"old-1", "old-2"}, "the archived runs")
    select_rows(page, table, {"old-1"})
    table.locator(".jp-mlops-restore").click()
    wait_rows(page, table, lambda rows: [r["name"] for r in rows] == ["old-2"], "old-1 restored")
    table.locator(".jp-mlops-lifecycle").select_option("active")
    wait_rows(page, table, lambda rows: {r["name"] for r in rows} == {"keep", "old-1"}, "the active runs")

    select_rows(page, table, {"keep", "old-1"})
    table.locator(".jp-mlops-tag").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input").fill("stage=prod")
    dialog.get_by_role("button", name="Ok").click()
    wait_rows(page, table, lambda rows: [r.get("tags.stage") for r in rows] == ["prod", "prod"], "the new tag column")

    select_rows(page, table, {"old-1"})
    table.locator(".jp-mlops-delete").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    wait_rows(page, table, lambda rows: [r["name"] for r in rows] == ["keep"], "the deleted run gone")
    store = open_store(lab_env[1]["MLOPS_TRACKING_URI"])
    actions = [e["action"] for e in reversed(audit.audit_log(subject=ids["old-1"], store=store))]
    assert actions == ["archive", "restore", "tag", "delete"]


# --- run view ----------------------------------------------------------------------------------

def test_run_view_previews_an_image_and_a_csv_and_runs_no_script_of_an_html_page(page, lab, artifact_run):
    page.goto(f"{lab.url}/lab?mlops=run/{artifact_run}&token={lab.token}")
    run = view(page, f'.jp-mlops-run-view[data-run="{artifact_run}"]')
    run.locator('.jp-mlops-tab[data-tab="artifacts"]').click()
    artifacts = run.locator(".jp-mlops-artifact-list")
    artifacts.locator('li[data-path="plots/roc.png"]').click()
    image = run.locator('.jp-mlops-preview[data-kind="image"] img.jp-mlops-preview-image')
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 16", arg=image.element_handle())
    shoot(page, "run-artifact-image")
    artifacts.locator('li[data-path="eval/folds.csv"]').click()
    table = run.locator('.jp-mlops-preview[data-kind="table"] table.jp-mlops-preview-table')
    expect(table.locator("th")).to_have_text(["fold", "auc"])
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").first.locator("td")).to_have_text(["1", "0.91"])
    shoot(page, "run-artifact-csv")
    artifacts.locator('li[data-path="eval/report.html"]').click()
    frame = run.locator('.jp-mlops-preview[data-kind="html"] iframe')
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator('.jp-mlops-preview[data-kind="html"] iframe').locator("h1.page")).to_have_text("report")
    assert page.evaluate("() => window.__pwned_html") is None
    artifacts.locator('li[data-path="eval/config.json"]').click()
    expect(run.locator('.jp-mlops-preview[data-kind="json"] pre')).to_contain_text('"threshold": 0.5')


EVALUATE = """
import json, sys
import jupyter_mlops as mlops
from sklearn.datasets import load_iris
data = load_iris(as_frame=True).frame
data["size"] = (data["petal length (cm)"] > 4).map({True: "large", False: "small"})
result = mlops.evaluate(sys.argv[1], data, target="target", slices=["size"], n_bootstrap=20)
print(json.dumps({"run": result.run_id}))
"""


def test_run_view_shows_the_evaluation_report_of_an_evaluated_run(page, lab, lab_env, model_runs):
    _, runs = model_runs
    evaluated = run_python(lab_env, EVALUATE, runs["iris-candidate"])["run"]
    assert evaluated == runs["iris-candidate"]  # recorded on the run the model came from
    page.goto(f"{lab.url}/lab?mlops=run/{evaluated}&token={lab.token}")
    run = view(page, f'.jp-mlops-run-view[data-run="{evaluated}"]')
    run.locator('.jp-mlops-tab[data-tab="evaluation"]').click()
    frame = run.locator('.jp-mlops-preview[data-kind="html"] iframe')
    expect(frame).to_have_attribute("sandbox", "")
    report = page.frame_locator('.jp-mlops-preview[data-kind="html"] iframe')
    expect(report.locator("h2").first).to_have_text("Overall")
    expect(report.locator("body")).to_contain_text("size=large")
    shoot(page, "run-evaluation")
    # A run never evaluated has no such tab.
    page.goto(f"{lab.url}/lab?mlops=run/{runs['iris-baseline']}&token={lab.token}")
    other = view(page, f'.jp-mlops-run-view[data-run="{runs["iris-baseline"]}"]')
    expect(other.locator('.jp-mlops-tab[data-tab="artifacts"]')).to_be_visible()
    expect(other.locator('.jp-mlops-tab[data-tab="evaluation"]')).to_have_count(0)


def test_run_view_of_a_failed_step_shows_its_traceback_and_links_its_pipeline(page, lab, failing_pipeline):
    page.goto(f"{lab.url}/lab?mlops=run/{failing_pipeline}&token={lab.token}")
    run = view(page, f'.jp-mlops-run-view[data-run="{failing_pipeline}"]')
    expect(run.locator(".jp-mlops-status").first).to_have_text("FAILED")
    expect(run.locator(".jp-mlops-traceback")).to_contain_text("ValueError: the training data has no rows")
    expect(run.locator(".jp-mlops-run-error")).to_contain_text("the training data has no rows")
    expect(run.locator('.jp-mlops-metric-summary tr[data-metric="loss"]')).to_contain_text("1")
    shoot(page, "run-failed")
    run.locator(".jp-mlops-pipeline-link").click()
    pipeline = view(page, ".jp-mlops-pipeline-view")
    expect(pipeline.locator('g.jp-mlops-dag-node[data-node="fit"]')).to_have_attribute("data-status", "FAILED")
    expect(pipeline.locator(".jp-mlops-step .jp-mlops-traceback")).to_contain_text("ValueError")


def test_a_note_edited_in_place_is_saved_and_audited(page, lab, lab_env, notebook_runs):
    from jupyter_mlops.registry import audit
    from jupyter_mlops.tracking.store import open_store

    run_id = notebook_runs["c8"]
    page.goto(f"{lab.url}/lab?mlops=run/{run_id}&token={lab.token}")
    run = view(page, f'.jp-mlops-run-view[data-run="{run_id}"]')
    run.locator(".jp-mlops-edit-note").click()
    run.locator(".jp-mlops-note-input").fill("# Baseline\n\nC = 8 is the *reference* run.")
    run.locator(".jp-mlops-save-note").click()
    expect(run.locator(".jp-mlops-note h1")).to_have_text(re.compile("^Baseline"))  # Markdown rendered
    expect(run.locator(".jp-mlops-note em")).to_have_text("reference")
    page.goto(f"{lab.url}/lab?mlops=run/{run_id}&token={lab.token}")  # a fresh page reads it from the store
    run = view(page, f'.jp-mlops-run-view[data-run="{run_id}"]')
    expect(run.locator(".jp-mlops-note h1")).to_have_text(re.compile("^Baseline"))
    store = open_store(lab_env[1]["MLOPS_TRACKING_URI"])
    assert store.tags_of(run_id)["mlops.description"].startswith("# Baseline")
    assert [e["action"] for e in audit.audit_log(subject=run_id, store=store)] == ["note"]
    shoot(page, "run")


# --- pipeline and model views -------------------------------------------------------------------

def test_pipeline_view_lays_out_the_dag_with_sweep_values_and_step_detail(page, lab, demo_pipeline):
    demo_pipeline.wait(timeout=300)
    pipeline = demo_run(lab)
    page.goto(f"{lab.url}/lab?mlops=pipeline/{pipeline['run_id']}&token={lab.token}")
    dag = view(page, ".jp-mlops-pipeline-view")
    nodes = dag.locator("svg.jp-mlops-dag g.jp-mlops-dag-node")
    expect(nodes).to_have_count(6)
    shown = {nodes.nth(i).get_attribute("data-node"): nodes.nth(i).get_attribute("data-status") for i in range(6)}
    assert shown == {s["node"]: s["status"] for s in pipeline["steps"]}
    sweep = dag.locator('g.jp-mlops-dag-node[data-node="train[0]"] .jp-mlops-dag-sweep')
    expect(sweep).to_contain_text("n_estimators=")  # labelled with its values
    # Laid out left to right: every edge starts right of where it ends' upstream box begins.
    boxes = {n: dag.locator(f'g.jp-mlops-dag-node[data-node="{n}"] rect').bounding_box() for n in shown}
    assert boxes["prepare"]["x"] < boxes["train[0]"]["x"] < boxes["evaluate"]["x"]
    for a, b in ((a, b) for a in boxes for b in boxes if a < b):
        ra, rb = boxes[a], boxes[b]
        overlap = (ra["x"] < rb["x"] + rb["width"] and rb["x"] < ra["x"] + ra["width"]
                   and ra["y"] < rb["y"] + rb["height"] and rb["y"] < ra["y"] + ra["height"])
        assert not overlap, (a, b)
    dag.locator('g.jp-mlops-dag-node[data-node="evaluate"]').click()
    step = dag.locator('.jp-mlops-step[data-step="evaluate"]')
    expect(step.locator(".jp-mlops-cache")).to_have_attribute("data-cache", "miss")
    expect(step).to_contain_text("test_auc")  # the step run's metrics
    shoot(page, "pipeline")
    step.locator(".jp-mlops-open-notebook").click()
    notebook = page.locator(".jp-mlops-snapshot").first
    notebook.wait_for()  # shown read-only and untrusted, no kernel (test_browser_security.py)
    expect(current_tab(page)).to_have_text(re.compile(r"^evaluate\.ipynb"))
    expect(notebook).to_contain_text("test_auc")


def test_rerun_opens_the_new_pipeline_run_with_cached_steps(page, lab, demo_pipeline):
    demo_pipeline.wait(timeout=300)
    pipeline = demo_run(lab)
    page.goto(f"{lab.url}/lab?mlops=pipeline/{pipeline['run_id']}&token={lab.token}")
    dag = view(page, f'.jp-mlops-pipeline-view[data-run="{pipeline["run_id"]}"]')
    dag.locator(".jp-mlops-rerun").click()
    fresh = page.locator(f'.jp-mlops-view-widget:not(.lm-mod-hidden) .jp-mlops-pipeline-view:not([data-run="{pipeline["run_id"]}"])')
    fresh.wait_for(timeout=120_000)
    # Live while it runs: its steps appear as the runner records them, reused from the first run's cache.
    expect(fresh.locator('g.jp-mlops-dag-node[data-node="prepare"]')).to_have_attribute("data-cached", "true",
                                                                                        timeout=180_000)
    fresh.locator('g.jp-mlops-dag-node[data-node="prepare"]').click()
    expect(fresh.locator(".jp-mlops-cache")).to_have_attribute("data-cache", "hit")


def test_model_view_renders_the_card_and_asks_before_moving_production(page, lab, model_runs):
    from jupyter_mlops.registry import versions

    store, _ = model_runs
    page.goto(f"{lab.url}/lab?mlops=model/iris&token={lab.token}")
    model = view(page, '.jp-mlops-model-view[data-model="iris"]')
    detail = model.locator('.jp-mlops-version-detail[data-version="1"]')
    expect(detail.locator(".jp-mlops-card h1").first).to_be_visible()  # the model card's Markdown, rendered
    assert "iris/1" in detail.locator(".jp-mlops-card").inner_text()
    expect(model.locator('table.jp-mlops-versions tr[data-version="1"]')).to_contain_text("alice")
    detail.locator(".jp-mlops-verify").click()
    expect(detail.locator('[data-verify="ok"]')).to_be_visible()

    detail.locator(".jp-mlops-alias-input").fill("production")
    detail.locator(".jp-mlops-set-alias").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("iris@production")
    dialog.get_by_role("button", name="Cancel").click()
    expect(detail.locator(".jp-mlops-message")).to_contain_text("not moved")
    assert "production" not in versions.get_version("iris/1", store=store)["aliases"]
    detail.locator(".jp-mlops-set-alias").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Move production").click()
    expect(model.locator('.jp-mlops-view-header .jp-mlops-alias[data-alias="production"]')).to_be_visible()
    assert versions.get_version("iris@production", store=store)["version"] == 1
    expect(model.locator('table.jp-mlops-audit tr[data-action="alias"]').first).to_be_visible()
    shoot(page, "model")


# --- dark theme -------------------------------------------------------------------------------------

def luminance(css_colour: str) -> float:
    """0 (black) to 1 (white), of ``rgb(r, g, b)`` or ``color(srgb r g b)`` (what color-mix() computes to)."""
    r, g, b = (float(x) for x in re.findall(r"[\d.]+", css_colour.removeprefix("color(srgb"))[:3])
    scale = 1 if css_colour.startswith("color(srgb") else 255
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / scale


def run_command(page, label: str) -> None:
    """Run a command by its label from JupyterLab's command palette (View > Activate Command Palette).

    The modal palette closes when it loses the focus (a menu opened while the page still settles can
    close again at once): open, type and pick are tried again together until the pick is made."""
    palette = page.locator("#command-palette")
    for _ in range(5):
        try:
            page.locator(".lm-MenuBar-itemLabel", has_text="View").click()
            page.locator(".lm-Menu-itemLabel", has_text="Activate Command Palette").click(timeout=5_000)
            palette.locator("input").fill(label, timeout=5_000)
            palette.locator(".lm-CommandPalette-item", has_text=label).first.click(timeout=5_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError(f"the command palette did not stay open to run {label!r}")


def test_every_view_in_the_dark_theme_has_no_light_background(browser, lab, notebook_runs, model_runs):
    page = new_page(browser, lab)
    try:
        run_command(page, "Use Theme: JupyterLab Dark")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        shots = {
            "experiment": ("experiment/browser", '.jp-mlops-experiment-view[data-experiment="browser"]'),
            "run": (f"run/{notebook_runs['c8']}", ".jp-mlops-run-view"),
            "pipeline": (f"pipeline/{demo_run(lab)['run_id']}", ".jp-mlops-pipeline-view"),
            "model": ("model/iris", ".jp-mlops-model-view"),
        }
        for name, (link, selector) in shots.items():
            page.goto(f"{lab.url}/lab?mlops={link}&token={lab.token}")
            page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
            found = view(page, selector)
            page.wait_for_timeout(500)  # the charts' first frame
            shoot(page, f"{name}-dark")
            background = found.evaluate("v => getComputedStyle(v.closest('.jp-mlops-main')).backgroundColor")
            assert luminance(background) < 0.3, (name, background)

        page.goto(f"{lab.url}/lab?mlops=run/{notebook_runs['c12']}&token={lab.token}")
        run = view(page, ".jp-mlops-run-view")
        run.locator('.jp-mlops-tab[data-tab="notebook"]').click()
        run.locator(".jp-mlops-diff-against").select_option(notebook_runs["c8"])
        run.locator(".jp-mlops-open-diff").click()
        diff = view(page, ".jp-mlops-nbdiff")
        expect(diff.locator(".jp-mlops-add").first).to_be_visible()
        shoot(page, "notebook-diff-dark")
        colours = diff.evaluate("""d => Array.from(d.querySelectorAll('.jp-mlops-add, .jp-mlops-del, .jp-mlops-cell-head, pre'))
            .map(e => getComputedStyle(e).backgroundColor).filter(c => c !== 'rgba(0, 0, 0, 0)')""")
        assert colours and all(luminance(c) < 0.45 for c in colours), colours
        open_navigator(page)
        shoot(page, "navigator-dark")
    finally:
        run_command(page, "Use Theme: JupyterLab Light")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")
        page.context.close()


LIVE = """\
import time
import jupyter_mlops as mlops
run = mlops.start_run("live-chart", experiment="live")
display(mlops.widgets.live(interval=0.3))
for step in range(80):
    mlops.log_metric("loss", 1.0 / (step + 1), step=step)
    time.sleep(0.1)
mlops.end_run()
"""


# JupyterLab's own dialog when its server does not answer for a while (seen with -n 4 on 2 cores):
# it is dismissed; any other dialog over the notebook fails the test with its text.
CONNECTION_LOST = "Server Connection Error"


def settle_dialogs(page) -> None:
    """Answer the two dialogs JupyterLab shows on a loaded machine as a user would: "Server Connection
    Error" (dismissed) and "Select Kernel" (its kernelspecs were not loaded yet when the notebook
    opened: the notebook's own Python 3 is chosen). Any other dialog fails the test with its text."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() == 0:
        return
    text = dialog.first.inner_text()
    if text.startswith("Select Kernel") and "Python 3" in text:
        dialog.first.locator("button.jp-mod-accept").click()  # its first choice: the notebook's kernel
    else:
        assert CONNECTION_LOST in text, f"a dialog covers the notebook: {text!r}"
        dialog.first.get_by_role("button").first.click()
    expect(dialog).to_have_count(0)


def test_live_chart_updates_in_the_browser_while_the_cell_logs(page, lab, lab_env):
    """Last in this module: it navigates the shared page to a notebook."""
    root, _ = lab_env
    nbformat.write(new_notebook(cells=[new_code_cell(LIVE)], metadata=KERNEL), root / "live.ipynb")
    page.goto(f"{lab.url}/lab/tree/live.ipynb?token={lab.token}")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)", has_text="widgets.live")
    # Run the cell once its kernel is idle. Even then a Shift+Enter can go unexecuted on a loaded
    # machine (seen in CI: the cell kept its "[ ]:" prompt and the kernel stayed idle), so press
    # again while the prompt shows that no execution was requested (a queued one shows "[*]:").
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_attached(timeout=120_000)
    cell = notebook.locator(".jp-Cell").first
    for _ in range(3):
        settle_dialogs(page)
        expect(notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_attached(
            timeout=120_000)  # again, once a kernel chosen in the dialog has started
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
    shoot(page, "live-chart")
    expect(label).to_contain_text("FINISHED", timeout=60_000)
    assert points() == 80
