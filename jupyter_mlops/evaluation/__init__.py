"""Evaluation of a model on labelled data: metrics per slice with bootstrap intervals, fairness gaps
across sensitive groups, explanations; recorded on a run for the approval gates and the model card."""
from __future__ import annotations

from .evaluate import EvaluationResult, evaluate

__all__ = ["EvaluationResult", "evaluate"]
