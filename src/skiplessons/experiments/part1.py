"""Experiment `singular_counts` (Part I): the zero Fisher eigenvalues at each singular point of the toy nets.

Cheap and deterministic; it exists as an experiment so that the claims read its numbers from a stored result like
every other claim. It counts the zero Fisher eigenvalues at each singular point of chapters I.2-I.4 in the plain
and the residual two-hidden-layer net (`singular_points`, `fisher`). Sizes: `configs.SINGULAR_COUNTS`.
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import fisher as fi
from .. import singular_points as sp
from ..shallow import TwoLayerNet, gaussian_inputs
from . import experiment
from .configs import SINGULAR_COUNTS
from .views import ResultView

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
