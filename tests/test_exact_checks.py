"""Tests of the Part III checks on exact spectra (`claims.part3`): SLQ's agreement with the dense spectra holds
when its errors are small and does not when they are large (the same rule, δ = `part3.DELTA_SLQ`)."""
from __future__ import annotations

import numpy as np

from skiplessons import claims
from skiplessons.claims import part3


class FakeExact:
    """Just what `slq_recovers` reads: the SLQ sizes and per-net errors."""

    slq_sizes = [(4, 40), (10, 100)]

    def __init__(self, errors):
        self.errors = np.asarray(errors, dtype=float)

    def slq_error(self, normalization="max", threshold=None, at="end", size=None):
        n = len(self.errors)
        return {"error": self.errors, "se": np.full(n, 0.01), "bound": np.full(n, 0.02)}


def test_slq_recovers_holds_for_small_errors_and_not_for_large_ones():
    rng = np.random.default_rng(0)
    small = part3.slq_recovers(FakeExact(np.abs(rng.normal(0, 0.001, 30))))
    large = part3.slq_recovers(FakeExact(0.2 + np.abs(rng.normal(0, 0.05, 30))))
    assert small.verdict == claims.HOLDS
    assert large.verdict == claims.FAILS
    assert "4 probes × 40 steps" in small.numbers
    assert "10 probes × 100 steps" in part3.slq_recovers(FakeExact([0.0, 0.001, 0.002]), size=(10, 100)).numbers
