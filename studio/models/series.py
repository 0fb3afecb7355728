"""Growable numeric series for live plots: amortised O(1) appends into numpy arrays, read as views.

A plot reads `x` / `y` (views of the filled part) on its timer; nothing here knows about Qt.
"""

from __future__ import annotations

import numpy as np

INITIAL_CAPACITY = 1024


class Series:
    __slots__ = ("_x", "_y", "n")

    def __init__(self, capacity: int = INITIAL_CAPACITY):
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self._x):
            self._grow()
        self._x[self.n] = x
        self._y[self.n] = y
        self.n += 1

    def extend(self, xs, ys) -> None:
        xs = np.asarray(xs, dtype=np.float64)
        ys = np.asarray(ys, dtype=np.float64)
        while self.n + len(xs) > len(self._x):
            self._grow()
        self._x[self.n:self.n + len(xs)] = xs
        self._y[self.n:self.n + len(ys)] = ys
        self.n += len(xs)

    def _grow(self) -> None:
        cap = max(INITIAL_CAPACITY, 2 * len(self._x))
        for name in ("_x", "_y"):
            old = getattr(self, name)
            new = np.empty(cap, dtype=np.float64)
            new[:self.n] = old[:self.n]
            setattr(self, name, new)

    @property
    def x(self) -> np.ndarray:
        return self._x[:self.n]

    @property
    def y(self) -> np.ndarray:
        return self._y[:self.n]

    @property
    def last(self) -> float | None:
        return float(self._y[self.n - 1]) if self.n else None

    def __len__(self) -> int:
        return self.n


def smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over `window` points (vectorised; the first points average what exists)."""
    if window <= 1 or len(y) == 0:
        return y
    finite = np.where(np.isfinite(y), y, 0.0)
    c = np.cumsum(np.concatenate(([0.0], finite)))
    idx = np.arange(1, len(y) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)
