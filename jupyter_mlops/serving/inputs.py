"""Request bodies to model input: JSON (``records``, ``dataframe_split``, ``instances``) and CSV.

Column names are checked here for every format (a missing or unknown column is a 422 naming
it), and so are the values of numeric columns, the same way for both runtimes: JSON text, lists
or objects where a number belongs, numbers that are not finite or do not fit what the model
computes in (float32 for ONNX Runtime and scikit-learn's trees alike), and missing values in a
column the model never saw one in (ONNX Runtime and scikit-learn send them down different
branches, so the two runtimes would answer differently). When the signature is all-numeric and
every value is a plain JSON number, rows go straight into a float array: no pandas on the
single-row path. Anything else goes through ``PackagedModel.prepare``, the one place that
decides which casts are allowed. JSON is read row by row (``json_rows``) and turned into arrays a
few thousand rows at a time, so a large body never holds the interpreter for long. Messages name
columns and positions, never a value from the request.
"""
from __future__ import annotations

import io
import json
from itertools import chain

import numpy as np

from ..exceptions import InputSchemaError
from .json_rows import JsonCursor

FORMATS = ("records", "dataframe_split", "instances")
ALIASES = {"dataframe_records": "records"}  # MLflow's name for the same thing
MAX_NAME_SHOWN = 80  # an unknown column is named in the error, but a 5 kB name is not sent back whole
CHUNK_ROWS = 4096  # rows turned into one array at a time: few Python lists alive, so garbage collection stays short
FLOAT32_MAX = float(np.finfo(np.float32).max)
_NONE = object()
SPLIT_SHAPE = ("dataframe_split must be an object with 'columns' (a list of names) and 'data' "
               "(a list of rows)")


class BadRequest(ValueError):
    """The body cannot be read as any accepted format (HTTP 400)."""


class InputReader:
    """Turns request bodies into what the model's engine takes, for one model's signature."""

    def __init__(self, model):
        self.model = model
        self.columns = model.input_columns
        self.position = {c: i for i, c in enumerate(self.columns)}
        specs = model.signature.get("inputs", [])
        kinds = [_kind(i["dtype"]) for i in specs]
        # The fast path needs every column numeric; int columns must then get JSON integers.
        self.numeric = bool(kinds) and all(k in "iuf" for k in kinds)
        self.int_positions = [i for i, k in enumerate(kinds) if k in "iu"]
        profile = (model.reference_profile or {}).get("columns") or {}
        checked = [(i["name"], i["dtype"]) for i, k in zip(specs, kinds) if k in "iuf"]
        self.checked = [name for name, _ in checked]
        self.dtypes = dict(checked)
        bounds = [_bounds(dtype) for _, dtype in checked]
        self.low = np.array([b[0] for b in bounds], dtype=np.float64)
        self.high = np.array([b[1] for b in bounds], dtype=np.float64)
        self.inner = np.minimum(-self.low, self.high)  # |value| within this is within both bounds
        # Without a profile (a model logged without training data) nothing says missing values are new to it.
        self.missing_ok = np.array([(profile.get(name) or {}).get("missing", 1) != 0 for name in self.checked])

    # -- JSON ----------------------------------------------------------------------------------
    def from_json(self, body: bytes):
        try:
            text = body.decode(json.detect_encoding(body))
        except UnicodeDecodeError:
            raise BadRequest("malformed JSON: the body is not UTF-8") from None
        try:
            return self._document(JsonCursor(text))
        except json.JSONDecodeError as exc:
            raise BadRequest(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None

    def _document(self, cursor: JsonCursor):
        if cursor.peek() != "{":
            raise BadRequest(f"expected a JSON object with one of {', '.join(FORMATS)}")
        found, X = None, None
        for key in cursor.items():
            if ALIASES.get(key, key) not in FORMATS:
                cursor.value()
                continue
            if found is not None:
                raise BadRequest(f"expected exactly one of {', '.join(FORMATS)} in the JSON object, got {found} "
                                 f"and {key}")
            found, X = key, self._payload(cursor, key)
        cursor.end()
        if found is None:
            raise BadRequest(f"expected exactly one of {', '.join(FORMATS)} in the JSON object, got none")
        return X

    def _payload(self, cursor: JsonCursor, key: str):
        form = ALIASES.get(key, key)
        if form == "dataframe_split":
            return self._split(cursor)
        rows = _rows(cursor) if cursor.peek() == "[" else iter(())
        first = next(rows, _NONE)
        if first is _NONE:
            raise BadRequest(f"{key} must be a non-empty list of rows")
        rows = chain([first], rows)
        if form == "instances" and isinstance(first, list):
            return self._lists(rows, self.columns, key, " values, in the order of the model's columns (GET /v1/model)")
        return self._records(rows, key)

    def _records(self, records, key: str):
        columns, width, where = self.columns, len(self.columns), _at(key)
        pieces = []
        for offset, chunk in _chunks(records):
            for n, record in enumerate(chunk, offset):
                if not isinstance(record, dict):
                    raise BadRequest(f"{key}[{n}] is not an object of column: value")
                if len(record) != width or any(c not in record for c in columns):
                    self._check_names(list(record), f"{key}[{n}]")
            if self.numeric:
                pieces.append(self._numbers([[record[c] for c in columns] for record in chunk], columns, offset, where))
            else:
                pieces.append(self._raw_frame(chunk, None, offset, where))
        return self._joined(pieces)

    def _split(self, cursor: JsonCursor):
        if cursor.peek() != "{":
            raise BadRequest(SPLIT_SHAPE)
        names, rows, X = None, None, None
        for key in cursor.items():
            if key == "columns":
                names = cursor.value()
                if not isinstance(names, list):
                    raise BadRequest(SPLIT_SHAPE)
                if not all(isinstance(c, str) for c in names):
                    raise BadRequest("dataframe_split.columns must hold column names (strings)")
                self._check_names(names, "dataframe_split.columns")
            elif key == "data":
                if cursor.peek() != "[":
                    raise BadRequest(SPLIT_SHAPE)
                if names is None:  # data before columns: kept as parsed until the names are known
                    rows = list(_rows(cursor))
                else:
                    X = self._lists(_rows(cursor), names, "dataframe_split.data", " values")
            else:
                cursor.value()
        if names is None or (X is None and rows is None):
            raise BadRequest(SPLIT_SHAPE)
        return X if X is not None else self._lists(iter(rows), names, "dataframe_split.data", " values")

    def _lists(self, rows, names: list, label: str, shape: str):
        """Rows given as lists of values in the order of ``names``."""
        width, pieces = len(names), []
        for offset, chunk in _chunks(rows):
            for n, row in enumerate(chunk, offset):
                if not isinstance(row, list) or len(row) != width:
                    raise BadRequest(f"{label}[{n}] must be a list of {width}{shape}")
            if self.numeric:
                pieces.append(self._numbers(chunk, names, offset, _at(label)))
            else:
                pieces.append(self._raw_frame(chunk, names, offset, _at(label)))
        if not pieces:
            raise BadRequest(f"{label} has no rows")
        return self._joined(pieces)

    def _numbers(self, rows: list, names: list, offset: int, where):
        """All-numeric signature: ``rows`` (lists in the order of ``names``) as a float array in the signature's order."""
        if names != self.columns:
            int_positions = [names.index(self.columns[i]) for i in self.int_positions]
        else:
            int_positions = self.int_positions
        if _plain_numbers(rows, int_positions):
            array = np.array(rows, dtype=np.float64)
            if names != self.columns:
                array = array[:, [names.index(c) for c in self.columns]]
            self._check_numbers(array, None, offset, where)
            return array
        return self._prepared(self._raw_frame(rows, names, offset, where))

    def _raw_frame(self, rows: list, names: list | None, offset: int, where):
        """A chunk of JSON rows as a DataFrame, its numeric columns checked but not yet cast."""
        import pandas as pd

        frame = pd.DataFrame.from_records(rows, columns=self.columns) if names is None else \
            pd.DataFrame(rows, columns=names)
        self._check_json_cells(frame, offset, where)
        self.check_frame(frame, offset, where)
        return frame

    def _joined(self, pieces: list):
        if self.numeric:
            return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        import pandas as pd

        return self._prepared(pieces[0] if len(pieces) == 1 else pd.concat(pieces, ignore_index=True))

    def _check_json_cells(self, frame, offset: int, where) -> None:
        """A numeric column takes JSON numbers and nulls only: never text ("12.5"), booleans, lists or objects."""
        import pandas as pd

        for name in self.checked:
            column = frame[name]
            if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
                continue  # all numbers (with nulls as NaN), or all booleans, which prepare() refuses
            for n, value in enumerate(column.tolist(), offset):
                if value is None or type(value) in (int, float):
                    continue
                if isinstance(value, bool):
                    raise InputSchemaError(f"column {name!r} must be {self.dtypes[name]}, got booleans "
                                           f"({where(n)})", name)
                what = "text" if isinstance(value, str) else "a list or an object"
                raise InputSchemaError(f"column {name!r} must be {self.dtypes[name]}; {where(n)} holds {what}, "
                                       "not a number", name)

    # -- CSV -----------------------------------------------------------------------------------
    def from_csv(self, body: bytes):
        import pandas as pd

        if not body.strip():
            raise BadRequest("empty CSV body: expected a header row and at least one row")
        try:
            frame = pd.read_csv(io.BytesIO(body))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(f"malformed CSV: {_first_line(exc)}") from None
        if frame.empty:
            raise BadRequest("the CSV has a header but no rows")
        self._check_names([str(c) for c in frame.columns], "CSV header")
        self.check_frame(frame, 0, lambda n: f"CSV row {n + 1}")
        return self._prepared(frame)

    # -- shared --------------------------------------------------------------------------------
    def check_frame(self, frame, offset: int = 0, where=None) -> None:
        """The numeric columns of ``frame`` (before any cast) against the value rules; batch scoring uses it too.
        Text in them is left to ``prepare``, which refuses what does not parse as a number."""
        import pandas as pd

        if not self.checked or not len(frame):
            return
        values = np.empty((len(frame), len(self.checked)), dtype=np.float64)
        missing = np.empty(values.shape, dtype=bool)
        for j, name in enumerate(self.checked):
            if name not in frame.columns:  # prepare() names the missing column
                values[:, j], missing[:, j] = 0.0, False
                continue
            column = frame[name]
            if pd.api.types.is_bool_dtype(column):
                values[:, j], missing[:, j] = 0.0, False  # prepare() refuses booleans by name
                continue
            if not pd.api.types.is_numeric_dtype(column):
                column = pd.to_numeric(column, errors="coerce")  # what does not parse is prepare's to report
            values[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
            missing[:, j] = frame[name].isna().to_numpy()
        self._check_numbers(values, missing, offset, where or (lambda n: f"row {n + 1}"))

    def _check_numbers(self, values, missing, offset: int, where) -> None:
        """Refuse values that are not finite or out of the column's range, and missing values the model never saw."""
        if (np.abs(values) <= self.inner).all():  # the usual case in three numpy calls (NaN fails it)
            return
        if missing is None:
            missing = np.isnan(values)
        bad = (values < self.low) | (values > self.high)
        if not self.missing_ok.all():
            bad |= missing & ~self.missing_ok
        if not bad.any():
            return
        j = int(np.argmax(bad.any(axis=0)))
        i = int(np.argmax(bad[:, j]))
        name, dtype = self.checked[j], self.dtypes[self.checked[j]]
        if missing[i, j]:
            raise InputSchemaError(f"column {name!r} has a missing value (null, NaN or an empty cell) in "
                                   f"{where(offset + i)}; the model was trained without missing values there", name)
        note = " (the model computes in float32)" if self.high[j] == FLOAT32_MAX else ""
        raise InputSchemaError(f"column {name!r} must be a finite {dtype} between {self.low[j]:.4g} and "
                               f"{self.high[j]:.4g}{note}; {where(offset + i)} is not", name)

    def _check_names(self, names: list, where: str) -> None:
        seen = set()
        for name in names:
            if name not in self.position:
                shown = str(name)[:MAX_NAME_SHOWN]
                raise InputSchemaError(f"unknown column {shown!r} in {where}; the model takes {len(self.columns)} "
                                       "columns (GET /v1/model)", shown)
            if name in seen:
                raise InputSchemaError(f"column {name!r} appears twice in {where}", name)
            seen.add(name)
        for column in self.columns:
            if column not in seen:
                raise InputSchemaError(f"missing column {column!r} in {where}", column)

    def _prepared(self, data):
        frame = self.model.prepare(data)
        return frame.to_numpy(dtype=np.float64) if self.numeric else frame


def _rows(cursor: JsonCursor):
    for _ in cursor.elements():
        yield cursor.value()


def _chunks(rows):
    """``(offset, list of up to CHUNK_ROWS rows)`` from an iterator of rows."""
    chunk, offset = [], 0
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK_ROWS:
            yield offset, chunk
            offset, chunk = offset + CHUNK_ROWS, []
    if chunk:
        yield offset, chunk


def _at(label: str):
    return lambda n: f"{label}[{n}]"


def _plain_numbers(rows: list, int_positions: list) -> bool:
    """Every value an int or float (never bool or text), and integers in integer columns."""
    types = {type(v) for row in rows for v in row}
    if not types <= {int, float}:
        return False
    if float in types and int_positions:
        return all(type(row[i]) is int for row in rows for i in int_positions)
    return True


def _bounds(dtype: str) -> tuple[float, float]:
    """The values a column of ``dtype`` takes: integers within their type, floats finite and within float32,
    which ONNX Runtime and scikit-learn's trees compute in."""
    kind = np.dtype(dtype)
    if kind.kind in "iu":
        info = np.iinfo(kind)
        high = float(info.max)
        if info.bits > 53:  # float(2**63 - 1) rounds up to 2**63, which no longer fits: take the float below it
            high = float(np.nextafter(high, 0))
        return float(info.min), high
    high = min(FLOAT32_MAX, float(np.finfo(kind).max))
    return -high, high


def _kind(dtype: str) -> str:
    try:
        return np.dtype(dtype).kind
    except TypeError:
        return "O"


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
