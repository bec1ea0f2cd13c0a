"""Datasets, lineage and schedules in a real JupyterLab, driven in Debian's Chromium (issues 17, 18).

On the demo pipeline (run as test_browser_lab.py runs it): the navigator's Datasets section lists
its files, the Dataset view shows each version with the runs that produced and consumed it and the
schema changes between versions; the lineage graph of the best train run reaches its training data
upstream and, once approved and exported, its model version downstream, and every node opens its
view. A notebook is scheduled from its toolbar: an invalid cron is refused in the dialog with the
server's words, a valid one appears in the navigator and in ``jupyter mlops schedule list``, and
pausing it from the Schedule view reaches the store. Screenshots, light and dark, in test-artifacts/.

One ``jupyter lab`` and one Chromium for the module, with the fixtures of test_browser_lab.py.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import expect

from . import test_browser_lab as shared
from .test_browser_lab import KERNEL, current_tab, luminance, new_page, open_navigator, run_command, shoot, view

# Fixtures of the lab tests: the served folder and its environment, the demo pipeline started at
# once, the lab serving both, one Chromium and one page for the module.
lab_env, demo_pipeline, lab, browser, page = (shared.lab_env, shared.demo_pipeline, shared.lab, shared.browser,
                                             shared.page)

# A dataset logged twice with a different schema: b dropped, c retyped, d added.
CUSTOMERS = """\
import json
import pandas as pd
import jupyter_mlops as mlops
with mlops.start_run("customers-2024", experiment="catalog") as first:
    mlops.log_dataset(pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]}), "customers")
with mlops.start_run("customers-2025", experiment="catalog") as second:
    mlops.log_dataset(pd.DataFrame({"a": [1, 2, 3], "c": ["lo", "hi", "lo"], "d": [7, 8, 9]}), "customers")
print(json.dumps({"first": first.id, "second": second.id}))
"""

DAILY_PARAMETERS = "C = 1.0\nday = '2024-01-01'"


@pytest.fixture(scope="module")
def demo(lab, demo_pipeline):
    """The demo pipeline finished: its pipeline run and steps as the Pipelines endpoint shows them."""
    out, _ = demo_pipeline.communicate(timeout=600)
    assert demo_pipeline.returncode == 0, out[-3000:]
    return shared.demo_run(lab)


@pytest.fixture(scope="module")
def customers(lab_env):
    return shared.run_python(lab_env, CUSTOMERS)


@pytest.fixture(scope="module")
def exported(lab_env, demo):
    """The demo approved (its best train step stands for it) and exported as demo-clf v1."""
    from jupyter_mlops.registry import approval, package
    from jupyter_mlops.tracking.store import open_store

    store = open_store(lab_env[1]["MLOPS_TRACKING_URI"])
    decision = approval.approve(demo["run_id"], by="alice", reason="best of the sweep", store=store)
    package.export(decision["run_id"], "demo-clf", by="alice", store=store)
    return decision["run_id"]


@pytest.fixture(scope="module")
def nightly(lab_env):
    """A schedule made through the Python API (as ``jupyter mlops schedule add`` makes it)."""
    from jupyter_mlops.jobs import definitions
    from jupyter_mlops.tracking.store import open_store

    root, env = lab_env
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1", metadata={"tags": ["parameters"]})], metadata=KERNEL),
                   root / "nightly.ipynb")
    definitions.define_notebook(root / "nightly.ipynb", {"cron": "0 2 * * *"}, by="ops", now_ms=time.time_ns() // 10**6,
                                store=open_store(env["MLOPS_TRACKING_URI"]))
    return "nightly"


def step_runs(demo: dict, step: str) -> set[str]:
    return {s["run_id"] for s in demo["steps"] if s["step"] == step}


def goto(page, lab, link: str) -> None:
    page.goto(f"{lab.url}/lab?mlops={link}&token={lab.token}")


# --- datasets -----------------------------------------------------------------------------------

def test_datasets_section_and_view_show_versions_runs_and_schema_changes(page, lab, demo, customers):
    navigator = open_navigator(page)
    datasets = navigator.locator('[data-section="datasets"]')
    train_csv = datasets.locator('li[data-dataset="build/data/train.csv"]')
    expect(train_csv.locator(".jp-mlops-nav-count")).to_have_text("1 version")
    expect(datasets.locator('li[data-dataset="build/data/test.csv"]')).to_be_visible()
    expect(datasets.locator('li[data-dataset="customers"] .jp-mlops-nav-count')).to_have_text("2 versions")

    train_csv.click()
    dataset = view(page, '.jp-mlops-dataset-view[data-dataset="build/data/train.csv"]')
    expect(current_tab(page)).to_have_text("train.csv")
    (version,) = lab.api("datasets/build%2Fdata%2Ftrain.csv")["versions"]
    row = dataset.locator(f'table.jp-mlops-dataset-versions tr[data-fingerprint="{version["fingerprint"]}"]')
    expect(row).to_contain_text(version["source_uri"])
    produced = row.locator(".jp-mlops-produced [data-run]")
    consumed = row.locator(".jp-mlops-consumed [data-run]")
    expect(produced).to_have_count(1)
    assert produced.get_attribute("data-run") in step_runs(demo, "prepare")
    expect(consumed).to_have_count(5)  # the four train points of the sweep and evaluate
    assert {consumed.nth(i).get_attribute("data-run") for i in range(5)} == \
        step_runs(demo, "train") | step_runs(demo, "evaluate")
    detail = dataset.locator('.jp-mlops-dataset-version[data-version="1"]')
    expect(detail.locator('.jp-mlops-dataset-columns tr[data-column="target"]')).to_contain_text("int64")

    # A consuming run's link opens its Run view.
    prepare = produced.get_attribute("data-run")
    row.locator(f'.jp-mlops-produced [data-run="{prepare}"]').click()
    view(page, f'.jp-mlops-run-view[data-run="{prepare}"]')

    # Two versions of one name: the newer one's schema changes, named column by column.
    goto(page, lab, "dataset/customers")
    dataset = view(page, '.jp-mlops-dataset-view[data-dataset="customers"]')
    expect(dataset.locator("table.jp-mlops-dataset-versions tbody tr")).to_have_count(2)
    newer = dataset.locator('table.jp-mlops-dataset-versions tr[data-version="2"]')
    expect(newer).to_contain_text("+1 −1 ~1 columns")
    expect(newer.locator(f'.jp-mlops-consumed [data-run="{customers["second"]}"]')).to_have_text("customers-2025")
    changes = dataset.locator('.jp-mlops-dataset-version[data-version="2"] .jp-mlops-schema-changes')
    expect(changes.locator('[data-change="added"]')).to_have_attribute("data-column", "d")
    expect(changes.locator('[data-change="removed"]')).to_have_attribute("data-column", "b")
    expect(changes.locator('[data-change="retyped"]')).to_contain_text("c: float64 →")
    dataset.locator('table.jp-mlops-dataset-versions tr[data-version="1"]').click()
    expect(dataset.locator('.jp-mlops-dataset-version[data-version="1"]')).to_contain_text("The first version")
    dataset.locator('table.jp-mlops-dataset-versions tr[data-version="2"]').click()
    shoot(page, "dataset")


# --- lineage ------------------------------------------------------------------------------------

def test_lineage_of_the_best_train_run_reaches_its_data_and_its_model_version(page, lab, demo, exported):
    best = exported
    assert best in step_runs(demo, "train")
    goto(page, lab, f"run/{best}")
    run = view(page, f'.jp-mlops-run-view[data-run="{best}"]')
    run.locator(".jp-mlops-open-lineage").click()
    graph = view(page, f'.jp-mlops-lineage-view[data-node="run:{best}"]')
    expect(current_tab(page)).to_have_text(f"lineage: step train ({best[:8]}, FINISHED)")
    start = graph.locator(f'g.jp-mlops-lineage-node[data-node="run:{best}"]')
    expect(start).to_have_attribute("data-side", "start")
    train_csv = graph.locator('g.jp-mlops-lineage-node[data-kind="dataset"]', has_text="build/data/train.csv")
    expect(train_csv).to_have_attribute("data-side", "up")
    model = graph.locator('g.jp-mlops-lineage-node[data-node="model:demo-clf/1"]')
    expect(model).to_have_attribute("data-side", "down")
    expect(graph.locator(f'polyline[data-edge="run:{best}->model:demo-clf/1"]')).to_have_attribute(
        "data-relation", "exported as")
    # Upstream lies left of the run, downstream right of it (laid out left to right).
    boxes = {name: node.locator("rect").bounding_box() for name, node in
             (("data", train_csv), ("run", start), ("model", model))}
    assert boxes["data"]["x"] < boxes["run"]["x"] < boxes["model"]["x"]
    shoot(page, "lineage")

    # Every node opens its view: the dataset its Dataset view, the model version its Model view.
    train_csv.click()
    view(page, '.jp-mlops-dataset-view[data-dataset="build/data/train.csv"]')
    expect(current_tab(page)).to_have_text("train.csv")
    page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="lineage:").click()
    graph = view(page, f'.jp-mlops-lineage-view[data-node="run:{best}"]')
    graph.locator('g.jp-mlops-lineage-node[data-node="model:demo-clf/1"]').click()
    model_view = view(page, '.jp-mlops-model-view[data-model="demo-clf"]')

    # ... and the Model view's and the Dataset view's Lineage buttons open theirs.
    model_view.locator('.jp-mlops-version-detail[data-version="1"] .jp-mlops-open-lineage').click()
    up = view(page, '.jp-mlops-lineage-view[data-node="model:demo-clf/1"]')
    expect(up.locator(f'g.jp-mlops-lineage-node[data-node="run:{best}"]')).to_have_attribute("data-side", "up")
    goto(page, lab, "dataset/build/data/train.csv")
    dataset = view(page, '.jp-mlops-dataset-view[data-dataset="build/data/train.csv"]')
    dataset.locator(".jp-mlops-dataset-version .jp-mlops-open-lineage").click()
    down = view(page, '.jp-mlops-lineage-view[data-node^="dataset:"]')
    expect(down.locator(f'g.jp-mlops-lineage-node[data-node="run:{best}"]')).to_have_attribute("data-side", "down")


def test_deep_links_and_the_palette_open_the_new_views(browser, lab, demo, exported, customers):
    for link, selector in ((f"lineage/run/{exported}", f'.jp-mlops-lineage-view[data-node="run:{exported}"]'),
                           ("lineage/model/demo-clf/1", '.jp-mlops-lineage-view[data-node="model:demo-clf/1"]'),
                           ("dataset/build/data/test.csv", '.jp-mlops-dataset-view[data-dataset="build/data/test.csv"]')):
        page = new_page(browser, lab, f"/lab?mlops={link}")
        try:
            view(page, selector)
            assert "mlops=" not in page.url
        finally:
            page.context.close()
    page = new_page(browser, lab)
    try:
        run_command(page, "MLOps: Open dataset…")
        dialog = page.locator(".jp-Dialog")
        dialog.locator("select").select_option(label="customers (2 versions)")
        dialog.get_by_role("button", name="Ok").click()
        view(page, '.jp-mlops-dataset-view[data-dataset="customers"]')
        run_command(page, "MLOps: Open lineage…")
        dialog = page.locator(".jp-Dialog")
        dialog.locator("input").fill("demo-clf/1")
        dialog.get_by_role("button", name="Ok").click()
        view(page, '.jp-mlops-lineage-view[data-node="model:demo-clf/1"]')
    finally:
        page.context.close()


# --- schedules ----------------------------------------------------------------------------------

def schedule_list(lab_env) -> dict:
    root, env = lab_env
    out = subprocess.run([sys.executable, "-m", "jupyter_mlops", "schedule", "list", "--format", "json"], cwd=root,
                         env=env, capture_output=True, text=True, check=True)
    return {s["name"]: s for s in json.loads(out.stdout)}


def test_a_schedule_made_from_the_notebook_toolbar_is_listed_and_paused_from_its_view(page, lab, lab_env):
    from jupyter_mlops.jobs.schedules import get_schedule
    from jupyter_mlops.registry.audit import audit_log
    from jupyter_mlops.tracking.store import open_store

    root, env = lab_env
    cells = [new_code_cell(DAILY_PARAMETERS, metadata={"tags": ["parameters"]}), new_code_cell("print(C, day)")]
    nbformat.write(new_notebook(cells=cells, metadata=KERNEL), root / "daily.ipynb")
    page.goto(f"{lab.url}/lab/tree/daily.ipynb?token={lab.token}")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)", has_text="day = ")
    notebook.locator(".jp-mlops-schedule-button").click()
    dialog = page.locator(".jp-Dialog")
    form = dialog.locator(".jp-mlops-schedule-form")
    expect(form.locator(".jp-mlops-schedule-name")).to_have_value("daily")
    expect(form.locator('[data-parameter="day"] input')).to_have_attribute("placeholder", "'2024-01-01'")
    form.locator(".jp-mlops-schedule-cron").fill("61 6 * * *")
    form.locator(".jp-mlops-schedule-timezone").fill("Europe/Berlin")
    form.locator('[data-parameter="C"] input').fill("0.5")
    dialog.get_by_role("button", name="Schedule", exact=True).click()

    # Refused by the server: its message in the dialog, the cron field marked, what was typed kept.
    refused = page.locator(".jp-Dialog .jp-mlops-schedule-error")
    expect(refused).to_contain_text("cron: not a valid cron expression '61 6 * * *'")
    expect(refused).to_have_attribute("data-field", "cron")
    form = page.locator(".jp-Dialog .jp-mlops-schedule-form")
    expect(form.locator(".jp-mlops-schedule-cron.jp-mlops-invalid")).to_have_value("61 6 * * *")
    expect(form.locator('[data-parameter="C"] input')).to_have_value("0.5")
    assert "daily" not in schedule_list(lab_env)
    form.locator(".jp-mlops-schedule-cron").fill("15 7 * * 1-5")
    expect(form.locator(".jp-mlops-schedule-cron")).not_to_have_class(re.compile("jp-mlops-invalid"))
    page.locator(".jp-Dialog").get_by_role("button", name="Schedule", exact=True).click()

    schedule = view(page, '.jp-mlops-schedule-view[data-schedule="daily"]')
    expect(schedule).to_have_attribute("data-paused", "false")
    expect(current_tab(page)).to_have_text("daily (schedule)")
    expect(schedule.locator(".jp-mlops-view-header")).to_contain_text("15 7 * * 1-5, Europe/Berlin")
    listed = schedule_list(lab_env)["daily"]
    assert listed["kind"] == "notebook" and listed["cron"] == "15 7 * * 1-5" and listed["timezone"] == "Europe/Berlin"
    assert listed["target"] == {"notebook": str(root / "daily.ipynb")} and listed["parameters"] == {"C": 0.5}
    navigator = open_navigator(page)
    entry = navigator.locator('[data-section="schedules"] li[data-schedule="daily"]')
    next_fire = listed["next_fire_time"]  # 2026-12-03T07:15:00+01:00: shown as 12-03 07:15 (month-day)
    expect(entry.locator(".jp-mlops-next-fire")).to_have_text(f"next {next_fire[5:10]} {next_fire[11:16]}")
    expect(entry.locator(".jp-mlops-nav-name")).to_have_text("daily")
    shoot(page, "schedule")

    schedule.locator(".jp-mlops-pause").click()
    expect(schedule).to_have_attribute("data-paused", "true")
    store = open_store(env["MLOPS_TRACKING_URI"])
    assert get_schedule("daily", store=store).paused
    assert schedule_list(lab_env)["daily"]["paused"] is True
    assert [e["action"] for e in audit_log(subject="schedule:daily", store=store)] == ["schedule-pause",
                                                                                      "schedule-add"]
    expect(entry).to_have_attribute("data-paused", "true")  # the navigator follows the store
    expect(entry.locator(".jp-mlops-next-fire")).to_have_text("paused")
    schedule.locator(".jp-mlops-resume").click()
    expect(schedule).to_have_attribute("data-paused", "false")
    assert not get_schedule("daily", store=store).paused

    # The palette opens it by name too.
    run_command(page, "MLOps: Open schedule…")
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator("select")).to_contain_text("daily")
    dialog.get_by_role("button", name="Ok").click()
    view(page, '.jp-mlops-schedule-view[data-schedule="daily"]')


# --- dark theme ---------------------------------------------------------------------------------

def set_theme(browser, lab, theme: str) -> None:
    """Switch JupyterLab's theme (kept in its settings, so every page opened afterwards has it)."""
    page = new_page(browser, lab)
    try:
        run_command(page, f"Use Theme: JupyterLab {theme}")
        page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{str(theme == 'Light').lower()}'")
    finally:
        page.context.close()


def test_the_new_views_in_the_dark_theme(browser, lab, exported, customers, nightly):
    set_theme(browser, lab, "Dark")
    try:
        shots = {
            "dataset": ("dataset/customers", ".jp-mlops-dataset-view .jp-mlops-schema-changes"),
            "lineage": (f"lineage/run/{exported}", ".jp-mlops-lineage-view g.jp-mlops-lineage-node"),
            "schedule": (f"schedule/{nightly}", ".jp-mlops-schedule-view .jp-mlops-schedule-detail"),
        }
        for name, (link, selector) in shots.items():
            page = new_page(browser, lab, f"/lab?mlops={link}")
            try:
                page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
                found = view(page, selector)
                shoot(page, f"{name}-dark")
                background = found.evaluate("v => getComputedStyle(v.closest('.jp-mlops-main')).backgroundColor")
                assert luminance(background) < 0.3, (name, background)
                if name == "lineage":
                    fills = found.evaluate("""v => Array.from(v.closest('.jp-mlops-lineage-view')
                        .querySelectorAll('g.jp-mlops-lineage-node rect')).map(r => getComputedStyle(r).fill)""")
                    assert fills and all(luminance(f) < 0.45 for f in fills), fills
            finally:
                page.context.close()
    finally:
        set_theme(browser, lab, "Light")
