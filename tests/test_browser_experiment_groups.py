"""The Experiment view's run grouping (by a parameter, with mean ± std) and the charts panel's
scatter of a parameter against a metric, in a real JupyterLab driven in Debian's Chromium.

The JupyterLab, the browser and the notebook runs are test_browser_lab.py's fixtures (imported,
so this module starts its own JupyterLab over its own store; the demo pipeline its ``lab`` waits
for is not needed here), and so are the helpers that read the table. Grouped rows are read from the runs table's hidden mirror (each group's value,
count and the mean and std of each metric cell); the scatter's points from its own mirror list
(run, values and where each point is drawn).
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import json5  # the settings file has comments (jupyterlab_server reads it with json5 too)
import pytest
from playwright.sync_api import expect

from .test_browser_lab import (  # noqa: F401  (fixtures, used by name)
    browser,
    click_cell,
    current_tab,
    experiment_view,
    lab,
    lab_env,
    mirror_rows,
    new_page,
    notebook_runs,
    run_python,
    shoot,
    view,
    wait_rows,
)

# Beside the notebook's c8 (auc 0.88) and c12 (0.92): a second run of each C, one without C,
# and a run whose name is HTML (shown as text in the table's cells and the scatter's tooltip).
HTML_NAME = "<img src=x onerror=window.__pwned=1>"
MORE_RUNS = f"""\
import json
import jupyter_mlops as mlops
ids = {{}}
for name, params, auc in (("c8-again", {{"C": 8, "model": "logreg"}}, 0.90),
                          ({HTML_NAME!r}, {{"C": 12, "model": "svm"}}, 0.96),
                          ("no-C", {{"model": "svm"}}, 0.5)):
    with mlops.start_run(name, experiment="browser", params=params) as run:
        mlops.log_metric("auc", auc)
    ids[name] = run.id
print(json.dumps(ids))
"""


@pytest.fixture(scope="module")
def demo_pipeline():
    """test_browser_lab's ``lab`` waits on the demo pipeline; these tests do not use it."""


@pytest.fixture(scope="module")
def runs(lab_env, notebook_runs) -> dict:
    """Every run of the experiment "browser" by name: the notebook's two and the three above."""
    return {**notebook_runs, **run_python(lab_env, MORE_RUNS)}


def group_rows(table) -> list[dict]:
    """The group rows the grid paints, from its mirror: value (None for the runs without the
    parameter), count, expanded, the label, and each column's text, mean and std."""
    return table.evaluate("""v => Array.from(v.querySelectorAll(
            'table.jp-mlops-grid-mirror tbody tr[data-group-row="group"]')).map(tr => ({
        value: tr.dataset.none === 'true' ? null : tr.dataset.value,
        count: Number(tr.dataset.count), expanded: tr.dataset.expanded === 'true',
        label: tr.cells[1].textContent, status: tr.cells[2].textContent, y: Number(tr.dataset.y),
        cells: Object.fromEntries(Array.from(tr.cells).slice(3).map(td => [td.dataset.column,
            {text: td.textContent, mean: td.dataset.mean ?? null, std: td.dataset.std ?? null}]))
    }))""")


def wait_groups(table, predicate, what: str, timeout: float = 30) -> list[dict]:
    """Wait until the painted group rows satisfy ``predicate``; returns them."""
    deadline = time.monotonic() + timeout
    groups = []
    while time.monotonic() < deadline:
        groups = group_rows(table)
        if predicate(groups):
            return groups
        time.sleep(0.1)
    raise AssertionError(f"{what}: groups were {[(g['value'], g['count']) for g in groups]}")


@pytest.fixture
def page(browser, lab):
    """A page of its own per test, opened on the experiment by deep link (a fresh browser context:
    nothing but the user's settings on the server carries over from the test before)."""
    page = new_page(browser, lab, "/lab?mlops=experiment/browser")
    yield page
    page.context.close()


def test_grouping_by_a_parameter_shows_one_row_per_value_with_mean_and_std(page, browser, lab, lab_env, runs):
    saved = Path(lab_env[1]["JUPYTERLAB_SETTINGS_DIR"]) / "jupyter-mlops" / "plugin.jupyterlab-settings"
    table = experiment_view(page, "browser")
    wait_rows(page, table, lambda rows: len(rows) == 5, "the five runs")
    table.locator(".jp-mlops-group-by").select_option("params.C")

    groups = wait_groups(table, lambda gs: len(gs) == 3, "three groups")
    # 8 before 12 (numbers in numeric order), the runs without C last; no run row while collapsed.
    assert [(g["value"], g["count"], g["label"], g["status"]) for g in groups] == [
        ("8", 2, "C = 8", "2 runs"), ("12", 2, "C = 12", "2 runs"), (None, 1, "(none)", "1 run")]
    assert mirror_rows(table) == []
    expect(table.locator(".jp-mlops-group-count")).to_have_text("3 groups")
    expect(table.locator(".jp-mlops-count")).to_have_text("5 runs")
    for group, aucs in zip(groups, ([0.88, 0.90], [0.92, 0.96], [0.5])):
        auc = group["cells"]["metrics.auc"]
        assert float(auc["mean"]) == pytest.approx(statistics.mean(aucs), rel=1e-12)
        if len(aucs) > 1:
            assert float(auc["std"]) == pytest.approx(statistics.stdev(aucs), rel=1e-12)
            assert auc["text"] == f"{statistics.mean(aucs):.4f} ± {statistics.stdev(aucs):.4g}"
        else:
            assert auc["std"] == "" and auc["text"] == "0.5000"  # one run: no spread
        assert group["cells"]["params.C"]["text"] == (group["value"] or "")

    # A click on a group's row shows its runs beneath it (and the grouping is saved).
    click_cell(page, table, "name", groups[1]["y"])
    rows = wait_rows(page, table, lambda rows: len(rows) == 2, "the runs of C = 12")
    assert {r["name"] for r in rows} == {"c12", HTML_NAME} and {r["params.C"] for r in rows} == {"12"}
    groups = group_rows(table)
    assert [g["expanded"] for g in groups] == [False, True, False]
    assert [r["y"] for r in rows] == sorted(r["y"] for r in rows) and groups[1]["y"] < rows[0]["y"] < groups[2]["y"]
    shoot(page, "experiment-grouped")
    assert page.evaluate("window.__pwned") is None
    deadline = time.monotonic() + 30
    while not (saved.exists() and json5.loads(saved.read_text()).get("groupBy", {}).get("browser") == "params.C"):
        assert time.monotonic() < deadline, "the grouping was not saved in the settings"
        time.sleep(0.1)

    # Remembered for the experiment: a new page opens the table grouped (and collapsed).
    page = new_page(browser, lab, "/lab?mlops=experiment/browser")
    try:
        table = experiment_view(page, "browser")
        groups = wait_groups(table, lambda gs: [g["count"] for g in gs] == [2, 2, 1], "the groups after a reload")
        expect(table.locator(".jp-mlops-group-by")).to_have_value("params.C")
        click_cell(page, table, "name", groups[0]["y"])
        wait_rows(page, table, lambda rows: {r["name"] for r in rows} == {"c8", "c8-again"}, "the runs of C = 8")
        click_cell(page, table, "name", group_rows(table)[0]["y"])  # and a second click closes it
        wait_rows(page, table, lambda rows: rows == [], "no runs shown")

        # The filter decides which runs are grouped and aggregated.
        table.locator(".jp-mlops-filter-input").fill("metrics.auc < 0.95")
        groups = wait_groups(table, lambda gs: [g["count"] for g in gs] == [2, 1, 1], "the filtered groups")
        assert float(groups[1]["cells"]["metrics.auc"]["mean"]) == pytest.approx(0.92)
        table.locator(".jp-mlops-filter-input").fill("")

        table.locator(".jp-mlops-group-by").select_option("")
        wait_rows(page, table, lambda rows: len(rows) == 5, "one row per run again")
        assert group_rows(table) == []
    finally:
        page.context.close()


def scatter_points(scatter) -> list[dict]:
    return scatter.locator("..").evaluate("""host => Array.from(host.querySelectorAll(
        '.jp-mlops-scatter-points li')).map(li => ({run: li.dataset.run, x: Number(li.dataset.x),
        y: Number(li.dataset.y), text: li.textContent}))""")


def test_scatter_of_a_parameter_against_a_metric_opens_the_run_of_a_point(page, runs):
    table = experiment_view(page, "browser")
    wait_rows(page, table, lambda rows: len(rows) == 5, "the five runs")
    rows = mirror_rows(table)
    click_cell(page, table, "select", next(r for r in rows if r["name"] == "c8")["y"])  # one ticked run
    wait_rows(page, table, lambda rows: [r["name"] for r in rows if r["selected"]] == ["c8"], "c8 ticked")

    table.locator(".jp-mlops-scatter-x").select_option("params.C")
    table.locator(".jp-mlops-scatter-y").select_option("metrics.auc")
    scatter = table.locator('.jp-mlops-scatter[data-x="params.C"][data-y="metrics.auc"]')
    # Every run the filter keeps that has both values (not only the ticked one): no-C has no C.
    expect(scatter).to_have_attribute("data-points", "4")
    expect(scatter).to_have_attribute("data-axis", "value")
    expect(scatter).to_have_attribute("data-drawn", "true")
    scatter.scroll_into_view_if_needed()
    expect(scatter.locator("..").locator(".jp-mlops-scatter-points li")).to_have_count(4)
    points = {p["run"]: p for p in scatter_points(scatter)}
    assert set(points) == {runs["c8"], runs["c8-again"], runs["c12"], runs[HTML_NAME]}
    assert points[runs["c12"]]["text"] == "c12: C 12, auc 0.9200"
    # On a value axis: the two C = 8 runs share an x, left of C = 12; the higher auc is drawn higher.
    assert points[runs["c8"]]["x"] == points[runs["c8-again"]]["x"] < points[runs["c12"]]["x"]
    assert points[runs[HTML_NAME]]["y"] < points[runs["c12"]]["y"]

    # Hover: the run's name (as text, never HTML) and its values.
    box = scatter.bounding_box()
    target = points[runs[HTML_NAME]]
    page.mouse.move(box["x"] + target["x"], box["y"] + target["y"])
    tip = scatter.locator(".jp-mlops-scatter-tip")
    expect(tip).to_contain_text(HTML_NAME)
    expect(tip).to_contain_text("C: 12")
    expect(tip).to_contain_text("auc: 0.9600")
    shoot(page, "experiment-scatter")
    assert page.evaluate("window.__pwned") is None

    # A text parameter is a category axis; the runs the filter drops leave the chart.
    table.locator(".jp-mlops-scatter-x").select_option("params.model")
    text_axis = table.locator('.jp-mlops-scatter[data-x="params.model"]')
    expect(text_axis).to_have_attribute("data-axis", "category")
    expect(text_axis).to_have_attribute("data-points", "5")
    table.locator(".jp-mlops-filter-input").fill("metrics.auc > 0.89")
    expect(text_axis).to_have_attribute("data-points", "3")
    table.locator(".jp-mlops-filter-input").fill("")
    expect(text_axis).to_have_attribute("data-points", "5")

    # A click on a point opens its run, as a click on the run's name in the table does.
    table.locator(".jp-mlops-scatter-x").select_option("params.C")
    expect(scatter).to_have_attribute("data-points", "4")
    scatter.scroll_into_view_if_needed()
    page.wait_for_function(
        "s => s.parentElement.querySelectorAll('.jp-mlops-scatter-points li').length === 4",
        arg=scatter.element_handle())
    target = {p["run"]: p for p in scatter_points(scatter)}[runs["c12"]]
    box = scatter.bounding_box()
    page.mouse.click(box["x"] + target["x"], box["y"] + target["y"])
    view(page, f'.jp-mlops-run-view[data-run="{runs["c12"]}"]')
    expect(current_tab(page)).to_have_text("c12")
