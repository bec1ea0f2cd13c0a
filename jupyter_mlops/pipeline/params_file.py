"""``jupyter mlops run -f params.yaml``: parameters from a YAML file, as papermill's ``-f`` takes them.

    C: 0.5                 # every step that declares C
    train.max_depth: 6     # one step
    prepare:               # a step's name holding a mapping: that step's parameters
      test_size: 0.2

Each entry becomes a ``-p`` style override (``train.max_depth=6``), applied before the ``-p`` ones
(so ``-p`` wins, as in papermill) and recorded with them, so the run can be repeated from its
record. The file is read with the spec's bounded YAML reader, and a bad entry is named with its line.
"""
from __future__ import annotations

import json
import os

from ..exceptions import SpecError
from .spec import MAX_SPEC_BYTES, _Document


def overrides_from_file(path, spec) -> list[str]:
    """The ``[step.]name=value`` overrides that the YAML mapping in ``path`` holds, checked against ``spec``."""
    shown = os.fspath(path)
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_SPEC_BYTES + 1)
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError(f"the parameters file is larger than {MAX_SPEC_BYTES:,} bytes", shown)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the parameters file ({getattr(exc, 'strerror', None) or exc})", shown) from None
    document = _Document(shown, text)
    values = document.data
    if values is None:
        return []
    if not isinstance(values, dict):
        raise SpecError("expected a mapping of parameters (name: value, or step.name: value)", shown, 1)
    overrides = []
    for key, value in values.items():
        if isinstance(key, str) and key in spec.steps and isinstance(value, dict):
            entries = [((key, name), f"{key}.{name}", inner) for name, inner in value.items()]
        else:
            entries = [((key,), str(key), value)]
        for where, name, inner in entries:
            override = f"{name}={_as_yaml(inner)}"
            try:
                spec._parse_override(override)
            except SpecError as exc:
                reason = exc.reason.split("': ", 1)[-1]  # without the "override 'k=v'" it began with
                raise SpecError(reason, shown, document.line(where, at_key=True), name) from None
            overrides.append(override)
    return overrides


def _as_yaml(value) -> str:
    """``value`` as the one-line YAML an override holds (``0.5``, ``'a: b'``, ``[1, 2]``, ``{k: v}``)."""
    if isinstance(value, str):
        return json.dumps(value)  # quoted: "0.5" stays text, as the file said
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, width=float("inf"), allow_unicode=True)
    return text.removesuffix("\n...\n").strip()
