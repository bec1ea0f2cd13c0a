"""Drift detection: jupyter_mlops vs Evidently on the same generated data, in one run.

    .venv/bin/python benchmarks/bench_drift.py [--sizes 100000 1000000] [--evidently-python .venv-evidently/bin/python]
    .venv/bin/python benchmarks/bench_drift.py --quick   # 100k rows only

For each size N, reference and current are N x 20 (10 numerical, 10 categorical columns; 3
numerical and 2 categorical columns shifted), written once as Parquet. Each measurement runs in a
process of its own (Evidently 0.7 needs pandas < 3, so it has its own venv:
``make .venv-evidently/.stamp``), loads its files, then times one call: the first of its kind in
that process, so nothing it does once (lazy imports, caches) is left out. Evidently's report reads
the reference data itself; ours compares the current data with the reference *profile*, which
export computes once. So both are shown: our profile-building plus drift (what Evidently's time
covers) and our drift alone (what monitoring repeats), each beside Evidently's in the ratio line.
Also timed: our drift straight from the Parquet file, in chunks (what ``jupyter mlops monitor``
does). Peak memory is the process's own high-water mark (VmHWM: ``ru_maxrss`` would carry over the
parent's, which holds the generated data). Printed: seconds, peak RSS, the ratios, whether every
column's verdict is the same, and the commit and load average (benchmarks/_context.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _context
from bench_tracking import peak_rss_kb

ROOT = Path(__file__).resolve().parents[1]
NUMERICAL = [f"num{i}" for i in range(10)]
CATEGORICAL = [f"cat{i}" for i in range(10)]
SHIFTED = {"num0", "num1", "num2", "cat0", "cat1"}


def generate(n: int, seed: int, shift: bool):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {}
    for i, name in enumerate(NUMERICAL):
        moved = shift and name in SHIFTED
        kind = i % 3
        if kind == 0:
            data[name] = rng.normal(0.5 if moved else 0.0, 1.0, n)
        elif kind == 1:
            data[name] = rng.lognormal(0.0, 0.7, n) * (1.3 if moved else 1.0)
        else:
            data[name] = rng.integers(0, 100, n) + (15 if moved else 0)
    letters = [f"v{k}" for k in range(8)]
    base = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03])
    for name in CATEGORICAL:
        p = base[::-1] if shift and name in SHIFTED else base
        data[name] = rng.choice(letters, n, p=p / p.sum())
    return pd.DataFrame(data)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return peak_rss_kb() / 1024


def side_profile(reference: str, profile_path: str) -> dict:
    """What export does once: the reference profile, written as JSON."""
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from jupyter_mlops.tracking.profile import profile_dataframe, save_profile

    ref = pd.read_parquet(reference)
    baseline = rss_mb()
    start = time.perf_counter()
    profile = profile_dataframe(ref)
    seconds = time.perf_counter() - start
    path = save_profile(profile, profile_path)
    return {"seconds": seconds, "kb": path.stat().st_size / 1024, "baseline_mb": baseline, "peak_mb": peak_mb()}


def side_ours(profile_path: str, current: str) -> dict:
    """Drift of the loaded current data against the profile: this process's first detect_drift."""
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from jupyter_mlops.monitoring.drift import detect_drift
    from jupyter_mlops.tracking.profile import load_profile

    profile = load_profile(profile_path)
    cur = pd.read_parquet(current)
    baseline = rss_mb()
    start = time.perf_counter()
    result = detect_drift(profile, cur)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "baseline_mb": baseline, "peak_mb": peak_mb(),
            "columns": {c.column: {"test": c.test, "value": c.score, "drift": c.drifted} for c in result.columns}}


def side_ours_file(profile_path: str, current: str) -> dict:
    """Drift straight from the Parquet file, in chunks (what `jupyter mlops monitor` does): this
    process's first detect_drift, its peak RSS measured on this alone."""
    sys.path.insert(0, str(ROOT))
    from jupyter_mlops.monitoring.drift import detect_drift
    from jupyter_mlops.tracking.profile import load_profile

    profile = load_profile(profile_path)
    imported = rss_mb()
    start = time.perf_counter()
    result = detect_drift(profile, current)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "imported_mb": imported, "peak_mb": peak_mb(), "drifted": sorted(result.drifted_columns)}


def side_evidently(reference: str, current: str) -> dict:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref, cur = pd.read_parquet(reference), pd.read_parquet(current)
    baseline = rss_mb()
    start = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset()]).run(current_data=Dataset.from_pandas(cur, data_definition=definition),
                                               reference_data=Dataset.from_pandas(ref, data_definition=definition))
    seconds = time.perf_counter() - start
    columns = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        method, value, threshold = config["method"], metric["value"], config["threshold"]
        if "p_value" in method:
            drift = value <= threshold if method.startswith("K-S") else value < threshold
        else:
            drift = value >= threshold
        columns[config["column"]] = {"test": method, "value": value, "drift": bool(drift)}
    return {"seconds": seconds, "baseline_mb": baseline, "peak_mb": peak_mb(), "columns": columns}


def run_side(python: str, side: str, first: Path, second: Path) -> dict:
    out = subprocess.run([python, __file__, "--side", side, str(first), str(second)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{side} side failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


SIDES = {"profile": side_profile, "ours": side_ours, "ours-file": side_ours_file, "evidently": side_evidently}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--quick", action="store_true", help="100k rows only (same as --sizes 100000)")
    parser.add_argument("--evidently-python", default=str(ROOT / ".venv-evidently" / "bin" / "python"))
    parser.add_argument("--side", choices=list(SIDES))
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    if args.side:
        result = SIDES[args.side](*args.files)
        print(json.dumps(result))
        return
    if args.quick:
        args.sizes = [100_000]
    print(_context.header(), flush=True)
    has_evidently = Path(args.evidently_python).exists()
    if not has_evidently:
        print(f"Evidently venv missing ({args.evidently_python}): run `make .venv-evidently/.stamp`; ours only.")
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as folder:
        for n in args.sizes:
            reference, current = Path(folder, f"ref{n}.parquet"), Path(folder, f"cur{n}.parquet")
            generate(n, seed=1, shift=False).to_parquet(reference)
            # row groups of 100k rows: a Parquet reader holds one row group at a time
            generate(n, seed=2, shift=True).to_parquet(current, row_group_size=100_000)
            profile = Path(folder, f"ref{n}.profile.json")
            made = run_side(sys.executable, "profile", reference, profile)
            ours = run_side(sys.executable, "ours", profile, current)
            from_file = run_side(sys.executable, "ours-file", profile, current)
            both = made["seconds"] + ours["seconds"]
            print(f"\n{n:,} x 20 (10 numerical, 10 categorical; shifted: {sorted(SHIFTED)})")
            print(f"  jupyter_mlops  drift {ours['seconds']:7.3f} s  peak RSS {ours['peak_mb']:7.0f} MB "
                  f"(+{ours['peak_mb'] - ours['baseline_mb']:.0f} MB over the loaded data)")
            print(f"                 profile at export {made['seconds']:.3f} s, peak RSS {made['peak_mb']:.0f} MB "
                  f"(+{made['peak_mb'] - made['baseline_mb']:.0f} MB over the loaded data), {made['kb']:.0f} KB; "
                  f"profile + drift {both:.3f} s")
            print(f"                 drift from Parquet in chunks {from_file['seconds']:.3f} s, peak RSS "
                  f"{from_file['peak_mb']:.0f} MB (+{from_file['peak_mb'] - from_file['imported_mb']:.0f} MB "
                  f"over the imports)")
            flagged = sorted(name for name, c in ours["columns"].items() if c["drift"])
            if from_file["drifted"] != flagged:
                print(f"  MISMATCH: from the file we flag {from_file['drifted']}")
            print(f"  flagged by us: {flagged}")
            if not has_evidently:
                continue
            theirs = run_side(args.evidently_python, "evidently", reference, current)
            print(f"  Evidently      drift {theirs['seconds']:7.3f} s  peak RSS {theirs['peak_mb']:7.0f} MB "
                  f"(+{theirs['peak_mb'] - theirs['baseline_mb']:.0f} MB over the loaded data)")
            print(f"  ratio, Evidently / ours: {theirs['seconds'] / both:.1f}x faster with profile-building + drift, "
                  f"{theirs['seconds'] / ours['seconds']:.1f}x with drift alone; peak memory "
                  f"{theirs['peak_mb'] / max(made['peak_mb'], ours['peak_mb']):.1f}x less (the larger of our two "
                  f"processes), {theirs['peak_mb'] / ours['peak_mb']:.1f}x with drift alone")
            differ = [name for name in ours["columns"]
                      if ours["columns"][name]["drift"] != theirs["columns"].get(name, {}).get("drift")]
            print(f"  same per-column verdicts: {'yes' if not differ else 'NO, differ on ' + ', '.join(differ)}")
            for name in ours["columns"]:
                a, b = ours["columns"][name], theirs["columns"].get(name, {})
                print(f"    {name:6s} ours {a['test']:>13s} {a['value']:.4f} {'DRIFT' if a['drift'] else 'ok':5s}"
                      f"   Evidently {b.get('test', '-')} {b.get('value', float('nan')):.4f}"
                      f" {'DRIFT' if b.get('drift') else 'ok'}")
    print(_context.footer())


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
