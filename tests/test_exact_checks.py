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


class FakeDegeneracy:
    """Just what `degeneracy_accuracy_within` reads: final accuracy and degenerate fraction per architecture."""

    def __init__(self, acc, deg):
        self.acc, self.deg = acc, deg

    def final(self, key):
        return self.acc

    def degenerate(self, tol=None):
        return self.deg


def test_within_architecture_correlation_is_apart_from_the_between_one():
    """Null: architectures differ (plain worse and more degenerate) but within each, degeneracy and accuracy are
    independent: not shown, although r over all nets is strongly negative. Alternative: within each
    architecture, more degenerate nets train worse: holds."""
    rng = np.random.default_rng(1)
    offsets = {"plain": (0.5, 0.6), "residual": (0.1, 0.9), "hyper": (0.1, 0.95)}
    null = {g: (d + 0.01 * rng.normal(size=20), a + 0.01 * rng.normal(size=20)) for g, (d, a) in offsets.items()}
    v0 = part3.degeneracy_accuracy_within(FakeDegeneracy({g: a for g, (_, a) in null.items()},
                                                          {g: d for g, (d, _) in null.items()}))
    assert v0.verdict != claims.HOLDS
    alt = {}
    for g, (d, a) in offsets.items():
        noise = 0.01 * rng.normal(size=20)
        alt[g] = (d + noise, a - noise + 0.001 * rng.normal(size=20))
    v1 = part3.degeneracy_accuracy_within(FakeDegeneracy({g: a for g, (_, a) in alt.items()},
                                                         {g: d for g, (d, _) in alt.items()}))
    assert v1.verdict == claims.HOLDS and "within-architecture r = -" in v1.numbers
