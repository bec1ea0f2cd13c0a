"""Child process for the concurrency and signal tests: log N points into one run, then end it.

usage: log_points.py N [--rate POINTS_PER_S] [--name NAME] [--ready FILE] [--ready-after K] [--until FILE]
With --rate the points are spread out in time (for kill tests). --ready is written with the run id
once the run has started, or with --ready-after once K points have been logged, so the parent knows
when to send its signal and which points were logged before it. --until ends the logging early, once
FILE exists. Prints the run id, then the number of points logged.
"""
import argparse
import pathlib
import time

import jupyter_mlops as mlops

parser = argparse.ArgumentParser()
parser.add_argument("n", type=int)
parser.add_argument("--rate", type=float, default=0)
parser.add_argument("--name", default="writer")
parser.add_argument("--ready")
parser.add_argument("--ready-after", type=int, default=0)
parser.add_argument("--until")
args = parser.parse_args()

run = mlops.start_run(name=args.name)
ready = pathlib.Path(args.ready) if args.ready else None
until = pathlib.Path(args.until) if args.until else None
pause = 1.0 / args.rate if args.rate else 0
logged = 0
for i in range(args.n):
    if ready is not None and i == args.ready_after:
        ready.with_suffix(".tmp").write_text(run.id)
        ready.with_suffix(".tmp").rename(ready)  # whole: the parent never reads half a run id
    if until is not None and until.exists():
        break
    mlops.log_metric("value", float(i), step=i)
    logged = i + 1
    if pause:
        time.sleep(pause)
mlops.end_run()
print(run.id)
print(logged)
