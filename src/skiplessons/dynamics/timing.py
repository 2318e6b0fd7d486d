"""How long learning takes from a recorded loss curve: the time to a threshold and the time on a plateau,
by a detector that does not depend on the level of the loss (chapter II.1; every plateau statistic of Part II)."""
from __future__ import annotations

import numpy as np

from .. import checks


def time_to_threshold(t, loss, threshold: float) -> np.ndarray:
    """First time each run's loss is at or below `threshold` (``inf`` if never); `loss` is (T,) or (T, B).

    Introduced in chapter II.1.
    """
    t, loss = _check_curve(t, loss)
    if not threshold > 0:
        raise ValueError(f"threshold={threshold!r} must be positive")
    hit = loss <= threshold
    first = np.argmax(hit, axis=0)
    out = np.where(hit.any(axis=0), t[first], np.inf)
    return out if out.ndim else float(out)


def slow_intervals(t, loss, kappa: float) -> np.ndarray:
    """Which intervals between recorded times are slow, ``|d log L/dt| < kappa``: (T-1,) or (T-1, B) booleans.

    The plateau detector of `slow_time`, per interval (e.g. to pick the times a run spends on a plateau).
    Introduced in chapter II.1.
    """
    t, loss = _check_curve(t, loss)
    if not kappa > 0:
        raise ValueError(f"kappa={kappa!r} must be positive (a rate per unit time)")
    if np.any(loss <= 0) or not np.isfinite(loss).all():
        raise ValueError("loss must be positive and finite for its logarithm: a run at exactly zero (or infinite) "
                         "loss has no rate")
    dt = np.diff(t).reshape(-1, *([1] * (loss.ndim - 1)))
    return np.abs(np.diff(np.log(loss), axis=0)) / dt < kappa


def slow_time(t, loss, kappa: float, threshold: float | None = None) -> np.ndarray:
    """Time each run spends on a plateau: with a relative rate of change ``|d log L/dt| < kappa``, counted
    until its loss first reaches `threshold` (the whole run when None, or when it never gets there).

    A plateau detector that does not depend on the level of the loss, so that two models with different
    plateau values (or none) are measured alike. Rates are taken between recorded times (finite differences
    of ``log L``), so a plateau shorter than the recording step is not seen. `loss` is (T,) or (T, B).
    Introduced in chapter II.1; used for every plateau statistic of Part II.
    """
    t, loss = _check_curve(t, loss)
    dt = np.diff(t).reshape(-1, *([1] * (loss.ndim - 1)))
    slow = slow_intervals(t, loss, kappa)
    if threshold is not None:
        if not threshold > 0:
            raise ValueError(f"threshold={threshold!r} must be positive")
        hit = loss <= threshold
        first = np.where(hit.any(axis=0), np.argmax(hit, axis=0), len(t))      # index of the first hit
        before = np.arange(len(t) - 1).reshape(-1, *([1] * (loss.ndim - 1))) < first
        slow &= before
    out = (slow * dt).sum(axis=0)
    return out if out.ndim else float(out)


def _check_curve(t, loss):
    t = np.asarray(checks.finite(t, "t"), dtype=float)
    loss = np.asarray(checks.real(loss, "loss"), dtype=float)
    if np.isnan(loss).any() or not loss.size:
        raise ValueError(f"loss must be non-empty and hold no NaN, got {int(np.isnan(loss).sum())} NaN of {loss.size}")
    if t.ndim != 1 or len(t) < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("t must be a 1-D increasing array of at least 2 times")
    if loss.shape[:1] != t.shape:
        raise ValueError(f"loss must have time first, shape ({len(t)},) or ({len(t)}, B); got {loss.shape}")
    return t, loss
