"""What a benchmark's figures were measured on: the commit, and the machine's load around them.

Every benchmark prints ``header()`` before its figures and ``footer()`` after them, so a note that
quotes a figure can be traced to the code that made it, and read against how busy the machine was
(on a shared machine a load above the CPU count makes every time longer).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    """HEAD's short hash, plus " dirty" when a tracked file differs from it (untracked files are
    not counted, as in ``git describe --dirty``)."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        changed = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout, or git missing)"
    return head + (" dirty" if changed else "")


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()


def load() -> str:
    """The 1, 5 and 15-minute load averages."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"


def header() -> str:
    return (f"commit {commit()}; load average {load()} (1/5/15 min) on {os.cpu_count()} CPUs; "
            f"python {sys.version.split()[0]}")


def footer() -> str:
    return f"load average at the end: {load()} (1/5/15 min) on {os.cpu_count()} CPUs; commit {commit()}"
