"""Charted series kept between requests. A live charts panel asks again at every refresh for 100
runs' series of which most did not change, and re-reading them costs ~0.1 s per metric; checking
that a series is unchanged reads only the index (~0.1 ms a series).

An entry is one series' drawn points as a float array (24 bytes a point, where tuples take ~150),
valid while its run and metric count the same points with the same highest id: a new point
always gets a higher id. The least recently used entries go once the cache holds ``max_points``.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

Stamp = tuple  # (points counted, highest id) of a run's metric when it was read


class SeriesCache:
    def __init__(self, max_points: int = 2_000_000):
        self.max_points = max_points
        self._entries: OrderedDict[tuple, tuple[Stamp, int, np.ndarray]] = OrderedDict()
        self._points = 0
        self._lock = threading.Lock()  # the server answers requests from a thread pool

    def get(self, key: tuple, stamp: Stamp) -> tuple[int, np.ndarray] | None:
        """``(total points, drawn points)`` of ``key`` if it was read at ``stamp``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != stamp:
                return None
            self._entries.move_to_end(key)
            return entry[1], entry[2]

    def put(self, key: tuple, stamp: Stamp, total: int, drawn: np.ndarray) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._points -= len(old[2])
            self._entries[key] = (stamp, total, drawn)
            self._points += len(drawn)
            while self._points > self.max_points and self._entries:
                _, (_, _, gone) = self._entries.popitem(last=False)
                self._points -= len(gone)
