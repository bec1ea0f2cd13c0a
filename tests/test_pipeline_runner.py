"""The pipeline runner with real kernels: caching, failures, retries, timeouts, signals, Dask."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import jupyter_mlops as mlops
from jupyter_mlops.pipeline.runner import PipelineRunner
from jupyter_mlops.pipeline.spec import load_spec
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, ROOT, python_env
from .helpers.waiting import wait_until

CLI = [PYTHON, "-m", "jupyter_mlops"]


def write_notebook(path: Path, parameters: str | None, *cells: str) -> None:
    nb_cells = []
    if parameters is not None:
        nb_cells.append(new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb_cells += [new_code_cell(c) for c in cells]
    nb = new_notebook(cells=nb_cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
    nbformat.write(nb, path)


def steps_of(pipeline_run: str) -> dict[str, str]:
    """Every step of a pipeline run, CACHED and SKIPPED ones included (listings leave those out)."""
    from jupyter_mlops.tracking.search import search_runs

    df = search_runs(open_store(), filter=f"parent = '{pipeline_run}'", unexecuted_steps=True)
    return dict(zip(df["name"], df["status"]))


def test_demo_pipeline_runs_caches_and_reruns_only_what_changed(project):
    """Acceptance 1, on the demo pipeline itself."""
    shutil.copytree(ROOT / "notebooks", project / "notebooks", ignore=shutil.ignore_patterns("build"))
    spec_path = project / "notebooks" / "pipeline.yaml"

    first = PipelineRunner(load_spec(spec_path), jobs=2).run()
    assert first.ok, first.failures()
    assert set(steps_of(first.run_id).values()) == {"FINISHED"}
    evaluate = mlops.get_run(first.states["evaluate"].run_id)
    assert evaluate.parent_uuid == first.run_id
    assert {"executed/evaluate.ipynb", "confusion_matrix.png"} <= {a["path"] for a in evaluate.artifacts}
    assert evaluate.metrics["test_auc"] > 0.95  # the notebook's log_metric landed on the step's run
    best = next(r for r in first.sweep if r["cv_auc"] is not None)
    assert mlops.get_run(best["run_id"]).tags["best"] == "true"
    assert len(first.sweep) == 4

    again = PipelineRunner(load_spec(spec_path), jobs=2)
    second = again.run()
    assert second.ok and again._executor is None  # nothing to execute: no kernel was started
    assert set(steps_of(second.run_id).values()) == {"CACHED"}
    # Cached steps are the second pipeline's record, not new runs: a metric filter finds each of
    # the four sweep points once, and listings hold no empty CACHED rows.
    swept = mlops.search_runs(filter="metrics.cv_auc > 0")
    assert sorted(swept["name"]) == ["train[0]", "train[1]", "train[2]", "train[3]"]
    assert set(swept["parent_id"]) == {first.run_id}
    assert "CACHED" not in set(mlops.search_runs(experiment="demo")["status"])
    cached = mlops.search_runs(filter="status = 'CACHED'")
    params = [c for c in cached.columns if c.startswith("params.")]
    assert len(cached) == 6 and cached[params].isna().all().all()  # found when asked for, with no params
    assert {second.states[n].cached_from for n in second.states} == {first.states[n].run_id for n in first.states}

    changed = PipelineRunner(load_spec(spec_path, ["train.C=2.0"]), jobs=2).run()
    statuses = steps_of(changed.run_id)
    assert statuses.pop("prepare") == "CACHED"
    assert set(statuses.values()) == {"FINISHED"}  # the 4 train points and evaluate re-ran


@pytest.fixture
def failing_pipeline(project):
    """a -> b (raises in its 4th cell) -> c; d independent; e flaky (fails once); f too slow; g/h exit codes."""
    write_notebook(project / "ok.ipynb", "value = 1\noutputs = None",
                   "import jupyter_mlops as mlops\nfrom pathlib import Path",
                   "mlops.log_metric('value', value)",
                   "if outputs:\n    for p in outputs.values():\n        Path(p).write_text(str(value))")
    write_notebook(project / "raises.ipynb", "upstream = None",
                   "x = 1", "y = 2", "raise ValueError('bad input')", "z = 4")
    write_notebook(project / "flaky.ipynb", "counter = 'counter.txt'",
                   "from pathlib import Path\np = Path(counter)\nn = int(p.read_text()) if p.exists() else 0\np.write_text(str(n + 1))",
                   "assert n >= 1, 'first attempt always fails'")
    write_notebook(project / "slow.ipynb", None, "import time\ntime.sleep(60)")
    write_notebook(project / "exit0.ipynb", None, "import sys\nsys.exit(0)", "raise RuntimeError('not reached')")
    write_notebook(project / "exit1.ipynb", None, "import sys\nsys.exit(1)")
    write_notebook(project / "magic.ipynb", None, "%not_a_magic")
    (project / "pipeline.yaml").write_text("""
name: failing
steps:
  a: {notebook: ok.ipynb, outputs: {out: a.txt}}
  b: {notebook: raises.ipynb, upstream: [a]}
  c: {notebook: ok.ipynb, upstream: [b]}
  d: {notebook: ok.ipynb, parameters: {value: 7}}
  e: {notebook: flaky.ipynb, retries: 2}
  f: {notebook: slow.ipynb, timeout: 3}
  g: {notebook: exit0.ipynb}
  h: {notebook: exit1.ipynb}
  i: {notebook: magic.ipynb}
""")
    return project / "pipeline.yaml"


def test_failures_retries_timeouts_and_exit_codes(failing_pipeline, monkeypatch):
    """Acceptance 2."""
    monkeypatch.setenv("MLOPS_RETRY_BACKOFF", "0.1")
    result = PipelineRunner(load_spec(failing_pipeline), jobs=2).run()
    status = {name: st.status for name, st in result.states.items()}
    assert status == {"a": "FINISHED", "b": "FAILED", "c": "SKIPPED", "d": "FINISHED", "e": "FINISHED",
                      "f": "FAILED", "g": "FINISHED", "h": "FAILED", "i": "FAILED"}
    assert result.status == "FAILED"

    b = result.states["b"].outcome
    assert b.error["cell"] == 4 and b.error["ename"] == "ValueError"
    report = "\n".join(result.failures())
    assert "step 'b' failed: cell 4 raised ValueError: bad input" in report
    assert "raise ValueError('bad input')" in report  # the traceback
    assert str(result.executed_dir / "b.ipynb") in report and (result.executed_dir / "b.ipynb").is_file()
    assert "upstream b did not finish" in result.states["c"].note

    assert result.states["e"].attempt == 2  # failed once, succeeded on the retry
    assert "timed out after 3 s" in result.states["f"].outcome.describe()
    assert result.states["h"].outcome.error["ename"] == "SystemExit"
    assert result.states["i"].outcome.error["ename"] == "UsageError"
    assert mlops.get_run(result.states["d"].run_id).metrics == {"value": 7.0}
    tags = mlops.get_run(result.states["b"].run_id).tags
    assert tags["mlops.failed_cell"] == "4" and "ValueError" in tags["mlops.traceback"]


def test_fail_fast_stops_everything(failing_pipeline):
    result = PipelineRunner(load_spec(failing_pipeline), jobs=1, fail_fast=True).run()
    status = {name: st.status for name, st in result.states.items()}
    assert status["a"] == "FINISHED" and status["b"] == "FAILED"
    assert {status[n] for n in "cdefghi"} <= {"SKIPPED", "KILLED", "FINISHED"}
    assert "SKIPPED" in status.values()


def kernel_pids_with(marker: str) -> list[int]:
    """Processes whose environment carries ``marker`` (kernels inherit the runner's environment)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_kills_running_step_and_leaves_no_kernel(project, db_path, signum):
    """Acceptance 3, and the same for Ctrl-C. The step's own child process goes too."""
    child_pid = project / "child.pid"
    write_notebook(project / "slow.ipynb", None, "import subprocess, sys, time\nfrom pathlib import Path\n"
                   "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
                   f"Path({str(child_pid)!r}).write_text(str(child.pid))\ntime.sleep(120)")
    write_notebook(project / "fast.ipynb", None, "x = 1")
    (project / "pipeline.yaml").write_text("steps:\n  fast: {notebook: fast.ipynb}\n"
                                           "  slow: {notebook: slow.ipynb, upstream: [fast]}\n")
    marker = f"MLOPS_TEST_MARKER={uuid.uuid4().hex}"
    env = python_env(MLOPS_TRACKING_URI=db_path, **dict([marker.split("=")]))
    proc = subprocess.Popen([*CLI, "run", "pipeline.yaml", "-j", "2"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def slow_step_running() -> bool:
        assert proc.poll() is None, proc.communicate()
        if not child_pid.exists():  # written by the slow step once its own child runs
            return False
        con = sqlite3.connect(db_path)
        try:
            row = con.execute("SELECT status FROM runs WHERE name = 'slow'").fetchone()
        finally:
            con.close()
        return row == ("RUNNING",) and len(kernel_pids_with(marker)) >= 2

    try:
        wait_until(slow_step_running, "the slow step running its child process")
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err
    con = sqlite3.connect(db_path)
    statuses = dict(con.execute("SELECT name, status FROM runs").fetchall())
    assert statuses["slow"] == "KILLED" and statuses["fast"] == "FINISHED"
    assert [s for n, s in statuses.items() if n not in ("slow", "fast")] == ["KILLED"]  # the pipeline run
    # No process but the test's own carries the marker: the kernels and the step's child (which
    # inherited it) are gone.
    wait_until(lambda: kernel_pids_with(marker) == [], "every kernel and step process ending",
               details=lambda: f"still running: {kernel_pids_with(marker)}")


def small_chain(project: Path) -> Path:
    write_notebook(project / "square.ipynb", "x = 2\nupstream = None\noutputs = None",
                   "import json, jupyter_mlops as mlops\nfrom pathlib import Path",
                   "base = json.loads(Path(upstream['make']['value']).read_text()) if upstream else x\n"
                   "result = base * base\nmlops.log_metric('result', result)\n"
                   "Path(outputs['value']).write_text(json.dumps(result))")
    (project / "pipeline.yaml").write_text("""
name: chain
steps:
  make: {notebook: square.ipynb, parameters: {x: 3}, outputs: {value: make.json}}
  left: {notebook: square.ipynb, upstream: [make], outputs: {value: left.json}}
  right: {notebook: square.ipynb, upstream: [make], outputs: {value: right.json}}
""")
    return project / "pipeline.yaml"


def test_dask_local_cluster_gives_the_same_results(project):
    """Acceptance 4: the same pipeline on a 2-worker Dask LocalCluster."""
    spec = small_chain(project)
    local = PipelineRunner(load_spec(spec), jobs=2, force=True).run()
    dask = PipelineRunner(load_spec(spec), jobs=2, executor="dask", force=True).run()
    assert local.ok and dask.ok, dask.failures()
    store = open_store()
    for name in ("make", "left", "right"):
        assert store.latest_metric(dask.states[name].run_id, "result") == store.latest_metric(
            local.states[name].run_id, "result")
    assert store.latest_metric(dask.states["left"].run_id, "result") == 81.0
    assert mlops.get_run(dask.run_id).tags["mlops.executor"] == "dask"


def test_cli_run_prints_report_and_bad_spec_is_one_line(project, db_path):
    spec = small_chain(project)
    env = python_env(MLOPS_TRACKING_URI=db_path)
    ok = subprocess.run([*CLI, "run", str(spec), "-p", "make.x=4"], cwd=project, env=env,
                        capture_output=True, text=True, timeout=180)
    assert ok.returncode == 0, ok.stderr
    assert "✓ left FINISHED" in ok.stderr and "pipeline run" in ok.stdout
    assert json.loads((project / "left.json").read_text()) == 256
    listing = subprocess.run([*CLI, "pipelines"], cwd=project, env=env, capture_output=True, text=True)
    assert "make:FINISHED left:FINISHED right:FINISHED" in listing.stdout

    (project / "bad.yaml").write_text("steps:\n  a: {notebook: square.ipynb, retries: two}\n")
    bad = subprocess.run([*CLI, "run", "bad.yaml"], cwd=project, env=env, capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "bad.yaml:2: steps.a.retries" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_run_pipeline_from_a_notebook_shows_a_live_table(project, db_path):
    """``mlops.run_pipeline`` inside a real kernel: a widget with each step's final status."""
    from .test_notebooks import execute, running_kernel

    small_chain(project)
    with running_kernel(project, project, MLOPS_TRACKING_URI=db_path) as kc:
        result = execute(kc, "import jupyter_mlops as mlops\n"
                             "r = mlops.run_pipeline('pipeline.yaml', ['make.x=5'], jobs=2)\nprint(r.status)")
    assert result["status"] == "ok", result["reply"]
    texts = [m["content"].get("text", "") for m in result["outputs"] if m["msg_type"] == "stream"]
    assert "FINISHED" in "".join(texts)
    widgets = [m for m in result["outputs"] if m["msg_type"] == "comm_open"]
    state = json.dumps([w["content"]["data"]["state"] for w in widgets])
    assert "HTMLModel" in state
    updates = [m for m in result["outputs"] if m["msg_type"] == "comm_msg"]
    last = json.dumps(updates[-1]["content"]["data"])
    assert last.count("FINISHED") == 3 and "make" in last
    assert json.loads((project / "left.json").read_text()) == 625


def test_dag_as_text_dot_and_png(project, capsys):
    from jupyter_mlops.cli import main

    spec = small_chain(project)
    assert main(["dag", str(spec)]) == 0
    assert "left: square.ipynb  <- make" in capsys.readouterr().out
    assert main(["dag", str(spec), "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert '"make" -> "left";' in dot and '"make" -> "right";' in dot
    assert main(["dag", str(spec), "--format", "png", "-o", str(project / "dag.png")]) == 0
    assert (project / "dag.png").read_bytes()[:4] == b"\x89PNG"


def test_pipeline_on_postgresql_then_cached(project, postgres, monkeypatch):
    """Steps in kernels write to the same PostgreSQL store as the runner; the cache works there too."""
    monkeypatch.setenv("MLOPS_TRACKING_URI", postgres.new_database())
    spec = small_chain(project)
    first = PipelineRunner(load_spec(spec), jobs=2).run()
    assert first.ok, first.failures()
    assert open_store().latest_metric(first.states["right"].run_id, "result") == 81.0
    assert open_store().engine.dialect.name == "postgresql"
    again = PipelineRunner(load_spec(spec), jobs=2)
    second = again.run()
    assert second.ok and again._executor is None
    assert set(steps_of(second.run_id).values()) == {"CACHED"}


def test_steps_on_forked_kernels_show_figures_inline_and_run_in_their_own_folder(project):
    """Kernels forked from the template behave as started ones: matplotlib draws inline (the template
    imported it with ipykernel's backend), the step's folder is its working folder and import path."""
    sub = project / "steps"
    sub.mkdir()
    (sub / "step_helpers.py").write_text("WHERE = 'the step folder'\n")
    write_notebook(sub / "plot.ipynb", "x = 1",
                   "import sys\nprint('preloaded', 'matplotlib.pyplot' in sys.modules)",
                   "import matplotlib.pyplot as plt\nimport step_helpers, os",
                   "plt.plot([1, 2, 3]); plt.show()\nprint(step_helpers.WHERE, os.getcwd())")
    (project / "pipeline.yaml").write_text("steps:\n  plot: {notebook: steps/plot.ipynb}\n")
    result = PipelineRunner(load_spec(project / "pipeline.yaml"), jobs=1, force=True).run()
    assert result.ok, result.failures()
    executed = nbformat.reads(result.states["plot"].outcome.executed_notebook.decode(), as_version=4)
    outputs = [o for cell in executed.cells for o in cell.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), outputs
    assert any(o.get("text", "").strip() == f"the step folder {sub}" for o in outputs), outputs
    assert any(o.get("text", "").strip() == "preloaded True" for o in outputs), outputs  # by the template


_chdirs_seen: list[str] = []
_watching_chdir = threading.Event()


def _record_chdir(event: str, args: tuple) -> None:
    if event == "os.chdir" and _watching_chdir.is_set():
        _chdirs_seen.append(str(args[0]))


def test_parallel_steps_run_in_process_never_move_the_process_between_folders(project, tmp_path_factory):
    """papermill's local file handler chdirs around every read and write to one process-wide folder;
    steps in threads interleaved those and left a Jupyter Server that ran a pipeline in another
    project's folder, where it looked for its store. Steps read and write by absolute path instead."""
    import papermill.iorw

    sys.addaudithook(_record_chdir)  # hooks cannot be removed: this one records only while watching
    # What interleaved steps of an earlier run left behind: papermill's folder pointing elsewhere.
    previous = papermill.iorw.papermill_io.get_handler("local").cwd(str(tmp_path_factory.mktemp("elsewhere")))
    for n in range(4):
        write_notebook(project / f"s{n}.ipynb", "x = 1", "import jupyter_mlops as mlops", "mlops.log_metric('x', x)")
    (project / "pipeline.yaml").write_text(
        "steps:\n" + "".join(f"  s{n}: {{notebook: s{n}.ipynb}}\n" for n in range(4)))
    _watching_chdir.set()
    try:
        result = PipelineRunner(load_spec(project / "pipeline.yaml"), jobs=2, force=True).run()
    finally:
        _watching_chdir.clear()
        papermill.iorw.papermill_io.get_handler("local").cwd(previous)
    assert result.ok, result.failures()
    assert _chdirs_seen == [] and os.getcwd() == str(project)
