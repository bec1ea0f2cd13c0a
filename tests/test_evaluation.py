"""Issue 18, evaluation with slices: metrics per slice against a hand computation with pandas,
fairness gaps against Fairlearn, intervals against a plain row bootstrap, recording on a run."""
from __future__ import annotations

import json

import fairlearn.metrics as fm
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import f1_score, precision_score, r2_score, recall_score, roc_auc_score

import jupyter_mlops as mlops
from jupyter_mlops.evaluation import evaluate
from jupyter_mlops.exceptions import InvalidInputError


def planted_gap(n=6000, seed=3) -> pd.DataFrame:
    """Scores that are informative for everyone, but the model misses 40% of the positives with sex=F."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "age_band": rng.choice(["<30", "30-50", "50+"], n),
                       "x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    df["y"] = (df.x1 + 0.5 * df.x2 + rng.normal(scale=0.7, size=n) > 0).astype(int)
    df["p"] = 1 / (1 + np.exp(-(df.x1 + 0.5 * df.x2)))
    df["pred"] = (df.p > 0.5).astype(int)
    missed = (df.sex == "F") & (df.y == 1) & (df.pred == 1) & (rng.random(n) < 0.4)
    df.loc[missed, "pred"] = 0
    tiny = df.index[:7]  # a slice too small to trust: flagged, not hidden
    df.loc[tiny, "age_band"] = "90+"
    return df


def hand_metrics(group: pd.DataFrame) -> dict:
    tp = ((group.y == 1) & (group.pred == 1)).sum()
    fp = ((group.y == 0) & (group.pred == 1)).sum()
    fn = ((group.y == 1) & (group.pred == 0)).sum()
    bins = np.minimum((group.p * 10).astype(int), 9)
    per_bin = group.assign(bin=bins).groupby("bin").agg(said=("p", "sum"), seen=("y", "sum"))
    out = {"count": len(group), "accuracy": (group.y == group.pred).mean(), "precision": tp / (tp + fp),
           "recall": tp / (tp + fn), "f1": 2 * tp / (2 * tp + fp + fn),
           "brier": ((group.p - group.y) ** 2).mean(), "ece": (per_bin.seen - per_bin.said).abs().sum() / len(group)}
    if group.y.nunique() == 2:
        out["roc_auc"] = roc_auc_score(group.y, group.p)
    return out


def test_slice_metrics_equal_a_hand_computation_with_pandas():
    df = planted_gap()
    result = evaluate(None, df, target="y", slices=["sex", "age_band", "sex,age_band"], predictions="pred",
                      probabilities="p", record=False, min_slice_count=30)
    table = result.slice_table().set_index("value")
    expected = {}
    for feature in ("sex", "age_band"):
        for value, group in df.groupby(feature):
            expected[f"{feature}={value}"] = hand_metrics(group)
    for (sex, band), group in df.groupby(["sex", "age_band"]):
        expected[f"sex={sex},age_band={band}"] = hand_metrics(group)
    assert set(table.index) == set(expected)
    for label, metrics in expected.items():
        for metric, value in metrics.items():
            assert table.loc[label, metric] == pytest.approx(value, abs=1e-12), (label, metric)
    # The planted gap shows, and the 7-row slice is flagged rather than dropped.
    assert table.loc["sex=F", "recall"] < table.loc["sex=M", "recall"] - 0.2
    assert table.loc["age_band=90+", "small"] and table.loc["age_band=90+", "count"] == 7
    assert not table.drop(index=[i for i in table.index if "90+" in i])["small"].any()
    assert "age_band=90+" in result.small_slices
    overall = hand_metrics(df)
    for metric, value in overall.items():
        if metric != "count":
            assert result.overall[metric]["value"] == pytest.approx(value, abs=1e-12)
    assert result.confusion["matrix"] == [[int(((df.y == 0) & (df.pred == 0)).sum()), int(((df.y == 0) & (df.pred == 1)).sum())],
                                          [int(((df.y == 1) & (df.pred == 0)).sum()), int(((df.y == 1) & (df.pred == 1)).sum())]]


@pytest.mark.parametrize("sensitive", [["sex"], ["sex", "age_band"]])
def test_fairness_gaps_equal_fairlearns(sensitive):
    df = planted_gap()
    result = evaluate(None, df, target="y", sensitive_features=sensitive, predictions="pred", record=False)
    groups = df[sensitive] if len(sensitive) > 1 else df[sensitive[0]]
    for gap in ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                "equalized_odds_ratio", "equal_opportunity_difference", "equal_opportunity_ratio"):
        theirs = getattr(fm, gap)(df.y, df.pred, sensitive_features=groups)
        assert result.fairness[gap]["value"] == pytest.approx(theirs, abs=1e-12), gap
        assert result.fairness[gap]["ci_low"] <= result.fairness[gap]["value"] <= result.fairness[gap]["ci_high"]
    frame = fm.MetricFrame(metrics={"accuracy": lambda t, p: (t == p).mean()}, y_true=df.y, y_pred=df.pred,
                           sensitive_features=groups)
    assert result.fairness["accuracy_difference"]["value"] == pytest.approx(frame.difference()["accuracy"], abs=1e-12)
    assert result.fairness["equal_opportunity_difference"]["value"] > 0.2  # the planted gap


def test_intervals_match_a_plain_row_bootstrap():
    df = planted_gap(n=3000, seed=5)
    result = evaluate(None, df, target="y", slices=["sex"], predictions="pred", probabilities="p", record=False,
                      n_bootstrap=4000, seed=1)
    rng = np.random.default_rng(7)
    for sex, group in df.groupby("sex"):
        y, pred, p = group.y.to_numpy(), group.pred.to_numpy(), group.p.to_numpy()
        rows = rng.integers(0, len(group), size=(2000, len(group)))
        accuracy = (y[rows] == pred[rows]).mean(axis=1)
        recall = ((y[rows] == 1) & (pred[rows] == 1)).sum(axis=1) / (y[rows] == 1).sum(axis=1)
        auc = np.array([roc_auc_score(y[r], p[r]) for r in rows[:400]])
        got = next(s for s in result.slices if s["label"] == f"sex={sex}")["metrics"]
        for metric, samples, tolerance in (("accuracy", accuracy, 0.006), ("recall", recall, 0.008), ("roc_auc", auc, 0.01)):
            low, high = np.percentile(samples, [2.5, 97.5])
            assert got[metric]["ci_low"] == pytest.approx(low, abs=tolerance), (sex, metric)
            assert got[metric]["ci_high"] == pytest.approx(high, abs=tolerance), (sex, metric)
    again = evaluate(None, df, target="y", slices=["sex"], predictions="pred", probabilities="p", record=False,
                     n_bootstrap=4000, seed=1)
    assert again.slices == result.slices  # seeded


def test_regression_slices_equal_a_hand_computation():
    rng = np.random.default_rng(2)
    n = 4000
    df = pd.DataFrame({"region": rng.choice(["n", "s", "e"], n), "x": rng.normal(size=n)})
    df["y"] = 3 * df.x + rng.normal(size=n) + np.where(df.region == "s", 2.0, 0.0)  # the model misses the south
    model = LinearRegression().fit(df[["x"]], df.y)
    result = evaluate(model, df, target="y", slices=["region"], sensitive_features=["region"], record=False,
                      features=["x"], explain=False)
    assert result.task == "regression"
    df["pred"] = model.predict(df[["x"]])
    table = result.slice_table().set_index("value")
    maes = {}
    for region, group in df.groupby("region"):
        err = group.pred - group.y
        maes[region] = err.abs().mean()
        assert table.loc[f"region={region}", "mae"] == pytest.approx(err.abs().mean(), rel=1e-9)
        assert table.loc[f"region={region}", "rmse"] == pytest.approx(np.sqrt((err ** 2).mean()), rel=1e-9)
        assert table.loc[f"region={region}", "r2"] == pytest.approx(r2_score(group.y, group.pred), rel=1e-9)
        assert table.loc[f"region={region}", "mae_ci_low"] < err.abs().mean() < table.loc[f"region={region}", "mae_ci_high"]
    assert result.fairness["mae_difference"]["value"] == pytest.approx(max(maes.values()) - min(maes.values()), rel=1e-9)


def test_multiclass_slices_equal_scikit_learn():
    rng = np.random.default_rng(4)
    n = 3000
    df = pd.DataFrame({"site": rng.choice(["a", "b"], n), "x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    df["y"] = np.select([df.x1 > 0.5, df.x2 > 0], ["cat", "dog"], "eel")
    model = LogisticRegression(max_iter=500).fit(df[["x1", "x2"]], df.y)
    result = evaluate(model, df, target="y", slices=["site"], record=False, features=["x1", "x2"], explain=False)
    pred = model.predict(df[["x1", "x2"]])
    proba = model.predict_proba(df[["x1", "x2"]])
    for site in ("a", "b"):
        rows = (df.site == site).to_numpy()
        got = next(s for s in result.slices if s["label"] == f"site={site}")["metrics"]
        truth, guess = df.y[rows], pred[rows]
        assert got["accuracy"]["value"] == pytest.approx((truth == guess).mean())
        for metric, fn in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
            assert got[metric]["value"] == pytest.approx(fn(truth, guess, average="macro", zero_division=0)), metric
        assert got["roc_auc"]["value"] == pytest.approx(roc_auc_score(truth, proba[rows], multi_class="ovr"))


def test_bad_input_names_the_problem():
    df = planted_gap(n=200)
    with pytest.raises(InvalidInputError, match="target column 'label'"):
        evaluate(None, df, target="label", predictions="pred", record=False)
    with pytest.raises(InvalidInputError, match="column 'region'"):
        evaluate(None, df, target="y", slices=["sex,region"], predictions="pred", record=False)
    with pytest.raises(InvalidInputError, match="predictions="):
        evaluate(None, df, target="y", record=False)
    with pytest.raises(InvalidInputError, match="n_bootstrap"):
        evaluate(None, df, target="y", predictions="pred", record=False, n_bootstrap=-1)


def test_an_evaluated_run_carries_slice_and_fairness_metrics(backend):
    df = planted_gap(n=3000)
    features = ["x1", "x2"]
    with mlops.start_run("candidate") as run:
        model = LogisticRegression().fit(df[features], df.y)
        mlops.log_model(model, training_data=df[features + ["y"]], target="y")
    result = mlops.evaluate(run.id, df, target="y", slices=["sex", "age_band"], sensitive_features=["sex"],
                            n_bootstrap=200)
    assert result.run_id == run.id
    record = mlops.get_run(run.id)
    assert record.metrics["slice.sex=F.recall"] == pytest.approx(
        next(s for s in result.slices if s["label"] == "sex=F")["metrics"]["recall"]["value"])
    assert record.metrics["slice.age_band=90+.count"] == 7
    assert "slice.sex=F.recall.ci_low" in record.metrics and "fairness.demographic_parity_difference" in record.metrics
    assert record.metrics["eval.accuracy"] == pytest.approx(result.overall["accuracy"]["value"])
    top = result.importance[0]["feature"]
    assert top == "x1" and record.metrics["importance.x1"] > record.metrics["importance.x2"] > 0
    tag = json.loads(record.tags["mlops.evaluation"])
    assert tag["sensitive_features"] == ["sex"] and tag["small_slices"] == ["age_band=90+"]
    names = {a["path"] for a in record.artifacts}
    assert {"evaluation/evaluation.json", "evaluation/report.html"} <= names
    report = {a["path"]: a for a in record.artifacts}["evaluation/report.html"]
    from jupyter_mlops.tracking.store import open_store

    page = open_store().artifacts.read_bytes(report["sha256"]).decode()
    assert "sex=F" in page and "7 (small)" in page
    assert any(d["name"] == "evaluation" and d["rows"] == len(df) for d in record.datasets)
    # Evaluating again supersedes the first result in the latest metrics.
    mlops.evaluate(run.id, df[df.sex == "M"], target="y", slices=["sex"], n_bootstrap=0, explain=False)
    assert mlops.get_run(run.id).metrics["eval.accuracy"] == pytest.approx(
        (model.predict(df[df.sex == "M"][features]) == df[df.sex == "M"].y).mean())


def test_the_report_shows_the_slices_and_escapes_values(project):
    df = planted_gap(n=500)
    df.loc[df.index[:40], "sex"] = "<script>x</script>"
    result = evaluate(None, df, target="y", slices=["sex"], sensitive_features=["sex"], predictions="pred",
                      probabilities="p", record=False, n_bootstrap=50)
    page = result.to_html()
    assert "sex=&lt;script&gt;x&lt;/script&gt;" in page and "<script>" not in page
    assert "demographic_parity_difference" in page and "data:image/png;base64," in page


def test_shap_summary_is_recorded_when_asked(project):
    df = planted_gap(n=1500)
    with mlops.start_run("explained") as run:
        model = LogisticRegression().fit(df[["x1", "x2"]], df.y)
        result = mlops.evaluate(model, df, target="y", slices=["sex"], n_bootstrap=0, shap=True)
    assert [r["feature"] for r in result.shap] == ["x1", "x2"]
    assert "LinearExplainer" in " ".join(result.notes)
    recorded = mlops.get_run(run.id).metrics
    assert recorded["shap.x1"] == pytest.approx(result.shap[0]["mean_abs_shap"]) and recorded["shap.x1"] > recorded["shap.x2"]
    assert recorded["importance.x1"] > recorded["importance.x2"]
