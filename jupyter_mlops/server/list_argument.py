"""Query arguments that carry a list of names as JSON (``columns=["name", "params.C"]``,
``keys=["loss"]``): decoded and checked in one place, so each refuses bad input the same way."""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..exceptions import InvalidInputError


@dataclass(frozen=True)
class ListArgument:
    """A JSON list of ``least`` to ``most`` non-empty strings, named ``name`` in every refusal."""

    name: str
    what: str  # "metric keys": what the strings are, for the messages
    example: str
    most: int
    least: int = 0

    def parse(self, raw: str) -> list[str]:
        """The list in ``raw``; a 400 naming the argument for anything else."""
        return self.check(self.decode(raw))

    def decode(self, raw: str):
        """The JSON in ``raw``, unchecked (for a function that checks its own arguments); a 400
        naming the argument when it is not JSON or is nested past the parser's depth."""
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested past Python's limit
            raise InvalidInputError(f"{self.name} must be a JSON list of {self.what}: {str(exc)[:200]}") from exc

    def check(self, items) -> list[str]:
        """``items`` when it is such a list (as given from Python, say)."""
        if (not isinstance(items, list) or len(items) < self.least
                or not all(isinstance(item, str) and item for item in items)):
            raise InvalidInputError(f"{self.name} must be a JSON list of {self.what} such as {self.example}")
        if len(items) > self.most:
            raise InvalidInputError(f"{self.name} lists {len(items)} {self.what}; at most {self.most} are taken")
        return items
