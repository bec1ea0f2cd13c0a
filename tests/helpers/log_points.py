"""Child process for the concurrency and signal tests: log N points into one run, then end it.

usage: log_points.py N [--rate POINTS_PER_S] [--name NAME] [--ready FILE]
With --rate the points are spread out in time (for kill tests); --ready is touched once the
run has started so the parent knows when to send its signal.
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
args = parser.parse_args()

run = mlops.start_run(name=args.name)
if args.ready:
    pathlib.Path(args.ready).write_text(run.id)
pause = 1.0 / args.rate if args.rate else 0
for i in range(args.n):
    mlops.log_metric("value", float(i), step=i)
    if pause:
        time.sleep(pause)
mlops.end_run()
print(run.id)
