"""``evaluate:`` in a pipeline step (issue 18): the model the step logged is evaluated per slice on
the run, rules on the slices gate the step, the block is part of the cache key, and bad values are
one-line spec errors."""
from __future__ import annotations

import json
import textwrap

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import jupyter_mlops as mlops
from jupyter_mlops.exceptions import SpecError
from jupyter_mlops.pipeline.runner import PipelineRunner
from jupyter_mlops.pipeline.spec import load_spec
from jupyter_mlops.tracking.store import open_store

# Group B's labels are noisier than group A's: its recall is lower (the planted gap).
PREPARE = """
import numpy as np, pandas as pd
from pathlib import Path
rng = np.random.default_rng(0)
n = 2000
group = rng.choice(['A', 'B'], n)
x = rng.normal(size=n)
noise = np.where(group == 'B', 1.5, 0.2)
y = ((x + rng.normal(size=n) * noise) > 0).astype(int)
df = pd.DataFrame({'x': x, 'group': group, 'y': y})
for name, part in (('train', df[: n // 2]), ('test', df[n // 2:])):
    Path(outputs[name]).parent.mkdir(parents=True, exist_ok=True)
    part.to_csv(outputs[name], index=False)
"""

TRAIN = """
import pandas as pd
import jupyter_mlops as mlops
from sklearn.linear_model import LogisticRegression
train = pd.read_csv(upstream['prepare']['train'])
model = LogisticRegression().fit(train[['x']], train['y'])
mlops.log_model(model, training_data=train[['x', 'y']], target='y')
"""

SPEC = """
steps:
  prepare:
    notebook: prepare.ipynb
    outputs: {train: data/train.csv, test: data/test.csv}
  train:
    notebook: train.ipynb
    upstream: prepare
    evaluate:
      data: data/test.csv
      target: y
      slices: [group]
      sensitive_features: [group]
      n_bootstrap: 20
      require: ["RULE"]
"""


def write_notebook(path, parameters: str, *cells: str) -> None:
    cells = [new_code_cell(parameters, metadata={"tags": ["parameters"]}), *map(new_code_cell, cells)]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}}), path)


def write_spec(folder, rule: str) -> None:
    (folder / "pipeline.yaml").write_text(SPEC.replace("RULE", rule))


@pytest.fixture
def evaluated(project):
    write_notebook(project / "prepare.ipynb", "outputs = None", PREPARE)
    write_notebook(project / "train.ipynb", "upstream = None", TRAIN)
    write_spec(project, "min(slice.group=*.accuracy) >= 0.5")
    return project


def test_the_step_records_its_slices_and_a_failing_rule_fails_it_naming_the_worst_slice(evaluated):
    passed = PipelineRunner(load_spec(evaluated / "pipeline.yaml"), jobs=1).run()
    assert passed.ok, passed.failures()
    run_id = passed.states["train"].run_id
    metrics = open_store().get_run(run_id).metrics
    # The recorded slices equal an evaluation of the same run on the same file, made here.
    again = mlops.evaluate(run_id, str(evaluated / "data" / "test.csv"), target="y", slices=["group"],
                           sensitive_features=["group"], n_bootstrap=20, record=False)
    for s in again.slices:
        assert metrics[f"slice.{s['label']}.recall"] == pytest.approx(s["metrics"]["recall"]["value"])
        assert metrics[f"slice.{s['label']}.count"] == s["count"]
    assert "fairness.demographic_parity_difference" in metrics
    assert "evaluation/report.html" in {a["path"] for a in open_store().get_run(run_id).artifacts}

    # B's recall is the worse one (its labels are noisier): a rule B fails names it.
    test = pd.read_csv(evaluated / "data" / "test.csv")
    recall_b = metrics["slice.group=B.recall"]
    assert recall_b < metrics["slice.group=A.recall"] and len(test[test.group == "B"]) == metrics["slice.group=B.count"]
    write_spec(evaluated, f"min(slice.*.recall) >= {recall_b + 0.01:.4f}")
    failed = PipelineRunner(load_spec(evaluated / "pipeline.yaml"), jobs=1).run()
    assert not failed.ok
    train = failed.states["train"]
    message = train.outcome.describe()
    assert message.startswith("evaluation gate failed: min(slice.*.recall) >=")
    assert "at slice group=B (n=" in message and train.outcome.error["kind"] == "evaluation"
    # Nothing the evaluation recorded is lost when its rule fails the step.
    assert "slice.group=B.recall" in open_store().get_run(train.run_id).metrics


def test_the_block_is_part_of_the_cache_key(evaluated):
    first = PipelineRunner(load_spec(evaluated / "pipeline.yaml"), jobs=1).run()
    assert first.ok, first.failures()
    same = PipelineRunner(load_spec(evaluated / "pipeline.yaml"), jobs=1).run()
    assert same.states["train"].status == "CACHED"
    write_spec(evaluated, "min(slice.group=*.accuracy) >= 0.4")
    changed = PipelineRunner(load_spec(evaluated / "pipeline.yaml"), jobs=1).run()
    assert changed.ok and changed.states["train"].status == "FINISHED"
    assert changed.states["prepare"].status == "CACHED"
    parts = json.loads(mlops.get_run(changed.states["train"].run_id).tags["mlops.step_key_parts"])
    assert set(parts["checks"]) == {"evaluate"}  # what changed can be named next time


def test_a_step_that_logged_no_model_fails_with_the_reason(evaluated):
    write_notebook(evaluated / "train.ipynb", "upstream = None", "print('no model here')")
    failed = PipelineRunner(load_spec(evaluated / "pipeline.yaml"), jobs=1).run()
    message = failed.states["train"].outcome.describe()
    assert message.startswith("evaluate: ") and "model" in message, message


@pytest.mark.parametrize("rule_line, replacement, field, message", [
    ("      target: y\n", "", "steps.train.evaluate.target", "missing; e.g. 'evaluate: {data:"),
    ('      require: ["RULE"]\n', '      require: ["accuracy is good"]\n', "steps.train.evaluate.require[0]",
     "cannot read the rule 'accuracy is good': expected min(GLOB) OP NUMBER"),
    ("      n_bootstrap: 20\n", "      n_bootstrap: -1\n", "steps.train.evaluate.n_bootstrap",
     "expected an integer from 0 to 10000, got -1"),
    ("      n_bootstrap: 20\n", "      bootstrap: 20\n", "steps.train.evaluate.bootstrap", "unknown field"),
])
def test_bad_evaluate_values_are_one_line_spec_errors(evaluated, rule_line, replacement, field, message):
    (evaluated / "pipeline.yaml").write_text(textwrap.dedent(SPEC).replace(rule_line, replacement)
                                             .replace("RULE", "min(slice.*.recall) >= 0.5"))
    with pytest.raises(SpecError) as info:
        load_spec(evaluated / "pipeline.yaml")
    shown = str(info.value)
    assert info.value.field == field and message in shown and "\n" not in shown, shown
    assert shown.split(":")[0].endswith("pipeline.yaml") and shown.split(":")[1].isdigit()
