"""``validate:`` in a pipeline step: the step fails with the validation message; bad values are spec errors."""
from __future__ import annotations

import textwrap

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from jupyter_mlops.exceptions import SpecError
from jupyter_mlops.pipeline.runner import PipelineRunner
from jupyter_mlops.pipeline.spec import load_spec
from jupyter_mlops.tracking.profile import profile_dataframe, save_profile

WRITE = """
import numpy as np, pandas as pd
from pathlib import Path
rng = np.random.default_rng(0)
df = pd.DataFrame({'x': rng.normal(size=200) * scale, 'kind': rng.choice(['a', 'b'], 200)})
Path(outputs['data']).parent.mkdir(parents=True, exist_ok=True)
df.to_csv(outputs['data'], index=False)
"""


def write_notebook(path, parameters: str, *cells: str) -> None:
    cells = [new_code_cell(parameters, metadata={"tags": ["parameters"]}), *map(new_code_cell, cells)]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}}), path)


@pytest.fixture
def gated(project):
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": rng.normal(size=5000) * 3, "kind": rng.choice(["a", "b"], 5000)})
    save_profile(profile_dataframe(reference), project / "reference.json")
    write_notebook(project / "prepare.ipynb", "scale = 1.0\noutputs = None", WRITE)
    write_notebook(project / "use.ipynb", "upstream = None", "print('used')")
    (project / "pipeline.yaml").write_text(textwrap.dedent("""
        steps:
          prepare:
            notebook: prepare.ipynb
            outputs: {data: data/new.csv}
            validate: {data: data, against: reference.json, range_margin: 0.1}
          use:
            notebook: use.ipynb
            upstream: prepare
    """))
    return project


def test_passing_data_lets_the_pipeline_go_on_and_failing_data_fails_the_step(gated):
    spec = load_spec(gated / "pipeline.yaml")
    assert spec.steps["prepare"].validate == {"data": str(gated / "data" / "new.csv"),
                                              "against": str(gated / "reference.json"), "range_margin": 0.1}
    passed = PipelineRunner(spec, jobs=1).run()
    assert passed.ok, passed.failures()

    failed = PipelineRunner(load_spec(gated / "pipeline.yaml", ["prepare.scale=50"]), jobs=1).run()
    assert not failed.ok
    prepare = failed.states["prepare"]
    message = prepare.outcome.describe()
    assert message.startswith(f"{gated / 'data' / 'new.csv'} failed validation against {gated / 'reference.json'}")
    assert "column 'x': range:" in message
    assert failed.states["use"].status != "FINISHED"


def test_missing_profile_fails_the_step_with_the_path(gated):
    (gated / "reference.json").unlink()
    failed = PipelineRunner(load_spec(gated / "pipeline.yaml"), jobs=1).run()
    assert "validation could not run: cannot read profile" in failed.states["prepare"].outcome.describe()


@pytest.mark.parametrize("value, field, message", [
    ("reference.json", "steps.prepare.validate", "expected a mapping with 'data'"),
    ("{data: data}", "steps.prepare.validate.against", "missing; e.g. 'validate: {data: train"),
    ("{data: data, against: r.json, margin: 1}", "steps.prepare.validate.margin", "margin"),
    ("{data: data, against: r.json, missing_margin: 5}", "steps.prepare.validate.missing_margin",
     "expected a share between 0 and 1, got 5"),
])
def test_bad_validate_values_are_one_line_spec_errors(gated, value, field, message):
    text = (gated / "pipeline.yaml").read_text().replace(
        "{data: data, against: reference.json, range_margin: 0.1}", value)
    (gated / "pipeline.yaml").write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(gated / "pipeline.yaml")
    shown = str(info.value)
    assert info.value.field == field and message in shown and "\n" not in shown
    assert shown.startswith(("pipeline.yaml:6: ", f"{gated / 'pipeline.yaml'}:6: ")), shown
