"""The ``schedule:`` block of a pipeline spec, and the checks every schedule's fields go through.

The same checks serve ``pipeline.yaml`` (where ``fail`` reports ``file:line: field``) and the
command line (where it names the option), so a schedule is refused the same way wherever it is
written::

    schedule:
      cron: "0 6 * * *"            # five fields (minute hour day month weekday), as cron reads them
      timezone: Europe/Berlin      # IANA name; default UTC. DST as Debian cron: a time skipped by the
                                   #   clock change runs at the first minute after it, a repeated one once
      parameters: {prepare.data: "events/{date}.csv"}   # -p overrides; {date}, {yesterday},
                                   #   {scheduled_time}, {schedule} are filled in per occurrence
      overlap: skip                # skip | queue | allow: when the previous occurrence still runs
      catchup: latest              # none | latest | all: occurrences missed while no scheduler ran
      retries: 1                   # attempts after a failed one
      timeout: 3600                # seconds for the whole job (null: none)
      notify: {on: [failure, drift], webhook: "env:SLACK_WEBHOOK_URL", email: ops@example.com}

Nothing here touches the store or a clock: these are values, checked.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SCHEDULE_FIELDS = ("cron", "timezone", "parameters", "overlap", "catchup", "retries", "timeout", "notify")
NOTIFY_FIELDS = ("on", "webhook", "email")
OVERLAP = ("skip", "queue", "allow")
CATCHUP = ("none", "latest", "all")
EVENTS = ("failure", "drift", "success")
TEMPLATE_NAMES = ("date", "yesterday", "scheduled_time", "schedule")
DEFAULTS = {"timezone": "UTC", "overlap": "skip", "catchup": "latest", "retries": 0, "timeout": None}
MAX_RETRIES = 100

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ENV_NAME = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")

# fail(path, message, at_key=False) raises; path is a tuple of field names below the block.
Fail = Callable[..., None]


@dataclass(frozen=True)
class ScheduleBlock:
    """A checked schedule: when, in which zone, with which parameters and policies."""

    cron: str
    timezone: str = "UTC"
    parameters: dict = field(default_factory=dict)  # name -> template text (or a plain value)
    overlap: str = "skip"
    catchup: str = "latest"
    retries: int = 0
    timeout: float | None = None
    notify: dict = field(default_factory=dict)  # {"on": [...], "webhook": ..., "email": [...]}

    def to_dict(self) -> dict:
        return {"cron": self.cron, "timezone": self.timezone, "parameters": dict(self.parameters),
                "overlap": self.overlap, "catchup": self.catchup, "retries": self.retries,
                "timeout": self.timeout, "notify": dict(self.notify)}


def check_block(raw, fail: Fail, check_parameter: Callable[[str], str | None] | None = None) -> ScheduleBlock:
    """``raw`` (the YAML mapping) as a :class:`ScheduleBlock`; ``check_parameter(name)`` returns a
    problem with a parameter name (e.g. no step declares it) or None."""
    if not isinstance(raw, dict):
        fail((), f"expected a mapping with at least 'cron', got {_got(raw)}")
    for key in raw:
        if key not in SCHEDULE_FIELDS:
            fail((key,), f"unknown field; known fields: {', '.join(SCHEDULE_FIELDS)}", at_key=True)
    if raw.get("cron") is None:
        fail(("cron",), "missing; e.g. cron: \"0 6 * * *\" (every day at 06:00)")
    values = {"cron": problem_or(fail, ("cron",), cron_problem, raw["cron"])}
    if "timezone" in raw:
        values["timezone"] = problem_or(fail, ("timezone",), timezone_problem, raw["timezone"])
    for name, choices in (("overlap", OVERLAP), ("catchup", CATCHUP)):
        if name in raw and raw[name] not in choices:
            fail((name,), f"expected one of {', '.join(choices)}, got {_got(raw[name])}")
        if name in raw:
            values[name] = raw[name]
    if "retries" in raw:
        values["retries"] = problem_or(fail, ("retries",), retries_problem, raw["retries"])
    if "timeout" in raw:
        values["timeout"] = problem_or(fail, ("timeout",), timeout_problem, raw["timeout"])
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        fail(("parameters",), f"expected a mapping of parameter names to values or templates, got {_got(parameters)}")
    for name, value in parameters.items():
        problem = template_problem(value) if isinstance(value, str) else None
        if problem is None and isinstance(value, (dict, list)):
            problem = "expected a value or a template string, not a mapping or list"
        if problem is None and not isinstance(name, str):
            problem = f"parameter names are text, got {name!r}"
        if problem is None and check_parameter is not None:
            problem = check_parameter(name)
        if problem:
            fail(("parameters", name), problem, at_key=not isinstance(value, str))
    values["parameters"] = dict(parameters)
    if raw.get("notify") is not None:
        values["notify"] = check_notify(raw["notify"], lambda path, message, at_key=False:
                                        fail(("notify",) + path, message, at_key=at_key))
    return ScheduleBlock(**values)


def check_notify(raw, fail: Fail) -> dict:
    """``{on: [...], webhook: URL | env:NAME, email: ADDR | [ADDR, ...]}``, with ``on`` defaulting to failure."""
    if not isinstance(raw, dict):
        fail((), f"expected a mapping with 'webhook' and/or 'email' (and 'on'), got {_got(raw)}")
    # YAML 1.1 (PyYAML) reads an unquoted key `on` as true.
    raw = {("on" if key is True else key): value for key, value in raw.items()}
    for key in raw:
        if key not in NOTIFY_FIELDS:
            fail((key,), f"unknown field; known fields: {', '.join(NOTIFY_FIELDS)}", at_key=True)
    events = raw.get("on", ["failure"])
    if isinstance(events, str):
        events = [events]
    if not isinstance(events, list) or not events:
        fail(("on",), f"expected a list of events ({', '.join(EVENTS)}), got {_got(events)}")
    for i, event in enumerate(events):
        if event not in EVENTS:
            fail(("on", i), f"expected one of {', '.join(EVENTS)}, got {_got(event)}")
    checked: dict = {"on": list(dict.fromkeys(events))}
    if raw.get("webhook") is not None:
        problem = webhook_problem(raw["webhook"])
        if problem:
            fail(("webhook",), problem)
        checked["webhook"] = raw["webhook"]
    if raw.get("email") is not None:
        addresses = raw["email"] if isinstance(raw["email"], list) else [raw["email"]]
        for i, address in enumerate(addresses):
            if not isinstance(address, str) or not (_EMAIL.fullmatch(address) or _ENV_NAME.fullmatch(address)):
                fail(("email",) + ((i,) if isinstance(raw["email"], list) else ()),
                     f"expected an e-mail address (or env:NAME), got {_got(address)}")
        checked["email"] = addresses
    if "webhook" not in checked and "email" not in checked:
        fail((), "nowhere to send to: add 'webhook: URL' and/or 'email: ADDRESS'")
    return checked


# -- one field at a time (also used by the command line) ------------------------------------------------

def cron_problem(value) -> str | None:
    """Why ``value`` is no five-field cron expression cron would run, or None."""
    if not isinstance(value, str) or not value.strip():
        return f"expected a cron expression such as \"0 6 * * *\", got {_got(value)}"
    from cronsim import CronSim, CronSimError

    fields = value.split()
    if len(fields) != 5:
        return (f"expected five fields (minute hour day-of-month month day-of-week), got {len(fields)} in "
                f"{value!r}")
    try:
        from datetime import datetime, timezone

        CronSim(value, datetime(2000, 1, 1, tzinfo=timezone.utc))
    except CronSimError as exc:
        return f"not a valid cron expression {value!r}: {exc}"
    return None


def timezone_problem(value) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return f"expected an IANA time zone such as Europe/Berlin or UTC, got {_got(value)}"
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin, America/New_York or UTC"
    return None


def retries_problem(value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        return f"expected a whole number from 0 to {MAX_RETRIES}, got {_got(value)}"
    return None


def timeout_problem(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        return f"expected a positive number of seconds (or null for no limit), got {_got(value)}"
    return None


def template_problem(text: str) -> str | None:
    """A template may name only the known placeholders; ``{{`` and ``}}`` stand for braces."""
    for match in _PLACEHOLDER.finditer(text.replace("{{", "").replace("}}", "")):
        if match.group(1) not in TEMPLATE_NAMES:
            return (f"unknown placeholder {{{match.group(1)}}} in {text!r}; known: "
                    f"{', '.join('{' + n + '}' for n in TEMPLATE_NAMES)}")
    return None


def webhook_problem(value) -> str | None:
    if isinstance(value, str) and _ENV_NAME.fullmatch(value):
        return None
    if not isinstance(value, str):
        return f"expected an http(s) URL or env:NAME, got {_got(value)}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"expected an http(s) URL or env:NAME (a variable holding the URL), got {_got(value)}"
    if parts.username or parts.password:
        return "credentials do not belong in the spec: put the URL in an environment variable and write env:NAME"
    return None


def render(template, values: dict):
    """``template`` with each ``{name}`` replaced; anything but text is returned as it is."""
    if not isinstance(template, str):
        return template
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))),
                            template.replace("{{", "\0").replace("}}", "\1")).replace("\0", "{").replace("\1", "}")


def problem_or(fail: Fail, path: tuple, check, value):
    problem = check(value)
    if problem:
        fail(path, problem)
    return value


def _got(value) -> str:
    if isinstance(value, (dict, list)):
        return f"{'a' if value else 'an empty'} {'mapping' if isinstance(value, dict) else 'list'}"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
