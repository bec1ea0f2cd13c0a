"""What every command shares: exit codes, tables on stdout, one-line errors, a quiet closed pipe."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable

from ..exceptions import MlopsError

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away
REF_HELP = "NAME, NAME/VERSION, NAME@ALIAS (the registry), or a package folder or .zip written as a path (./x, /abs/x)"


def run_guarded(command: str, action: Callable[[], int | None]) -> int:
    """Run one command: its exit code, or one line on stderr and a non-zero code instead of a traceback."""
    try:
        code = action() or 0
        sys.stdout.flush()  # here, so a closed pipe is met inside this try and not at interpreter exit
        return code
    except MlopsError as exc:
        print(f"jupyter mlops {command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(exc, ValueError | LookupError) else EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `jupyter mlops versions m | head`: the reader has what it wanted
        quiet_stdout()
        return EXIT_BROKEN_PIPE


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in a test)
        pass


def emit(df, fmt: str) -> None:
    if fmt == "json":
        print(df.to_json(orient="records", date_format="iso", indent=1))
    elif fmt == "csv":
        print(df.to_csv(index=False), end="")
    elif df.empty:
        print("(none)")
    else:
        print(df.to_string(index=False, max_colwidth=40))


def as_time(column):
    """Epoch milliseconds as local-free ``YYYY-mm-dd HH:MM:SS`` text."""
    import pandas as pd

    return pd.to_datetime(column, unit="ms", utc=True).dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S")
