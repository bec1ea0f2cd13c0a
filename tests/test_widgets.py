"""The notebook widgets, driven headlessly: traits set and buttons clicked as a user would."""
from __future__ import annotations

import html
import io
from html.parser import HTMLParser
from xml.etree import ElementTree

import matplotlib
import pytest

import jupyter_mlops as mlops
from jupyter_mlops.registry import approval
from jupyter_mlops.widgets.live_chart import LiveMetrics

from .helpers.waiting import wait_until

PNG = b"\x89PNG"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def svg_texts(fig) -> set[str]:
    """Every text of ``fig`` as it is drawn (SVG with its text kept as text)."""
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg")
    root = ElementTree.fromstring(buf.getvalue())
    return {"".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")}


def shown(browser) -> list[str]:
    """The ids of the runs the browser lists, in its order."""
    return [run_id for _, run_id in browser.selection.options]


def legend_of(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


class _Cells(HTMLParser):
    """Rows of cell texts and every element's tag, as a browser would parse the HTML."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.rows, self.tags, self._cell = [], set(), None
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def table_rows(markup: str) -> list[list[str]]:
    return _Cells(markup).rows


def elements(markup: str) -> set[str]:
    return _Cells(markup).tags


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
    loss_axes, acc_axes = sorted(chart.figure.axes, key=lambda ax: ax.get_ylabel(), reverse=True)
    for ax, key in ((loss_axes, "loss"), (acc_axes, "acc")):
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("step", key)
        assert legend_of(ax) == ["training"]  # the run's name, not its id
    # One point at step 0: matplotlib's own ticks would be -0.04, -0.02, 0.00...; steps are whole numbers.
    assert acc_axes.get_xticks().size and all(float(t).is_integer() for t in acc_axes.get_xticks())
    assert chart.image.width == str(round(chart.figure.get_figwidth() * 80))  # a 2x PNG shown at 1x


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
    assert table_rows(html)[0] == ["param", "rf-50", "rf-150"]  # runs headed by their names

    browser.selection.value = tuple(ids)  # two runs named rf-150: a short id tells them apart
    browser.compare_button.click()
    names = ["rf-50", f"rf-150 ({ids[1][:8]})", f"rf-150 ({ids[2][:8]})"]
    (axes,) = browser.figure.axes
    assert sorted(legend_of(axes)) == sorted(names)
    assert set(names) <= svg_texts(browser.figure)  # as drawn
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("step", "auc")
    assert table_rows(browser.comparison.value)[0] == ["param", *names]


def test_runs_browser_counts_and_pages_what_the_filter_keeps(project):
    for i in range(230):
        with mlops.start_run(f"r{i:03d}", params={"i": i, **({"small": "yes"} if i < 5 else {})}):
            mlops.log_metric("score", float(i))
    order = mlops.search_runs()["run_id"].tolist()  # the store's order: newest first

    browser = mlops.widgets.runs(max_results=100)
    assert "100 of 230 runs" in browser.status.value and "runs 1-100 · page 1 of 3" in browser.page_label.value
    assert shown(browser) == order[:100] and len(table_rows(browser.table.value)) == 1 + 100
    assert browser.previous_button.disabled and not browser.next_button.disabled
    browser.next_button.click()
    assert "100 of 230 runs" in browser.status.value and "runs 101-200 · page 2 of 3" in browser.page_label.value
    assert shown(browser) == order[100:200]
    assert [row[1] for row in table_rows(browser.table.value)[1:]] == [f"r{i:03d}" for i in range(129, 29, -1)]
    browser.next_button.click()
    assert "30 of 230 runs" in browser.status.value and "runs 201-230 · page 3 of 3" in browser.page_label.value
    assert shown(browser) == order[200:] and browser.next_button.disabled and not browser.previous_button.disabled
    browser.previous_button.click()
    assert shown(browser) == order[100:200]

    browser.filter.value = "metrics.score < 5"  # a new search starts at its first page
    assert "5 of 5 runs" in browser.status.value and "runs 1-5 · page 1 of 1" in browser.page_label.value
    assert browser.previous_button.disabled and browser.next_button.disabled
    assert "params.small" in browser.columns.options  # the keys of the runs the filter keeps...
    browser.filter.value = "metrics.score >= 5"
    assert "100 of 225 runs" in browser.status.value
    assert "params.small" not in browser.columns.options  # ...and only theirs
    assert set(browser.columns.options) == {"metrics.score", "params.i"}


def test_runs_browser_shows_the_chosen_metrics_and_params(backend):
    with mlops.start_run("a", params={"lr": 0.1, "model": "rf"}, tags={"team": "vision"}):
        mlops.log_metric("auc", 0.91)
        mlops.log_metric("loss", 0.25)
    with mlops.start_run("b", params={"lr": 0.01, "depth": 3}):
        mlops.log_metric("auc", 0.87)
    browser = mlops.widgets.runs()
    assert set(browser.columns.options) == {"metrics.auc", "metrics.loss", "params.depth", "params.lr",
                                            "params.model", "tags.team"}
    header, b_row, a_row = table_rows(browser.table.value)
    assert header == ["run", "name", "status", "metrics.auc", "metrics.loss", "params.depth", "params.lr",
                      "params.model"]  # by default the metrics and params, no tags
    assert a_row[1:] == ["a", "FINISHED", "0.91", "0.25", "", "0.1", "rf"]

    browser.columns.value = ("params.lr", "tags.team")
    header, b_row, a_row = table_rows(browser.table.value)
    assert header == ["run", "name", "status", "params.lr", "tags.team"]
    assert a_row[3:] == ["0.1", "vision"] and b_row[3:] == ["0.01", ""]

    browser.filter.value = "params.model = 'rf'"  # the chosen columns stay chosen across searches
    assert table_rows(browser.table.value)[0] == ["run", "name", "status", "params.lr", "tags.team"]
    assert "1 of 1 runs" in browser.status.value  # and only run a's keys are offered: b's depth is not
    assert set(browser.columns.options) == {"metrics.auc", "metrics.loss", "params.lr", "params.model", "tags.team"}
    browser.columns.value = ()
    assert table_rows(browser.table.value)[0] == ["run", "name", "status"]


SAFE_TAGS = {"div", "table", "thead", "tbody", "tr", "th", "td", "span", "b"}


def test_everything_shown_from_the_store_is_escaped(project):
    with mlops.start_run(SCRIPT, params={"model": IMG, SCRIPT: "x"}, tags={"note": SCRIPT}) as hostile:
        mlops.log_metric("auc", 0.9, step=0)
        mlops.log_metric(SCRIPT, 1.0, step=0)
    with mlops.start_run("price $^$", params={"model": "rf"}) as dollars:  # mathtext would refuse "$^$"
        mlops.log_metric("auc", 0.8, step=0)
    browser = mlops.widgets.runs()
    browser.columns.value = tuple(browser.columns.options)
    assert elements(browser.table.value) <= SAFE_TAGS
    header, *rows = table_rows(browser.table.value)
    hostile_row = rows[[row[1] for row in rows].index(SCRIPT)]  # shown as text
    assert f"params.{SCRIPT}" in header
    assert hostile_row[header.index("params.model")] == IMG and hostile_row[header.index("tags.note")] == SCRIPT

    browser.selection.value = (hostile.id, dollars.id)
    browser.compare_button.click()
    assert elements(browser.comparison.value) <= SAFE_TAGS
    assert table_rows(browser.comparison.value)[0] == ["param", SCRIPT, "price $^$"]
    assert {SCRIPT, "price $^$"} <= svg_texts(browser.figure)  # drawn as text, the $ not read as mathtext

    browser.filter.value = f"params.model = '{IMG}' and"  # an error quoting the filter back
    assert "<img" not in browser.status.value and "&lt;img" in browser.status.value

    chart = LiveMetrics(hostile.id, interval=60)
    chart.refresh()
    assert legend_of(chart.figure.axes[0]) == [SCRIPT] and SCRIPT in {ax.get_ylabel() for ax in chart.figure.axes}
    assert "<" not in chart.label.value and f"{html.escape(SCRIPT)}=1" in chart.label.value


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


def test_runs_browser_through_a_tracking_server(project, tmp_path, monkeypatch):
    """With ``MLOPS_TRACKING_URI=http...`` the server pages, counts and names the keys."""
    from jupyter_mlops.tracking import lifecycle
    from jupyter_mlops.tracking import store as stores

    from .helpers.tracking_server import TrackingServer

    for i in range(3):
        with mlops.start_run(f"r{i}", params={"i": i}):
            mlops.log_metric("score", float(i))
    with TrackingServer(str(project / ".mlops" / "mlops.db"), tmp_path / "server.log") as server:
        monkeypatch.setenv("MLOPS_TRACKING_URI", server.url)
        monkeypatch.setenv("MLOPS_TOKEN", server.tokens["vic"])  # a viewer may browse
        lifecycle.shutdown()
        stores.forget_open_stores()
        assert stores.open_store().is_remote
        browser = mlops.widgets.runs(max_results=2)
        assert "2 of 3 runs" in browser.status.value and set(browser.columns.options) == {"metrics.score", "params.i"}
        browser.next_button.click()
        assert "1 of 3 runs" in browser.status.value and table_rows(browser.table.value)[1][1] == "r0"
        browser.filter.value = "metrics.score >"
        assert "position" in browser.status.value  # the server's 400, shown like a local filter error
        browser.filter.value = "metrics.score >= 1"
        assert "2 of 2 runs" in browser.status.value
        browser.selection.value = tuple(run_id for _, run_id in browser.selection.options)
        browser.compare_button.click()
        assert sorted(legend_of(browser.figure.axes[0])) == ["r1", "r2"]
