"""The run filter language of ``search_runs``, the CLI and the REST API.

    metrics.auc > 0.9 and params.model = 'rf'
    (tags.stage = 'prod' or status != 'FAILED') and name LIKE 'sweep-%'

Identifiers: ``metrics.K``, ``params.K``, ``tags.K`` (K may be quoted with backticks or double
quotes), or a run attribute (``status``, ``name``, ``experiment``, ``id``, ``parent``, ``user``,
``start_time``, ``end_time``, ``source``, ``git_commit``, ``lifecycle``; also as ``attributes.X``).
``lifecycle`` is ``active``, ``archived`` or ``deleted`` (a run's own, or its experiment's when
that is further along); listings leave out archived and deleted runs unless the filter names it.
Operators: = == != <> < <= > >= LIKE ILIKE IN NOT IN, joined with AND / OR / NOT and brackets.
A parameter or tag compared with a number is compared numerically.
Every syntax error names the character position where parsing stopped.

Filters come from requests, so their size is capped while they are parsed (tokens are read only
as far as the parser gets), each cap a FilterSyntaxError at the position it was passed: at most
MAX_DEPTH brackets and NOTs open at once, MAX_COMPARISONS comparisons, MAX_VALUES values.
Uncapped, SQLite's parser gave up ("parser stack overflow") at 17 levels of OR-within-AND, a
chain of 10k ANDs was "Expression tree is too large", and deeper nesting overflowed Python's
stack while the SQL was compiled: each a 500.

It runs past 400 lines on purpose: the tokenizer, the parser and the SQL it compiles to are one
grammar, and its error positions must agree across the three.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import and_, case, exists, func, literal, not_, or_, select, true

from ..exceptions import FilterSyntaxError
from . import schema as s
from .lifecycle_states import LIFECYCLES, lifecycle_expression
from .store import STALE_GRACE_MS, STALE_HEARTBEATS, now_ms

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<backtick>`[^`]*`)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),.])
  | (?P<word>[A-Za-z_][\w\-:/]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "like", "ilike", "is", "null"}
MAX_DEPTH = 16  # brackets and NOTs open at once: SQLite fails from ~34 nested AND/OR/NOT
MAX_COMPARISONS = 200  # PostgreSQL JIT-compiles 500 (4.5 s) where JIT is on; 200 take 0.2 s
MAX_VALUES = 10_000  # literals, IN lists included (SQLite takes at most 32,766 bound values)
MAX_ORDER_BY = 20
_ENTITY_ALIASES = {
    "metrics": "metrics", "metric": "metrics",
    "params": "params", "param": "params", "parameters": "params",
    "tags": "tags", "tag": "tags",
    "attributes": "attributes", "attribute": "attributes", "attr": "attributes", "run": "attributes",
}


def status_expression():
    """A run's status as users see it: RUNNING with a stale heartbeat reads as CRASHED."""
    r = s.runs
    cutoff = literal(now_ms() - STALE_GRACE_MS) - r.c.heartbeat_interval * (STALE_HEARTBEATS * 1000)
    return case((and_(r.c.status == "RUNNING", r.c.heartbeat < cutoff), "CRASHED"), else_=r.c.status)


def attribute_columns() -> dict:
    r, e = s.runs, s.experiments
    return {
        "status": status_expression(),
        "name": r.c.name, "run_name": r.c.name,
        "experiment": e.c.name,
        "id": r.c.uuid, "run_id": r.c.uuid,
        "parent": r.c.parent_uuid, "parent_id": r.c.parent_uuid,
        "user": r.c.user,
        "start_time": r.c.start_time, "end_time": r.c.end_time,
        "source": r.c.source_path, "git_commit": r.c.git_commit,
        "lifecycle": lifecycle_expression(),
    }


@dataclass
class Token:
    kind: str
    text: str
    pos: int

    @property
    def lower(self) -> str:
        return self.text.lower()


def tokenize(text: str) -> Iterator[Token]:
    """Tokens as the parser asks for them: a refused filter is not read past where it was refused."""
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FilterSyntaxError(f"unexpected character {text[pos]!r}", text, pos)
        if m.lastgroup != "ws":
            yield Token(m.lastgroup, m.group(), pos)
        pos = m.end()
    yield Token("end", "", len(text))


@dataclass
class Identifier:
    entity: str  # metrics | params | tags | attributes
    key: str
    pos: int


class _Parser:
    def __init__(self, text: str, dialect: str):
        self.text = text
        self.dialect = dialect
        self._tokens = tokenize(text)
        self.tokens: list[Token] = []  # read so far
        self.i = 0
        self.depth = 0  # brackets and NOTs open
        self.comparisons = 0
        self.values = 0

    # -- token helpers ---------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.peek(0)

    def peek(self, ahead: int) -> Token:
        while len(self.tokens) <= self.i + ahead:
            if self.tokens and self.tokens[-1].kind == "end":
                return self.tokens[-1]
            self.tokens.append(next(self._tokens))
        return self.tokens[self.i + ahead]

    def take(self) -> Token:
        t = self.tok
        self.i += 1
        return t

    def fail(self, message: str, token: Token | None = None):
        token = token or self.tok
        raise FilterSyntaxError(message, self.text, token.pos)

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.lower in words

    def expect_punct(self, char: str) -> None:
        if self.tok.kind != "punct" or self.tok.text != char:
            found = repr(self.tok.text) if self.tok.kind != "end" else "end of filter"
            self.fail(f"expected {char!r}, found {found}")
        self.take()

    # -- grammar -----------------------------------------------------------------------------
    def parse(self):
        if self.tok.kind == "end":
            return None
        expr = self.disjunction()
        if self.tok.kind != "end":
            self.fail(f"expected AND, OR or the end of the filter, found {self.tok.text!r}")
        return expr

    def disjunction(self):
        parts = [self.conjunction()]
        while self.is_word("or"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def conjunction(self):
        parts = [self.negation()]
        while self.is_word("and"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def negation(self):
        if self.is_word("not"):
            self.open_group()
            inner = not_(self.negation())
            self.depth -= 1
            return inner
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.open_group()
            inner = self.disjunction()
            self.expect_punct(")")
            self.depth -= 1
            return inner
        return self.comparison()

    def open_group(self) -> None:
        if self.depth == MAX_DEPTH:
            self.fail(f"brackets and NOTs nested more than {MAX_DEPTH} deep; write the filter flatter")
        self.depth += 1
        self.take()

    def identifier(self) -> Identifier:
        first = self.tok
        if first.kind not in ("word", "backtick", "string"):
            what = "the end of the filter" if first.kind == "end" else repr(first.text)
            self.fail(f"expected a name such as metrics.auc, params.model or status, found {what}")
        self.take()
        head = _unquote(first)
        if first.kind == "word" and first.lower in _ENTITY_ALIASES and self.tok.kind == "punct" and self.tok.text == ".":
            self.take()
            key_tok = self.tok
            if key_tok.kind not in ("word", "backtick", "string", "number"):
                self.fail(f"expected a key after '{first.text}.'")
            self.take()
            key = _unquote(key_tok)
            # Dotted keys such as params.model.depth belong to the key.
            while self.tok.kind == "punct" and self.tok.text == "." and self.peek(1).kind in ("word", "number"):
                self.take()
                key += "." + self.take().text
            return Identifier(_ENTITY_ALIASES[first.lower], key, first.pos)
        if first.kind == "word" and first.lower in _KEYWORDS:
            self.fail(f"expected a name such as metrics.auc, found the keyword {first.text.upper()}", first)
        return Identifier("attributes", head, first.pos)

    def comparison(self):
        if self.comparisons == MAX_COMPARISONS:
            self.fail(f"more than {MAX_COMPARISONS} comparisons; use IN (...) for a list of values")
        self.comparisons += 1
        ident = self.identifier()
        op_tok = self.tok
        if op_tok.kind == "op":
            self.take()
            op = "=" if op_tok.text == "==" else ("!=" if op_tok.text == "<>" else op_tok.text)
            return self.build(ident, op, self.value(), op_tok)
        if self.is_word("like", "ilike"):
            self.take()
            return self.build(ident, op_tok.lower, self.value(), op_tok)
        if self.is_word("not") and self.peek(1).kind == "word" and self.peek(1).lower == "in":
            self.take()
            self.take()
            return self.build(ident, "not in", self.value_list(), op_tok)
        if self.is_word("in"):
            self.take()
            return self.build(ident, "in", self.value_list(), op_tok)
        if self.is_word("is"):
            self.take()
            negate = self.is_word("not")
            if negate:
                self.take()
            if not self.is_word("null"):
                self.fail("expected NULL after IS")
            self.take()
            return self.build(ident, "is not null" if negate else "is null", None, op_tok)
        found = "the end of the filter" if op_tok.kind == "end" else repr(op_tok.text)
        self.fail(f"expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN) after {ident.entity}.{ident.key}, found {found}")

    def value(self):
        t = self.tok
        if self.values == MAX_VALUES:
            self.fail(f"more than {MAX_VALUES:,} values")
        self.values += 1
        if t.kind == "number":
            self.take()
            return float(t.text) if any(c in t.text for c in ".eE") else int(t.text)
        if t.kind == "string":
            self.take()
            return _unquote(t)
        if t.kind == "word" and t.lower in ("true", "false"):
            self.take()
            return t.lower
        what = "the end of the filter" if t.kind == "end" else repr(t.text)
        self.fail(f"expected a number or a quoted string, found {what}")

    def value_list(self):
        self.expect_punct("(")
        values = [self.value()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.take()
            values.append(self.value())
        self.expect_punct(")")
        return values

    # -- SQL -----------------------------------------------------------------------------
    def build(self, ident: Identifier, op: str, value, op_tok: Token):
        if ident.entity == "attributes":
            columns = attribute_columns()
            if ident.key not in columns:
                known = ", ".join(sorted(k for k in columns if k not in ("run_name", "run_id", "parent_id")))
                raise FilterSyntaxError(f"unknown run attribute {ident.key!r} (known: {known})", self.text, ident.pos)
            column = columns[ident.key]
            if ident.key == "status" and isinstance(value, str):
                value = value.upper()
            if ident.key == "lifecycle" and op in ("=", "!=", "in", "not in"):
                value = self.lifecycle_values(value, op_tok)
            return _compare(column, op, value)
        if ident.entity == "metrics":
            if _has_text(value) and op not in ("is null", "is not null"):
                self.fail(f"metrics.{ident.key} is a number; compare it with a number, not a string", op_tok)
            table = s.latest_metrics
            column = table.c.value
        else:
            table = s.params if ident.entity == "params" else s.tags
            column = table.c.value
            if _is_numeric(value):
                column = self.numeric(column)
        if op == "is null":
            return not_(self._exists(table, ident.key))
        if op == "is not null":
            return self._exists(table, ident.key)
        return self._exists(table, ident.key, _compare(column, op, value))

    def lifecycle_values(self, value, op_tok: Token):
        """Lower-cased and checked: ``lifecycle = 'archivd'`` is a mistake to name, not an empty result."""
        values = [v.lower() if isinstance(v, str) else v for v in (value if isinstance(value, list) else [value])]
        for v in values:
            if v not in LIFECYCLES:
                self.fail(f"lifecycle is one of {', '.join(map(repr, LIFECYCLES))}, not {v!r}", op_tok)
        return values if isinstance(value, list) else values[0]

    def _exists(self, table, key, condition=None):
        where = [table.c.run_uuid == s.runs.c.uuid, table.c.key == key]
        if condition is not None:
            where.append(condition)
        found = exists(select(literal(1)).select_from(table).where(*where))
        if self.dialect == "postgresql":
            # PostgreSQL's planner turns each EXISTS ANDed at the top into a semi-join and searches
            # their join orders: 40 of them took 1 s to plan, 80 took 5 s, 500 over 300 s. Compared
            # with TRUE, each is a per-run index probe instead: 60 in 0.06 s, and no slower over 5k runs.
            found = found.is_(true())
        return found

    def numeric(self, column):
        """Text as a number, NULL where it is not one (never an error, on either back end)."""
        if self.dialect == "postgresql":
            number = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
            from sqlalchemy import Float, cast

            return case((column.regexp_match(number), cast(column, Float)), else_=None)
        return func.mlops_number(column)


def _unquote(tok: Token) -> str:
    if tok.kind == "string":
        body = tok.text[1:-1]
        quote = tok.text[0]
        return re.sub(r"\\(.)", r"\1", body.replace(quote * 2, quote))
    if tok.kind == "backtick":
        return tok.text[1:-1]
    return tok.text


def _is_numeric(value) -> bool:
    values = value if isinstance(value, list) else [value]
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _has_text(value) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) for v in values)


def _compare(column, op: str, value):
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "like":
        return column.like(value)
    if op == "ilike":
        return column.ilike(value)
    if op == "in":
        return column.in_(value)
    if op == "not in":
        return column.not_in(value)
    if op == "is null":
        return column.is_(None)
    if op == "is not null":
        return column.is_not(None)
    raise AssertionError(op)


def parse_filter(text: str | None, dialect: str = "sqlite"):
    """The filter as an SQLAlchemy condition on ``runs`` (joined to ``experiments``), or ``None``."""
    if text is None or not text.strip():
        return None
    return _Parser(text, dialect).parse()


def parse_order_by(clauses, dialect: str = "sqlite") -> list:
    """``["metrics.auc DESC", "start_time"]`` as SQLAlchemy ORDER BY terms (missing values last)."""
    terms = []
    clauses = [clauses] if isinstance(clauses, str) else list(clauses or [])
    if len(clauses) > MAX_ORDER_BY:
        raise FilterSyntaxError(f"more than {MAX_ORDER_BY} order_by terms", str(clauses[MAX_ORDER_BY]), 0)
    for clause in clauses:
        parser = _Parser(clause, dialect)
        ident = parser.identifier()
        descending = False
        if parser.is_word("asc", "desc"):
            descending = parser.take().lower == "desc"
        if parser.tok.kind != "end":
            parser.fail(f"expected ASC, DESC or the end of the order_by term, found {parser.tok.text!r}")
        if ident.entity == "attributes":
            columns = attribute_columns()
            if ident.key not in columns:
                raise FilterSyntaxError(f"unknown run attribute {ident.key!r}", clause, ident.pos)
            column = columns[ident.key]
        else:
            table = {"metrics": s.latest_metrics, "params": s.params, "tags": s.tags}[ident.entity]
            column = (
                select(table.c.value)
                .where(table.c.run_uuid == s.runs.c.uuid, table.c.key == ident.key)
                .scalar_subquery()
            )
        terms.append((column.desc() if descending else column.asc()).nulls_last())
    return terms

