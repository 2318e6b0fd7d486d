"""Experiments `singular_counts` (Part I) and `plateaus` (Part II): the exact small computations of the toy models.

Both are cheap and deterministic; they exist as experiments so that the claims read their numbers from a stored
result like every other claim. `singular_counts` counts the zero Fisher eigenvalues at each singular point of
chapters I.2-I.4 in the plain and the residual two-hidden-layer net (`singular_points`, `fisher`); `plateaus`
integrates the teacher-student gradient flow of chapter II.2 for plain and skip students from the same
initializations (`dynamics`). Sizes: `configs.SINGULAR_COUNTS`, `configs.PLATEAUS`.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from .. import dynamics as D
from .. import fisher as fi
from .. import singular_points as sp
from ..shallow import TwoLayerNet, gaussian_inputs
from ..stats import quartiles
from . import experiment
from .configs import PLATEAUS, SINGULAR_COUNTS
from .views import ResultView

# ------------------------------------------------------------------------------------------ singular_counts

#: singular point -> (activation, biases) of the two-hidden-layer net it is built in (the settings of
#: chapters I.2-I.4: smooth units without biases for the three main points, ReLU then tanh with biases for the
#: dead unit, a linear net for linear dependence)
NETS = {"incoming": ("tanh", False), "outgoing": ("tanh", False), "overlap": ("tanh", False),
        "dead": (("relu", "tanh"), True), "dependence": ("linear", False)}
COUNT_ARCHS = ("plain", "residual")


class CountsResult(ResultView):
    """One row per net: singular point `kind`, `arch`, width `n`, `seed` and its counted and derived zeros."""

    def point(self, kind: str) -> dict[str, dict[tuple[int, int], dict[str, int]]]:
        """Per arch ("plain", "residual"), per (n, seed): the counts ("zeros", "generic_zeros", "predicted") at
        singular point `kind`."""
        a = self.arrays
        kinds = np.asarray(a["kind"]).astype(str)
        if kind not in kinds:
            raise ValueError(f"kind={kind!r} is not in result {self.name!r}; its points are "
                             f"{', '.join(dict.fromkeys(kinds))}")
        out = {arch: {} for arch in COUNT_ARCHS}
        for i in np.flatnonzero(kinds == kind):
            out[str(a["arch"][i])][int(a["n"][i]), int(a["seed"][i])] = {
                k: int(a[k][i]) for k in ("zeros", "generic_zeros", "predicted")}
        if not out["plain"] or out["plain"].keys() != out["residual"].keys():
            raise ValueError(f"result {self.name!r}: singular point {kind!r} needs plain and residual nets of the "
                             f"same widths and seeds, got {sorted(out['plain'])} and {sorted(out['residual'])}")
        return out

    def zeros(self, kind: str, arch: str, n: int) -> list[int]:
        """The distinct zero counts over seeds of `kind` in `arch` nets of width `n`."""
        return sorted({c["zeros"] for (m, _), c in self.point(kind)[arch].items() if m == n})


def count_zeros(kind: str, arch: str, n: int, seed: int, config) -> dict:
    """Zero Fisher eigenvalues of one net at the singular point `kind` and at the generic point it came from."""
    act, bias = NETS[kind]
    p = config.linear_outputs if kind == "dependence" else config.outputs
    x = gaussian_inputs(config.n_samples, n, seed=1)
    net = TwoLayerNet(n, p, act, arch, bias=bias, seed=seed)
    singular = sp.at_singularity(net, kind, x=x)            # x: the inputs a dead ReLU must be dead on
    z = fi.fisher_zeros(singular, x)
    return dict(zeros=z.count, generic_zeros=fi.fisher_zeros(net, x).count,
                predicted=sp.predicted_zeros(singular).total, largest_zero=z.largest_zero,
                smallest_nonzero=z.smallest_nonzero)


def run_counts(config, ctx):
    """Every singular point in `kinds` x plain/residual x width in `units` x seed: one row of counts per net."""
    unknown = set(config.kinds) - set(NETS)
    if unknown:
        raise ValueError(f"kinds={sorted(unknown)} are not valid; choose from {', '.join(NETS)}")
    rows = []
    for kind, arch, n, seed in itertools.product(config.kinds, COUNT_ARCHS, config.units, config.seeds):
        rows.append(dict(kind=kind, arch=arch, n=n, seed=seed, **count_zeros(kind, arch, n, seed, config)))
    arrays = {key: np.array([r[key] for r in rows]) for key in rows[0]}
    summary = {"nets": len(rows), "matches_derived": int(sum(r["zeros"] == r["predicted"] for r in rows))}
    return summary, arrays


experiment("singular_counts", SINGULAR_COUNTS, CountsResult, "zero Fisher eigenvalues at each singular point, "
           "plain vs residual", "02_elimination")(run_counts)


# ------------------------------------------------------------------------------------------------ plateaus

FLOW_ARCHS = {"plain": 0.0, "skip": 1.0}


class PlateauResult(ResultView):
    """Per student ("plain", "skip"), one number per start: time near the plateau value (`band`), time to the
    loss threshold (`hit`, inf if never) and the shorter effective row at the start (`start_len`)."""

    def per_start(self, key: str) -> dict[str, np.ndarray]:
        """{student: (starts,)} of `key` ("band", "hit", "start_len", "start_cos")."""
        archs = list(np.asarray(self.arrays["arch"]).astype(str))
        if {"plain", "skip"} - set(archs):
            raise ValueError(f"result {self.name!r} needs plain and skip runs; its students are {archs}")
        return {arch: np.asarray(self.arrays[key], dtype=float)[archs.index(arch)] for arch in ("plain", "skip")}

    @property
    def plateau(self) -> float:
        return float(self.summary["plateau"])

    @property
    def threshold(self) -> float:
        return float(self.summary["threshold"])


def _quartile_dict(values) -> dict:
    """Quartiles for the JSON summary; null where the quartile run never got there (JSON has no infinity)."""
    return {k: (q if np.isfinite(q) else None) for k, q in zip(("q25", "median", "q75"), quartiles(values))}


def run_plateaus(config, ctx):
    """As chapter II.2: `n_init` starts per seed from N(0, init_scale^2), both students from the same starts;
    time within `band_rtol` of the plain net's plateau value, and first time the loss is at most
    `threshold_factor` times the loss at zero weights (one absolute threshold for both)."""
    teacher = D.Teacher(np.array(config.teacher_K), np.array(config.teacher_v))
    theta0 = torch.cat([D.small_init(config.n_init, config.init_scale, seed=s) for s in config.seeds])
    flows = D.flows_per_alpha(theta0, teacher, list(FLOW_ARCHS.values()), t_max=config.t_max, n_eval=config.n_eval)
    plateau, _ = D.overlap_critical_point(teacher)
    threshold = config.threshold_factor * D.expected_loss(torch.zeros(D.n_params(2, 2)), teacher).item()
    band = np.stack([D.time_in_band(f.t, f.loss, plateau, rtol=config.band_rtol) for f in flows])
    hit = np.stack([D.time_to_threshold(f.t, f.loss, threshold) for f in flows])
    rows = np.stack([D.effective_inputs(theta0, a).numpy() for a in FLOW_ARCHS.values()])       # (arch, B, 2, 2)
    start_len = np.linalg.norm(rows, axis=-1).min(axis=-1)
    start_cos = np.abs(np.einsum("abi,abi->ab", rows[:, :, 0], rows[:, :, 1])
                       / np.linalg.norm(rows, axis=-1).prod(axis=-1))
    arrays = dict(arch=np.array(list(FLOW_ARCHS)), t=flows[0].t, band=band, hit=hit, start_len=start_len,
                  start_cos=start_cos, loss_median=np.stack([np.median(f.loss, axis=1) for f in flows]))
    summary = {"plateau": plateau, "threshold": threshold, "runs": int(theta0.shape[0])}
    for i, arch in enumerate(FLOW_ARCHS):
        summary[arch] = {"time_in_band": _quartile_dict(band[i]), "time_to_threshold": _quartile_dict(hit[i]),
                         "reached": float(np.isfinite(hit[i]).mean())}
    return summary, arrays


experiment("plateaus", PLATEAUS, PlateauResult, "two-unit teacher-student gradient flow: plateau lengths, "
           "plain vs skip", "06_ghosts")(run_plateaus)
