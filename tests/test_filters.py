"""The filter language: syntax errors name the position; every operator means what it says."""
from __future__ import annotations

import re

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.exceptions import FilterSyntaxError
from jupyter_mlops.tracking.filters import parse_filter, parse_order_by


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("metrics.auc >", 13, "expected a number"),
        ("metrics.auc 0.9", 12, "expected an operator"),
        ("metrics.auc > 0.9 params.x = 1", 18, "expected AND, OR"),
        ("(metrics.auc > 0.9", 18, "expected ')'"),
        ("metrics.auc > 0.9 and", 21, "expected a name"),
        ("metrics.auc > 'high'", 12, "compare it with a number"),
        ("colour = 'red'", 0, "unknown run attribute 'colour'"),
        ("params.x = 1 ; drop table runs", 13, "unexpected character ';'"),
        ("status IS 'x'", 10, "expected NULL"),
    ],
)
def test_syntax_errors_name_the_position(text, position, message):
    with pytest.raises(FilterSyntaxError, match=re.escape(message)) as err:
        parse_filter(text)
    assert err.value.position == position
    assert err.value.pointer().splitlines()[1] == " " * position + "^"


def test_order_by_errors():
    with pytest.raises(FilterSyntaxError, match="expected ASC, DESC"):
        parse_order_by(["metrics.auc DOWN"])


@pytest.fixture
def runs(backend, project):
    """Five runs in the store, on SQLite and on PostgreSQL (the parser tests above need neither)."""
    spec = [
        ("a", "rf", "prod", 0.91),
        ("b", "rf", "dev", 0.85),
        ("c", "svm", "dev", 0.95),
        ("d", "knn", None, None),
    ]
    for name, model, stage, auc in spec:
        with mlops.start_run(name, params={"model": model, "val-loss": 0.1}, tags={"stage": stage} if stage else None):
            if auc is not None:
                mlops.log_metric("auc", auc)
    mlops.start_run("e", params={"model": "rf"}).end("FAILED")
    return project


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.model = 'rf' or tags.stage = 'prod'", {"a", "b", "e"}),
        ("(params.model = 'rf' or params.model = 'svm') and metrics.auc >= 0.9", {"a", "c"}),
        ("not params.model = 'rf'", {"c", "d"}),
        ("params.model IN ('svm', 'knn')", {"c", "d"}),
        ("params.model NOT IN ('svm', 'knn')", {"a", "b", "e"}),
        ("name LIKE 'a%' or name like 'C%'", {"a"}),
        ("name ILIKE 'C%'", {"c"}),
        ("metrics.auc != 0.85", {"a", "c"}),
        ("metrics.auc IS NULL", {"d", "e"}),
        ("tags.stage IS NOT NULL and tags.stage <> 'dev'", {"a"}),
        ("status = 'failed'", {"e"}),
        ("attributes.status == 'FINISHED' and metrics.auc < 0.9", {"b"}),
        ("params.`val-loss` = 0.1 and params.model = \"knn\"", {"d"}),
        ("experiment = 'Default' and params.model = 'svm'", {"c"}),
    ],
)
def test_operators(runs, text, expected):
    assert set(mlops.search_runs(filter=text)["name"]) == expected
