"""Experiments `singular_counts` (Part I) and `plateaus` (Part II): the exact small computations of the toy models.

Both are cheap and deterministic; they exist as experiments so that the claims ledger reads their numbers from a
stored result like every other claim. `singular_counts` counts the zero Fisher eigenvalues at each singular point
of chapters I.2-I.4 in the plain and the residual two-hidden-layer net (`skiplessons.singularities`);
`plateaus` integrates the teacher-student gradient flow of chapter II.2 for plain and skip students from the
same initializations and measures the plateau as chapter II.2 does (`skiplessons.dynamics`).
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from .. import dynamics as D
from .. import singularities as sg
from ..ledger import quartiles
from ..shallow import TwoLayerNet, gaussian_inputs
from . import experiment

# ------------------------------------------------------------------------------------------ singular_counts

#: singular point -> (activation, biases) of the two-hidden-layer net it is built in (the settings of
#: chapters I.2-I.4: smooth units without biases for the three main points, ReLU then tanh with biases for the
#: dead unit, a linear net for linear dependence)
NETS = {"incoming": ("tanh", False), "outgoing": ("tanh", False), "overlap": ("tanh", False),
        "dead": (("relu", "tanh"), True), "dependence": ("linear", False)}
COUNT_ARCHS = ("plain", "residual")

COUNT_SIZES = {s: dict(units=list(sg.SIZES[s]["units"]), seeds=list(range(sg.SIZES[s]["seeds"])),
                       n_samples=sg.SIZES[s]["n_samples"], outputs=3, linear_outputs=8, kinds=list(NETS))
               for s in ("smoke", "default", "paper")}


def count_zeros(kind: str, arch: str, n: int, seed: int, config: dict) -> dict:
    """Zero Fisher eigenvalues of one net at the singular point `kind` and at the generic point it came from."""
    act, bias = NETS[kind]
    p = config["linear_outputs"] if kind == "dependence" else config["outputs"]
    x = gaussian_inputs(config["n_samples"], n, seed=1)
    net = TwoLayerNet(n, p, act, arch, bias=bias, seed=seed)
    singular = sg.at_singularity(net, kind, x=x)            # x: the inputs a dead ReLU must be dead on
    z = sg.fisher_zeros(singular, x)
    return dict(zeros=z.count, generic_zeros=sg.fisher_zeros(net, x).count,
                predicted=sg.predicted_zeros(singular).total, largest_zero=z.largest_zero,
                smallest_nonzero=z.smallest_nonzero)


@experiment("singular_counts", COUNT_SIZES, "zero Fisher eigenvalues at each singular point, plain vs residual",
            "02_elimination")
def run_counts(config):
    """Every singular point in `kinds` x plain/residual x width in `units` x seed: one row of counts per net."""
    unknown = set(config["kinds"]) - set(NETS)
    if unknown:
        raise ValueError(f"kinds={sorted(unknown)} are not valid; choose from {', '.join(NETS)}")
    rows = []
    for kind, arch, n, seed in itertools.product(config["kinds"], COUNT_ARCHS, config["units"], config["seeds"]):
        rows.append(dict(kind=kind, arch=arch, n=n, seed=seed, **count_zeros(kind, arch, n, seed, config)))
    arrays = {key: np.array([r[key] for r in rows]) for key in rows[0]}

    def counts(kind, arch, n):
        return sorted({r["zeros"] for r in rows if (r["kind"], r["arch"], r["n"]) == (kind, arch, n)})

    zeros = {kind: {arch: {f"n={n}": counts(kind, arch, n) for n in config["units"]} for arch in COUNT_ARCHS}
             for kind in config["kinds"]}
    summary = {"zeros": zeros, "nets": len(rows),
               "matches_derived": int(sum(r["zeros"] == r["predicted"] for r in rows))}
    return summary, arrays


# ------------------------------------------------------------------------------------------------ plateaus

_T = D.default_teacher()
PLATEAU_SIZES = {s: dict(n_init=D.SIZES[s]["n_init"], t_max=D.SIZES[s]["t_max"], n_eval=D.SIZES[s]["n_eval"],
                         init_scale=0.01, seeds=[0], band_rtol=0.1, threshold_factor=1e-3,
                         teacher_K=_T.K.tolist(), teacher_v=_T.v.tolist())
                 for s in ("smoke", "default", "paper")}
FLOW_ARCHS = {"plain": 0.0, "skip": 1.0}


def _quartile_dict(values) -> dict:
    """Quartiles for the JSON summary; null where the quartile run never got there (JSON has no infinity)."""
    return {k: (q if np.isfinite(q) else None) for k, q in zip(("q25", "median", "q75"), quartiles(values))}


@experiment("plateaus", PLATEAU_SIZES, "two-unit teacher-student gradient flow: plateau lengths, plain vs skip",
            "06_ghosts")
def run_plateaus(config):
    """As chapter II.2: `n_init` starts per seed from N(0, init_scale^2), both students from the same starts;
    time within `band_rtol` of the plain net's plateau value, and first time the loss is at most
    `threshold_factor` times the loss at zero weights (one absolute threshold for both)."""
    teacher = D.Teacher(np.array(config["teacher_K"]), np.array(config["teacher_v"]))
    theta0 = torch.cat([D.small_init(config["n_init"], config["init_scale"], seed=s) for s in config["seeds"]])
    flows = D.flows_per_alpha(theta0, teacher, list(FLOW_ARCHS.values()), t_max=config["t_max"],
                              n_eval=config["n_eval"])
    plateau, _ = D.overlap_critical_point(teacher)
    threshold = config["threshold_factor"] * D.expected_loss(torch.zeros(D.n_params(2, 2)), teacher).item()
    band = np.stack([D.time_in_band(f.t, f.loss, plateau, rtol=config["band_rtol"]) for f in flows])
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
                         "reached": float(np.isfinite(hit[i]).mean()),
                         "start_shorter_row": float(np.median(start_len[i])),
                         "start_abs_cos": float(np.median(start_cos[i]))}
    return summary, arrays
