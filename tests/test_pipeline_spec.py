"""pipeline.yaml -> PipelineSpec: the worked example, one-line errors for malformed specs, and load cost."""
from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from jupyter_mlops.exceptions import SpecError
from jupyter_mlops.pipeline.notebook_params import parameters_cell
from jupyter_mlops.pipeline.spec import PipelineSpec, load_spec

from .conftest import PYTHON, python_env

PIPELINES = Path(__file__).resolve().parent / "pipelines"
DEMO = PIPELINES / "pipeline.yaml"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder holding copies of the fixture notebooks, as cwd, so specs are loaded as 'pipeline.yaml'."""
    for notebook in PIPELINES.glob("*.ipynb"):
        shutil.copy(notebook, tmp_path / notebook.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_spec(folder: Path, text: str, name: str = "pipeline.yaml") -> str:
    (folder / name).write_text(textwrap.dedent(text).lstrip("\n"))
    return name


def write_notebook(path: Path, *sources: str, tagged: int | None = 0) -> Path:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "outputs": [], "source": src,
              "metadata": {"tags": ["parameters"]} if i == tagged else {}} for i, src in enumerate(sources)]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


# -- the worked example ----------------------------------------------------------------------------------

def test_demo_spec_loads_as_a_dag():
    spec = load_spec(DEMO)
    assert isinstance(spec, PipelineSpec)
    assert spec.name == "demo" and spec.path == DEMO
    assert spec.workdir == PIPELINES / "build"
    assert spec.preload == ("json", "csv")
    # 'report' is written second but needs 'evaluate'; ties keep file order.
    assert spec.order() == list(spec.steps) == ["prepare", "train", "evaluate", "report"]
    assert spec.downstream("prepare") == {"train", "evaluate", "report"}
    assert spec.downstream("report") == set()
    assert spec.upstream_of("evaluate") == {"train", "prepare"}
    assert spec.upstream_of("report") == {"evaluate", "train", "prepare"}

    prepare, train, evaluate, report = spec.steps.values()
    assert prepare.notebook == PIPELINES / "prepare.ipynb" and prepare.line == 11
    assert prepare.outputs == {"train": PIPELINES / "build/data/train.csv", "test": PIPELINES / "build/data/test.csv"}
    assert prepare.inputs == (PIPELINES / "raw/data.csv",)  # sources: relative to the spec's folder
    assert train.outputs == {"model": PIPELINES / "build/models/model.json"}  # a list: names are stems
    assert (train.timeout, train.retries, train.kernel) == (120.0, 2, "python3")
    assert (prepare.timeout, prepare.retries) == (600.0, 0)  # from defaults
    assert report.upstream == ("evaluate",)  # a single name is accepted
    assert train.declared == {"seed", "n_estimators", "max_depth", "model", "upstream", "outputs"}
    assert train.has_parameters_cell and not report.has_parameters_cell
    assert evaluate.upstream == ("train", "prepare")


def test_step_parameters_layer_pipeline_step_and_overrides():
    spec = load_spec(DEMO)
    assert spec.step_parameters("prepare") == {"seed": 0, "test_size": 0.25}
    assert spec.step_parameters("train") == {"seed": 0, "n_estimators": 100, "model": "rf"}
    assert spec.step_parameters("evaluate") == {}  # declares only the reserved 'upstream': the runner's job
    assert spec.step_parameters("train", {"max_depth": 6, "seed": 1}) == {
        "seed": 1, "n_estimators": 100, "model": "rf", "max_depth": 6}
    with pytest.raises(ValueError, match="no step 'nope'; steps: prepare, train"):
        spec.step_parameters("nope")


def test_overrides_parse_yaml_scalars_and_target_steps():
    spec = load_spec(DEMO, ["seed=7", "train.model=gb", "n_estimators=250", "test_size=0.5", "train.max_depth=[1, 2]"])
    assert spec.parameters == {"seed": 7, "n_estimators": 250, "test_size": 0.5}
    assert spec.step_parameters("prepare") == {"seed": 7, "test_size": 0.5}
    assert spec.step_parameters("train") == {"seed": 7, "n_estimators": 250, "model": "gb", "max_depth": [1, 2]}
    assert load_spec(DEMO).with_overrides(["train.model=yes"]).steps["train"].parameters["model"] is True
    assert load_spec(DEMO).with_overrides(["train.model=a: b"]).steps["train"].parameters["model"] == "a: b"


@pytest.mark.parametrize("override, message", [
    ("seed", "expected 'name=value' or 'step.name=value'"),
    ("trian.seed=1", "no step named 'trian'; did you mean 'train'?"),
    ("train.n_estimator=5", "train.ipynb declares no parameter 'n_estimator'; did you mean 'n_estimators'?"),
    ("test_sise=0.1", "no step declares a parameter 'test_sise'; did you mean 'test_size'?"),
    ("train.upstream={}", "'upstream' is reserved"),
])
def test_bad_overrides_are_one_line_errors(workspace, override, message):
    shutil.copy(DEMO, workspace / "pipeline.yaml")
    with pytest.raises(SpecError) as info:
        load_spec("pipeline.yaml", [override])
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith(f"pipeline.yaml: {override.split('=')[0]}: ")


def test_spec_is_immutable_and_picklable():
    spec = load_spec(DEMO)
    with pytest.raises(TypeError, match="read-only"):
        spec.steps["train"].parameters["seed"] = 1
    with pytest.raises(TypeError):
        spec.steps.pop("train")
    with pytest.raises(AttributeError):
        spec.name = "other"
    spec.step_parameters("train")["model"] = "changed"  # a copy
    assert spec.steps["train"].parameters["model"] == "rf"
    again = pickle.loads(pickle.dumps(spec))  # the runner may send steps to other processes
    assert again == spec and again.order() == spec.order()
    error = pickle.loads(pickle.dumps(SpecError("bad", "p.yaml", 3, "steps")))
    assert (str(error), error.line, error.field) == ("p.yaml:3: steps: bad", 3, "steps")


def test_grid_sweep_points_are_the_capped_product_in_written_order():
    sweep = load_spec(DEMO).sweep
    assert (sweep.step, sweep.method, sweep.metric, sweep.goal, sweep.line) == ("train", "grid", "test_auc",
                                                                                 "maximize", 30)
    assert sweep.points() == [{"n_estimators": 50, "max_depth": 3}, {"n_estimators": 50, "max_depth": 6},
                              {"n_estimators": 100, "max_depth": 3}]
    assert len(replace(sweep, n=None).points()) == 4


def test_random_sweep_is_seeded(workspace):
    path = write_spec(workspace, """
        steps:
          train: {notebook: train.ipynb}
        sweep:
          step: train
          method: random
          parameters:
            model: [rf, gb]
            n_estimators: {low: 10, high: 1000, log: true, integer: true}
            max_depth: {low: 2, high: 8, integer: true}
            seed: {low: 0.0, high: 1.0}
          n: 20
          seed: 3
          metric: loss
          goal: minimize
    """)
    points = load_spec(path).sweep.points()
    assert points == load_spec(path).sweep.points() and len(points) == 20
    assert {p["model"] for p in points} == {"rf", "gb"}
    assert all(isinstance(p["n_estimators"], int) and 10 <= p["n_estimators"] <= 1000 for p in points)
    assert all(isinstance(p["max_depth"], int) and 2 <= p["max_depth"] <= 8 for p in points)
    assert all(0.0 <= p["seed"] <= 1.0 for p in points)


def test_defaults_name_and_workdir(workspace):
    spec = load_spec(write_spec(workspace, """
        steps:
          only: {notebook: prepare.ipynb, outputs: {train: a.csv}}
    """, name="flow.yaml"))
    step = spec.steps["only"]
    assert spec.name == "flow" and spec.workdir == workspace and spec.sweep is None and spec.preload == ()
    assert (step.timeout, step.retries, step.kernel) == (None, 0, "python3")
    assert step.outputs == {"train": workspace / "a.csv"}


def test_notebook_without_parameters_cell_warns_and_still_gets_parameters(workspace):
    path = write_spec(workspace, """
        steps:
          hello:
            notebook: plain.ipynb
            parameters: {greeting: hi}
    """)
    with pytest.warns(UserWarning, match=r"pipeline.yaml:2: steps.hello: plain.ipynb has no cell tagged 'parameters'"):
        spec = load_spec(path)
    assert spec.step_parameters("hello") == {"greeting": "hi"}
    assert spec.with_overrides(["hello.name=x"]).step_parameters("hello") == {"greeting": "hi", "name": "x"}


def test_yaml_anchors_and_merge_keys(workspace):
    path = write_spec(workspace, """
        steps:
          a: &base {notebook: train.ipynb, retries: 1}
          b: {<<: *base, retries: 3, upstream: a}
    """)
    spec = load_spec(path)
    assert (spec.steps["a"].retries, spec.steps["b"].retries, spec.steps["b"].upstream) == (1, 3, ("a",))


# -- malformed specs: one line, file:line:, the field, what to do ----------------------------------------



def with_steps(sweep: str) -> str:
    """Two valid steps on lines 1-3, then ``sweep`` from line 4."""
    steps = "steps:\n  prepare: {notebook: prepare.ipynb}\n  train: {notebook: train.ipynb, upstream: prepare}\n"
    return steps + textwrap.dedent(sweep).lstrip("\n")


MALFORMED = [
    # (id, yaml, line, field, message substring)
    ("unknown-top-field", """
        name: x
        step:
          a: {notebook: prepare.ipynb}
     """, 2, "step", "unknown field; did you mean 'steps'?"),
    ("unknown-step-field", """
        steps:
          a:
            notebook: prepare.ipynb
            upstreams: []
     """, 4, "steps.a.upstreams", "did you mean 'upstream'?"),
    ("missing-steps", "name: x\n", 1, "steps", "missing; add a 'steps' mapping"),
    ("empty-steps", "name: x\nsteps: {}\n", 2, "steps", "no steps; add at least one"),
    ("step-not-mapping", """
        steps:
          a: prepare.ipynb
     """, 2, "steps.a", "expected a mapping of step fields"),
    ("bad-step-name", """
        steps:
          "a b": {notebook: prepare.ipynb}
     """, 2, "steps.a b", "letters, digits"),
    ("missing-notebook", """
        steps:
          a:
            parameters: {seed: 1}
     """, 2, "steps.a.notebook", "missing; every step runs a notebook"),
    ("notebook-not-found", """
        steps:
          a:
            notebook: nope.ipynb
     """, 3, "steps.a.notebook", "notebook 'nope.ipynb' not found"),
    ("notebook-not-ipynb", """
        steps:
          a: {notebook: prepare.py}
     """, 2, "steps.a.notebook", "expected a Jupyter notebook (.ipynb)"),
    ("notebook-broken-json", """
        steps:
          a: {notebook: broken.ipynb}
     """, 2, "steps.a.notebook", "broken.ipynb:3: not valid notebook JSON"),
    ("notebook-not-nbformat", """
        steps:
          a: {notebook: list.ipynb}
     """, 2, "steps.a.notebook", "list.ipynb:1: not an nbformat 4 notebook"),
    ("upstream-unknown", """
        steps:
          a: {notebook: prepare.ipynb}
          b:
            notebook: train.ipynb
            upstream: [a, prepair]
     """, 5, "steps.b.upstream[1]", "no step named 'prepair'; steps: a, b"),
    ("upstream-self", """
        steps:
          a: {notebook: prepare.ipynb, upstream: a}
     """, 2, "steps.a.upstream", "step 'a' lists itself as upstream"),
    ("upstream-wrong-type", """
        steps:
          a:
            notebook: prepare.ipynb
            upstream: {b: 1}
     """, 4, "steps.a.upstream", "expected a list of strings or one string, got a mapping"),
    ("cycle", """
        steps:
          a:
            notebook: prepare.ipynb
            upstream: [c]
          b:
            notebook: train.ipynb
            upstream: [a]
          c:
            notebook: evaluate.ipynb
            upstream:
              - b
     """, 4, "steps.a.upstream[0]", "cycle: a -> b -> c -> a"),
    ("cycle-behind-a-tail", """
        steps:
          d: {notebook: plain.ipynb, upstream: c}
          a: {notebook: prepare.ipynb, upstream: c}
          c: {notebook: evaluate.ipynb, upstream: [d, a]}
     """, 2, "steps.d.upstream", "cycle: d -> c -> d"),
    ("duplicate-step", """
        steps:
          a: {notebook: prepare.ipynb}
          b: {notebook: train.ipynb}
          a: {notebook: evaluate.ipynb}
     """, 4, "steps.a", "duplicate step 'a' (first on line 2)"),
    ("duplicate-parameter", """
        steps:
          a:
            notebook: prepare.ipynb
            parameters:
              seed: 1
              seed: 2
     """, 6, "steps.a.parameters.seed", "duplicate key 'seed' (first on line 5)"),
    ("timeout-negative", """
        steps:
          a: {notebook: prepare.ipynb, timeout: -5}
     """, 2, "steps.a.timeout", "expected a positive number of seconds (or null for no limit), got -5"),
    ("retries-text", """
        steps:
          a:
            notebook: prepare.ipynb
            retries: two
     """, 4, "steps.a.retries", "expected a non-negative integer, got 'two'"),
    ("defaults-retries-bool", """
        defaults:
          retries: true
        steps:
          a: {notebook: prepare.ipynb}
     """, 2, "defaults.retries", "expected a non-negative integer, got True"),
    ("defaults-unknown", """
        defaults:
          timout: 5
        steps:
          a: {notebook: prepare.ipynb}
     """, 2, "defaults.timout", "did you mean 'timeout'?"),
    ("parameters-not-mapping", """
        steps:
          a:
            notebook: prepare.ipynb
            parameters: [seed]
     """, 4, "steps.a.parameters", "expected a mapping of parameter names to values, got a list"),
    ("outputs-wrong-type", """
        steps:
          a:
            notebook: prepare.ipynb
            outputs: 3
     """, 4, "steps.a.outputs", "expected a mapping of output names to paths, or a list of paths, got 3"),
    ("inputs-not-strings", """
        steps:
          a:
            notebook: prepare.ipynb
            inputs:
              - raw.csv
              - 12
     """, 6, "steps.a.inputs[1]", "expected a non-empty string, got 12"),
    ("inputs-not-list", """
        steps:
          a: {notebook: prepare.ipynb, inputs: raw.csv}
     """, 2, "steps.a.inputs", "expected a list of strings, got 'raw.csv'"),
    ("duplicate-output-path", """
        workdir: build
        steps:
          a:
            notebook: prepare.ipynb
            outputs: {train: data/train.csv}
          b:
            notebook: train.ipynb
            outputs: [data/./train.csv]
     """, 8, "steps.b.outputs[0]", "is also output 'train' of step 'a'"),
    ("input-is-an-output", """
        steps:
          a: {notebook: prepare.ipynb, outputs: [train.csv]}
          b: {notebook: train.ipynb, inputs: [train.csv]}
     """, 3, "steps.b.inputs[0]", "is an output of step 'a'; list 'a' in upstream"),
    ("unknown-step-parameter", """
        steps:
          train:
            notebook: train.ipynb
            parameters:
              n_estimator: 10
     """, 5, "steps.train.parameters.n_estimator", ("train.ipynb does not declare 'n_estimator' in its parameters "
                                                    "cell (add it there or remove it here); did you mean 'n_estimators'?")),
    ("reserved-parameter", """
        steps:
          train:
            notebook: train.ipynb
            parameters: {outputs: {}}
     """, 4, "steps.train.parameters.outputs", "'outputs' is reserved"),
    ("pipeline-parameter-undeclared", """
        parameters:
          sed: 1
        steps:
          train: {notebook: train.ipynb}
     """, 2, "parameters.sed", "no step's notebook declares 'sed'"),
    ("bad-preload", """
        preload: [scikit-learn]
        steps:
          a: {notebook: prepare.ipynb}
     """, 1, "preload[0]", "expected an importable module name"),
    ("sweep-unknown-step", with_steps("""
        sweep: {step: trian, parameters: {seed: [1]}, metric: auc, goal: maximize}
     """), 4, "sweep.step", "no step named 'trian'; did you mean 'train'?"),
    ("sweep-empty-list", with_steps("""
        sweep:
          step: train
          parameters:
            seed: []
          metric: auc
          goal: maximize
     """), 7, "sweep.parameters.seed", "expected a non-empty list of values, got an empty list"),
    ("sweep-bad-method", with_steps("""
        sweep: {step: train, method: bayes, parameters: {seed: [1]}, metric: auc, goal: maximize}
     """), 4, "sweep.method", "expected 'grid' or 'random', got 'bayes'"),
    ("sweep-bad-goal", with_steps("""
        sweep:
          step: train
          parameters: {seed: [1]}
          metric: auc
          goal: max
     """), 8, "sweep.goal", "expected 'maximize' or 'minimize', got 'max'"),
    ("sweep-missing-metric", with_steps("""
        sweep:
          step: train
          parameters: {seed: [1]}
          goal: maximize
     """), 4, "sweep.metric", "missing; a sweep needs step, parameters, metric and goal"),
    ("sweep-random-without-n", with_steps("""
        sweep: {step: train, method: random, parameters: {seed: [1, 2]}, metric: auc, goal: minimize}
     """), 4, "sweep.n", "a random sweep needs the number of points"),
    ("sweep-undeclared-parameter", with_steps("""
        sweep:
          step: train
          parameters: {depth: [1, 2]}
          metric: auc
          goal: maximize
     """), 6, "sweep.parameters.depth", "train.ipynb (step 'train') does not declare 'depth'"),
    ("sweep-range-in-grid", with_steps("""
        sweep: {step: train, parameters: {seed: {low: 1, high: 3}}, metric: auc, goal: maximize}
     """), 4, "sweep.parameters.seed", "expected a non-empty list of values, got a mapping"),
    ("sweep-range-inverted", with_steps("""
        sweep:
          step: train
          method: random
          n: 3
          parameters:
            seed: {low: 5, high: 2}
          metric: auc
          goal: maximize
     """), 9, "sweep.parameters.seed", "expected low < high"),
    ("root-not-mapping", "- a\n- b\n", 1, None, "expected a mapping of pipeline fields"),
    ("empty-file", "# only a comment\n", 1, None, "the file is empty"),
    ("yaml-syntax", """
        steps:
          a:
            notebook: prepare.ipynb
            parameters: {seed: 1
          b: {notebook: train.ipynb}
     """, 5, None, "invalid YAML"),
    ("yaml-tab-indent", "steps:\n\ta: {notebook: prepare.ipynb}\n", 2, None, "indent with spaces, not tabs"),
]


@pytest.mark.parametrize("text, line, field, message", [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed_spec_is_a_one_line_error(workspace, text, line, field, message):
    (workspace / "list.ipynb").write_text("[]")
    path = write_spec(workspace, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    error, shown = info.value, str(info.value)
    assert "\n" not in shown
    assert shown.startswith(f"pipeline.yaml:{line}: "), shown
    assert (error.path, error.line, error.field) == ("pipeline.yaml", line, field), shown
    if field:
        assert shown.startswith(f"pipeline.yaml:{line}: {field}: "), shown
    assert message in shown, shown
    assert not any(noise in shown for noise in ("Traceback", 'File "', "<yaml", "Error:", "object at 0x")), shown


def test_missing_spec_file_is_a_spec_error(workspace):
    with pytest.raises(SpecError, match=r"^nope\.yaml: cannot read the pipeline spec \(No such file"):
        load_spec("nope.yaml")


# -- notebook parameters cells --------------------------------------------------------------------------

def test_parameters_cell_reads_assignments_annotations_and_skips_magics(tmp_path):
    nb = write_notebook(tmp_path / "nb.ipynb", "import os", "%matplotlib inline\n!ls\nalpha = 0.5\n"
                        "label: str = 'x'\nepochs: int\na, b = 1, 2\nif True:\n    hidden = 1\nos.x = 3\n",
                        tagged=1)
    declared, has_cell = parameters_cell(nb)
    assert has_cell
    assert declared == {"alpha": "0.5", "label": "'x'", "epochs": None, "a": None, "b": None}
    assert parameters_cell(write_notebook(tmp_path / "none.ipynb", "x = 1", tagged=None)) == ({}, False)


@pytest.mark.parametrize("content, message", [
    ("{not json", "nb.ipynb:1: not valid notebook JSON"),
    ('{"nbformat": 3, "worksheets": []}', "nb.ipynb:1: not an nbformat 4 notebook"),
    (None, "the parameters cell (cell 1) is not valid Python: "),
])
def test_bad_notebooks_name_the_notebook(tmp_path, content, message):
    nb = tmp_path / "nb.ipynb"
    if content is None:
        write_notebook(nb, "alpha = = 1")
    else:
        nb.write_text(content)
    with pytest.raises(SpecError) as info:
        parameters_cell(nb)
    assert message in str(info.value) and str(nb) in str(info.value) and "\n" not in str(info.value)


# -- cost: no heavy imports, milliseconds per load ------------------------------------------------------

def ten_step_spec(folder: Path) -> Path:
    for notebook in PIPELINES.glob("*.ipynb"):
        shutil.copy(notebook, folder / notebook.name)
    lines = ["name: ten", "parameters: {seed: 1}", "steps:"]
    for i in range(10):
        upstream = f", upstream: [s{i - 1}]" if i else ""
        lines.append(f"  s{i}: {{notebook: train.ipynb, parameters: {{n_estimators: {i}}}, "
                     f"outputs: [m{i}/model.json]{upstream}}}")
    (folder / "ten.yaml").write_text("\n".join(lines) + "\n")
    return folder / "ten.yaml"


HEAVY = ("papermill", "nbformat", "pandas", "sqlalchemy", "nbclient", "jupyter_client")


def test_load_spec_imports_nothing_heavy(tmp_path):
    spec = ten_step_spec(tmp_path)
    code = (
        "import sys, time\n"
        "t0 = time.perf_counter()\n"
        "from jupyter_mlops.pipeline.spec import load_spec\n"
        f"s = load_spec({str(spec)!r}, ['seed=2'])\n"
        "t1 = time.perf_counter()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "print(f'{t1 - t0:.4f}')\n"
    )
    start = time.perf_counter()
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=python_env(), timeout=60)
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    imported, load_time = proc.stdout.splitlines()
    assert imported == "[]"
    print(f"fresh interpreter: import + load of a 10-step spec {float(load_time) * 1000:.1f} ms, "
          f"process wall time {wall * 1000:.0f} ms")


def test_time_loading_a_ten_step_spec(tmp_path):
    path = ten_step_spec(tmp_path)
    load_spec(path)  # warm: notebooks parsed once, cached by (path, mtime, size)
    runs = 50
    start = time.perf_counter()
    for _ in range(runs):
        spec = load_spec(path)
    per_load = (time.perf_counter() - start) / runs
    assert spec.order() == [f"s{i}" for i in range(10)]
    assert spec.downstream("s4") == {f"s{i}" for i in range(5, 10)}
    print(f"load_spec of a 10-step spec: {per_load * 1000:.2f} ms (warm notebook cache)")
