"""When a cron expression fires, in a time zone, as epoch milliseconds (the store's unit).

cronsim does the calendar work. Its time-zone handling is Debian cron's: an expression with a
fixed minute and hour (``0 6 * * *``) fires at that wall-clock time, a time the spring change
skips fires at the first minute after it, and a time the autumn change repeats fires once; an
expression with ``*`` in the minute or hour (``*/15 * * * *``) fires by elapsed time.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from cronsim import CronSim

# A catch-up fires at most this many missed occurrences (the newest); older ones are noted, not run.
MAX_CATCHUP = 1_000


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_datetime(ms: int, tz: str = "UTC") -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(zone(tz))


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no time zone; pass an aware one (e.g. datetime.now(timezone.utc))")
    return int(moment.timestamp() * 1000)


def next_after(cron: str, tz: str, after_ms: int) -> int:
    """The first fire time strictly after ``after_ms``."""
    start = to_datetime(after_ms, tz)
    for moment in CronSim(cron, start):
        ms = to_ms(moment)
        # Around an autumn change the wall clock repeats an hour: a time in it may map to an
        # instant before ``after``. Times only ever move forward here.
        if ms > after_ms:
            return ms
    raise ValueError(f"cron {cron!r} never fires")  # pragma: no cover - cronsim iterates forever


def fire_times(cron: str, tz: str, start_ms: int, end_ms: int, limit: int = MAX_CATCHUP) -> tuple[list[int], bool]:
    """The newest ``limit`` fire times in ``[start_ms, end_ms]``, oldest first, and whether older ones
    were left out.

    After a long downtime a dense expression has too many times to walk from ``start_ms`` (a year of
    minutes took 39 s here), so the walk starts from windows before ``end_ms`` growing fourfold
    until one holds ``limit`` times or reaches back to ``start_ms``: at most a few thousand steps."""
    window = 60_000
    while True:
        low = max(start_ms, end_ms - window)
        times = _walk(cron, tz, low, end_ms)
        if len(times) >= limit or low == start_ms:
            dropped = len(times) > limit or (low > start_ms and next_after(cron, tz, start_ms - 1) < low)
            return times[-limit:] if limit else [], dropped
        window *= 4


def _walk(cron: str, tz: str, start_ms: int, end_ms: int) -> list[int]:
    times, moment = [], start_ms - 1
    while True:
        moment = next_after(cron, tz, moment)
        if moment > end_ms:
            return times
        times.append(moment)


def describe(cron: str) -> str:
    """``0 6 * * *`` -> "At 06:00" (cronsim's English)."""
    try:
        return CronSim(cron, datetime(2000, 1, 1, tzinfo=timezone.utc)).explain()
    except Exception:  # noqa: BLE001 - explain() covers the common forms only
        return cron


def iso(ms: int | None, tz: str = "UTC") -> str | None:
    """``ms`` as ISO 8601 in ``tz`` with its offset, to the second."""
    if ms is None:
        return None
    return to_datetime(ms, tz).isoformat(timespec="seconds")
