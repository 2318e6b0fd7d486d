"""How degenerate a batch of deep nets is: Hessian spectra and per-layer singularity measures, also during
training (chapter III.2; reused in Part IV).

For each net (member) of a `models.DeepMLPs` batch, `measure` computes, on a fixed batch (x, y) of training
data:

- the spectrum of the Hessian of the mean cross-entropy loss, exactly (dense float64 Hessian and
  `torch.linalg.eigvalsh`) when the net has at most `dense_max` parameters, else by stochastic Lanczos
  quadrature, all selected nets in lockstep (`curvature.spectrum(..., nets=members)`: one batched
  Hessian-vector product per Lanczos step for the whole batch, the same numbers as SLQ on each net alone);
- from it the degenerate fraction at each tolerance in `tols` (|lambda| <= tol * max|lambda|), the negative
  fraction (lambda < -neg_tol * max|lambda|) and the Gauss-Newton rank bound 1 - min(N*(C-1), P)/P, reported next
  to every fraction (the rank trap: a fraction near the bound measures the data size, not the net);
- per layer, from the layer outputs h_l (what the next layer's weights multiply): the elimination, overlap
  and rank-deficit measures of `layer_measures.layer_measures`, the elimination of the units' branch
  outputs phi(W h + b) (dead units; for a plain net the two are the same), and the rank deficit among the
  live outputs only (`layer_measures.live_rank_deficit`), which does not count an eliminated unit twice.

Near-zero fractions under other normalizations (mean |lambda|, absolute: `curvature.near_zero_fraction`) are
recomputed from the stored spectra by the result readers; `NEAR_ZERO` and `SWEEP` are the thresholds the
chapter reads. `train_tracked` trains with `train.train` and `measure`s at chosen steps through its step hook.
Spectra are stored as quadrature nodes and weights; an exact spectrum is the special case of one "probe"
whose nodes are the eigenvalues, each of weight 1/P, so both kinds plot and summarise the same way.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import layer_measures as lm
from .curvature import (SpectralDensity, SpectrumSettings, degenerate_fraction, negative_fraction,
                        rank_bound, spectrum)
from . import checks
from .env import one_thread
from .files import DamagedFile, load_tensors, remove_leftovers, save_tensors, set_aside
from .models import activation
from .train import check_width, train

#: the tolerance the chapters and the ledger quote (the finest that SLQ resolves at the book's sizes)
HEADLINE_TOL = 1e-3
#: the threshold the chapter and the ledger read under each normalization of `curvature.NORMALIZATIONS`:
#: |lambda| <= 1e-3 max|lambda| (the paper-style rule), <= 1e-2 mean|lambda|, <= 1e-2 absolute
NEAR_ZERO = {"max": HEADLINE_TOL, "mean": 1e-2, "absolute": 1e-2}
#: the threshold sweep of chapter III.2: three decades under each normalization
SWEEP = {"max": np.geomspace(1e-5, 1e-2, 13), "mean": np.geomspace(1e-4, 1e-1, 13),
         "absolute": np.geomspace(1e-4, 1e-1, 13)}
#: the per-layer measures, in the order they are stored
LAYER_KEYS = ("elimination", "overlap", "rank_deficit", "branch_elimination", "live_rank_deficit")


def check_inputs(net, x, name: str = "x") -> None:
    """Raise one ValueError naming `name` unless `x` is an (N, d_in) tensor of samples for `net` (a `DeepMLPs`
    batch or one `MLP`: anything with a `spec.d_in`), in the words of `train.train` (`train.check_width`)."""
    d_in = net.spec.d_in
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be an (N, d_in={d_in}) tensor of samples, got {got}")
    check_width(net, x.shape[1], name)
    checks.samples(x, name)


def hessian_spectrum(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                     settings: SpectrumSettings = SpectrumSettings()) -> SpectralDensity:
    """The spectrum of the cross-entropy Hessian of one net on (x, y), in float64, as a `SpectralDensity`
    (`curvature.spectrum`, with `x` checked in the words of `train` for this book's nets). Chapter III.2."""
    if getattr(getattr(model, "spec", None), "d_in", None) is not None:
        check_inputs(model, x)
    return spectrum(model, "ce", (x, y), settings=settings).density


def spectrum_summary(density: SpectralDensity, settings: SpectrumSettings = SpectrumSettings()) -> dict:
    """Degenerate fractions per tolerance, the negative fraction, the rank bound and max|lambda| of a
    spectrum: {"degenerate": (len(tols),), "negative": float, "rank_bound": float, "max_abs": float}."""
    return {
        "degenerate": np.array([float(degenerate_fraction(density, tol)) for tol in settings.tols]),
        "negative": float(negative_fraction(density, settings.neg_tol)),
        "rank_bound": rank_bound(density.n_samples, density.n_outputs, density.n_params).min_zero_fraction,
        "max_abs": density.max_abs,
    }


@torch.no_grad()
def layer_outputs(net, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """For every hidden layer of a `DeepMLPs` batch: its outputs h_l (M, N, n) and its units' branch outputs
    phi(z_l) (M, N, n), without the skip terms (z_l the pre-activation, batch-normalized at `spec.bn_layer`).
    Layer 1 has no skip, so there both are the same."""
    _, hidden, preacts = net(x, return_hidden=True, return_preacts=True)
    phi = activation(net.spec.act)
    return hidden, [phi(z) for z in preacts]


def layer_singularities(net, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-layer singularity measures of every net: a dict of (M, L) arrays with keys `LAYER_KEYS`.

    "elimination", "overlap", "rank_deficit" are `layer_measures.layer_measures` of the layer outputs h_l;
    "branch_elimination" is the elimination fraction of the branch outputs (dead units whose skip may
    still carry a signal); "live_rank_deficit" the rank deficit of the outputs that are not eliminated.
    Needs more samples than units (rank). Chapter III.2."""
    check_inputs(net, x)
    if x.shape[0] <= net.spec.width:
        raise ValueError(f"x has {x.shape[0]} samples; the rank measure needs more than width={net.spec.width}")
    hidden, branch = layer_outputs(net, x)
    measures = lm.layer_measures([h.double() for h in hidden])
    out = {k: np.asarray(measures[k]).T for k in ("elimination", "overlap", "rank_deficit")}
    out["branch_elimination"] = np.asarray(lm.elimination_fraction([b.double() for b in branch])).T
    out["live_rank_deficit"] = np.asarray(lm.live_rank_deficit([h.double() for h in hidden])).T
    return out


def measure(net, x: torch.Tensor, y: torch.Tensor, settings: SpectrumSettings = SpectrumSettings(),
            members=None, progress: bool = False) -> dict[str, np.ndarray]:
    """Degeneracy of each selected member of a `DeepMLPs` batch on (x, y) (integer labels). Chapter III.2.

    Returns arrays with a leading axis over `members` (default: all): "degenerate" (M, len(tols)), "negative",
    "rank_bound", "max_abs", "loss" (M,), "nodes" and "weights" (M, probes, m) of the spectra (dense: one probe,
    m = P), and the per-layer measures of `layer_singularities` (M, L). Runs torch on one thread (tiny ops).
    """
    check_inputs(net, x)
    if not isinstance(y, torch.Tensor) or y.shape[:1] != x.shape[:1] or y.is_floating_point():
        raise ValueError("y must hold one integer class label per row of x")
    members = list(range(len(net))) if members is None else list(members)
    bad = [m for m in members if not 0 <= m < len(net)]
    if bad or not members:
        raise ValueError(f"members={members!r} must be a non-empty list of indices in [0, {len(net) - 1}]")
    p0 = next(net.parameters())
    x, y = x.to(p0.device), y.to(p0.device)
    rows = []
    with one_thread():
        layers = layer_singularities(net, x.to(p0.dtype))
        if settings.choose(net.n_params()) == "slq":          # all nets' recurrences in lockstep
            spectra = spectrum(net, "ce", (x, y), settings=settings, nets=members)
        else:
            spectra = [spectrum(net.member(m), "ce", (x, y), settings=settings)
                       for m in tqdm(members, desc="hessians", leave=False, disable=not progress)]
        for s in spectra:
            row = spectrum_summary(s.density, settings)
            row["loss"] = s.loss_value
            row["nodes"], row["weights"] = s.density.nodes, s.density.weights
            rows.append(row)
    out = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    out.update({k: v[members] for k, v in layers.items()})
    return out


@dataclass
class Tracked:
    """Measurements at checkpoints: `step` (T,) and, per key of `measure`, an array (T, M, ...)."""

    step: list = field(default_factory=list)
    values: dict = field(default_factory=dict)

    def add(self, step: int, values: dict) -> None:
        self.step.append(int(step))
        for k, v in values.items():
            self.values.setdefault(k, []).append(v)

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """{prefix + "step": (T,), prefix + key: (T, M, ...)} for storing in a result."""
        out = {prefix + "step": np.asarray(self.step)}
        out.update({prefix + k: np.stack(v) for k, v in self.values.items()})
        return out


def _measured_fingerprint(net, data, steps, checkpoints, x, y, settings, members, train_kwargs) -> str:
    """A hash of everything that determines the measurements of a `train_tracked` run (its nets, data, steps,
    measurement batch and settings), so a measurement file is only reused by the same run."""
    desc = json.dumps([asdict(net.spec), [asdict(m) for m in net.members], data.name, list(data.x_train.shape),
                       steps, checkpoints, asdict(settings), members,
                       sorted((k, v) for k, v in train_kwargs.items() if isinstance(v, (int, float, str))),
                       hashlib.sha256(x.detach().cpu().numpy().tobytes()).hexdigest(),
                       hashlib.sha256(y.detach().cpu().numpy().tobytes()).hexdigest()], default=str)
    return hashlib.sha256(desc.encode()).hexdigest()[:16]


def _read_measured(path: Path, fingerprint: str, checkpoints: list[int]) -> dict:
    """The measurements {step: {key: array}} stored at `path` by this very run (same `fingerprint`), else {}.
    Read without pickle; a damaged or malformed file is set aside with a warning naming it."""
    remove_leftovers(path)
    if not path.is_file():
        return {}
    try:
        state = load_tensors(path)
        if not isinstance(state, dict) or not isinstance(state.get("measured"), dict) or "fingerprint" not in state:
            raise DamagedFile(f"{path} is not a measurement file (missing fields)")
        if state["fingerprint"] != fingerprint:
            return {}
        found = state["measured"]
        ok = all(s in checkpoints and isinstance(m, dict) and set(m) >= {"degenerate", "nodes", *LAYER_KEYS}
                 and all(isinstance(v, torch.Tensor) for v in m.values()) for s, m in found.items())
        if not ok:
            raise DamagedFile(f"{path} holds malformed measurements")
    except DamagedFile as e:
        set_aside(path, str(e))
        return {}
    return {s: {k: v.numpy() for k, v in m.items()} for s, m in found.items()}


def train_tracked(net, data, steps: int, checkpoints, x: torch.Tensor, y: torch.Tensor,
                  settings: SpectrumSettings = SpectrumSettings(), members=None, progress: bool = False,
                  checkpoint=None, **train_kwargs):
    """Train `net` with `train.train` and `measure` it at each step in `checkpoints` (0 = before training).

    (x, y) is the fixed batch the Hessians and layer measures use; `train_kwargs` go to `train` (lr,
    batch_size, record_every, regularizer, ...). With `checkpoint` (a path) training resumes as `train` does,
    and the measurements taken so far are kept beside it (`*-measured.pt`, written after each one), so a run
    killed mid-way ends with the same numbers as one that was not. Returns (History, Tracked). Introduced in
    chapter III.2; used in Part IV.
    """
    checkpoints = sorted(set(int(s) for s in checkpoints))
    if not checkpoints or checkpoints[0] < 0 or checkpoints[-1] > steps:
        raise ValueError(f"checkpoints={checkpoints!r} must be steps in [0, steps={steps}]")
    if {"callback", "callback_at"} & set(train_kwargs):
        raise ValueError("train_tracked sets train's callback and callback_at itself; pass neither")
    check_inputs(net, x)                       # both checked before the first measurement, not after it
    check_width(net, data.d_in)
    measured_file = None if checkpoint is None else Path(checkpoint).with_name(Path(checkpoint).stem + "-measured.pt")
    fingerprint = _measured_fingerprint(net, data, steps, checkpoints, x, y, settings, members, train_kwargs)
    measured = {} if measured_file is None else _read_measured(measured_file, fingerprint, checkpoints)
    initial = {k: v.clone() for k, v in net.state_dict().items()}

    def record(step, _net):
        """The step hook: measure at `step` unless this run's file already holds it (the same numbers)."""
        if step in measured:
            return
        measured[step] = measure(net, x, y, settings, members, progress)
        if measured_file is not None:
            save_tensors({"fingerprint": fingerprint, "measured": {
                s: {k: torch.as_tensor(v) for k, v in m.items()} for s, m in measured.items()}}, measured_file)

    hist = train(net, data, steps, callback=record, callback_at=checkpoints, progress=progress,
                 checkpoint=checkpoint, **train_kwargs)
    missing = [s for s in checkpoints if s not in measured]
    if missing:         # resumed past measurements whose file was lost or set aside: train again from the start
        warnings.warn(f"the measurements at steps {missing} were lost with {measured_file}; training again "
                      f"from the start", RuntimeWarning, stacklevel=2)
        Path(checkpoint).unlink(missing_ok=True)
        net.load_state_dict(initial)
        hist = train(net, data, steps, callback=record, callback_at=checkpoints, progress=progress,
                     checkpoint=checkpoint, **train_kwargs)
    tracked = Tracked()
    for step in checkpoints:
        tracked.add(step, measured[step])
    return hist, tracked

