"""The notebook widgets, driven headlessly: traits set and buttons clicked as a user would."""
from __future__ import annotations

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.registry import approval

from .helpers.waiting import wait_until

PNG = b"\x89PNG"


def test_live_chart_follows_the_active_run_until_it_ends(project):
    run = mlops.start_run("training")
    chart = mlops.widgets.live(interval=0.05)
    for step in range(200):
        mlops.log_metric("loss", 1 / (step + 1), step=step)
    mlops.flush()
    wait_until(lambda: "200 points" in chart.label.value, "the live chart drawing the 200 points",
               details=lambda: f"label: {chart.label.value!r}")
    assert chart.series["loss"][0] == list(range(200))
    assert bytes(chart.image.value).startswith(PNG) and "200 points" in chart.label.value
    redraws = chart.redraws
    mlops.log_metric("acc", 0.9, step=0)
    mlops.end_run()
    chart._thread.join(timeout=60)
    assert not chart._thread.is_alive()  # it stops by itself once the run has ended
    assert "acc" in chart.series and chart.redraws > redraws and "FINISHED" in chart.label.value
    assert run.id.startswith(chart.label.value.split()[1])


def test_live_without_an_active_run_says_so(project):
    from jupyter_mlops.exceptions import NoActiveRunError

    with pytest.raises(NoActiveRunError, match="no active run"):
        mlops.widgets.live()


def test_runs_browser_searches_and_compares(project):
    ids = []
    for n, auc in ((50, 0.91), (150, 0.95), (150, 0.97)):
        with mlops.start_run(f"rf-{n}", params={"n_estimators": n, "model": "rf"}) as run:
            for step in range(3):
                mlops.log_metric("auc", auc - 0.1 + 0.05 * step, step=step)
        ids.append(run.id)
    browser = mlops.widgets.runs()
    assert len(browser.selection.options) == 3

    browser.filter.value = "metrics.auc > 0.95"  # committing the text box runs the search
    assert {v for _, v in browser.selection.options} == {ids[2]}
    browser.filter.value = "metrics.auc >"
    assert "position" in browser.status.value  # the filter error is shown, not raised
    browser.filter.value = ""

    browser.selection.value = (ids[0], ids[1])
    browser.compare_button.click()
    html = browser.comparison.value
    differing = html.split("class='mlops-differs'>")[1].split("</tr>")[0]
    assert "n_estimators" in differing and "50" in differing and "150" in differing
    assert "class='mlops-differs'><th>model" not in html  # same value: not highlighted
    assert bytes(browser.chart.value).startswith(PNG)


def test_approval_form_records_and_shows_refusals(project):
    from sklearn.dummy import DummyClassifier

    with mlops.start_run("candidate") as run:
        mlops.log_metric("accuracy", 0.8)
        mlops.log_model(DummyClassifier().fit([[0], [1]], [0, 1]))  # only a run with a model is approvable
    (project / "pyproject.toml").write_text('[tool.jupyter_mlops.approval]\nrequire = ["metrics.accuracy >= 0.9"]\n')
    form = mlops.widgets.approve(run.id)
    form.by.value, form.reason.value = "ana", "looks fine"
    form.approve_button.click()
    assert "refused" in form.message.value and "metrics.accuracy &gt;= 0.9" in form.message.value
    assert approval.get_approval(run.id) is None

    form.reason.value = "accuracy too low"
    form.reject_button.click()
    assert approval.get_approval(run.id)["decision"] == "rejected"
    assert "rejected by ana" in form.message.value
    assert "rejected by ana" in mlops.widgets.approve(run.id).message.value  # a new form shows it
