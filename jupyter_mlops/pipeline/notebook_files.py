"""papermill reads and writes step notebooks here without changing the process's working folder.

papermill's own local handler wraps every read and write in ``chdir(folder)`` and back, where
``folder`` is one process-wide value that each ``execute_notebook`` sets on entry and puts back on
exit. Steps run side by side in threads, so those save-and-restore pairs interleave: a step can put
back the folder another step set, and the process is left in a folder nobody asked for. Seen in a
process that ran pipelines and then served the Jupyter API: the API found its store from an
earlier project's folder. Step notebooks are always given as absolute paths, so the chdir buys
nothing: absolute paths go to this handler, which opens them as they are.
"""
from __future__ import annotations

import os
import threading

_installed = False
_lock = threading.Lock()


class AbsolutePathHandler:
    """papermill's I/O handler interface (read, write, listdir, pretty_path) for absolute paths."""

    def read(self, path: str) -> str:
        with open(path, encoding="utf-8") as fh:
            return fh.read()

    def write(self, buf: str, path: str) -> None:
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"output folder {folder} doesn't exist.")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(buf)

    def listdir(self, path: str) -> list[str]:
        return [os.path.join(path, name) for name in os.listdir(path)]

    def pretty_path(self, path: str) -> str:
        return path


def install() -> None:
    """Route absolute paths to :class:`AbsolutePathHandler` in this process (once).

    papermill picks the first registered prefix a path starts with, and registration puts the
    newest first; on POSIX every absolute path starts with ``/``. Relative paths (and on Windows,
    every path) still go to papermill's handler.
    """
    global _installed
    if _installed or os.sep != "/":
        return
    with _lock:
        if not _installed:
            from papermill.iorw import papermill_io

            papermill_io.register("/", AbsolutePathHandler())
            _installed = True
