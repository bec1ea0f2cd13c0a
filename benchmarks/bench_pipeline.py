"""Pipeline benchmark: ``jupyter mlops run`` against papermill and ploomber, in one run, on this machine.

Run from the project root::

    .venv/bin/python benchmarks/bench_pipeline.py           # about 4 minutes on 2 CPUs
    .venv/bin/python benchmarks/bench_pipeline.py --quick   # 3 re-runs instead of 5, 1 first run instead of 3,
                                                            # no ploomber 10-step chain (about 3 minutes)

Ploomber is optional; ``make bench`` installs it in ``.venv-ploomber`` (it pins jupyter_client<8,
which must not reach our venv). Without it its columns stay empty. Every pipeline
runs in a fresh ``tempfile`` folder, on a copy of ``benchmarks/pipeline_fixtures``, with a fresh
SQLite store (``MLOPS_TRACKING_URI`` in the subprocess's environment; a re-run reuses the store of
its own first run, which it must, to find its cache). Ours is always the venv's CLI,
``jupyter-mlops run``, as a subprocess: its wall time includes interpreter start, imports, kernel
start-up and shut-down. The step notebooks are the same for every tool; all log their metrics with
``jupyter_mlops.log_metric`` (outside our runner it starts a run by itself). Papermill runs with
``kernel_name="python3"``, ``progress_bar=False`` (the bar would garble this output) and ``cwd`` in
its temp folder; otherwise its defaults. Ploomber runs with its telemetry and version check off, on
a generated twin of our pipeline (``upstream``/``product`` in the parameters cell, the same code
cells).

1. A chain of 5 RF100 steps (``rf100.ipynb``: breast_cancer, RandomForestClassifier(100 trees,
   random_state=0, n_jobs=1), ``log_metric("accuracy")``), end to end, per step. Ours:
   ``jupyter mlops run chain5.yaml -j 1 --force`` (``preload: [sklearn]``; the modules the notebook
   imports are preloaded too, found by the runner; each step's kernel is forked from the run's
   kernel template, which is started and warmed inside the timed run), wall time / 5. Peer: 5
   sequential ``papermill.execute_notebook`` calls in this process, each starting its own kernel.
   Target: ours <= 1.0 s a step.
2. An unchanged pipeline re-run as a whole ``jupyter mlops run`` process, after a first run: the
   3-step ``pipeline3.yaml`` (prepare -> train -> evaluate) and the 10-step RF100 chain; median of
   5 re-runs. Peer: ``ploomber build`` with nothing changed on the equivalent ploomber pipeline.
   Target: <= 0.5 s.
3. The first run of the 3-step pipeline (fresh folder and store): ours vs ``ploomber build``;
   median of 3. No target (information).
4. An 8-point sweep of the RF100 step (grid: n_estimators 50/100/150/200 x max_depth 4/None,
   metric accuracy), ``--force``: ours with ``-j 2`` on the local executor, and with
   ``--executor dask -j 2`` (its LocalCluster start included), each against 8 sequential papermill
   calls with the same parameters. Target: speed-up >= 1.8x.

Before the figures, one untimed papermill run of ``rf100.ipynb`` warms the file cache for everyone.
The commit and the load average are printed with the figures (benchmarks/_context.py). The exit
status is 0 whether or not the targets are met: these are targets, not assertions.
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import _context

FIXTURES = Path(__file__).resolve().parent / "pipeline_fixtures"
BIN = Path(sys.executable).parent
MLOPS = BIN / "jupyter-mlops"
# ploomber pins jupyter_client<8, so `make bench` installs it in a venv of its own (.venv-ploomber).
PLOOMBER = Path(os.environ.get("PLOOMBER_BIN") or next(
    (p for p in (Path(__file__).resolve().parents[1] / ".venv-ploomber" / "bin" / "ploomber", BIN / "ploomber")
     if p.exists()), BIN / "ploomber"))
KERNEL = "python3"
SUBPROCESS_TIMEOUT = 1200  # seconds; a stalled run is reported as failed, not waited on forever
SWEEP_GRID = {"n_estimators": [50, 100, 150, 200], "max_depth": [4, None]}  # as in sweep8.yaml

FULL = {"rerun_reps": 5, "first_reps": 3, "ploomber": True, "ploomber_chain10": True}
QUICK = dict(FULL, rerun_reps=3, first_reps=1, ploomber_chain10=False)


@dataclass
class Row:
    """One line of the summary table. ``ratio`` is peer / ours: > 1 means ours is faster."""

    figure: str
    ours: float | None
    peer: float | None
    peer_name: str
    target: str
    met: bool | None

    @property
    def ratio(self) -> float | None:
        return self.peer / self.ours if self.ours and self.peer else None


@dataclass
class Outcome:
    """How one subprocess (ours or ploomber) ended: wall time, and what its report said."""

    seconds: float
    ok: bool
    statuses: dict  # status -> count of steps (ours: FINISHED/CACHED/...; ploomber: ran/skipped)
    log: str

    def describe(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items()))
        return f"{self.seconds:.2f} s ({counts or 'no steps reported'}{'' if self.ok else '; FAILED'})"


# -- set-up ----------------------------------------------------------------------------------------
def base_environment() -> dict:
    """This environment without ``MLOPS_*`` (defaults are measured); ploomber offline and quiet."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(PLOOMBER_STATS_ENABLED="false", PLOOMBER_VERSION_CHECK_DISABLED="1")
    return env


class Scratch:
    """Numbered fresh folders under one temp root, so no two runs share files or a store."""

    def __init__(self, root: Path):
        self.root = root
        self._count = itertools.count(1)

    def folder(self, label: str) -> Path:
        path = self.root / f"{next(self._count):02d}-{label}"
        path.mkdir(parents=True)
        return path

    def project(self, label: str) -> Path:
        """A fresh copy of the fixtures (specs and notebooks) to run a pipeline in."""
        path = self.folder(label) / "project"
        shutil.copytree(FIXTURES, path)
        return path


def section(title: str) -> None:
    """A figure's heading, with the load average: on a shared machine it says how far to trust the figure."""
    print(f"\n== {title} " + "=" * max(0, 86 - len(title)) + f" (load {_context.load()})", flush=True)


def chain_spec(project: Path, n: int) -> Path:
    """``chain<n>.yaml``: rf1 -> rf2 -> ... -> rf<n>, every step the RF100 notebook."""
    lines = [f"name: bench-chain{n}", "preload: [sklearn]", "steps:"]
    for i in range(1, n + 1):
        lines += [f"  rf{i}:", "    notebook: rf100.ipynb"] + ([f"    upstream: rf{i - 1}"] if i > 1 else [])
    path = project / f"chain{n}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def ploomber_project(folder: Path, tasks: list[tuple[str, str, list[str], dict]]) -> Path:
    """A ploomber twin of one of our pipelines: ``(name, fixture notebook, upstream, outputs)`` per task.

    Each task's notebook is the fixture with its parameters cell rewritten for ploomber (a list
    ``upstream``, ``product = None``, our other parameters kept) and, when the code reads
    ``outputs``, a cell ``outputs = product`` after it; all other cells are unchanged.
    """
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    spec = ["tasks:"]
    for name, fixture, upstream, outputs in tasks:
        nb = nbformat.read(FIXTURES / fixture, as_version=4)
        at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        kept = [line for line in nb.cells[at].source.splitlines()
                if not line.startswith(("upstream", "outputs", "# Parameters"))]
        nb.cells[at].source = "\n".join(["# Parameters", f"upstream = {upstream or None!r}", "product = None", *kept])
        if outputs:
            nb.cells.insert(at + 1, nbformat.v4.new_code_cell("outputs = product  # ploomber's name for them",
                                                              id=f"{name}-outputs"))
        nbformat.write(nb, folder / f"{name}.ipynb")
        products = {"nb": f"output/{name}.ipynb", **{k: f"output/{v}" for k, v in outputs.items()}}
        spec += [f"  - source: {name}.ipynb", f"    product: {products!r}"]
    (folder / "pipeline.yaml").write_text("\n".join(spec) + "\n")
    return folder


def three_step_ploomber(folder: Path) -> Path:
    return ploomber_project(folder, [
        ("prepare", "prepare.ipynb", [], {"train": "data/train.csv", "test": "data/test.csv"}),
        ("train", "train.ipynb", ["prepare"], {"model": "models/model.skops"}),
        ("evaluate", "evaluate.ipynb", ["train", "prepare"], {}),
    ])


def chain_ploomber(folder: Path, n: int) -> Path:
    return ploomber_project(folder, [(f"rf{i}", "rf100.ipynb", [f"rf{i - 1}"] if i > 1 else [], {})
                                     for i in range(1, n + 1)])


# -- running things ----------------------------------------------------------------------------------
_OUR_STEP = re.compile(r"^(\S+)\s+(FINISHED|CACHED|FAILED|SKIPPED|KILLED)\b", re.MULTILINE)
_OUR_END = re.compile(r"^pipeline run \w+ FINISHED", re.MULTILINE)
_PLOOMBER_ROW = re.compile(r"^(\S+)\s+(True|False)\s+[\d.]+", re.MULTILINE)


def run_ours(spec: Path, store: Path, *options: str) -> Outcome:
    """``jupyter-mlops run spec options`` as a subprocess on the store ``store`` (an SQLite file)."""
    env = {**base_environment(), "MLOPS_TRACKING_URI": str(store)}
    out, err, seconds, ok = _timed([str(MLOPS), "run", spec.name, *options], spec.parent, env)
    statuses: dict[str, int] = {}
    step_table = out.split("\n\n", 1)[0]  # the sweep table that may follow repeats the statuses
    for _, status in _OUR_STEP.findall(step_table):
        statuses[status] = statuses.get(status, 0) + 1
    return Outcome(seconds, ok and bool(_OUR_END.search(out)), statuses, out + err)


def run_ploomber(project: Path, store: Path) -> Outcome:
    """``ploomber build`` in ``project``; its notebooks log to ``store``."""
    env = {**base_environment(), "MLOPS_TRACKING_URI": str(store),
           "PLOOMBER_HOME_DIR": str(project.parent / "ploomber-home")}
    out, err, seconds, ok = _timed([str(PLOOMBER), "build", "--entry-point", "pipeline.yaml"], project, env)
    out += err
    rows = _PLOOMBER_ROW.findall(out)
    statuses = {"ran": sum(r == "True" for _, r in rows), "skipped": sum(r == "False" for _, r in rows)}
    return Outcome(seconds, ok and bool(rows), {k: v for k, v in statuses.items() if v}, out)


def _timed(cmd: list[str], cwd: Path, env: dict) -> tuple[str, str, float, bool]:
    """stdout, stderr, wall seconds and success of ``cmd``."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
        out, err, ok = proc.stdout, proc.stderr, proc.returncode == 0
    except subprocess.TimeoutExpired as exc:
        out, err, ok = _text(exc.stdout), f"TIMED OUT after {SUBPROCESS_TIMEOUT} s\n{_text(exc.stderr)}", False
    return out, err, time.perf_counter() - t0, ok


def _text(captured) -> str:
    return captured.decode(errors="replace") if isinstance(captured, bytes) else captured or ""


def report_failure(label: str, outcome: Outcome) -> None:
    if not outcome.ok:
        print(f"  !! {label} failed; last lines of its output:")
        print("     " + "\n     ".join(outcome.log.strip().splitlines()[-25:]))


def run_papermill(notebook: Path, points: list[dict], folder: Path) -> list[float]:
    """One ``papermill.execute_notebook`` per parameter dict, sequentially in this process; seconds each."""
    import papermill

    times = []
    with _environment(MLOPS_TRACKING_URI=str(folder / "mlops.db")), _kernel_stderr(folder / "kernels.log"):
        for i, parameters in enumerate(points):
            t0 = time.perf_counter()
            papermill.execute_notebook(str(notebook), str(folder / f"out-{i}.ipynb"), parameters=parameters,
                                       kernel_name=KERNEL, progress_bar=False, cwd=str(folder))
            times.append(time.perf_counter() - t0)
    return times


@contextlib.contextmanager
def _environment(**values: str):
    """Variables the kernels papermill starts inherit (they copy this process's environment)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _kernel_stderr(log: Path):
    """Kernels papermill starts write to this process's stderr (ipykernel's TCP warning, each time):
    send them to ``log``, and show its tail if a notebook fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log, "w") as fh:
        os.dup2(fh.fileno(), 2)
    try:
        yield
    except BaseException:
        os.dup2(saved, 2)
        print(f"kernel stderr ({log}):\n" + "\n".join(log.read_text().splitlines()[-20:]), file=sys.stderr)
        raise
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def logged(store: Path, key: str) -> int:
    """How many runs in ``store`` logged the metric ``key``: proof the steps really ran and tracked."""
    if not store.is_file():
        return 0
    with contextlib.closing(sqlite3.connect(store)) as db:
        return db.execute("SELECT COUNT(DISTINCT run_uuid) FROM metrics WHERE key = ?", (key,)).fetchone()[0]


def seconds_list(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def warm_up(scratch: Scratch) -> None:
    section("warm-up (untimed)")
    t = run_papermill(FIXTURES / "rf100.ipynb", [{}], scratch.folder("warm-up"))[0]
    print(f"papermill rf100.ipynb once: {t:.2f} s")


# -- figure 1: a chain of 5 RF100 steps ----------------------------------------------------------------
def bench_chain(cfg: dict, scratch: Scratch) -> list[Row]:
    section("1. chain of 5 RF100 steps, per step (-j 1)")
    project = scratch.project("chain5-ours")
    store = project.parent / "store" / "mlops.db"
    ours = run_ours(chain_spec(project, 5), store, "-j", "1", "--force")
    report_failure("jupyter mlops run chain5.yaml", ours)
    per_step = ours.seconds / 5
    print(f"jupyter_mlops: jupyter mlops run chain5.yaml -j 1 --force: {ours.describe()}; "
          f"{logged(store, 'accuracy')} runs logged accuracy -> {per_step:.2f} s a step")

    folder = scratch.folder("chain5-papermill")
    times = run_papermill(FIXTURES / "rf100.ipynb", [{}] * 5, folder)
    peer = statistics.mean(times)
    print(f"papermill: 5 x execute_notebook: {seconds_list(times)} s (total {sum(times):.2f} s; "
          f"{logged(folder / 'mlops.db', 'accuracy')} runs logged accuracy) -> {peer:.2f} s a step")
    print(f"target <= 1.00 s a step: {'met' if ours.ok and per_step <= 1.0 else 'NOT met'}; "
          f"papermill / ours = {peer / per_step:.2f}x")
    return [Row("chain of 5 RF100, per step", per_step if ours.ok else None, peer, "papermill", "<= 1.0 s",
                ours.ok and per_step <= 1.0)]


# -- figure 2: unchanged pipelines re-run ---------------------------------------------------------------
def bench_rerun(cfg: dict, scratch: Scratch) -> list[Row]:
    section(f"2. unchanged pipeline re-run (median of {cfg['rerun_reps']}, after a first run)")
    rows = []
    for label, make_spec, make_ploomber, with_peer in (
        ("3-step pipeline", lambda p: p / "pipeline3.yaml", three_step_ploomber, cfg["ploomber"]),
        ("10-step RF100 chain", lambda p: chain_spec(p, 10), lambda f: chain_ploomber(f, 10),
         cfg["ploomber"] and cfg["ploomber_chain10"]),
    ):
        project = scratch.project(f"rerun-{label.split()[0]}-ours")
        store = project.parent / "store" / "mlops.db"
        ours = rerun_median(lambda m=make_spec, p=project, s=store: run_ours(m(p), s), cfg["rerun_reps"], f"jupyter_mlops {label}")
        peer = None
        if with_peer:
            folder = scratch.folder(f"rerun-{label.split()[0]}-ploomber")
            project_pl = make_ploomber(folder / "project")
            pl_store = folder / "store" / "mlops.db"
            peer = rerun_median(lambda p=project_pl, s=pl_store: run_ploomber(p, s), cfg["rerun_reps"], f"ploomber {label}")
        else:
            print(f"ploomber {label}: skipped ({'--quick' if cfg['ploomber'] else 'not installed'})")
        if ours is not None:
            verdict = "met" if ours <= 0.5 else "NOT met"
            ratio = f"; ploomber / ours = {peer / ours:.1f}x" if peer else ""
            print(f"  {label} re-run: ours {ours:.3f} s, target <= 0.5 s: {verdict}{ratio}")
        rows.append(Row(f"re-run unchanged, {label}", ours, peer, "ploomber", "<= 0.5 s",
                        None if ours is None else ours <= 0.5))
    return rows


def rerun_median(run, reps: int, label: str) -> float | None:
    """A first run (reported, not counted), then ``reps`` re-runs that must execute nothing; their median."""
    first = run()
    report_failure(f"{label} first run", first)
    print(f"{label}: first run {first.describe()}")
    if not first.ok:
        return None
    outcomes = [run() for _ in range(reps)]
    for outcome in outcomes:
        report_failure(f"{label} re-run", outcome)
    executed = [o for o in outcomes if o.statuses.get("FINISHED") or o.statuses.get("ran")]
    median = statistics.median(o.seconds for o in outcomes)
    print(f"{label}: re-runs {seconds_list([o.seconds for o in outcomes])} s -> median {median:.3f} s; "
          f"each: {outcomes[-1].describe()}" + (f"; !! {len(executed)} re-runs executed steps" if executed else ""))
    return median if all(o.ok for o in outcomes) else None


# -- figure 3: the first run of the 3-step pipeline -----------------------------------------------------
def bench_first_run(cfg: dict, scratch: Scratch) -> list[Row]:
    reps = cfg["first_reps"]
    section(f"3. first run of the 3-step pipeline (fresh folder and store; median of {reps})")
    ours, peer = [], []
    for _ in range(reps):
        project = scratch.project("first-ours")
        outcome = run_ours(project / "pipeline3.yaml", project.parent / "store" / "mlops.db")
        report_failure("jupyter mlops run pipeline3.yaml", outcome)
        print(f"jupyter_mlops: jupyter mlops run pipeline3.yaml: {outcome.describe()}")
        ours.append(outcome.seconds if outcome.ok else None)
        if not cfg["ploomber"]:
            peer.append(None)
            continue
        folder = scratch.folder("first-ploomber")
        outcome = run_ploomber(three_step_ploomber(folder / "project"), folder / "store" / "mlops.db")
        report_failure("ploomber build", outcome)
        print(f"ploomber: ploomber build: {outcome.describe()}")
        peer.append(outcome.seconds if outcome.ok else None)
    ours_median = statistics.median(ours) if None not in ours else None
    peer_median = statistics.median(peer) if None not in peer else None
    if ours_median and peer_median:
        print(f"median: ours {ours_median:.2f} s, ploomber {peer_median:.2f} s; "
              f"ploomber / ours = {peer_median / ours_median:.2f}x (no target)")
    return [Row("first run, 3-step pipeline", ours_median, peer_median, "ploomber", "(info)", None)]


# -- figure 4: an 8-point sweep ---------------------------------------------------------------------------
def bench_sweep(cfg: dict, scratch: Scratch) -> list[Row]:
    section("4. 8-point sweep of the RF100 step (-j 2, --force) vs 8 sequential papermill calls")
    points = [dict(zip(SWEEP_GRID, combo)) for combo in itertools.product(*SWEEP_GRID.values())]
    folder = scratch.folder("sweep-papermill")
    times = run_papermill(FIXTURES / "rf100.ipynb", points, folder)
    peer = sum(times)
    print(f"papermill: 8 sequential execute_notebook: {seconds_list(times)} s -> {peer:.2f} s "
          f"({logged(folder / 'mlops.db', 'accuracy')} runs logged accuracy)")
    rows = []
    for label, options in (("local executor", ["-j", "2", "--force"]),
                           ("dask executor", ["--executor", "dask", "-j", "2", "--force"])):
        project = scratch.project(f"sweep-{label.split()[0]}")
        store = project.parent / "store" / "mlops.db"
        ours = run_ours(project / "sweep8.yaml", store, *options)
        report_failure(f"jupyter mlops run sweep8.yaml {' '.join(options)}", ours)
        speedup = peer / ours.seconds
        print(f"jupyter_mlops: jupyter mlops run sweep8.yaml {' '.join(options)}: {ours.describe()}; "
              f"{logged(store, 'accuracy')} runs logged accuracy -> speed-up {speedup:.2f}x vs papermill, "
              f"target >= 1.8x: {'met' if ours.ok and speedup >= 1.8 else 'NOT met'}")
        rows.append(Row(f"8-point sweep, {label}, -j 2", ours.seconds if ours.ok else None, peer,
                        "papermill (8 sequential)", ">= 1.8x speed-up", ours.ok and speedup >= 1.8))
    return rows


# -- report ---------------------------------------------------------------------------------------------
def print_summary(rows: list[Row], quick: bool, wall: float) -> None:
    section("summary" + (" (--quick)" if quick else ""))
    header = ["figure", "jupyter_mlops", "peer", "ratio", "target", "met?"]
    table = [header]
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        table.append([r.figure, "failed" if r.ours is None else f"{r.ours:.3f} s",
                      "-" if r.peer is None else f"{r.peer:.3f} s ({r.peer_name})",
                      "-" if r.ratio is None else f"{r.ratio:.2f}x", r.target, met])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for k, row in enumerate(table):
        print(" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            print("-+-".join("-" * w for w in widths))
    print("ratio: peer time / our time (> 1: jupyter_mlops is faster; for the sweeps, the speed-up over papermill)")
    print(f"benchmark wall time: {wall:.1f} s")
    print(_context.footer())


def check_tools() -> bool:
    """Ploomber is optional (the ``bench`` extra); without it its columns stay empty."""
    if PLOOMBER.is_file():
        return True
    print(f"ploomber is not installed ({PLOOMBER} missing): its figures are skipped; "
          f"install it with {BIN / 'pip'} install ploomber")
    return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, no ploomber 10-step chain")
    args = parser.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    start = time.perf_counter()
    print(f"{_context.header()}; {'quick' if args.quick else 'full'} sizes")
    if not check_tools():
        cfg["ploomber"] = False
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench_pipeline-") as tmp:
        scratch = Scratch(Path(tmp))
        warm_up(scratch)
        for figure in (bench_chain, bench_rerun, bench_first_run, bench_sweep):
            try:
                rows += figure(cfg, scratch)
            except Exception:  # one broken figure must not hide the others
                traceback.print_exc()
                rows.append(Row(f"{figure.__name__}: raised, see above", None, None, "-", "-", False))
    print_summary(rows, args.quick, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
