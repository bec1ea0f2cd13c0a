"""What the command line shows while a pipeline runs: a tqdm bar over the steps and one line per
step event, written through tqdm so the bar and the lines do not garble each other."""
from __future__ import annotations

import sys

SYMBOLS = {"FINISHED": "✓", "CACHED": "=", "SKIPPED": "-", "FAILED": "✗", "KILLED": "✗"}


class ConsoleProgress:
    def __init__(self, total: int, stream=None):
        from tqdm import tqdm

        self.stream = stream or sys.stderr
        self.bar = tqdm(total=total, unit="step", file=self.stream, leave=False,
                        disable=not self.stream.isatty(), bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} steps")
        self._tqdm = tqdm

    def _line(self, text: str) -> None:
        self._tqdm.write(text, file=self.stream)

    def started(self, name: str, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._line(f"▶ {name}{again}")

    def retrying(self, name: str, state, outcome) -> None:
        self._line(f"↻ {name} failed ({outcome.describe()}); retrying")

    def finished(self, name: str, state) -> None:
        symbol = SYMBOLS.get(state.status, "?")
        took = f" {state.seconds:.1f}s" if state.status in ("FINISHED", "FAILED") else ""
        why = ""
        if state.status == "FAILED" and state.outcome is not None:
            why = f": {state.outcome.describe()}"
        elif state.status in ("SKIPPED", "KILLED") and state.note:
            why = f": {state.note}"
        self._line(f"{symbol} {name} {state.status}{took}{why}")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
