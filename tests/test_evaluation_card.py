"""Issue 18, the model card on Mitchell et al.'s outline: the slice table and fairness gaps of the
run's evaluation appear in the exported package's README.md and model_card.html."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops

SECTIONS = ["Model details", "Intended use", "Factors", "Metrics", "Evaluation data", "Training data",
            "Quantitative analyses", "Ethical considerations", "Caveats and recommendations"]


def data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "age_band": rng.choice(["<30", "30+"], n), "x": rng.normal(size=n)})
    df.loc[df.index[:9], "age_band"] = "90+"
    df["y"] = (df.x + np.where(df.sex == "F", 0.8, 0) + rng.normal(scale=0.4, size=n) > 0.3).astype(int)
    return df


def exported(df, evaluate: bool):
    with mlops.start_run("card") as run:
        mlops.set_tags({"mlops.purpose": "Rank loan files for review", "mlops.ethical_considerations": "Affects applicants"})
        mlops.log_model(LogisticRegression().fit(df[["x"]], df.y), training_data=df[["x", "y"]], target="y")
    result = None
    if evaluate:
        result = mlops.evaluate(run.id, df, target="y", slices=["sex", "age_band"], sensitive_features=["sex"],
                                n_bootstrap=200)
    mlops.approve(run.id, by="ana", reason="reviewed")
    version = mlops.export(run.id, name="loans")
    return Path(version["package_uri"]), result


def test_the_card_shows_the_slice_table_and_fairness_gaps(project):
    df = data()
    folder, result = exported(df, evaluate=True)
    card = (folder / "README.md").read_text()
    headings = re.findall(r"^## (.+)$", card, flags=re.MULTILINE)
    assert [h for h in headings if h in SECTIONS] == SECTIONS  # Mitchell et al.'s order
    analyses = card.split("## Quantitative analyses")[1].split("## Ethical considerations")[0]
    header = next(line for line in analyses.splitlines() if line.startswith("| slice |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[:2] == ["slice", "count"] and {"accuracy", "recall", "roc_auc"} <= set(columns)
    for s in result.slices:
        row = next(line for line in analyses.splitlines() if line.startswith(f"| {s['label']} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == f"{s['count']}" + (" (small)" if s["small"] else "")
        recall = s["metrics"]["recall"]
        assert cells[columns.index("recall")] == f"{recall['value']:.4g} [{recall['ci_low']:.3g}, {recall['ci_high']:.3g}]"
    gap = result.fairness["demographic_parity_difference"]
    assert f"| demographic_parity_difference | {gap['value']:.4g} [{gap['ci_low']:.3g}, {gap['ci_high']:.3g}] |" in analyses
    assert "age_band=90+: too few rows" in card and "Rank loan files for review" in card
    assert "sex" in card.split("## Factors")[1].split("## Metrics")[0]
    page = (folder / "model_card.html").read_text()
    assert "<td>sex=F</td>" in page and "<h2>Quantitative analyses</h2>" in page


def test_an_unevaluated_card_says_so(project):
    folder, _ = exported(data(n=300), evaluate=False)
    card = (folder / "README.md").read_text()
    analyses = card.split("## Quantitative analyses")[1].split("## Ethical considerations")[0]
    assert "Not evaluated yet: run `mlops.evaluate(" in analyses
    assert "set the run tag `mlops.limitations`" in card
    details = card.split("## Model details")[1].split("## Intended use")[0]
    assert re.search(r"\| started \| \d{4}-\d\d-\d\d \d\d:\d\d UTC \|", details)  # a date, not epoch ms
    assert "| pipeline run | not recorded |" in details and "None" not in details


@pytest.mark.parametrize("value", ["a|b", "x\ny"])
def test_card_cells_stay_in_their_table(project, value):
    from jupyter_mlops.registry import model_card

    lineage = {"run_id": "r", "tags": {}, "metrics": {f"slice.k={value}.accuracy": 0.5, f"slice.k={value}.count": 40.0}}
    card = model_card.markdown("m/1", lineage, {})
    row = next(line for line in card.splitlines() if line.startswith("| k="))
    assert row.count(" | ") == 2 and "\n" not in row
