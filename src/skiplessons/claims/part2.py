"""Part II claims: plateaus of the two-unit teacher-student model and the ghosts left with skips
(experiment `plateaus`, read through `toy.PlateauResult`).
"""
from __future__ import annotations

import numpy as np

from ..stats import quartiles
from .base import FAILS, HOLDS, PARTLY, Verdict, parts_verdict


#: a plain run is on a plateau when it spends at least this long near the plateau value (the bar of chapter II.1)
PLATEAU_MIN_TIME = 10.0


def _flows(result) -> dict[str, dict[str, np.ndarray]]:
    per = {k: result.per_start(k) for k in ("band", "hit", "start_len")}
    return {arch: {k: v[arch] for k, v in per.items()} for arch in ("plain", "skip")}


def _time(x: float) -> str:
    return "∞" if np.isinf(x) else f"{x:.0f}"


def _iqr(values) -> str:
    q25, med, q75 = quartiles(values)
    return f"{_time(med)} (IQR {_time(q25)}–{_time(q75)})"


def plateau_length(result) -> Verdict:
    """Plateaus in the plain two-unit model, from experiment `plateaus`: the time each plain run's loss spends
    within `band_rtol` (10%) of the plateau value, over the initializations.

    Holds when the median is at least `PLATEAU_MIN_TIME` (10 time units, chapter II.1's bar), partly holds when
    it is positive but shorter, does not hold when it is zero. The Milnor-like attractor on the overlap line is
    shown in chapter II.1, not judged here.
    """
    band = _flows(result)["plain"]["band"]
    median = quartiles(band)[1]
    numbers = (f"plain net, {len(band)} starts: time within {result.config['band_rtol']:.0%} of the plateau value "
               f"{result.plateau:.4f}: median {_iqr(band)}; {np.mean(band >= PLATEAU_MIN_TIME):.0%} of "
               f"runs spend ≥ {PLATEAU_MIN_TIME:.0f} there")
    verdict = HOLDS if median >= PLATEAU_MIN_TIME else PARTLY if median > 0 else FAILS
    return Verdict(numbers, verdict)


def ghost_plateaus(result) -> Verdict:
    """Ghosts, from experiment `plateaus` (plain and skip students from the same starts), three comparisons:
    the skip runs *start away* from the singular sets (median shorter effective row |a_i| longer than the plain
    runs'), their *plateau is shorter* (median time near the plain plateau value under half the plain median,
    chapter II.2's bar), and they *reach the loss threshold no later* (median time finite and at most the
    plain median).

    Holds when all three do, partly holds when one or two do, does not hold when none does.
    """
    f = _flows(result)
    med = {arch: {k: quartiles(v)[1] for k, v in d.items()} for arch, d in f.items()}
    parts = {"start away": bool(med["skip"]["start_len"] > med["plain"]["start_len"]),
             "shorter plateau": bool(med["skip"]["band"] < 0.5 * med["plain"]["band"]),
             "no slower to threshold": bool(np.isfinite(med["skip"]["hit"])
                                            and med["skip"]["hit"] <= med["plain"]["hit"])}
    reached = {arch: np.mean(np.isfinite(d["hit"])) for arch, d in f.items()}
    verdict, said = parts_verdict(parts)
    numbers = (f"{len(f['plain']['band'])} starts, plain vs skip: shorter effective row at the start "
               f"{med['plain']['start_len']:.3f} vs {med['skip']['start_len']:.3f}; time near the plateau value: "
               f"{_iqr(f['plain']['band'])} vs {_iqr(f['skip']['band'])}; time to loss "
               f"{result.threshold:.1e}: {_iqr(f['plain']['hit'])} vs {_iqr(f['skip']['hit'])} "
               f"(reached by {reached['plain']:.0%} vs {reached['skip']:.0%}); as claimed: {said}")
    return Verdict(numbers, verdict)
