"""``pipeline.yaml`` -> a validated, immutable DAG of notebook steps.

The format::

    name: demo                 # optional; default: the file's stem
    workdir: build             # optional; where outputs go, relative to this file's folder (default: that folder)
    preload: [sklearn, pandas] # optional; modules imported in pre-started kernels
    parameters:                # optional; given to every step whose notebook declares the name
      seed: 0
    defaults:                  # optional; timeout (seconds, null = none), retries, kernel for every step
      timeout: 600
      retries: 0
      kernel: python3
    steps:                     # required, in any order; names: letters, digits, '_' and '-'
      prepare:
        notebook: prepare.ipynb                  # required; relative to this file's folder
        parameters: {test_size: 0.25}            # must be declared in the notebook's 'parameters' cell
        outputs: {train: data/train.csv}         # name -> path relative to workdir; or a list (name = file stem)
        inputs: [raw/data.csv]                   # source files read that no step produces; relative to this folder
      train:
        notebook: train.ipynb
        upstream: [prepare]                      # a list of step names, or one name
        outputs: [models/model.skops]
        retries: 2
        timeout: 120
        validate:                                # optional; after the notebook ran, check a file against a
          data: model                            #   reference profile: an output name of this step or a path
          against: reference.json                #   (relative to workdir); a profile JSON relative to this
          missing_margin: 0.05                   #   folder; optional margins (see mlops.validate). Any
          range_margin: 0.0                      #   failure fails the step with the list of failures
        evaluate:                                # optional; evaluate the model the step logged, per slice,
          data: data/test.csv                    #   recorded on its run, and fail the step on a rule
          target: y                              #   (see evaluate_block.py for every field)
          slices: [sex]
          require: ["min(slice.*.recall) >= 0.8"]
    sweep:                     # optional; one step run once per point
      step: train
      method: grid             # grid (cartesian product, in written order) | random (seeded samples)
      parameters: {n_estimators: [50, 100], max_depth: {low: 2, high: 8, integer: true}}  # ranges: random only
      n: 4                     # random: required; grid: optional cap
      seed: 0
      metric: test_auc         # required
      goal: maximize           # required: maximize | minimize
    schedule:                  # optional; fired by `jupyter mlops scheduler` (see schedule_block.py)
      cron: "0 6 * * *"

Parameters reach a notebook in this order, later wins: pipeline ``parameters`` it declares, the
step's ``parameters``, then overrides (``k=v`` for every step, ``step.k=v`` for one). ``upstream``
and ``outputs`` are reserved: the runner injects ``upstream = {step: {output: path}}`` and
``outputs = {output: path}`` into notebooks that declare them. A notebook without a ``parameters``
cell still gets its step's parameters (papermill inserts them at the top) with a warning.

Every error is a :class:`SpecError` whose message is one line: ``file:line: field: what, and what to do``.
Loading imports neither papermill nor nbformat: notebooks are read as JSON (see ``notebook_params``).

A spec may come from someone else (a shared repository, a stored run's overrides), so reading it
is bounded: at most ``MAX_SPEC_BYTES`` of text and ``MAX_VALUES`` values, an alias counting as
every value it repeats, nested at most ``MAX_DEPTH`` deep. Unbounded, a 9-level alias bomb took
120 s and 5.6 GB and a 100 MB spec 209 s and 6.5 GB; bounded, both are refused at once.

It runs past 400 lines on purpose: the format above is checked in one pass that names the file,
line and field of every mistake; split, the checks of one field would sit apart from its siblings'.
"""
from __future__ import annotations

import copy
import difflib
import heapq
import itertools
import math
import os
import random
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent

from ..exceptions import InvalidInputError, SpecError
from .notebook_params import parameters_cell

TOP_FIELDS = ("name", "workdir", "preload", "parameters", "defaults", "steps", "sweep", "schedule")
STEP_FIELDS = ("notebook", "parameters", "upstream", "outputs", "inputs", "timeout", "retries", "kernel", "validate",
               "evaluate")
VALIDATE_FIELDS = ("data", "against", "missing_margin", "range_margin")
DEFAULT_FIELDS = ("timeout", "retries", "kernel")
SWEEP_FIELDS = ("step", "method", "parameters", "n", "seed", "metric", "goal")
RANGE_FIELDS = ("low", "high", "log", "integer")
RESERVED = frozenset({"upstream", "outputs"})
BUILTIN_DEFAULTS = {"timeout": None, "retries": 0, "kernel": "python3"}

_STEP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A real spec is a few kB and a few hundred values. Composing costs ~10 us per value here, so a
# spec at these limits is read (or refused) in well under a second and a few tens of MB.
MAX_SPEC_BYTES = 1_000_000
MAX_VALUES = 20_000  # scalars, lists and mappings; an alias counts as the values it repeats
MAX_DEPTH = 100
_TOO_BIG_HINT = "a pipeline spec names steps and parameters: keep data in files the steps read"


class _ReadOnlyDict(dict):
    """A dict that refuses edits (specs are values; derive new ones with ``with_overrides``) yet pickles."""

    def _read_only(self, *args, **kwargs):
        raise TypeError("a pipeline spec is read-only; use spec.with_overrides([...]) for a changed copy")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __reduce__(self):
        return type(self), (dict(self),)


# -- the spec as values ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    """A random-sweep interval: uniform, or log-uniform with ``log``; whole numbers with ``integer``."""
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def sample(self, rng: random.Random) -> float | int:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
            return min(max(round(value), self.low), self.high) if self.integer else value
        return rng.randint(self.low, self.high) if self.integer else rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class Sweep:
    """One step run once per point of a parameter space; the runner keeps the point best at ``metric``."""
    step: str
    method: str  # "grid" | "random"
    parameters: dict  # name -> tuple of values, or Range (random only)
    n: int | None
    seed: int
    metric: str
    goal: str  # "maximize" | "minimize"
    line: int

    def points(self) -> list[dict]:
        """Grid: the cartesian product in written order, capped at ``n``. Random: ``n`` samples seeded by ``seed``."""
        names = list(self.parameters)
        if self.method == "grid":
            combos = itertools.islice(itertools.product(*self.parameters.values()), self.n)
            points = [dict(zip(names, combo)) for combo in combos]
        else:
            rng = random.Random(self.seed)
            points = [{name: values.sample(rng) if isinstance(values, Range) else rng.choice(values)
                       for name, values in self.parameters.items()} for _ in range(self.n)]
        return copy.deepcopy(points)


@dataclass(frozen=True)
class Step:
    """One notebook run: what it reads, what it writes, and how to run it."""
    name: str
    notebook: Path  # absolute
    parameters: dict  # this step's own values; see PipelineSpec.step_parameters for what is injected
    upstream: tuple[str, ...]
    outputs: dict  # name -> absolute Path
    inputs: tuple[Path, ...]  # absolute
    timeout: float | None  # seconds; None: no limit
    retries: int
    kernel: str
    declared: frozenset  # names assigned in the notebook's parameters cell
    has_parameters_cell: bool
    line: int  # of the step's name in the spec
    validate: dict | None = None  # data, against (absolute paths) and margins; see validation()
    evaluate: dict | None = None  # data (absolute path), target, slices, gates; see evaluate_block.py


@dataclass(frozen=True)
class PipelineSpec:
    """A validated pipeline; read-only (``with_overrides`` returns a changed copy)."""
    path: Path  # absolute
    name: str
    workdir: Path  # absolute
    preload: tuple[str, ...]
    parameters: dict
    steps: dict  # name -> Step, in topological order (ties: file order)
    sweep: Sweep | None
    overrides: tuple = ()  # the ``-p`` overrides applied, in order (recorded so a run can be repeated)
    schedule: object = None  # schedule_block.ScheduleBlock: when ``jupyter mlops schedule add`` fires it

    def order(self) -> list[str]:
        return list(self.steps)

    def upstream_of(self, name: str) -> set[str]:
        """Every step ``name`` depends on, directly or not."""
        return self._reach(name, lambda step: self.steps[step].upstream)

    def downstream(self, name: str) -> set[str]:
        """Every step that depends on ``name``, directly or not."""
        children: dict[str, list[str]] = {step: [] for step in self.steps}
        for step in self.steps.values():
            for up in step.upstream:
                children[up].append(step.name)
        return self._reach(name, children.__getitem__)

    def step_parameters(self, name: str, overrides: dict | None = None) -> dict:
        """What papermill injects: pipeline parameters the notebook declares, then the step's, then ``overrides``.

        The reserved ``upstream`` / ``outputs`` are not included: the runner adds them.
        """
        step = self._step(name)
        values = {k: v for k, v in self.parameters.items() if k in step.declared}
        values.update(step.parameters)
        values.update(overrides or {})
        return copy.deepcopy(values)

    def with_overrides(self, overrides: Iterable[str]) -> PipelineSpec:
        """A copy with ``k=v`` (every step declaring ``k``) or ``step.k=v`` applied; values are YAML scalars."""
        if isinstance(overrides, str):
            overrides = [overrides]
        pipeline = dict(self.parameters)
        per_step = {name: dict(step.parameters) for name, step in self.steps.items()}
        for text in overrides:
            target, param, value = self._parse_override(text)
            if target is not None:
                per_step[target][param] = value
                continue
            pipeline[param] = value
            for values in per_step.values():  # so that the step's own value does not shadow the override
                if param in values:
                    values[param] = value
        steps = {name: replace(step, parameters=_ReadOnlyDict(per_step[name])) for name, step in self.steps.items()}
        return replace(self, parameters=_ReadOnlyDict(pipeline), steps=_ReadOnlyDict(steps),
                       overrides=self.overrides + tuple(str(t) for t in overrides))

    def _parse_override(self, text: str) -> tuple[str | None, str, Any]:
        key, equals, raw = str(text).partition("=")
        target, _, param = key.strip().rpartition(".")

        def problem(message: str) -> SpecError:
            shown = str(text) if len(str(text)) <= 80 else f"{str(text)[:77]}..."
            return SpecError(f"override {shown!r}: {message}", _shown(self.path), None, key.strip()[:80] or None)

        if not equals or not param.isidentifier():
            raise problem("expected 'name=value' or 'step.name=value'")
        if param in RESERVED:
            raise problem(f"'{param}' is reserved: the runner sets it from the steps' upstream and outputs")
        if target:
            step = self.steps.get(target)
            if step is None:
                raise problem(f"no step named '{target}'{_did_you_mean(target, self.steps, 'steps')}")
            if step.has_parameters_cell and param not in step.declared:
                raise problem(f"{step.notebook.name} declares no parameter '{param}'"
                              f"{_did_you_mean(param, step.declared - RESERVED)}")
        elif not any(param in s.declared or param in s.parameters for s in self.steps.values()):
            known = set().union(*(s.declared | set(s.parameters) for s in self.steps.values())) - RESERVED
            raise problem(f"no step declares a parameter '{param}'{_did_you_mean(param, known)}")
        if len(raw) > MAX_SPEC_BYTES:
            raise problem(f"the value is longer than {MAX_SPEC_BYTES:,} characters")
        try:
            return target or None, param, _yaml_scalar(raw)
        except _Limit as exc:
            raise problem(exc.message) from None

    def _step(self, name: str) -> Step:
        if name not in self.steps:
            raise InvalidInputError(f"pipeline '{self.name}' has no step '{name}'; steps: {', '.join(self.steps)}")
        return self.steps[name]

    def _reach(self, name: str, neighbours) -> set[str]:
        self._step(name)
        seen: set[str] = set()
        stack = list(neighbours(name))
        while stack:
            step = stack.pop()
            if step not in seen:
                seen.add(step)
                stack.extend(neighbours(step))
        return seen


def load_spec(path, overrides: Iterable[str] = ()) -> PipelineSpec:
    """Read, validate and freeze the pipeline at ``path``; raises :class:`SpecError` on the first problem."""
    shown = os.fspath(path)
    absolute = Path(os.path.abspath(shown))
    try:
        with open(absolute, "rb") as file:
            data = file.read(MAX_SPEC_BYTES + 1)  # never more: the file may be huge, or endless
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError(f"the spec is larger than {MAX_SPEC_BYTES:,} bytes; {_TOO_BIG_HINT}", shown,
                            data.count(b"\n", 0, MAX_SPEC_BYTES) + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the pipeline spec ({getattr(exc, 'strerror', None) or exc})", shown) from None
    builder = _Builder(shown, absolute, text)
    spec = builder.build()
    for message in builder.warnings:
        warnings.warn(message, stacklevel=2)
    return spec.with_overrides(overrides) if overrides else spec


# -- YAML with line numbers ----------------------------------------------------------------------------

class _Limit(Exception):
    """A bound of :class:`_BoundedLoader` was passed: ``message`` at ``mark``, in the field ``path``."""

    def __init__(self, message: str, mark, path: tuple):
        super().__init__(message)
        self.message, self.mark, self.path = message, mark, path


class _BoundedLoader(Composer, _Loader):
    """The safe loader, composing node by node so that it can count: PyYAML shares an anchored node
    between its aliases, but the spec is read as plain data, in which every alias is a copy.

    Each node adds 1 to ``values`` and each alias the weight of its anchor (the values it stands
    for, aliases inside counted too), so an alias bomb is refused at the alias that passes
    ``MAX_VALUES``, before anything is expanded. Events come from libyaml when it is installed."""

    def __init__(self, text: str):
        _Loader.__init__(self, text)
        Composer.__init__(self)
        self.values = 0
        self.weight: dict[str, int] = {}  # anchor -> values it stands for
        self.path: list = []  # the field being composed, for error messages

    def compose_node(self, parent, index):
        event = self.peek_event()
        self.path.append(index.value if isinstance(index, yaml.ScalarNode) else index)
        try:
            if isinstance(event, AliasEvent):
                if event.anchor in self.anchors and event.anchor not in self.weight:
                    self._fail(f"the alias *{event.anchor} refers to its own container; "
                               "anchors cannot be recursive here", event)
                self._count(self.weight.get(event.anchor, 0), event)  # an unknown one: Composer says so
                return super().compose_node(parent, index)
            if len(self.path) > MAX_DEPTH:
                self._fail(f"values nested more than {MAX_DEPTH} deep; {_TOO_BIG_HINT}", event)
            before = self.values
            self._count(1, event)
            node = super().compose_node(parent, index)
            if event.anchor is not None:
                self.weight[event.anchor] = self.values - before
            return node
        finally:
            self.path.pop()

    def _count(self, values: int, event) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            if isinstance(event, AliasEvent):
                self._fail(f"the alias *{event.anchor} repeats {values:,} values, which takes the spec past "
                           f"{MAX_VALUES:,} (an alias counts as every value it repeats); {_TOO_BIG_HINT}", event)
            self._fail(f"the spec holds more than {MAX_VALUES:,} values; {_TOO_BIG_HINT}", event)

    def _fail(self, message: str, event):
        raise _Limit(message, event.start_mark, tuple(p for p in self.path if p is not None))


def _load_bounded(text: str):
    """The YAML document in ``text`` as plain data; raises :class:`_Limit` past a bound."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


class _Document:
    """The YAML as plain data, plus the 1-based line of every key and value by field path (a tuple)."""

    def __init__(self, shown: str, text: str):
        self.shown = shown
        self.key_lines: dict[tuple, int] = {}
        self.value_lines: dict[tuple, int] = {(): 1}
        loader = _BoundedLoader(text)
        try:
            node = loader.get_single_node()
            self.data = None if node is None else self._convert(loader, node, ())
        except _Limit as exc:
            field = _dotted(exc.path) if len(exc.path) <= 8 else _dotted(exc.path[:6]) + "..."
            raise SpecError(exc.message, shown, exc.mark.line + 1, field or None) from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = " ".join(filter(None, [exc.problem, exc.context and f"({exc.context})"]))
            lines = text.splitlines()
            tabbed = mark and mark.line < len(lines) and "\t" in lines[mark.line]
            hint = "indent with spaces, not tabs" if tabbed else "check indentation, colons and quotes"
            raise SpecError(f"invalid YAML: {problem}; {hint}", shown, mark.line + 1 if mark else None) from None
        except yaml.YAMLError as exc:
            raise SpecError(f"invalid YAML: {exc}", shown) from None
        finally:
            loader.dispose()

    def _convert(self, loader, node, path: tuple) -> Any:
        # Visits at most MAX_VALUES nodes: the loader has counted every alias as a copy.
        self.value_lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(loader, node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self._convert(loader, item, path + (i,)) for i, item in enumerate(node.value)]
        first_seen: dict[Any, int] = {}
        for key_node, _ in node.value:  # PyYAML keeps the last of duplicate keys silently: catch them first
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key, line = self._scalar(loader, key_node, path), key_node.start_mark.line + 1
                if key in first_seen:
                    what = "step" if path == ("steps",) else "key"
                    self.key_lines[path + (key,)] = line
                    self.fail(path + (key,), f"duplicate {what} '{key}' (first on line {first_seen[key]}); "
                                             f"each {what} may appear once", at_key=True)
                first_seen[key] = line
        loader.flatten_mapping(node)  # '<<: *anchor' merges; explicit keys come last and win
        mapping = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(path, "mapping keys must be plain names, not lists or mappings")
            key = self._scalar(loader, key_node, path)
            self.key_lines[path + (key,)] = key_node.start_mark.line + 1
            mapping[key] = self._convert(loader, value_node, path + (key,))
        return mapping

    def _scalar(self, loader, node, path: tuple) -> Any:
        try:
            return loader.construct_object(node)
        except (ValueError, OverflowError) as exc:  # an int of 5000 digits, a date such as 2024-02-30
            problem = exc
        self.value_lines.setdefault(path, node.start_mark.line + 1)
        self.fail(path, f"cannot read {_got(node.value)} ({str(problem).split(';')[0]}); quote it to keep it as text")

    def line(self, path: tuple, at_key: bool = False) -> int:
        """The line of the value at ``path`` (or of its key); for a missing field, its parent's key line."""
        lines = (self.key_lines, self.value_lines) if at_key else (self.value_lines, self.key_lines)
        while True:
            for table in lines:
                if path in table:
                    return table[path]
            path, lines = path[:-1], (self.key_lines, self.value_lines)

    def fail(self, path: tuple, message: str, at_key: bool = False):
        raise SpecError(message, self.shown, self.line(path, at_key), _dotted(path) or None)


def _dotted(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f"{'.' if i else ''}{p}" for i, p in enumerate(path))


# -- validation ----------------------------------------------------------------------------------------

class _Builder:
    """Checks one document field by field and builds the frozen :class:`PipelineSpec`."""

    def __init__(self, shown: str, path: Path, text: str):
        self.doc = _Document(shown, text)
        self.path, self.folder = path, path.parent
        self.fail = self.doc.fail
        self.warnings: list[str] = []

    def build(self) -> PipelineSpec:
        data = self.doc.data
        if data is None:
            self.fail((), "the file is empty; a pipeline needs at least a 'steps' mapping")
        if not isinstance(data, dict):
            self.fail((), f"expected a mapping of pipeline fields ({', '.join(TOP_FIELDS)}), got {_got(data)}")
        self.known_fields((), data, TOP_FIELDS)
        name = self.text(("name",), data.get("name", self.path.stem))
        workdir = _absolute(self.folder, self.text(("workdir",), data.get("workdir", ".")))
        preload = self.string_list(("preload",), data.get("preload"))
        for i, module in enumerate(preload):
            if not _MODULE.fullmatch(module):
                self.fail(("preload", i), f"expected an importable module name like 'sklearn.ensemble', got {module!r}")
        defaults = self.defaults(data.get("defaults"))
        if "steps" not in data:
            self.fail(("steps",), "missing; add a 'steps' mapping, e.g. 'steps: {train: {notebook: train.ipynb}}'")
        raw_steps = self.mapping(("steps",), data["steps"])
        if not raw_steps:
            self.fail(("steps",), "no steps; add at least one, e.g. 'train: {notebook: train.ipynb}'")
        steps = {name_: self.step(name_, raw, raw_steps, defaults, workdir) for name_, raw in raw_steps.items()}
        steps = {step: steps[step] for step in self.topological(steps)}
        self.check_files(steps)
        parameters = self.pipeline_parameters(data.get("parameters"), steps)
        sweep = self.sweep(data["sweep"], steps) if data.get("sweep") is not None else None
        spec = PipelineSpec(self.path, name, workdir, tuple(preload), _ReadOnlyDict(parameters),
                            _ReadOnlyDict(steps), sweep)
        if data.get("schedule") is not None:
            spec = replace(spec, schedule=self.schedule(data["schedule"], spec))
        return spec

    def schedule(self, value, spec: PipelineSpec):
        from .schedule_block import check_block

        def parameter_problem(key: str) -> str | None:
            try:
                spec._parse_override(f"{key}=0")
            except SpecError as exc:
                return exc.reason.split(": ", 1)[-1]
            return None

        return check_block(value, lambda path, message, at_key=False: self.fail(("schedule",) + path, message, at_key),
                           parameter_problem)

    # -- fields shared by several sections
    def known_fields(self, path: tuple, mapping: dict, fields: tuple) -> None:
        for key in mapping:
            if key not in fields:
                self.fail(path + (key,), f"unknown field{_did_you_mean(key, fields, 'known fields')}", at_key=True)

    def mapping(self, path: tuple, value, what: str = "a mapping") -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected {what}, got {_got(value)}")
        return value

    def text(self, path: tuple, value) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"expected a non-empty string, got {_got(value)}")
        return value

    def string_list(self, path: tuple, value, single_ok: bool = False) -> list[str]:
        if value is None:
            return []
        if single_ok and isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            self.fail(path, f"expected a list of strings{' or one string' if single_ok else ''}, got {_got(value)}")
        return [self.text(path + (i,), item) for i, item in enumerate(value)]

    def parameter_map(self, path: tuple, value) -> dict:
        values = self.mapping(path, value, "a mapping of parameter names to values")
        for key in values:
            if not isinstance(key, str) or not key.isidentifier():
                self.fail(path + (key,), f"parameter names must be Python identifiers, got {key!r}", at_key=True)
            if key in RESERVED:
                self.fail(path + (key,), f"'{key}' is reserved: the runner sets it from the steps' upstream and "
                                         "outputs; remove it", at_key=True)
        return values

    def timeout(self, path: tuple, value) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            self.fail(path, f"expected a positive number of seconds (or null for no limit), got {_got(value)}")
        return float(value)

    def retries(self, path: tuple, value) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(path, f"expected a non-negative integer, got {_got(value)}")
        return value

    def defaults(self, value) -> dict:
        raw = self.mapping(("defaults",), value)
        self.known_fields(("defaults",), raw, DEFAULT_FIELDS)
        return {"timeout": self.timeout(("defaults", "timeout"), raw.get("timeout", BUILTIN_DEFAULTS["timeout"])),
                "retries": self.retries(("defaults", "retries"), raw.get("retries", BUILTIN_DEFAULTS["retries"])),
                "kernel": self.text(("defaults", "kernel"), raw.get("kernel", BUILTIN_DEFAULTS["kernel"]))}

    # -- steps
    def step(self, name, raw, all_steps: dict, defaults: dict, workdir: Path) -> Step:
        at = ("steps", name)
        if not isinstance(name, str) or not _STEP_NAME.fullmatch(name):
            self.fail(at, f"step names may hold letters, digits, '_' and '-' only, got {name!r}", at_key=True)
        if not isinstance(raw, dict):
            self.fail(at, f"expected a mapping of step fields (notebook, parameters, upstream, ...), got {_got(raw)}")
        self.known_fields(at, raw, STEP_FIELDS)
        if raw.get("notebook") is None:
            self.fail(at + ("notebook",), "missing; every step runs a notebook, e.g. 'notebook: train.ipynb'")
        notebook = self.notebook(at + ("notebook",), raw["notebook"])
        declared, has_cell = self.declared(at + ("notebook",), notebook, raw["notebook"])
        parameters = self.parameter_map(at + ("parameters",), raw.get("parameters"))
        for param in parameters:
            if has_cell and param not in declared:
                self.fail(at + ("parameters", param), f"{notebook.name} does not declare '{param}' in its parameters "
                          f"cell (add it there or remove it here){_did_you_mean(param, declared - RESERVED)}",
                          at_key=True)
        if parameters and not has_cell:
            self.warnings.append(f"{self.doc.shown}:{self.doc.line(at, True)}: {_dotted(at)}: {notebook.name} "
                                 "has no cell tagged 'parameters'; its parameters are injected at the top, "
                                 "as papermill does")
        upstream = self.string_list(at + ("upstream",), raw.get("upstream"), single_ok=True)
        for i, up in enumerate(upstream):
            where = at + ("upstream",) + ((i,) if isinstance(raw["upstream"], list) else ())
            if up == name:
                self.fail(where, f"step '{name}' lists itself as upstream; remove it")
            if up not in all_steps:
                self.fail(where, f"no step named '{up}'{_did_you_mean(up, all_steps, 'steps')}")
            if up in upstream[:i]:
                self.fail(where, f"'{up}' is listed twice")
        outputs = self.outputs(at + ("outputs",), raw.get("outputs"), workdir)
        return Step(
            name=name, notebook=notebook, parameters=_ReadOnlyDict(parameters), upstream=tuple(upstream),
            outputs=_ReadOnlyDict(outputs),
            inputs=tuple(_absolute(self.folder, p) for p in self.string_list(at + ("inputs",), raw.get("inputs"))),
            timeout=self.timeout(at + ("timeout",), raw["timeout"]) if "timeout" in raw else defaults["timeout"],
            retries=self.retries(at + ("retries",), raw["retries"]) if "retries" in raw else defaults["retries"],
            kernel=self.text(at + ("kernel",), raw["kernel"]) if "kernel" in raw else defaults["kernel"],
            declared=frozenset(declared), has_parameters_cell=has_cell, line=self.doc.line(at, at_key=True),
            validate=self.validation(at + ("validate",), raw["validate"], outputs, workdir) if "validate" in raw else None,
            evaluate=self.evaluation(at + ("evaluate",), raw["evaluate"], outputs, workdir) if "evaluate" in raw else None)

    def evaluation(self, path: tuple, value, outputs: dict, workdir: Path) -> dict:
        from .evaluate_block import EVALUATE_FIELDS, check_block

        settings = check_block(
            value, lambda at, message: self.fail(path + at, message),
            lambda at, v: self.text(path + at, v), lambda at, v, one: self.string_list(path + at, v, one),
            lambda raw: self.known_fields(path, raw, EVALUATE_FIELDS))
        data = settings["data"]
        settings["data"] = str(outputs[data]) if data in outputs else str(_absolute(workdir, data))
        return _ReadOnlyDict(settings)

    def validation(self, path: tuple, value, outputs: dict, workdir: Path) -> dict:
        raw = self.mapping(path, value, "a mapping with 'data' (an output name or a path) and 'against' (a profile)")
        self.known_fields(path, raw, VALIDATE_FIELDS)
        for required in ("data", "against"):
            if raw.get(required) is None:
                self.fail(path + (required,), "missing; e.g. 'validate: {data: train, against: reference.json}'")
        data = self.text(path + ("data",), raw["data"])
        checked = {"data": str(outputs[data]) if data in outputs else str(_absolute(workdir, data)),
                   "against": str(_absolute(self.folder, self.text(path + ("against",), raw["against"])))}
        for margin in ("missing_margin", "range_margin"):
            if margin in raw:
                number = raw[margin]
                if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 <= number <= 1:
                    self.fail(path + (margin,), f"expected a share between 0 and 1, got {_got(number)}")
                checked[margin] = float(number)
        return _ReadOnlyDict(checked)

    def notebook(self, path: tuple, value) -> Path:
        written = self.text(path, value)
        if not written.endswith(".ipynb"):
            self.fail(path, f"expected a Jupyter notebook (.ipynb), got {written!r}")
        notebook = _absolute(self.folder, written)
        if not notebook.is_file():
            self.fail(path, f"notebook {written!r} not found (looked for {notebook}); paths are relative to the "
                            "spec's folder")
        return notebook

    def declared(self, path: tuple, notebook: Path, written: str) -> tuple[set, bool]:
        try:
            names, has_cell = parameters_cell(notebook)
            return set(names), has_cell
        except SpecError as exc:
            problem = exc  # re-raised below, outside the handler, so no chained traceback
        self.fail(path, f"{written}{f':{problem.line}' if problem.line else ''}: {problem.reason}")

    def outputs(self, path: tuple, value, workdir: Path) -> dict[str, Path]:
        if isinstance(value, list):
            paths = self.string_list(path, value)
            named = {}
            for i, written in enumerate(paths):
                stem = Path(written).stem
                if stem in named:
                    self.fail(path + (i,), f"two outputs named '{stem}' (names are file stems in a list); "
                                           "use a mapping name -> path instead")
                named[stem] = written
        else:
            named = self.mapping(path, value, "a mapping of output names to paths, or a list of paths")
            for name, written in named.items():
                if not isinstance(name, str) or not name:
                    self.fail(path + (name,), f"output names must be non-empty strings, got {name!r}", at_key=True)
                self.text(path + (name,), written)
        return {name: _absolute(workdir, written) for name, written in named.items()}

    def topological(self, steps: dict[str, Step]) -> list[str]:
        """Kahn's algorithm; among steps ready together, the one written first goes first."""
        position = {name: i for i, name in enumerate(steps)}
        waiting = {name: len(step.upstream) for name, step in steps.items()}
        children: dict[str, list[str]] = {name: [] for name in steps}
        for step in steps.values():
            for up in step.upstream:
                children[up].append(step.name)
        ready = [(position[n], n) for n, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            _, name = heapq.heappop(ready)
            order.append(name)
            for child in children[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (position[child], child))
        if len(order) < len(steps):
            self.fail_cycle(steps, [n for n in steps if waiting[n] > 0])
        return order

    def fail_cycle(self, steps: dict[str, Step], stuck: list[str]) -> None:
        # Every stuck step has a stuck upstream, so walking upstream from one must come back round.
        walk, seen, name = [], {}, stuck[0]
        while name not in seen:
            seen[name] = len(walk)
            walk.append(name)
            name = next(up for up in steps[name].upstream if up in stuck)
        cycle = walk[seen[name]:][::-1]  # in data-flow order
        first = min(cycle, key=list(steps).index)
        start = cycle.index(first)
        cycle = cycle[start:] + cycle[:start]
        raw = self.doc.data["steps"][first]["upstream"]
        where = ("steps", first, "upstream") + ((raw.index(cycle[-1]),) if isinstance(raw, list) else ())
        self.fail(where, f"cycle: {' -> '.join(cycle + [first])}; remove one of these upstream links")

    def check_files(self, steps: dict[str, Step]) -> None:
        """Each output path has one producer, and no step lists another's output as a source input."""
        producer: dict[Path, tuple[str, str]] = {}
        for step in sorted(steps.values(), key=lambda s: s.line):
            for name, path in step.outputs.items():
                if path in producer:
                    other, other_name = producer[path]
                    listed = isinstance(self.doc.data["steps"][step.name]["outputs"], list)
                    where = ("steps", step.name, "outputs", list(step.outputs).index(name) if listed else name)
                    self.fail(where, f"path {_shown(path)} is also output '{other_name}' of step '{other}'; "
                                     "each file needs one producer")
                producer[path] = (step.name, name)
        for step in steps.values():
            for i, path in enumerate(step.inputs):
                if path in producer:
                    other = producer[path][0]
                    self.fail(("steps", step.name, "inputs", i), f"{_shown(path)} is an output of step '{other}'; "
                              f"list '{other}' in upstream instead of naming its file as an input")

    def pipeline_parameters(self, value, steps: dict[str, Step]) -> dict:
        parameters = self.parameter_map(("parameters",), value)
        declared = set().union(*(step.declared for step in steps.values())) - RESERVED
        for param in parameters:
            if param not in declared:
                self.fail(("parameters", param), f"no step's notebook declares '{param}' in its parameters cell, so "
                          f"no step would receive it{_did_you_mean(param, declared)}", at_key=True)
        return parameters

    # -- sweep
    def sweep(self, value, steps: dict[str, Step]) -> Sweep:
        at = ("sweep",)
        raw = self.mapping(at, value, "a mapping of sweep fields (step, method, parameters, metric, goal, ...)")
        self.known_fields(at, raw, SWEEP_FIELDS)
        for required in ("step", "parameters", "metric", "goal"):
            if raw.get(required) is None:
                self.fail(at + (required,), "missing; a sweep needs step, parameters, metric and goal")
        step_name = self.text(at + ("step",), raw["step"])
        if step_name not in steps:
            self.fail(at + ("step",), f"no step named '{step_name}'{_did_you_mean(step_name, steps, 'steps')}")
        step = steps[step_name]
        method = raw.get("method", "grid")
        if method not in ("grid", "random"):
            self.fail(at + ("method",), f"expected 'grid' or 'random', got {_got(method)}")
        goal = raw["goal"]
        if goal not in ("maximize", "minimize"):
            self.fail(at + ("goal",), f"expected 'maximize' or 'minimize', got {_got(goal)}")
        n = raw.get("n")
        if n is None and method == "random":
            self.fail(at + ("n",), "missing; a random sweep needs the number of points, e.g. 'n: 20'")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            self.fail(at + ("n",), f"expected a positive integer, got {_got(n)}")
        seed = raw.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            self.fail(at + ("seed",), f"expected an integer, got {_got(seed)}")
        parameters = self.parameter_map(at + ("parameters",), raw["parameters"])
        if not parameters:
            self.fail(at + ("parameters",), "no parameters to sweep; add e.g. 'n_estimators: [50, 100]'")
        space = {}
        for param, values in parameters.items():
            if step.has_parameters_cell and param not in step.declared:
                self.fail(at + ("parameters", param), f"{step.notebook.name} (step '{step_name}') does not declare "
                          f"'{param}'{_did_you_mean(param, step.declared - RESERVED)}", at_key=True)
            space[param] = self.sweep_values(at + ("parameters", param), values, method)
        return Sweep(step_name, method, _ReadOnlyDict(space), n, seed, self.text(at + ("metric",), raw["metric"]),
                     goal, self.doc.line(at, at_key=True))

    def sweep_values(self, path: tuple, values, method: str) -> tuple | Range:
        if isinstance(values, list) and values:
            return tuple(values)
        if method == "grid" or not isinstance(values, dict):
            what = "a non-empty list of values" + (" or {low: , high: }" if method == "random" else "")
            self.fail(path, f"expected {what}, got {_got(values)}")
        self.known_fields(path, values, RANGE_FIELDS)
        for bound in ("low", "high"):
            v = values.get(bound)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                self.fail(path + (bound,), f"expected a number, got {_got(v)}")
        low, high = values["low"], values["high"]
        log, integer = values.get("log", False), values.get("integer", False)
        for flag, v in (("log", log), ("integer", integer)):
            if not isinstance(v, bool):
                self.fail(path + (flag,), f"expected true or false, got {_got(v)}")
        if not low < high:
            self.fail(path, f"expected low < high, got low={low!r}, high={high!r}")
        if log and low <= 0:
            self.fail(path + ("low",), f"a log range needs low > 0, got {low!r}")
        if integer and not (isinstance(low, int) and isinstance(high, int)):
            self.fail(path, "an integer range needs whole-number low and high")
        return Range(low, high, log, integer)


# -- small helpers -------------------------------------------------------------------------------------

def _absolute(folder: Path, written: str) -> Path:
    return Path(os.path.normpath(folder / os.path.expanduser(written)))


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it (shorter error messages)."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _got(value) -> str:
    if isinstance(value, (dict, list)):
        return f"{'a' if value else 'an empty'} {'mapping' if isinstance(value, dict) else 'list'}"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _did_you_mean(word, candidates, label: str | None = None) -> str:
    """``"; did you mean 'x'?"`` for a close candidate; else ``"; <label>: a, b"`` when ``label`` is given."""
    names = [str(c) for c in candidates]
    close = difflib.get_close_matches(str(word), names, n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; {label}: {', '.join(names)}" if label and names else ""


def _yaml_scalar(raw: str) -> Any:
    """``'0.5'`` -> 0.5, ``'true'`` -> True, ``'[1, 2]'`` -> [1, 2]; anything else (``'a: b'``) stays text.
    Bounded like a spec (overrides are replayed from stored runs): past a bound, :class:`_Limit`."""
    try:
        value = _load_bounded(raw) if raw.strip() else raw
    except (yaml.YAMLError, ValueError, OverflowError):
        return raw
    explicit_collection = raw.strip().startswith(("[", "{"))
    return value if explicit_collection or not isinstance(value, (list, dict)) else raw
