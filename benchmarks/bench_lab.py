"""The Lab views in Chromium beside MLflow's UI on the same runs, in the same browser.

Run from the project root::

    .venv/bin/python benchmarks/bench_lab.py            # 10k runs x 5 metrics x 1k steps (about 14 GB of stores)
    .venv/bin/python benchmarks/bench_lab.py --quick    # 1k runs x 5 metrics x 100 steps
    .venv/bin/python benchmarks/bench_lab.py --data DIR # build the stores in DIR once, reuse them next time

Both stores hold the same runs of one experiment: names, ten params (numeric and text), five
metrics logged at every step, start and end times, and one more run with 20 metrics. Ours is
filled through the Store's own methods; MLflow's store is created by MLflow (its schema and
migrations), then its rows are inserted in bulk (MLflow's client would take hours for 50M points).

Measured in Debian's Chromium (Playwright), each figure the median of ``--reps`` after a first,
cold one shown beside it, timed inside the page (performance.now()) from the click that opens a
view to the moment the figure's condition holds:

1. Experiment view: from the navigator's click to the first rows painted (the grid's mirror of
   the rows in view holds rows). Target <= 500 ms. MLflow: from the experiment list's click to the
   runs table's first rows.
2. Charts for 100 runs: from choosing 100 runs in the charts panel to every metric's line chart
   drawn with 100 series (5 charts, server-side downsampled to 500 points a series). Target <= 1 s.
   Also the parallel coordinates over every run (10k lines). MLflow: its experiment page's chart
   view with 100 runs shown, to every metric chart drawn.
3. Run view with 20 metrics: from the click to the metrics table's 20 rows (target <= 500 ms), and
   to its 20 charts drawn. MLflow: its run page, to the 20 metrics listed, and its model metrics tab.
4. JavaScript: the bytes the browser fetched for each UI (ours: the extension's files, loaded once
   by JupyterLab, with the chunks loaded later named; MLflow: every script its pages loaded), and
   the size of each UI's files on disk.

Printed as a table with the ratio MLflow / ours (> 1: ours is faster or smaller). The commit and
the load average are printed with the figures (benchmarks/_context.py); servers are started and
polled with tests/helpers/net.py. The exit status is 0 whether or not the targets are met.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.helpers
import _context
import numpy as np

from tests.helpers.net import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SEED = 15
EXPERIMENT = "bench"
METRICS = ("loss", "accuracy", "auc", "f1", "learning_rate")
WIDE_METRICS = 20  # metrics of the one run the run view is measured on
WIDE_RUN = "twenty-metrics"
PEER_CEILING_MS = 300_000  # how long one figure of the peer's UI is waited for before it counts as not reached
MODELS = ("logreg", "rf", "gbm", "svm", "mlp")
TARGETS_MS = {"experiment": 500, "charts": 1000, "run": 500}
DAY_MS = 86_400_000
BATCH_POINTS = 200_000


# --- the runs -------------------------------------------------------------------------------------

def plan(n_runs: int, steps: int):
    """The runs, the same for both stores: ``(id, name, params, start ms, end ms, metric seed)``."""
    rng = np.random.default_rng(SEED)
    now = int(time.time() * 1000)
    starts = np.sort(rng.integers(now - 10 * DAY_MS, now - DAY_MS, size=n_runs))
    for i, start in enumerate(starts.tolist()):
        params = {
            "learning_rate": f"{10 ** rng.uniform(-4, -1):.6f}",
            "max_depth": str(int(rng.integers(2, 16))),
            "n_estimators": str(int(rng.integers(1, 20)) * 50),
            "model": MODELS[int(rng.integers(0, len(MODELS)))],
            "batch_size": str(2 ** int(rng.integers(4, 10))),
            "dropout": f"{rng.uniform(0, 0.5):.3f}",
            "optimizer": ("adam", "sgd", "rmsprop")[int(rng.integers(0, 3))],
            "seed": str(i),
            "features": str(int(rng.integers(5, 200))),
            "scaler": ("standard", "minmax", "none")[int(rng.integers(0, 3))],
        }
        duration = int(rng.integers(60_000, 3_600_000))
        yield uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i).hex, f"run-{i:05d}", params, start, \
            start + duration, int(rng.integers(0, 2**31))


def curves(seed: int, keys, steps: int, start: int, end: int):
    """``(key, steps, values, timestamps)`` of each metric: noisy learning curves, timestamps across the run."""
    rng = np.random.default_rng(seed)
    x = np.arange(steps)
    stamps = (start + (x * (end - start) // max(1, steps))).tolist()
    level = rng.uniform(0.5, 0.95)
    for j, key in enumerate(keys):
        rate = rng.uniform(20, 300)
        shape = {0: 2.5 * np.exp(-x / rate) + 0.1, 1: level * (1 - np.exp(-x / rate))}.get(j % 5)
        if shape is None:
            shape = level * (1 - 0.5 * np.exp(-x / rate)) if j % 5 in (2, 3) else 0.1 * 0.995 ** x
        values = shape + rng.normal(0, 0.01, steps)
        yield key, x.tolist(), values.tolist(), stamps


def all_runs(n_runs: int, steps: int):
    """Every run with its metric keys: the experiment's runs, then the one with 20 metrics."""
    for run in plan(n_runs, steps):
        yield (*run, METRICS)
    _, _, params, start, end, seed = next(plan(1, steps))
    yield uuid.uuid4().hex, WIDE_RUN, params, start + 1, end + 1, seed, tuple(f"metric_{k:02d}" for k in range(WIDE_METRICS))


def fill_ours(path: Path, n_runs: int, steps: int) -> dict:
    from jupyter_mlops.tracking.schema import run_key
    from jupyter_mlops.tracking.store import open_store

    store = open_store(str(path))
    experiment = store.experiment_id(EXPERIMENT)
    points: list[tuple] = []
    ids = {}
    for run_id, name, params, start, end, seed, keys in all_runs(n_runs, steps):
        store.create_run(run_id, experiment, 10.0, name=name, user="bench")
        store.set_params(run_id, params)
        key = run_key(run_id)
        for metric, xs, values, stamps in curves(seed, keys, steps, start, end):
            points.extend(zip([key] * steps, [run_id] * steps, [metric] * steps, xs, values, stamps))
        if len(points) >= BATCH_POINTS:
            store.insert_metrics(points)
            points = []
        store.update_run(run_id, status="FINISHED", start_time=start, end_time=end, heartbeat=end)
        ids[name] = run_id
    if points:
        store.insert_metrics(points)
    store.dispose()
    return ids


def fill_mlflow(path: Path, n_runs: int, steps: int) -> dict:
    """MLflow's own schema (its store creates and migrates it), then the same rows in bulk."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{path}")
    client = mlflow.MlflowClient()
    experiment = client.create_experiment(EXPERIMENT, artifact_location=(path.parent / "mlflow-artifacts").as_uri())
    template = client.create_run(experiment, run_name="template")
    client.delete_run(template.info.run_id)
    db = sqlite3.connect(path)
    row = db.execute("SELECT * FROM runs WHERE run_uuid = ?", (template.info.run_id,)).fetchone()
    columns = [d[0] for d in db.execute("SELECT * FROM runs LIMIT 0").description]
    template_tags = dict(db.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (template.info.run_id,)).fetchall())
    db.execute("DELETE FROM tags WHERE run_uuid = ?", (template.info.run_id,))
    db.execute("DELETE FROM runs WHERE run_uuid = ?", (template.info.run_id,))
    base = dict(zip(columns, row))
    ids = {}
    metrics: list[tuple] = []
    latest: list[tuple] = []
    for run_id, name, params, start, end, seed, keys in all_runs(n_runs, steps):
        values = {**base, "run_uuid": run_id, "name": name, "user_id": "bench", "status": "FINISHED",
                  "start_time": start, "end_time": end, "lifecycle_stage": "active",
                  "artifact_uri": base["artifact_uri"].replace(template.info.run_id, run_id)}
        db.execute(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                   [values[c] for c in columns])
        tags = {**template_tags, "mlflow.runName": name, "mlflow.user": "bench"}
        db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                       [(k, v, run_id) for k, v in tags.items()])
        db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                       [(k, v, run_id) for k, v in params.items()])
        for metric, xs, vals, stamps in curves(seed, keys, steps, start, end):
            metrics.extend(zip([metric] * steps, vals, stamps, [run_id] * steps, xs, [0] * steps))
            latest.append((metric, vals[-1], stamps[-1], xs[-1], 0, run_id))
        if len(metrics) >= BATCH_POINTS:
            db.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                           "VALUES (?, ?, ?, ?, ?, ?)", metrics)
            metrics = []
        ids[name] = run_id
    db.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
                   metrics)
    db.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                   "VALUES (?, ?, ?, ?, ?, ?)", latest)
    db.commit()
    db.close()
    return {"experiment": experiment, **ids}


def stores(data: Path, n_runs: int, steps: int) -> dict:
    """Both stores in ``data`` (built there unless a complete build of the same size is there)."""
    marker = data / "built.json"
    size = {"runs": n_runs, "steps": steps}
    if marker.exists() and json.loads(marker.read_text()).get("size") == size:
        return json.loads(marker.read_text())
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    t0 = time.perf_counter()
    ours = fill_ours(data / "ours" / "mlops.db", n_runs, steps)
    t1 = time.perf_counter()
    (data / "mlflow").mkdir()
    theirs = fill_mlflow(data / "mlflow" / "mlflow.db", n_runs, steps)
    t2 = time.perf_counter()
    built = {"size": size, "ours": ours, "mlflow": theirs, "seconds": {"ours": t1 - t0, "mlflow": t2 - t1}}
    marker.write_text(json.dumps(built))
    return built


# --- measuring in the browser ---------------------------------------------------------------------

def timed(page, start: str, done: str, timeout: float = 300_000) -> float:
    """Milliseconds from running ``start`` in the page to ``done`` holding (checked every frame)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate(f"() => {{ window.__benchT0 = performance.now(); {start}; }}")
    try:
        handle = page.wait_for_function(f"() => ({done}) ? Math.max(performance.now() - window.__benchT0, 0.01) : false",
                                        polling="raf", timeout=timeout)
    except PlaywrightTimeout:
        shot = Path(tempfile.gettempdir()) / f"bench-lab-timeout-{int(time.time())}.png"
        page.screenshot(path=str(shot))
        raise RuntimeError(f"{done!r} did not hold within {timeout / 1000:g} s after {start!r} "
                           f"(page {page.url}; screenshot {shot})") from None
    return float(handle.json_value())


def peer_figure(measure) -> tuple[float, float] | str:
    """``measure()``, or why the peer's page gave no figure: it was still not there at the ceiling
    (MLflow's chart view on the full-size store loads each run's history for minutes)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return measure()
    except (PlaywrightTimeout, RuntimeError) as exc:
        print(f"MLflow UI: {str(exc).splitlines()[0]}", file=sys.stderr)
        return f"> {PEER_CEILING_MS / 1000:.0f} s"


def repeat(reps: int, once) -> tuple[float, float]:
    """``(first, median of the next reps)``: ``once()`` returns one time in ms."""
    times = [once() for _ in range(reps + 1)]
    return times[0], statistics.median(times[1:]) if reps else times[0]


def scripts_loaded(page, marker: str) -> list[str]:
    """The script files the page fetched whose URL holds ``marker`` (file names)."""
    return sorted({Path(url.split("?")[0]).name for url in page.evaluate(
        "() => performance.getEntriesByType('resource').map(e => e.name)") if marker in url and ".js" in url})


def file_sizes(folder: Path, names) -> tuple[int, int]:
    """``(bytes, gzip -9 bytes)`` of the named files in ``folder``."""
    raw = packed = 0
    for name in names:
        data = (folder / name).read_bytes()
        raw += len(data)
        packed += len(gzip.compress(data, 9))
    return raw, packed


VISIBLE = ".jp-mlops-view-widget:not(.lm-mod-hidden)"


def measure_ours(browser, data: Path, built: dict, reps: int, n_runs: int) -> dict:
    base = data / "lab"
    shutil.rmtree(base, ignore_errors=True)
    (base / "settings" / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (base / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false"}')
    token = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update({"MLOPS_TRACKING_URI": str(data / "ours" / "mlops.db"), "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
                "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces")})
    argv = [str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", "--ip=127.0.0.1", "--port={port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={base}",
            "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    out = {}
    with ServerProcess(argv, f"/api/status?token={token}", base / "lab.log", cwd=base, env=env, timeout=300) as lab:
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(300_000)
        page.goto(f"{lab.url}/lab?token={token}")
        page.locator('li.lm-TabBar-tab[data-id="jp-mlops-sidebar"]').click()
        page.locator(f'.jp-mlops-navigator li[data-experiment="{EXPERIMENT}"]').wait_for()
        experiment = f'{VISIBLE} .jp-mlops-experiment-view[data-experiment="{EXPERIMENT}"]'
        mirror = f"document.querySelector('{experiment} table.jp-mlops-grid-mirror')"
        parallel = f"document.querySelector('{experiment} .jp-mlops-parallel')"
        times = {"rows": [], "parallel": []}

        def open_experiment() -> float:
            rows = timed(page, f"document.querySelector('.jp-mlops-navigator li[data-experiment=\"{EXPERIMENT}\"]').click()",
                         f"{mirror} && Number({mirror}.dataset.rows) > 0")
            times["rows"].append(rows)
            times["parallel"].append(float(page.wait_for_function(
                f"() => {parallel}?.dataset.drawn === 'true' && Number({parallel}.dataset.lines) >= {n_runs} "
                f"? performance.now() - window.__benchT0 : false", polling="raf").json_value()))
            return rows

        def close_current() -> None:
            page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon").click()
            page.locator(experiment).wait_for(state="detached")

        for i in range(reps + 1):
            open_experiment()
            if i < reps:
                close_current()
        out["experiment"] = (times["rows"][0], statistics.median(times["rows"][1:]))
        out["parallel"] = (times["parallel"][0], statistics.median(times["parallel"][1:]))

        # Charts of the first 100 runs of the table (the table filtered to runs run-00000..run-00099).
        view = page.locator(experiment)
        view.locator(".jp-mlops-filter-input").fill("name LIKE 'run-000%'")
        page.wait_for_function(f"() => {mirror}?.dataset.total === '100'")
        charts = f"Array.from(document.querySelectorAll('{experiment} .jp-mlops-linechart'))"
        choose = ("const s = document.querySelector('" + experiment + " select[aria-label=\"runs charted\"]'); "
                  "s.value = '{n}'; s.dispatchEvent(new Event('change', {{bubbles: true}}))")

        def all_drawn(n: int) -> str:
            return (f"{charts}.length === {len(METRICS)} && "
                    f"{charts}.every(c => c.dataset.drawn === 'true' && c.dataset.series === '{n}')")

        def charts_100() -> float:
            timed(page, choose.format(n=10), all_drawn(10))
            return timed(page, choose.format(n=100), all_drawn(100))

        out["charts"] = repeat(reps, charts_100)

        # The run view of the run with 20 metrics, opened from the navigator's search.
        wide = built["ours"][WIDE_RUN]
        page.locator(".jp-mlops-navigator .jp-mlops-search").fill(WIDE_RUN)
        page.locator(f'.jp-mlops-navigator [data-section="runs"] li[data-run="{wide}"]').wait_for()
        run = f'{VISIBLE} .jp-mlops-run-view[data-run="{wide}"]'
        run_times = {"table": [], "charts": []}
        for i in range(reps + 1):
            run_times["table"].append(timed(
                page, f"document.querySelector('.jp-mlops-navigator li[data-run=\"{wide}\"]').click()",
                f"document.querySelectorAll('{run} .jp-mlops-metric-summary tbody tr').length === {WIDE_METRICS}"))
            run_times["charts"].append(timed(
                page, f"document.querySelector('{run} .jp-mlops-tab[data-tab=\"charts\"]').click()",
                f"document.querySelectorAll('{run} .jp-mlops-linechart[data-drawn=\"true\"]').length === {WIDE_METRICS}"))
            if i < reps:
                page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon").click()
                page.locator(run).wait_for(state="detached")
        out["run"] = (run_times["table"][0], statistics.median(run_times["table"][1:]))
        out["run_charts"] = (run_times["charts"][0], statistics.median(run_times["charts"][1:]))

        static = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyter-mlops" / "static"
        loaded = scripts_loaded(page, "/lab/extensions/jupyter-mlops/static/")
        out["js_loaded"] = file_sizes(static, loaded)
        out["js_files"] = file_sizes(static, [p.name for p in static.glob("*.js")])
        out["js_names"] = loaded
        context.close()
    return out


MLFLOW_ROWS = "document.querySelectorAll('.ag-center-cols-container .ag-row').length > 0"


def measure_mlflow(browser, data: Path, built: dict, reps: int) -> dict:
    import mlflow

    ids = built["mlflow"]
    experiment = ids["experiment"]
    argv = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
            f"sqlite:///{data / 'mlflow' / 'mlflow.db'}", "--host", "127.0.0.1", "--port", "{port}", "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    out = {}
    with ServerProcess(argv, "/health", data / "mlflow.log", cwd=data, env=env, timeout=600) as server:
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{server.url}/#/experiments")
        # MLflow 3 opens experiments in its GenAI mode (traces); runs, metrics and charts are its
        # "Model training" mode, chosen once (kept in the page's localStorage).
        page.get_by_text("Model training", exact=True).first.click()
        link = f"a[href*=\"/experiments/{experiment}\"]"
        page.locator(link).first.wait_for()

        def open_experiment() -> float:
            took = timed(page, f"document.querySelector('{link}').click()", MLFLOW_ROWS)
            page.evaluate("() => { location.hash = '#/experiments'; }")
            page.locator(link).first.wait_for()
            return took

        out["experiment"] = repeat(reps, open_experiment)
        search = "attributes.run_name LIKE 'run-000%'"  # the 100 runs of the charts

        def runs_page(**query) -> str:
            query = {"workflowType": "machine_learning", **query}
            return f"#/experiments/{experiment}/runs?{urllib.parse.urlencode(query)}"

        wide = ids[WIDE_RUN]
        metric_names = "new Set(document.body.innerText.match(/metric_\\d\\d/g) || []).size"

        def open_run() -> float:
            page.evaluate(f"() => {{ location.hash = {json.dumps(runs_page())}; }}")
            page.wait_for_function(MLFLOW_ROWS)
            return timed(page, f"location.hash = '#/experiments/{experiment}/runs/{wide}'",
                         f"{metric_names} >= {WIDE_METRICS}")

        out["run"] = repeat(reps, open_run)

        # The chart view of the same 100 runs, every run shown (its eye column exists in chart mode).
        cards = "Array.from(document.querySelectorAll('[data-testid=\"experiment-view-compare-runs-card\"]'))"
        drawn = (f"{cards}.length >= {len(METRICS)} && "
                 f"{cards}.every(c => c.querySelectorAll('.scatterlayer .trace').length >= 100)")
        page.goto(f"{server.url}/{runs_page(searchFilter=search, compareRunsMode='CHART')}")
        page.locator('[data-testid="experiment-view-runs-visibility-column-header"]').click()
        page.get_by_text("Show all runs").click()

        def charts_100() -> float:
            page.evaluate(f"() => {{ location.hash = {json.dumps(runs_page(searchFilter=search))}; }}")
            page.wait_for_function(MLFLOW_ROWS)
            return timed(page, f"location.hash = {json.dumps(runs_page(searchFilter=search, compareRunsMode='CHART'))}",
                         drawn, timeout=PEER_CEILING_MS)

        # Measured last: a chart view that is still loading at the ceiling leaves the server busy.
        out["charts"] = peer_figure(lambda: (page.wait_for_function(drawn, timeout=PEER_CEILING_MS),
                                             repeat(reps, charts_100))[1])

        static = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
        loaded = scripts_loaded(page, "/static-files/static/js/")
        out["js_loaded"] = file_sizes(static, loaded)
        out["js_files"] = file_sizes(static, [p.name for p in static.glob("*.js")])
        context.close()
    return out


# --- the report -----------------------------------------------------------------------------------

def kib(size: tuple[int, int]) -> str:
    return f"{size[0] / 1024:,.0f} KiB ({size[1] / 1024:,.0f} KiB gzip)"


def report(ours: dict, theirs: dict | None, n_runs: int, steps: int) -> None:
    print(f"\nLab views in Chromium: {n_runs:,} runs x {len(METRICS)} metrics x {steps:,} steps "
          f"(+1 run with {WIDE_METRICS} metrics); ms, first (cold) / median of the rest")
    rows = [
        ("Experiment view: rows painted", "experiment", TARGETS_MS["experiment"]),
        ("Charts: 100 runs x 5 metrics", "charts", TARGETS_MS["charts"]),
        ("Run view, 20 metrics: table", "run", TARGETS_MS["run"]),
        ("Run view, 20 metrics: charts", "run_charts", None),
        (f"Parallel coordinates, {n_runs:,} runs", "parallel", None),
    ]
    print(f"{'':36s} {'ours':>19s} {'MLflow UI':>19s} {'ratio':>7s}  target")
    for label, key, target in rows:
        first, median = ours[key]
        peer = theirs.get(key) if theirs else None
        met = "" if target is None else f"<= {target} ms: {'met' if median <= target else 'MISSED'}"
        if isinstance(peer, str):  # not there at the ceiling: the ratio is a lower bound
            ratio, peer_text = f">{PEER_CEILING_MS / median:5.0f}x", f"{peer:>19s}"
        else:
            ratio = f"{peer[1] / median:6.1f}x" if peer else "     -"
            peer_text = f"{peer[0]:8.0f} / {peer[1]:7.0f}" if peer else f"{'-':>19s}"
        print(f"{label:36s} {first:8.0f} / {median:7.0f} {peer_text} {ratio}  {met}")
    print("\nJavaScript")
    print(f"  ours, loaded by JupyterLab for these views: {kib(ours['js_loaded'])}: {', '.join(ours['js_names'])}")
    print(f"  ours, every file of the extension (lazy chunks included): {kib(ours['js_files'])}")
    if theirs:
        print(f"  MLflow UI, loaded by these pages: {kib(theirs['js_loaded'])}; every file: {kib(theirs['js_files'])}")
        print(f"  ratio (loaded): {theirs['js_loaded'][0] / ours['js_loaded'][0]:.1f}x")
    print("ratio = MLflow's median / ours (> 1: ours is faster or smaller). MLflow's experiment view is its runs table;")
    print("its charts are its experiment page's chart view with the same 100 runs shown; its run page counts as")
    print("shown when the 20 metric names are on the page.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1k runs x 100 steps instead of 10k x 1k")
    parser.add_argument("--data", type=Path, help="build the stores here and keep them (reused when complete)")
    parser.add_argument("--reps", type=int, default=5, help="measurements after the first of each figure")
    parser.add_argument("--no-mlflow", action="store_true", help="only ours")
    args = parser.parse_args(argv)
    n_runs, steps = (1_000, 100) if args.quick else (10_000, 1_000)
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    print(_context.header())
    scratch = None if args.data else tempfile.TemporaryDirectory(prefix="bench-lab-")
    data = args.data or Path(scratch.name)
    try:
        t0 = time.perf_counter()
        built = stores(data, n_runs, steps)
        print(f"stores ready in {time.perf_counter() - t0:.0f} s (built in: ours {built['seconds']['ours']:.0f} s, "
              f"MLflow {built['seconds']['mlflow']:.0f} s) in {data}")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            ours = measure_ours(browser, data, built, args.reps, n_runs)
            theirs = None if args.no_mlflow else measure_mlflow(browser, data, built, args.reps)
            browser.close()
        report(ours, theirs, n_runs, steps)
    finally:
        if scratch is not None:
            scratch.cleanup()
    print(_context.footer())
    return 0


if __name__ == "__main__":
    sys.exit(main())
