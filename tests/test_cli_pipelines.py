"""``jupyter mlops run``: --dry-run (what would run, and which input changed), -f params.yaml, --to and --only."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy import func, select

import jupyter_mlops as mlops
from jupyter_mlops.cli import main
from jupyter_mlops.tracking import schema
from jupyter_mlops.tracking.store import open_store

from .conftest import PYTHON, python_env


def write_notebook(path: Path, parameters: str, *cells: str) -> None:
    cells_ = [new_code_cell(parameters, metadata={"tags": ["parameters"]})] + [new_code_cell(c) for c in cells]
    nbformat.write(new_notebook(cells=cells_, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                       "language": "python"}}), path)


HELPERS = "def double(x):\n    return 2 * x\n"


@pytest.fixture
def two_steps(backend, project):
    """prepare (reads raw.csv, imports the local helpers.py) -> train (parameter C, logs 'score')."""
    write_notebook(project / "prepare.ipynb", "scale = 1.0\noutputs = {}", "import helpers\nfrom pathlib import Path",
                   "rows = Path('raw.csv').read_text().split()\n"
                   "Path(outputs['data']).write_text(' '.join(str(helpers.double(float(r)) * scale) for r in rows))")
    write_notebook(project / "train.ipynb", "C = 0.1\nupstream = {}\noutputs = {}",
                   "import jupyter_mlops as mlops\nfrom pathlib import Path",
                   "values = [float(v) for v in Path(upstream['prepare']['data']).read_text().split()]\n"
                   "mlops.log_metric('score', sum(values) * C)\nPath(outputs['model']).write_text(str(C))")
    (project / "helpers.py").write_text(HELPERS)
    (project / "raw.csv").write_text("1\n2\n3\n")
    (project / "pipeline.yaml").write_text("""name: two
steps:
  prepare:
    notebook: prepare.ipynb
    inputs: [raw.csv]
    outputs: {data: data.txt}
  train:
    notebook: train.ipynb
    upstream: [prepare]
    parameters: {C: 0.1}
    outputs: {model: model.txt}
""")
    return project / "pipeline.yaml"


def run_count() -> int:
    with open_store().engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(schema.runs)).scalar_one()


def dry_run(capsys, spec, *extra) -> dict[str, tuple[str, str]]:
    """``run --dry-run``: {step: (would be, why)}, after checking it recorded nothing."""
    before = run_count()
    assert main(["run", str(spec), "--dry-run", *extra]) == 0
    assert run_count() == before
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("dry run of pipeline 'two'") and lines[0].endswith("nothing was run or recorded")
    assert lines[1].split() == ["step", "would", "be", "why"]
    return {line.split()[0]: (line.split()[1], line.split(None, 2)[2]) for line in lines[2:]}


def step_runs(capsys) -> dict[str, tuple[str, str]]:
    """The step table the last ``run`` printed: {step: (status, run id prefix)}."""
    out = capsys.readouterr().out.splitlines()
    table = out[1:out.index("")]
    return {line.split()[0]: (line.split()[1], line.split()[-1]) for line in table}


def test_dry_run_says_what_would_run_and_names_the_input_that_changed(two_steps, project, capsys):
    assert dry_run(capsys, two_steps) == {"prepare": ("EXECUTED", "never ran"), "train": ("EXECUTED", "never ran")}
    assert run_count() == 0

    assert main(["run", str(two_steps)]) == 0
    ran = step_runs(capsys)
    assert {step: status for step, (status, _) in ran.items()} == {"prepare": "FINISHED", "train": "FINISHED"}
    parts = json.loads(mlops.get_run(ran["prepare"][1]).tags["mlops.step_key_parts"])
    assert set(parts) == {"notebook", "local", "packages", "parameters", "upstream", "inputs", "kernel"}
    assert list(parts["local"]) == ["helpers.py"] and parts["kernel"] == "python3"
    assert [Path(p).name for p in parts["inputs"]] == ["raw.csv"]

    prepare, train = ran["prepare"][1], ran["train"][1]
    assert dry_run(capsys, two_steps) == {"prepare": ("CACHED", f"from run {prepare}"),
                                          "train": ("CACHED", f"from run {train}")}

    (project / "helpers.py").write_text(HELPERS.replace("2 *", "3 *"))
    assert dry_run(capsys, two_steps) == {
        "prepare": ("EXECUTED", f"local module helpers.py changed (since run {prepare})"),
        "train": ("EXECUTED", f"upstream step prepare changed (since run {train})")}
    (project / "helpers.py").write_text(HELPERS)

    (project / "raw.csv").write_text("1\n2\n3\n4\n")
    assert dry_run(capsys, two_steps)["prepare"] == ("EXECUTED", f"input file raw.csv changed (since run {prepare})")
    (project / "raw.csv").write_text("1\n2\n3\n")

    assert dry_run(capsys, two_steps, "-p", "train.C=0.5") == {
        "prepare": ("CACHED", f"from run {prepare}"),
        "train": ("EXECUTED", f"parameter C changed: 0.1 -> 0.5 (since run {train})")}

    nb = nbformat.read(project / "train.ipynb", as_version=4)
    nb.cells[2].source += "\nprint(values)"
    nbformat.write(nb, project / "train.ipynb")
    assert dry_run(capsys, two_steps)["train"] == ("EXECUTED", f"notebook code changed (since run {train})")

    (project / "data.txt").write_text("tampered")
    assert dry_run(capsys, two_steps)["prepare"] == ("EXECUTED", f"its outputs changed since run {prepare}")

    assert main(["run", str(two_steps), "--force", "train", "--dry-run"]) == 0
    assert "train    EXECUTED  forced (--force, --from or --only)" in capsys.readouterr().out


def test_dry_run_names_a_changed_package_version(backend, project):
    """A package the notebook imports, installed in a folder of its own, is upgraded from 1.0 to 2.0."""
    site = project.parent / f"{project.name}-site"
    (site / "fakepkg").mkdir(parents=True)
    (site / "fakepkg" / "__init__.py").write_text("VALUE = 1\n")

    def install(version: str) -> None:
        for old in site.glob("fakepkg-*.dist-info"):
            for file in old.iterdir():
                file.unlink()
            old.rmdir()
        info = site / f"fakepkg-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakepkg\nVersion: {version}\n")
        (info / "top_level.txt").write_text("fakepkg\n")

    install("1.0")
    write_notebook(project / "step.ipynb", "outputs = {}", "import fakepkg\nfrom pathlib import Path",
                   "Path(outputs['out']).write_text(str(fakepkg.VALUE))")
    (project / "pipeline.yaml").write_text("name: two\nsteps:\n  step: {notebook: step.ipynb, outputs: {out: out.txt}}\n")
    env = python_env()
    env["PYTHONPATH"] = f"{site}{os.pathsep}{env['PYTHONPATH']}"  # the runner and its kernels import fakepkg
    uri = ["--uri", os.environ["MLOPS_TRACKING_URI"]] if os.environ.get("MLOPS_TRACKING_URI") else []

    def cli(*argv):
        return subprocess.run([PYTHON, "-m", "jupyter_mlops", *uri, *argv], cwd=project, env=env, capture_output=True,
                              text=True, timeout=300, check=False)

    ran = cli("run", "pipeline.yaml")
    assert ran.returncode == 0, ran.stderr[-2000:]
    first = ran.stdout.splitlines()[1].split()[-1]
    assert "CACHED" in cli("run", "pipeline.yaml", "--dry-run").stdout
    install("2.0")
    planned = cli("run", "pipeline.yaml", "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.splitlines()[2].split(None, 2) == [
        "step", "EXECUTED", f"package fakepkg: fakepkg==1.0 -> fakepkg==2.0 (since run {first})"]


def test_parameters_file_to_and_only(two_steps, project, capsys):
    # --only needs its upstream's cached results: none yet
    assert main(["run", str(two_steps), "--only", "train"]) == 2
    err = capsys.readouterr().err
    assert err == (f"jupyter mlops run: error: --only train: upstream step 'prepare' has no cached result (never ran); "
                   f"run it first: jupyter mlops run {two_steps} --to prepare\n")
    assert run_count() == 0

    (project / "params.yaml").write_text("scale: 3\ntrain.C: 2.0\nprepare:\n  scale: 5\n")
    assert main(["run", str(two_steps), "-f", "params.yaml", "--to", "prepare"]) == 0
    ran = step_runs(capsys)
    assert list(ran) == ["prepare"] and ran["prepare"][0] == "FINISHED"  # nothing downstream of it
    prepare = mlops.get_run(ran["prepare"][1])
    assert prepare.params == {"scale": "5"}  # the step's own entry, read after the top-level one
    assert (project / "data.txt").read_text() == "10.0 20.0 30.0"
    pipeline = mlops.get_run(prepare.parent_uuid)
    assert json.loads(pipeline.tags["mlops.dag"]) == {"prepare": []}
    assert json.loads(pipeline.tags["mlops.overrides"]) == ["scale=3", "train.C=2.0", "prepare.scale=5"]

    # the same file (so prepare is cached) and -p, which wins over it
    assert main(["run", str(two_steps), "-f", "params.yaml", "-p", "train.C=0.7", "--only", "train"]) == 0
    ran = step_runs(capsys)
    assert ran["prepare"] == ("CACHED", ran["prepare"][1]) and ran["train"][0] == "FINISHED"
    train = mlops.get_run(ran["train"][1])
    assert train.params["C"] == "0.7" and train.metrics["score"] == pytest.approx(60 * 0.7)

    # --only runs the step even when it is cached
    assert main(["run", str(two_steps), "-f", "params.yaml", "-p", "train.C=0.7", "--only", "train"]) == 0
    assert step_runs(capsys)["train"][0] == "FINISHED"


@pytest.mark.parametrize(("content", "argv", "message"), [
    ("train.D: 1\n", [], "params.yaml:1: train.D: train.ipynb declares no parameter 'D'"),
    ("scale: 1\nnope: 2\n", [], "params.yaml:2: nope: no step declares a parameter 'nope'"),
    ("- 1\n- 2\n", [], "params.yaml:1: expected a mapping of parameters"),
    ("a: [1\n", [], "params.yaml:2: invalid YAML"),
    (None, [], "params.yaml: cannot read the parameters file (No such file or directory)"),
    ("C: 1\n", ["--to", "evaluate"], "--to evaluate: no step 'evaluate' in"),
    ("C: 1\n", ["--only", "evaluate"], "--only evaluate: no step 'evaluate' in"),
])
def test_bad_parameters_file_or_step_is_one_line(two_steps, project, capsys, content, argv, message):
    if content is not None:
        (project / "params.yaml").write_text(content)
    assert main(["run", str(two_steps), "-f", "params.yaml", "--dry-run", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jupyter mlops run: error: ") and message in err and err.count("\n") == 1, err


def test_to_and_only_exclude_each_other(two_steps, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(two_steps), "--to", "prepare", "--only", "train"])
    assert exit_.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_dry_run_of_a_sweep_leaves_what_follows_it_undecided(backend, project, capsys):
    """Downstream of a sweep that would run, a step's inputs depend on the best point: not known yet."""
    import shutil

    from .conftest import ROOT

    shutil.copytree(ROOT / "tests" / "pipelines", project / "pipe")
    (project / "pipe" / "raw").mkdir()
    (project / "pipe" / "raw" / "data.csv").write_text("x\n1\n")
    assert main(["run", str(project / "pipe" / "pipeline.yaml"), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "0 cached; nothing was run or recorded" in lines[0]
    planned = {line.split()[0]: line.split(None, 2)[1:] for line in lines[2:]}
    assert planned["prepare"] == ["EXECUTED", "never ran"]
    points = [name for name in planned if name.startswith("train[")]
    assert len(points) >= 2 and all(planned[name] == ["EXECUTED", "never ran"] for name in points)
    waits = "decided after the sweep over 'train' has run (its best point is an input)"
    assert planned["evaluate"] == ["UNDECIDED", waits]
    assert planned["report"] == ["UNDECIDED", "decided after upstream evaluate is settled"]
    assert run_count() == 0
