"""Part I claims: zero Fisher eigenvalues at the singular points, plain vs residual (experiment `singular_counts`).

Each check reads an `experiments.part1.CountsResult` and returns a `Verdict`; chapters I.2-I.4 assert them and the ledger
tabulates them.
"""
from __future__ import annotations

import numpy as np

from ..stats import Comparison, exact
from .base import Verdict, check, judge


#: the smallest difference in zero-eigenvalue counts that matters: one eigenvalue
DELTA_COUNT = 1.0


def skip_removes(plain, residual) -> Comparison:
    """The primary comparison of "skip connections remove the zero eigenvalues", from paired counts (one per net
    pair): the smallest difference, plain net's count minus its residual twin's, over all pairs. The counts are
    exact computations, not samples (they differ between widths by design), so the comparison is exact
    (`stats.exact`): shown when every plain net has more zeros than its twin, reversed when some residual net
    has more than its twin, inside (within δ = one eigenvalue) when some pair ties."""
    plain, residual = np.asarray(plain, dtype=float), np.asarray(residual, dtype=float)
    if plain.shape != residual.shape or not plain.size:
        raise ValueError(f"plain and residual need one count per net pair, got shapes {plain.shape} and "
                         f"{residual.shape}")
    return exact(float((plain - residual).min()), plain.size, delta=DELTA_COUNT)


def _removed(plain, residual) -> str:
    return (f"residual nets with zero eigenvalues left: {int((np.asarray(residual) > 0).sum())} of "
            f"{np.asarray(residual).size}")


def _arrow(counts: dict, key: str = "zeros", sign: str = "") -> str:
    """'3 → 0 (n=3), 5 → 0 (n=5)': plain → residual per width, a range where the seeds disagree."""
    def cell(arch, n):
        vals = sorted({c[key] for (m, _), c in counts[arch].items() if m == n})
        return f"{sign}{vals[0]}" if len(vals) == 1 else f"{sign}{vals[0]}–{sign}{vals[-1]}"

    widths = sorted({n for n, _ in counts["plain"]})
    return ", ".join(f"{cell('plain', n)} → {cell('residual', n)} (n={n})" for n in widths)


def _agreement(points: list[dict]) -> str:
    pairs = [c for p in points for arch in p.values() for c in arch.values()]
    return f"counted = derived in {sum(c['zeros'] == c['predicted'] for c in pairs)} of {len(pairs)} nets"


def _paired(points: list[dict], key: str = "zeros", minus: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    def values(arch):
        return np.array([c[key] - (c[minus] if minus else 0) for p in points for _, c in sorted(p[arch].items())])

    return values("plain"), values("residual")


@check
def elimination_zeros(result) -> Verdict:
    """Elimination singularities, from experiment `singular_counts` (tanh nets without biases).

    Primary comparison: at J_a = 0 and at K[:, a] = 0, over all widths and seeds, the plain net's zero count minus
    its residual twin's (`skip_removes`); how many residual nets keep a zero is reported. The dead ReLU is reported but not judged: its
    incoming weights and bias stay flat with skips too (chapter I.2). Its derived counts assume every other ReLU
    is active on part of the inputs; a seed with a unit dead or always on by chance has more zeros, which shows
    as a range and in the agreement count.
    """
    incoming, outgoing, dead = (result.point(k) for k in ("incoming", "outgoing", "dead"))
    numbers = (f"zero Fisher eigenvalues, plain → residual: J_a = 0: {_arrow(incoming)}; "
               f"K[:, a] = 0: {_arrow(outgoing)}. Left with skips: a dead ReLU (ReLU then tanh, biases) "
               f"{_arrow(dead)}, its incoming weights and bias (generic point {_arrow(dead, 'generic_zeros')}); "
               f"{_agreement([incoming, outgoing, dead])}")
    pair = _paired([incoming, outgoing])
    return judge("zero eigenvalues, plain − residual twin", skip_removes(*pair), f"{numbers}; {_removed(*pair)}")


@check
def overlap_zeros(result) -> Verdict:
    """Overlap singularities, from experiment `singular_counts` (tanh nets without biases, J_a = J_b).

    Primary comparison: the plain net's zero count minus its residual twin's (`skip_removes`).
    """
    overlap = result.point("overlap")
    numbers = f"zero Fisher eigenvalues, plain → residual: J_a = J_b: {_arrow(overlap)}; {_agreement([overlap])}"
    pair = _paired([overlap])
    return judge("zero eigenvalues, plain − residual twin", skip_removes(*pair), f"{numbers}; {_removed(*pair)}")


@check
def dependence_zeros(result) -> Verdict:
    """Linear-dependence singularities, from experiment `singular_counts` (linear nets without biases).

    A linear net is flat along its 2n² generic symmetries everywhere, skips or not, so the count is relative to
    the generic point of the same net. Primary comparison: the zero eigenvalues the plain net gains at
    J_c = αJ_a + βJ_b minus those its residual twin gains (`skip_removes` on the gains), with more outputs than
    units (p > n, as here). What the counts cannot show is said with the claim: the skip *moves* the singular set
    away from small weights (to distance >= 1) rather than removing it, and with p <= n the set adds no zero
    eigenvalue with or without skips (chapter I.4, derived there).
    """
    dep = result.point("dependence")
    gains = {arch: {key: {"gain": c["zeros"] - c["generic_zeros"]} for key, c in nets.items()}
             for arch, nets in dep.items()}
    numbers = (f"zero Fisher eigenvalues gained at J_c = αJ_a + βJ_b ({result.config.linear_outputs} outputs), "
               f"plain → residual: {_arrow(gains, 'gain', '+')}; left with skips: the generic point's "
               f"{_arrow(dep, 'generic_zeros')} (2n², the symmetries of any linear net); {_agreement([dep])}")
    pair = _paired([dep], minus="generic_zeros")
    return judge("zero eigenvalues gained at the set, plain − residual twin", skip_removes(*pair),
                 f"{numbers}; {_removed(*pair)}")
