"""Growable numeric series for live plots: amortised O(1) appends into numpy buffers, plus what a plot needs to
draw 100k+ points cheaply: a min/max envelope kept up to date per append, prefix sums for moving averages at any
index, and a min/max reduction of a zoomed-in slice. Plots read index arrays from here; nothing here knows Qt.
"""

from __future__ import annotations

import math

import numpy as np

INITIAL_CAPACITY = 1024
MAX_BUCKETS = 2048      # the envelope holds 1024..2048 buckets once full: at most ~4k points reach the plot


class Series:
    """x / y samples in arrival order. `_c[i]` is the sum of the first i finite y values (NaN/inf count as 0), so a
    trailing mean over any window is O(1). The envelope (`_lo` / `_hi`: raw index of the min / max of each bucket of
    `bucket` consecutive points) doubles its bucket size by merging neighbours when it fills up: O(1) amortised."""

    __slots__ = ("_x", "_y", "_c", "n", "monotonic", "bucket", "_lo", "_hi", "_nb", "_max_buckets")

    def __init__(self, capacity: int = INITIAL_CAPACITY, max_buckets: int = MAX_BUCKETS):
        if max_buckets < 2 or max_buckets % 2:
            raise ValueError("max_buckets must be even and >= 2")
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._c = np.zeros(capacity + 1, dtype=np.float64)
        self.n = 0
        self.monotonic = True           # x never decreased: slices can be found by bisection
        self.bucket = 1
        self._max_buckets = max_buckets
        self._lo = np.empty(max_buckets, dtype=np.int64)
        self._hi = np.empty(max_buckets, dtype=np.int64)
        self._nb = 0

    # ------------------------------------------------------------------ feeding
    def append(self, x: float, y: float) -> None:
        n = self.n
        if n == len(self._x):
            self._grow()
        if n and x < self._x[n - 1]:
            self.monotonic = False
        self._x[n] = x
        self._y[n] = y
        self._c[n + 1] = self._c[n] + (y if math.isfinite(y) else 0.0)
        self.n = n + 1
        self._envelope_add(n, y)

    def truncate(self, x_max: float) -> None:
        """Drop every point past x_max (a resumed run repeats the steps after its checkpoint)."""
        n = self.n
        keep = self._x[:n] <= x_max
        if keep.all():
            return
        xs, ys = self._x[:n][keep].copy(), self._y[:n][keep].copy()
        self.__init__(max(INITIAL_CAPACITY, len(xs)), self._max_buckets)
        self.extend(xs, ys)

    def extend(self, xs, ys) -> None:
        xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
            self.append(x, y)

    def _grow(self) -> None:
        cap = max(INITIAL_CAPACITY, 2 * len(self._x))
        for name in ("_x", "_y"):
            old = getattr(self, name)
            new = np.empty(cap, dtype=np.float64)
            new[:self.n] = old[:self.n]
            setattr(self, name, new)
        c = np.zeros(cap + 1, dtype=np.float64)
        c[:self.n + 1] = self._c[:self.n + 1]
        self._c = c

    def _envelope_add(self, i: int, y: float) -> None:
        b = i // self.bucket
        if b == self._nb:                       # first point of a new bucket
            if b == self._max_buckets:
                self._merge()
                b = i // self.bucket
            if b == self._nb:
                self._lo[b] = self._hi[b] = i
                self._nb += 1
                return
        ys = self._y
        lo, hi = self._lo[b], self._hi[b]
        if y < ys[lo] or ys[lo] != ys[lo]:      # the second test replaces a NaN min/max by a number
            self._lo[b] = i
        if y > ys[hi] or ys[hi] != ys[hi]:
            self._hi[b] = i

    def _merge(self) -> None:
        """Halve the bucket count: bucket k becomes old buckets 2k and 2k+1 (max_buckets is even, so all pair up)."""
        ys, m = self._y, self._max_buckets // 2
        lo, hi = self._lo.reshape(m, 2), self._hi.reshape(m, 2)
        lv, hv = ys[lo], ys[hi]
        pick_lo = np.where((lv[:, 1] < lv[:, 0]) | np.isnan(lv[:, 0]), 1, 0)
        pick_hi = np.where((hv[:, 1] > hv[:, 0]) | np.isnan(hv[:, 0]), 1, 0)
        rows = np.arange(m)
        self._lo[:m] = lo[rows, pick_lo]
        self._hi[:m] = hi[rows, pick_hi]
        self._nb = m
        self.bucket *= 2

    # ------------------------------------------------------------------ reading
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

    def envelope(self) -> np.ndarray:
        """Raw indices to draw the whole series: the first point, the min and max of every bucket in index order,
        and the last point, so spikes survive and the line spans the whole run. Length <= 2 * max_buckets + 2."""
        n = self.n
        if self.bucket == 1:
            return np.arange(n)
        pairs = np.sort(np.stack((self._lo[:self._nb], self._hi[:self._nb]), axis=1), axis=1).ravel()
        return np.concatenate(([0], pairs, [n - 1]))

    def window(self, x0: float, x1: float, max_points: int = 2 * MAX_BUCKETS) -> np.ndarray:
        """Raw indices to draw the part of the series with x in [x0, x1], plus one neighbour on each side so the
        line runs off the edges; min/max-reduced to about `max_points` when the slice is longer."""
        n = self.n
        if not n:
            return np.arange(0)
        if self.monotonic:
            xs = self.x
            i0 = max(0, int(np.searchsorted(xs, x0, "left")) - 1)
            i1 = min(n, int(np.searchsorted(xs, x1, "right")) + 1)
            idx = np.arange(i0, i1)
        else:
            inside = np.flatnonzero((self.x >= x0) & (self.x <= x1))
            idx = np.unique(np.concatenate((inside, inside - 1, inside + 1)).clip(0, n - 1))
        return minmax_reduce(self._y, idx, max_points)

    def moving_average(self, idx: np.ndarray, window: int) -> np.ndarray:
        """The trailing `window`-point mean at each raw index of `idx` (what `smooth` gives at those indices)."""
        idx = np.asarray(idx, dtype=np.int64)
        if window <= 1:
            return self._y[idx]
        end = idx + 1
        start = np.maximum(0, end - window)
        return (self._c[end] - self._c[start]) / (end - start)


def minmax_reduce(y: np.ndarray, idx: np.ndarray, max_points: int) -> np.ndarray:
    """Keep, from the raw indices `idx` (ascending), the first and last and the min and max of each of about
    max_points / 2 equal chunks, in index order. NaN never wins a min or max over a number."""
    k = len(idx)
    if k <= max_points:
        return idx
    size = -(-k // max(1, max_points // 2 - 1))
    full = (k // size) * size
    chunks = [idx[:full].reshape(-1, size)]
    if full < k:
        chunks.append(idx[full:].reshape(1, -1))
    out = [idx[:1]]
    for c in chunks:
        v = y[c]
        nan = np.isnan(v)
        rows = np.arange(len(c))
        a = c[rows, np.argmin(np.where(nan, np.inf, v), axis=1)]
        b = c[rows, np.argmax(np.where(nan, -np.inf, v), axis=1)]
        out.append(np.sort(np.stack((a, b), axis=1), axis=1).ravel())
    out.append(idx[-1:])
    return np.concatenate(out)


def smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over `window` points (vectorised; the first points average what exists). The
    reference for `Series.moving_average`, which the plots use."""
    if window <= 1 or len(y) == 0:
        return y
    finite = np.where(np.isfinite(y), y, 0.0)
    c = np.cumsum(np.concatenate(([0.0], finite)))
    idx = np.arange(1, len(y) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)
