"""Waiting for something to happen, the one polling loop of the tests.

A test waits for an event or for the store to reach a state, never for a stretch of wall-clock time:
``wait_until`` polls a condition and returns its first truthy value. Its timeout is a ceiling that
fails the test only when something is really stuck; a slow or overloaded machine makes the wait
longer, never a failure. Standard library only (benchmarks import tests/helpers by path).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

CEILING = 120.0  # seconds: far beyond any healthy wait, well within pytest-timeout's 300 s per test


class WaitTimeout(AssertionError):
    """The condition never held within the ceiling (an AssertionError, so pytest reports a failure)."""


def wait_until(condition: Callable[[], T], what: str, *, timeout: float = CEILING, every: float = 0.05,
               details: Callable[[], str] | None = None) -> T:
    """Poll ``condition`` until it returns something truthy, and return that.

    ``what`` names the awaited state in the failure message; ``details()``, called only on failure,
    adds what was seen instead (the last rows, a process's output)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            seen = f"; {details()}" if details is not None else ""
            raise WaitTimeout(f"{what}: not within {timeout:g} s{seen}")
        time.sleep(every)


async def await_until(condition: Callable[[], Awaitable[T]], what: str, *, timeout: float = CEILING,
                      every: float = 0.1, details: Callable[[], str] | None = None) -> T:
    """``wait_until`` for a coroutine condition, sleeping without blocking the event loop (a server
    under test may run on it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            seen = f"; {details()}" if details is not None else ""
            raise WaitTimeout(f"{what}: not within {timeout:g} s{seen}")
        await asyncio.sleep(every)
