"""Values made fit for JSON: JSON has no NaN or infinity, and stores hold both."""
from __future__ import annotations

import math


def json_safe(value):
    """``value`` with every NaN or infinity, however deeply nested, as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
