"""Series without Qt: the incremental min/max envelope, zoomed-slice reduction and moving averages the plots draw."""

from __future__ import annotations

import numpy as np
import pytest

from studio.models.series import Series, minmax_reduce, smooth


def filled(y, x=None, max_buckets=64) -> Series:
    s = Series(capacity=4, max_buckets=max_buckets)
    for i, v in enumerate(y):
        s.append(float(i + 1 if x is None else x[i]), float(v))
    return s


def noisy(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = 6.0 * np.exp(-np.arange(n) / (n / 3)) + rng.normal(0, 0.1, n)
    y[rng.integers(0, n, 5)] += 5.0        # loss spikes must survive the reduction
    return y


@pytest.mark.parametrize("n", [1, 63, 64, 65, 128, 129, 1000, 4097, 20_000])
def test_envelope_keeps_min_and_max_of_every_bucket(n):
    y = noisy(n, seed=n)
    s = filled(y)
    idx = s.envelope()
    assert len(idx) <= 2 * 64 + 2
    assert idx[0] == 0 and idx[-1] == n - 1 and np.all(np.diff(idx) >= 0)
    b = s.bucket
    assert b & (b - 1) == 0 and -(-n // b) <= 64          # a power of two; the buckets fit
    for start in range(0, n, b):
        inside = idx[(idx >= start) & (idx < start + b)]
        assert y[inside].min() == y[start:start + b].min()
        assert y[inside].max() == y[start:start + b].max()
    assert y[idx].max() == y.max() and y[idx].min() == y.min()


def test_envelope_length_is_bounded_and_whole_series_is_small():
    s = filled(np.arange(100), max_buckets=2048)
    assert list(s.envelope()) == list(range(100))         # short series: every point, once
    big = filled(noisy(100_000), max_buckets=2048)
    assert 2 * 1024 <= len(big.envelope()) <= 2 * 2048 + 2


def test_envelope_skips_nan_when_a_number_exists():
    y = np.array([np.nan, 3.0, 1.0, np.nan] * 40)
    s = filled(y, max_buckets=8)
    vals = y[s.envelope()]
    assert np.nanmin(vals) == 1.0 and np.nanmax(vals) == 3.0
    assert not np.isnan(vals[1:-1]).any()                   # only the first point itself is NaN


@pytest.mark.parametrize("window", [1, 2, 7, 50, 10_000])
def test_moving_average_equals_reference_smoothing(window):
    y = noisy(5000)
    y[[10, 400]] = np.nan
    s = filled(y)
    idx = np.arange(len(y))
    ref = smooth(y, window) if window > 1 else y
    np.testing.assert_allclose(s.moving_average(idx, window), ref, rtol=1e-9, atol=1e-9, equal_nan=True)
    sub = s.envelope()
    np.testing.assert_allclose(s.moving_average(sub, window), ref[sub], rtol=1e-9, atol=1e-9, equal_nan=True)


def test_window_gives_the_visible_slice_with_neighbours_then_reduces_it():
    y = noisy(20_000)
    s = filled(y)                                           # x = step = index + 1
    idx = s.window(1000.5, 1100.5, max_points=4096)
    assert list(idx) == list(range(999, 1101))              # steps 1000..1101: one point beyond each edge
    idx = s.window(0, 30_000, max_points=500)
    assert len(idx) <= 502 and idx[0] == 0 and idx[-1] == len(y) - 1
    assert y[idx].max() == y.max() and y[idx].min() == y.min()
    assert len(s.window(50_000, 60_000)) <= 1                # past the end: at most the last point, as a neighbour


def test_window_when_steps_go_back():
    x = list(range(1, 101)) + list(range(50, 151))          # a resumed run replays steps 50..100
    s = filled(np.arange(len(x), dtype=float), x=x)
    assert not s.monotonic
    idx = s.window(120, 130)
    xs = s.x[idx]
    assert set(range(120, 131)) <= set(xs.tolist()) and xs.min() >= 119 and xs.max() <= 131


def test_minmax_reduce_keeps_extremes_of_each_chunk():
    y = noisy(10_001)
    idx = np.arange(10_001)
    out = minmax_reduce(y, idx, 1000)
    assert len(out) <= 1002 and np.all(np.diff(out) >= 0)
    assert out[0] == 0 and out[-1] == 10_000
    assert y[out].max() == y.max() and y[out].min() == y.min()
    assert list(minmax_reduce(y, idx[:50], 1000)) == list(range(50))


def test_extend_matches_append_and_growth_keeps_data():
    y = noisy(3000)
    a = filled(y)
    b = Series(capacity=4, max_buckets=64)
    b.extend(np.arange(1, 3001), y)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert np.array_equal(a.envelope(), b.envelope()) and a.last == y[-1]


def test_truncate_drops_points_past_a_step_and_keeps_the_rest():
    s = Series()
    for x in range(20):
        s.append(float(x), float(x * x))
    s.truncate(10)
    assert s.x.tolist() == [float(x) for x in range(11)] and s.y.tolist()[-1] == 100.0
    s.append(11.0, 1.0)  # a resumed run continues from there, still monotonic
    assert s.monotonic and len(s) == 12
