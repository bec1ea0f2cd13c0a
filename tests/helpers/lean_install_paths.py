"""Run the core's paths with the named packages absent, as in a lean install (tests/test_lean_install.py).

Usage: ``python lean_install_paths.py PACKAGE,PACKAGE,... core|serve`` in an empty folder. Every
finder of the interpreter is made blind to the named packages, so importing one fails and
``importlib.util.find_spec`` answers None, as without them installed. Then a run is tracked,
approved, exported, verified, scored, monitored (with its HTML report) and, for ``serve``, served;
the last line printed is ``SEEN`` and what each step gave.
"""
import importlib.abc
import json
import sys

ABSENT = set(sys.argv[1].split(","))


class Absent(importlib.abc.MetaPathFinder):
    """One of the interpreter's finders, blind to the absent packages as if they were not installed."""

    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ABSENT:
            return None
        return self.finder.find_spec(name, path, target)

    def invalidate_caches(self):
        getattr(self.finder, "invalidate_caches", lambda: None)()


assert not ABSENT & set(sys.modules), "loaded before the test began"
sys.meta_path[:] = [Absent(finder) for finder in sys.meta_path]

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops
from jupyter_mlops.cli import main

data = load_breast_cancer(as_frame=True)
data.frame.to_csv("rows.csv", index=False)
with mlops.start_run("lean", experiment="lean", params={"C": 1.0}) as run:
    model = LogisticRegression(max_iter=5000).fit(data.data, data.target)
    mlops.log_metric("accuracy", model.score(data.data, data.target))
    mlops.log_model(model, training_data=data.frame, target="target")
mlops.approve(run.id, by="ana", reason="lean")
mlops.export(run.id, name="lean")
seen = {
    "runs": main(["runs", "--experiment", "lean"]),
    "verify": main(["verify", "lean/1"]),
    "predict": main(["predict", "lean/1", "rows.csv", "-o", "scored.csv"]),
    "monitor": main(["monitor", "lean/1", "rows.csv", "--target", "target", "--html", "drift.html"]),
    "labels": [int(label) for label in mlops.load_model("lean/1").predict(data.data.head(3))],
    "expected": [int(label) for label in model.predict(data.data.head(3))],
}
if sys.argv[2] == "serve":
    from fastapi.testclient import TestClient

    from jupyter_mlops.serving.app import create_app

    with TestClient(create_app(mlops.load_model("lean/1", runtime="onnx"))) as client:
        reply = client.post("/predict", json={"records": data.data.head(3).to_dict(orient="records")})
        seen["served"] = reply.json().get("predictions", reply.text)
print("SEEN " + json.dumps(seen))
