"""``%mlops`` and ``%%mlops``: a thin IPython door onto the tracking API.

Magics only parse their arguments and call :mod:`jupyter_mlops.api`; everything they do can be
done from plain Python too.
"""
from __future__ import annotations

import ast
import re
import traceback

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from . import api
from .exceptions import MlopsError

COMMANDS = ("start", "end", "param", "metric", "tag", "runs", "show", "run")
_BARE_WORD = re.compile(r"^[\w.\-/:@+]+$")
_KEY = re.compile(r"^[A-Za-z_][\w.\-/]*$")


def split_arguments(line: str) -> list[str]:
    """Split on whitespace outside quotes and brackets, keeping quotes: ``a='x y' b=[1, 2]`` is two tokens."""
    tokens, current, quote, depth = [], [], None, 0
    for ch in line:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch.isspace() and depth <= 0:
            if current:
                tokens.append("".join(current))
                current = []
            continue
        current.append(ch)
    if quote:
        raise UsageError(f"unclosed {quote} quote in: {line.strip()}")
    if current:
        tokens.append("".join(current))
    return tokens


def parse_value(text: str):
    """A Python literal (``0.1``, ``'rf'``, ``[1, 2]``, ``True``), or a bare word as a string
    (``optimizer=adam`` logs the string ``'adam'``)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if _BARE_WORD.match(text):
            return text
        raise UsageError(f"cannot read the value {text!r}: write a Python literal, e.g. 0.1, 'rf' or [1, 2]") from None


def parse_pairs(tokens: list[str], what: str) -> dict:
    """``["lr=0.1", "model='rf'"]`` as ``{"lr": 0.1, "model": "rf"}``, or a UsageError naming the bad one."""
    pairs = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key) or not value.strip():
            raise UsageError(f"%mlops {what}: expected key=value, got {token!r} (e.g. %mlops {what} lr=0.1 model='rf')")
        pairs[key] = parse_value(value.strip())
    if not pairs:
        raise UsageError(f"%mlops {what}: give at least one key=value")
    return pairs


def _text(option: str | None) -> str | None:
    """Option values keep their quotes through ``split_arguments``; drop them here."""
    if option and option[0] in "'\"" and option[-1] == option[0]:
        return ast.literal_eval(option)
    return option


@magics_class
class MlopsMagics(Magics):
    @magic_arguments()
    @argument("command", choices=COMMANDS, help="what to do (see above)")
    @argument("args", nargs="*", help="key=value pairs for param / metric / tag; a run id for show")
    @argument("--name", "-n", help="run name (start, run)")
    @argument("--experiment", "-e", help="experiment name (start, run, runs)")
    @argument("--step", "-s", type=int, help="step of the metric points (metric)")
    @argument("--status", default="FINISHED", help="final status (end): FINISHED, FAILED or KILLED")
    @argument("--filter", "-f", help="filter for runs, e.g. \"metrics.auc > 0.9 and params.model = 'rf'\"")
    @argument("--max-results", type=int, default=50, help="how many runs to list (runs)")
    @argument("--live", action="store_true", help="show a live chart of the run's metrics (start)")
    @argument("--quiet", "-q", action="store_true", help="no confirmation line (param, metric, tag)")
    @line_cell_magic
    def mlops(self, line: str, cell: str | None = None):
        """Track the notebook's work in jupyter_mlops.

        Line magic::

          %mlops start [--name N] [--experiment E] [--live]   start a run (ends one still active);
                                                     --live charts its metrics as they are logged
          %mlops param lr=0.1 model='rf' opt=adam    log parameters: values are Python literals,
                                                     and a bare word (adam) is a string
          %mlops metric loss=0.25 acc=0.9 [--step S] log metric points
          %mlops tag stage='dev'                     set tags
                                                     (param, metric, tag: one confirmation line
                                                     unless --quiet; with no active run, one is
                                                     started and named in that line)
          %mlops end [--status FAILED]               end the active run
          %mlops runs [--experiment E] [--filter F]  list runs as a DataFrame
          %mlops show RUN_ID                         everything recorded about one run

        Cell magic::

          %%mlops run [--name N] [--experiment E]
          <code>        runs inside its own run: FINISHED when the cell completes,
                        FAILED (with the error recorded) when it raises; the cell source is stored.
        """
        args = self.mlops.parser.parse_args(split_arguments(line))
        if cell is not None:
            if args.command != "run":
                raise UsageError(f"%%mlops as a cell magic takes 'run', not {args.command!r}")
            return self._run_cell(args, cell)
        if args.command == "run":
            raise UsageError("%mlops run is a cell magic: write %%mlops run on the first line of the cell")
        try:
            return getattr(self, "_" + args.command)(args)
        except MlopsError as exc:
            # One line, as the CLI and the REST API answer, not a traceback through the library.
            raise UsageError(" ".join(str(exc).split())) from None

    # -- commands ----------------------------------------------------------------------------
    def _start(self, args):
        run = api.start_run(name=_text(args.name), experiment=_text(args.experiment))
        print(f"mlops: started run {run.id[:8]} ({api.get_run(run.id).name})")
        if args.live:
            from IPython.display import display

            from .widgets import live

            display(live(run))

    def _end(self, args):
        run = api.active_run()
        if run is None:
            print("mlops: no active run")
            return
        api.end_run(status=args.status)
        print(f"mlops: run {run.id[:8]} {run.status}")
        return

    def _param(self, args):
        pairs = parse_pairs(args.args, "param")
        self._log("param", pairs, args, lambda: api.log_params(pairs))

    def _metric(self, args):
        pairs = parse_pairs(args.args, "metric")
        self._log("metric", pairs, args, lambda: api.log_metrics(pairs, step=args.step))

    def _tag(self, args):
        pairs = parse_pairs(args.args, "tag")
        self._log("tag", pairs, args, lambda: api.set_tags(pairs))

    @staticmethod
    def _log(what: str, pairs: dict, args, write) -> None:
        """Write ``pairs`` and say so in one line; a run started for them is named, never silent."""
        started = api.active_run() is None
        write()
        if args.quiet:
            return
        run = api.active_run()
        shown = ", ".join(f"{k}={v!r}" for k, v in pairs.items())
        where = f"new run {run.id[:8]} ({api.get_run(run.id).name})" if started else f"run {run.id[:8]}"
        step = f" at step {args.step}" if what == "metric" and args.step is not None else ""
        plural = "" if len(pairs) == 1 else "s"
        print(f"mlops: {what}{plural} {shown}{step} -> {where}"
              + (" (no run was active; end it with %mlops end)" if started else ""))

    def _runs(self, args):
        return api.search_runs(experiment=_text(args.experiment), filter=_text(args.filter),
                               max_results=args.max_results)

    def _show(self, args):
        if len(args.args) != 1:
            raise UsageError("%mlops show takes one run id")
        return api.get_run(args.args[0])

    def _run_cell(self, args, cell: str):
        run = api.start_run(name=_text(args.name), experiment=_text(args.experiment))
        run.log_artifact(cell, name="cell.py")
        code = self.shell.transform_cell(cell)
        # Registered with IPython's line cache, so tracebacks show the cell's lines.
        filename = self.shell.compile.cache(code)
        try:
            exec(compile(code, filename, "exec"), self.shell.user_ns)  # noqa: S102 - the user's own cell, as IPython runs it
        except SystemExit as exc:
            run.end("FINISHED" if exc.code in (None, 0) else "FAILED")
            raise
        except KeyboardInterrupt:
            run.end("KILLED")
            raise
        except BaseException as exc:
            run.set_tags({"mlops.error": f"{type(exc).__name__}: {exc}",
                          "mlops.traceback": "".join(traceback.format_exception(exc))})
            run.end("FAILED")
            raise
        run.end("FINISHED")


def load_ipython_extension(ipython) -> None:
    ipython.register_magics(MlopsMagics)


def unload_ipython_extension(ipython) -> None:
    # IPython has no public unregister; dropping the names is what %unload_ext can do.
    ipython.magics_manager.magics["line"].pop("mlops", None)
    ipython.magics_manager.magics["cell"].pop("mlops", None)
