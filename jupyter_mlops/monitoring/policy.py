"""The retraining policy of ``[tool.jupyter_mlops.retrain]`` and its ``when`` condition.

``when`` is a small boolean expression over the monitoring facts (``drift_share >= 0.5 or
accuracy_drop > 0.05``). It is parsed with Python's ``ast`` and only names, numbers,
comparisons, ``and``/``or``/``not`` and parentheses are allowed: a policy file is configuration,
never code, so nothing in it is ever executed.
"""
from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from ..exceptions import InvalidInputError

_COMPARE = {ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}


@dataclass(frozen=True)
class RetrainPolicy:
    when: str
    pipeline: Path
    parameters: dict = field(default_factory=dict)  # "-p" overrides; "{current}" becomes the new data's path
    auto_promote: bool = False
    metric: str = "accuracy"  # compared on the holdout: the candidate must not be worse
    holdout: str = "prepare.test"  # step.output of the retraining pipeline holding labelled held-out rows
    target: str = "target"
    source: str = "[tool.jupyter_mlops.retrain]"

    def overrides(self, current_path: str) -> list[str]:
        return [f"{k}={str(v).replace('{current}', current_path)}" for k, v in self.parameters.items()]


def load_policy(settings: dict | None = None) -> RetrainPolicy:
    settings = config.project_settings() if settings is None else settings
    table = settings.get("retrain")
    where = f"[tool.jupyter_mlops.retrain] in {settings.get('_pyproject', 'pyproject.toml')}"
    if not table:
        raise InvalidInputError(f"no retraining policy: add {where.split(' in ')[0]} with `when` and `pipeline` "
                                "to pyproject.toml")
    unknown = set(table) - {f for f in RetrainPolicy.__dataclass_fields__ if f != "source"}
    if unknown:
        raise InvalidInputError(f"{where}: unknown field {min(unknown)!r}")
    for required in ("when", "pipeline"):
        if not isinstance(table.get(required), str):
            raise InvalidInputError(f"{where}: field {required!r} must be a string")
    parse_condition(table["when"], where)
    base = Path(settings.get("_pyproject", "pyproject.toml")).parent
    pipeline = Path(table["pipeline"])
    values = dict(table, pipeline=pipeline if pipeline.is_absolute() else base / pipeline, source=where)
    if not isinstance(values.get("parameters", {}), dict):
        raise InvalidInputError(f"{where}: field 'parameters' must be a table of step.name = value")
    if not isinstance(values.get("auto_promote", False), bool):
        raise InvalidInputError(f"{where}: field 'auto_promote' must be true or false")
    return RetrainPolicy(**values)


def parse_condition(text: str, where: str = "when") -> ast.Expression:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise InvalidInputError(f"{where}: cannot parse when = {text!r} at position {exc.offset}") from None
    for node in ast.walk(tree):
        allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare, ast.Name,
                   ast.Load, ast.Constant, *_COMPARE)
        if not isinstance(node, allowed) or (isinstance(node, ast.Constant) and not isinstance(node.value, (int, float))):
            raise InvalidInputError(f"{where}: when = {text!r}: only names, numbers, comparisons, and/or/not "
                                    f"are allowed (found {type(node).__name__} at position {getattr(node, 'col_offset', 0)})")
    return tree


def evaluate(text: str, facts: dict) -> bool:
    """Whether ``text`` holds for ``facts``; a fact that is unknown (None) makes its comparison false."""
    tree = parse_condition(text)

    def value(node):
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.BoolOp):
            parts = [value(v) for v in node.values]
            return all(parts) if isinstance(node.op, ast.And) else any(parts)
        if isinstance(node, ast.UnaryOp):
            return not value(node.operand)
        if isinstance(node, ast.Compare):
            left = value(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = value(right_node)
                if left is None or right is None or not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Name):
            if node.id not in facts:
                raise InvalidInputError(f"when = {text!r}: unknown name {node.id!r}; known: {', '.join(sorted(facts))}")
            return facts[node.id]
        return node.value

    return bool(value(tree))


def facts_of(result) -> dict:
    """The names a ``when`` condition can use, from a drift result."""
    facts = {"drift_share": result.drift_share, "dataset_drift": None if result.dataset_drift is None else int(result.dataset_drift),
             "drifted_columns": len(result.drifted_columns), "rows": result.current_rows}
    perf = result.performance or {}
    for name in ("accuracy", "f1", "roc_auc", "rmse", "mae"):
        current = perf.get("current", {}).get(name)
        facts[name] = current
        change = perf.get("change", {}).get(name)
        # A drop is how much worse it got: lower is worse for scores, higher for errors.
        facts[f"{name}_drop"] = None if change is None else (change if name in ("rmse", "mae") else -change)
    return facts
