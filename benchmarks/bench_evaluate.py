"""Sliced evaluation with bootstrap intervals: jupyter_mlops vs Fairlearn's MetricFrame, same data.

    .venv/bin/python benchmarks/bench_evaluate.py [--rows 1000000] [--resamples 1000] [--peer-resamples 10]

N rows of a binary classifier's labels, predictions and scores, with three slice features: sex
(2 values), age_band (5) and region (10), sex also the sensitive feature. Ours: one
``evaluate(...)`` call: accuracy, precision, recall, F1, ROC AUC, Brier, ECE per slice with
``--resamples`` bootstrap intervals, and the fairness gaps with intervals (``record=False``,
``explain=False``: the metrics alone). Fairlearn: per slice feature, a MetricFrame of accuracy,
precision, recall and F1 on the labels and one of ROC AUC on the scores, each with its own
bootstrap (``n_boot``), plus demographic parity and equalized odds differences. MetricFrame
resamples the rows, so its cost is per resample: it runs ``--peer-resamples`` and its time for
``--resamples`` is extrapolated from that (both printed). Also printed: the largest difference
between the two sides' per-slice values (must be ~0) and between their interval bounds, and
the commit and load average (benchmarks/_context.py).
"""
from __future__ import annotations

import argparse
import time
import warnings

import _context
import numpy as np
import pandas as pd

SLICES = ["sex", "age_band", "region"]
LABEL_METRICS = ("accuracy", "precision", "recall", "f1")


def generate(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "age_band": rng.choice(["<25", "25-35", "35-50", "50-65", "65+"], n),
                       "region": rng.choice([f"r{i}" for i in range(10)], n), "x": rng.normal(size=n)})
    df["y"] = (df.x + rng.normal(scale=0.8, size=n) > 0).astype(int)
    df["p"] = 1 / (1 + np.exp(-1.5 * df.x))
    df["pred"] = (df.p > 0.5).astype(int)
    flip = (df.sex == "F") & (df.pred == 1) & (rng.random(n) < 0.15)  # a planted gap
    df.loc[flip, "pred"] = 0
    return df


def ours(df: pd.DataFrame, resamples: int):
    from jupyter_mlops.evaluation import evaluate

    start = time.perf_counter()
    result = evaluate(None, df, target="y", slices=SLICES, sensitive_features=["sex"], predictions="pred",
                      probabilities="p", n_bootstrap=resamples, record=False, explain=False)
    return time.perf_counter() - start, result


def fairlearn_side(df: pd.DataFrame, resamples: int):
    import fairlearn.metrics as fm
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    start = time.perf_counter()
    frames = {}
    label_metrics = {"accuracy": accuracy_score, "precision": precision_score, "recall": recall_score, "f1": f1_score}
    for feature in SLICES:
        boot = {"n_boot": resamples, "ci_quantiles": [0.025, 0.975], "random_state": 0} if resamples else {}
        labels = fm.MetricFrame(metrics=label_metrics, y_true=df.y, y_pred=df.pred, sensitive_features=df[feature],
                                **boot)
        scores = fm.MetricFrame(metrics={"roc_auc": roc_auc_score}, y_true=df.y, y_pred=df.p,
                                sensitive_features=df[feature], **boot)
        frames[feature] = (labels, scores)
    gaps = {"demographic_parity_difference": fm.demographic_parity_difference(df.y, df.pred, sensitive_features=df.sex),
            "equalized_odds_difference": fm.equalized_odds_difference(df.y, df.pred, sensitive_features=df.sex)}
    return time.perf_counter() - start, frames, gaps


def compare(result, frames, gaps) -> tuple[float, float]:
    """Largest |difference| of the per-slice values, and of the interval bounds."""
    values, bounds = 0.0, 0.0
    rows = {s["label"]: s["metrics"] for s in result.slices}
    for feature, (labels, scores) in frames.items():
        for frame, metrics in ((labels, LABEL_METRICS), (scores, ("roc_auc",))):
            low, high = frame.by_group_ci
            for value, row in frame.by_group.iterrows():
                mine = rows[f"{feature}={value}"]
                for metric in metrics:
                    values = max(values, abs(mine[metric]["value"] - row[metric]))
                    bounds = max(bounds, abs(mine[metric]["ci_low"] - low.loc[value, metric]),
                                 abs(mine[metric]["ci_high"] - high.loc[value, metric]))
    for gap, theirs in gaps.items():
        values = max(values, abs(result.fairness[gap]["value"] - theirs))
    return values, bounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--peer-resamples", type=int, default=10)
    args = parser.parse_args()
    print(_context.header())
    df = generate(args.rows)
    print(f"{args.rows:,} rows x 3 slice features (2 + 5 + 10 slices), sex sensitive; {args.resamples} resamples")
    warnings.filterwarnings("ignore")
    first, result = ours(df, args.resamples)
    second, result = ours(df, args.resamples)
    print(f"jupyter_mlops evaluate: {first:.2f} s first call, {second:.2f} s second "
          f"({len(result.slices)} slices x 7 metrics, 5 with intervals, 13 fairness values)")
    measured, frames, gaps = fairlearn_side(df, args.peer_resamples)
    base, _, _ = fairlearn_side(df, 0) if args.peer_resamples else (measured, None, None)
    per_resample = (measured - base) / max(args.peer_resamples, 1)
    extrapolated = base + per_resample * args.resamples
    print(f"fairlearn MetricFrame: {base:.2f} s without resampling, {measured:.2f} s with {args.peer_resamples} "
          f"resamples ({per_resample:.2f} s each): {extrapolated:.0f} s for {args.resamples} (extrapolated)")
    value_diff, bound_diff = compare(result, frames, gaps)
    print(f"ratio: {base / second:.0f}x faster than Fairlearn without any resampling (a lower bound), "
          f"{extrapolated / second:.0f}x against its extrapolated time for {args.resamples} resamples "
          f"(target >= 5x and <= 5 s: {'met' if second <= 5 and base / second >= 5 else 'NOT met'})")
    print(f"largest difference of per-slice values vs Fairlearn: {value_diff:.2e}; of interval bounds "
          f"(ours at {args.resamples} resamples, theirs at {args.peer_resamples}): {bound_diff:.3f}")
    print(_context.footer())


if __name__ == "__main__":
    main()
