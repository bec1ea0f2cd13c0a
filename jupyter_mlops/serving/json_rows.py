"""A JSON body read one row at a time, so a 1M-row request never holds the interpreter for seconds.

``json.loads`` parses in C and keeps the GIL until the whole document is built: a 30 MB body kept
the event loop (``/livez`` included) waiting ~4 s even from a worker thread, and a million row
lists alive at once made each full garbage collection pause the process for ~0.7 s more.
``JsonCursor`` walks the outer objects and arrays itself and hands each inner value (a row) to
the standard library's C scanner, so other threads get the GIL between rows and a caller can turn
rows into arrays as they come. Errors are ``json.JSONDecodeError`` with the line and column.
"""
from __future__ import annotations

import json
import re

WHITESPACE = re.compile(r"[ \t\n\r]*")
LONG_INTEGER = 19  # digits and sign; longer integers are read as floats (float('9' * 5000) is inf, not a 4 s int)


def _integer(text: str):
    return int(text) if len(text) <= LONG_INTEGER else float(text)


_DECODER = json.JSONDecoder(parse_int=_integer)


class JsonCursor:
    """Pulls values out of ``text`` front to back: ``items()`` over an object's keys and
    ``elements()`` over an array's slots, where the caller reads each value (``value()``,
    or ``items()`` / ``elements()`` again for a nested one) before the loop goes on."""

    def __init__(self, text: str):
        self.text, self.pos = text, 0
        self._scan = _DECODER.scan_once

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end)."""
        char = self.text[self.pos:self.pos + 1]
        if char and char in " \t\n\r":
            self.pos = WHITESPACE.match(self.text, self.pos).end()
            char = self.text[self.pos:self.pos + 1]
        return char

    def value(self):
        """The next complete value, parsed in one call of the C scanner."""
        self.peek()
        try:
            value, self.pos = self._scan(self.text, self.pos)
        except StopIteration as stop:
            raise self.error("Expecting value", stop.value) from None
        except RecursionError:
            raise self.error("Nested too deeply") from None
        return value

    def items(self):
        """Yields each key of the object that starts here; read its value before the next step."""
        self._open("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self.error("Expecting property name enclosed in double quotes")
            key = self.value()
            if self.peek() != ":":
                raise self.error("Expecting ':' delimiter")
            self.pos += 1
            yield key
            if not self._next_or_close("}"):
                return

    def elements(self):
        """Yields once per element of the array that starts here; read the element before the next step."""
        self._open("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield
            if not self._next_or_close("]"):
                return

    def end(self) -> None:
        """Nothing but whitespace may follow the document."""
        if self.peek():
            raise self.error("Extra data")

    def error(self, message: str, pos: int | None = None) -> json.JSONDecodeError:
        return json.JSONDecodeError(message, self.text, self.pos if pos is None else pos)

    def _open(self, bracket: str) -> None:
        if self.peek() != bracket:
            raise self.error(f"Expecting '{bracket}'")
        self.pos += 1

    def _next_or_close(self, bracket: str) -> bool:
        char = self.peek()
        self.pos += 1
        if char == ",":
            return True
        if char == bracket:
            return False
        self.pos -= 1
        raise self.error("Expecting ',' delimiter")
