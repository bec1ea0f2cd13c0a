"""Request bodies to model input: JSON (``records``, ``dataframe_split``, ``instances``) and CSV.

Column names are checked here for every format (a missing or unknown column is a 422 naming
it). When the signature is all-numeric and every value is a plain JSON number, rows go straight
into a float array: no pandas on the single-row path. Anything else (strings, nulls, booleans,
text columns) goes through ``PackagedModel.prepare``, the one place that decides what casts are
allowed. Messages name columns and positions, never a value from the request.
"""
from __future__ import annotations

import io
import json

import numpy as np

from ..registry.loaded import InputSchemaError

FORMATS = ("records", "dataframe_split", "instances")
ALIASES = {"dataframe_records": "records"}  # MLflow's name for the same thing
MAX_NAME_SHOWN = 80  # an unknown column is named in the error, but a 5 kB name is not sent back whole


class BadRequest(ValueError):
    """The body cannot be read as any accepted format (HTTP 400)."""


class InputReader:
    """Turns request bodies into what the model's engine takes, for one model's signature."""

    def __init__(self, model):
        self.model = model
        self.columns = model.input_columns
        self.position = {c: i for i, c in enumerate(self.columns)}
        kinds = [_kind(i["dtype"]) for i in model.signature.get("inputs", [])]
        # The fast path needs every column numeric; int columns must then get JSON integers.
        self.numeric = bool(kinds) and all(k in "iuf" for k in kinds)
        self.int_positions = [i for i, k in enumerate(kinds) if k in "iu"]

    # -- JSON ----------------------------------------------------------------------------------
    def from_json(self, body: bytes):
        try:
            document = json.loads(body)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except UnicodeDecodeError:
            raise BadRequest("malformed JSON: the body is not UTF-8") from None
        if not isinstance(document, dict):
            raise BadRequest(f"expected a JSON object with one of {', '.join(FORMATS)}")
        keys = [k for k in (*FORMATS, *ALIASES) if k in document]
        if len(keys) != 1:
            raise BadRequest(f"expected exactly one of {', '.join(FORMATS)} in the JSON object, got "
                             f"{'none' if not keys else ' and '.join(keys)}")
        key = keys[0]
        form = ALIASES.get(key, key)
        payload = document[key]
        if form == "dataframe_split":
            return self._split(payload)
        if not isinstance(payload, list) or not payload:
            raise BadRequest(f"{key} must be a non-empty list of rows")
        if form == "instances" and isinstance(payload[0], list):
            return self._positional(payload, key)
        return self._records(payload, key)

    def _records(self, records: list, key: str):
        columns, width = self.columns, len(self.columns)
        for n, record in enumerate(records):
            if not isinstance(record, dict):
                raise BadRequest(f"{key}[{n}] is not an object of column: value")
            if len(record) != width or any(c not in record for c in columns):
                self._check_names(list(record), f"{key}[{n}]")
        if self.numeric:
            rows = [[record[c] for c in columns] for record in records]
            if self._plain_numbers(rows):
                return np.array(rows, dtype=np.float64)
        return self._prepared(records)

    def _split(self, payload):
        if not isinstance(payload, dict) or not isinstance(payload.get("columns"), list) \
                or not isinstance(payload.get("data"), list):
            raise BadRequest("dataframe_split must be an object with 'columns' (a list of names) and 'data' "
                             "(a list of rows)")
        names, rows = payload["columns"], payload["data"]
        if not rows:
            raise BadRequest("dataframe_split.data has no rows")
        if not all(isinstance(c, str) for c in names):
            raise BadRequest("dataframe_split.columns must hold column names (strings)")
        self._check_names(names, "dataframe_split.columns")
        for n, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(names):
                raise BadRequest(f"dataframe_split.data[{n}] must be a list of {len(names)} values")
        if self.numeric and self._plain_numbers(rows):
            array = np.array(rows, dtype=np.float64)
            order = [names.index(c) for c in self.columns]
            return array if order == list(range(len(order))) else array[:, order]
        import pandas as pd

        return self._prepared(pd.DataFrame(rows, columns=names))

    def _positional(self, rows: list, key: str):
        """``instances`` as lists: values in the signature's column order."""
        for n, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(self.columns):
                raise BadRequest(f"{key}[{n}] must be a list of {len(self.columns)} values, in the order "
                                 "of the model's columns (GET /v1/model)")
        if self.numeric and self._plain_numbers(rows):
            return np.array(rows, dtype=np.float64)
        import pandas as pd

        return self._prepared(pd.DataFrame(rows, columns=self.columns))

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
        return self._prepared(frame)

    # -- shared --------------------------------------------------------------------------------
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

    def _plain_numbers(self, rows: list) -> bool:
        """Every value an int or float (never bool or text), and integers in integer columns."""
        types = {type(v) for row in rows for v in row}
        if not types <= {int, float}:
            return False
        if float in types and self.int_positions:
            return all(type(row[i]) is int for row in rows for i in self.int_positions)
        return True

    def _prepared(self, data):
        frame = self.model.prepare(data)
        return frame.to_numpy(dtype=np.float64) if self.numeric else frame


def _kind(dtype: str) -> str:
    try:
        return np.dtype(dtype).kind
    except TypeError:
        return "O"


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
