"""A function with a visible effect, for tests that must show a model was never called: each call
appends a line to the file named by ``MLOPS_TEST_CALLED``."""
from __future__ import annotations

import os


def record_call(X):
    with open(os.environ["MLOPS_TEST_CALLED"], "a") as fh:
        fh.write("called\n")
    return X
