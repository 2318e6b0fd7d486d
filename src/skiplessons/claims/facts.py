"""Derived facts of a chapter's section, judged as one claim of agreement (chapters I.1-II.2).

A fact is an exact computation against what the chapter derived: an output change that is round-off, a count
that equals its formula, a log-log slope that equals its exponent. Each is built by one constructor below with
its tolerance, a named constant with its reason, and a section's facts are judged together by `hold`: the
largest deviation of any fact from what was derived, in units of that fact's tolerance, agrees with zero within 1
(`stats.exact`, `expectation=EQUAL`), so one fact that misses its tolerance fails the section.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..stats import exact
from .base import EQUAL, Verdict, judge

#: float64 round-off of an order-one output, loss or matrix entry after sums over a few hundred inputs: many
#: decades below this
ROUNDOFF = 1e-10
#: distance of a unit vector from a null space computed by an eigendecomposition: round-off over the spectral gap
NULL_SPACE = 1e-8
#: a change seven decades above round-off is a real change of the function, not noise
VISIBLE = 1e-3
#: zero eigenvalues this far below the smallest nonzero one are counted the same under any threshold between
CLEAN_GAP = 1e5
#: counts are integers: a difference of one eigenvalue is a different count
WHOLE = 0.5
#: a log-log slope fitted over one to two decades bends away from its integer exponent by the next order's term:
#: up to a quarter (0.16 seen at `default` for the n-th eigenvalue approaching an overlap, chapter I.3)
SLOPE = 0.25
#: relative error of a second-order Taylor formula at a step of 1e-3: the third-order term, with its constants
TAYLOR = 1e-2
#: relative eigenvalues above this are resolved: six decades above the zero threshold `fisher.ZERO_RTOL`
RESOLVED = 1e-6
#: a deep plain linear net that keeps less than a quarter of its first layer's effective rank has collapsed
COLLAPSED = 4.0
#: a deep residual linear net keeps its first layer's effective rank within a tenth: each skip passes it on
KEPT = 0.1
#: two curves this many times apart are separated, not within each other's round-off or fitting error
APART = 100.0


@dataclass(frozen=True)
class Fact:
    """One derived fact: `value` measured, and how far it is from what was derived in units of its tolerance
    (`deviation`: below 1 agrees). `says` is the fact in words with its bound, for the verdict's numbers."""

    name: str
    value: float
    deviation: float
    says: str


def small(name: str, value: float, tol: float = ROUNDOFF) -> Fact:
    """|value| is at most `tol` (a change that is round-off, a vector inside a null space)."""
    return Fact(name, float(value), abs(float(value)) / tol, f"{name} {float(value):.1e} (≤ {tol:g})")


def large(name: str, value: float, floor: float = VISIBLE) -> Fact:
    """value is at least `floor` (a change that is real)."""
    v = float(value)
    return Fact(name, v, floor / v if v > 0 else math.inf, f"{name} {v:.2g} (≥ {floor:g})")


def near(name: str, value: float, target: float, tol: float) -> Fact:
    """value equals the derived `target` within `tol` (a fitted exponent, a formula)."""
    v = float(value)
    return Fact(name, v, abs(v - target) / tol, f"{name} {v:.3g} (derived {target:g} ± {tol:g})")


def equal(name: str, counted: int, derived: int) -> Fact:
    """A count equals its derived value (`WHOLE`: no difference of one)."""
    return Fact(name, float(counted), abs(counted - derived) / WHOLE, f"{name} {counted} (derived {derived})")


def counted(found) -> list[Fact]:
    """One `equal` fact per net of `found`, {key: (counted zeros, derived `singular_points.Counts`)}: the table of
    a chapter whose every count equals its formula."""
    def name(key):
        return ", ".join(map(str, key)) if isinstance(key, tuple) else str(key)

    return [equal(f"zeros of {name(key)}", count, derived.total) for key, (count, derived) in found.items()]


def apart(name: str, larger: float, smaller: float, factor: float = APART) -> Fact:
    """`larger` is at least `factor` times `smaller` (two curves separated)."""
    big, low = float(larger), float(smaller)
    ratio = big / low if low > 0 else math.inf if big > 0 else 0.0
    return Fact(name, ratio, factor / ratio if ratio > 0 else math.inf, f"{name} ratio {ratio:.3g} (≥ {factor:g})")


def hold(section: str, *facts: Fact, scale: str | None = None) -> Verdict:
    """The derived facts of `section` hold: the largest deviation of any fact from its derived value, in units of
    its tolerance, agrees with zero within 1 (`stats.exact`, `EQUAL`; a deviation that cannot be measured, such
    as a slope with too few points, counts as infinite). `scale`: the scale whose sizes the facts were computed
    at, when they need more than `smoke` gives (a slope needs its decades), so that `expect` skips it there."""
    if not facts or not all(isinstance(f, Fact) for f in facts):
        raise ValueError(f"facts must be one or more Fact (small, large, near, equal, apart), got {facts!r}")
    worst = max(facts, key=lambda f: (math.isnan(f.deviation), f.deviation))
    deviation = worst.deviation if math.isfinite(worst.deviation) else 1e300
    numbers = f"{section}: " + "; ".join(f.says for f in facts) + f"; the farthest: {worst.name}"
    return judge(f"{section}: largest deviation from the derived value, in units of its tolerance",
                 exact(deviation, len(facts), delta=1.0), numbers, expectation=EQUAL, scale=scale)
