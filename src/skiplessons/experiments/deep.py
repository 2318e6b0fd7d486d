"""Part III experiments: deep plain, residual and hyper-residual nets -- training on a second data set,
degeneracy during training, and a depth sweep (chapters III.1 and III.2). Sizes: `configs`.

The rank trap decides the sizes of the degeneracy experiments: the Gauss-Newton part of the Hessian over N
samples and C classes has rank <= N*(C-1) (softmax outputs sum to one), so fractions are compared only where
that bound is well above the parameter count P. At `default` the nets are deep and *narrow* (depth 30, width
8: P = 2,506) and the Hessian uses N = 1,000 training examples.
"""
from __future__ import annotations

import numpy as np

from .. import degeneracy as dg
from ..curvature import SpectralDensity
from ..env import one_thread
from ..models import DeepMLPs, NetSpec
from ..train import train
from . import experiment
from .configs import DEGENERACY, DEPTH_SWEEP, TRAINING_DIGITS
from .training import TrainingResult, labels, load_data, members, run_training
from .views import ResultView


class DegeneracyResult(ResultView):
    """Hessian spectra and per-layer measures of every net at the checkpoints of training, plus its curves.

    `step` selects a checkpoint by position (-1: the last); `by` the grouping ("arch", or "condition" in
    Part IV)."""

    @property
    def checkpoints(self) -> np.ndarray:
        """The training steps at which the nets were measured."""
        return np.asarray(self.arrays["ckpt_step"])

    @property
    def tols(self) -> tuple:
        return tuple(float(t) for t in self.summary["tols"])

    @property
    def hessian_samples(self) -> int:
        return int(self.config["hessian_samples"])

    @property
    def rank_bound(self) -> float:
        """The fraction of Hessian eigenvalues the data size alone forces to zero (Gauss-Newton rank bound)."""
        return float(self.summary["rank_bound"])

    def _tol_index(self, tol: float) -> int:
        matches = [i for i, t in enumerate(self.tols) if np.isclose(t, tol)]
        if not matches:
            raise ValueError(f"tol={tol!r} was not measured in result {self.name!r}; measured: {self.tols}")
        return matches[0]

    def _at(self, key: str, step) -> np.ndarray:
        values = np.asarray(self.arrays[f"ckpt_{key}"], dtype=float)
        return np.moveaxis(values, 0, 1) if step is None else values[step]

    def degenerate(self, tol: float = dg.HEADLINE_TOL, step: int | None = -1, by: str | None = None):
        """{group: degenerate fraction (|λ| <= tol max|λ|) per net} at checkpoint `step` (None: every checkpoint,
        shape (nets, checkpoints))."""
        k = self._tol_index(tol)
        return self.split(self._at("degenerate", step)[..., k], by)

    def negative(self, step: int | None = -1, by: str | None = None):
        """{group: negative fraction per net} at checkpoint `step` (None: every checkpoint)."""
        return self.split(self._at("negative", step), by)

    def max_abs(self, step: int | None = -1, by: str | None = None):
        """{group: largest |eigenvalue| per net} at checkpoint `step` (None: every checkpoint)."""
        return self.split(self._at("max_abs", step), by)

    def layer(self, key: str, step: int | None = -1, by: str | None = None, per_layer: bool = False):
        """{group: per-layer measure `key` (see `degeneracy.LAYER_KEYS`) per net}: the mean over layers, or
        (nets, layers) with `per_layer`; `step=None` adds a checkpoint axis after the nets."""
        if key not in dg.LAYER_KEYS:
            raise ValueError(f"key={key!r} is not a layer measure; choose one of {', '.join(dg.LAYER_KEYS)}")
        values = self._at(key, step)
        return self.split(values if per_layer else values.mean(-1), by)

    def density(self, net: int, step: int = -1) -> SpectralDensity:
        """The Hessian spectrum of net number `net` at checkpoint `step`, as quadrature nodes and weights."""
        nodes, weights = self.arrays["ckpt_nodes"][step, net], self.arrays["ckpt_weights"][step, net]
        return SpectralDensity(nodes, weights, self.n_params, self.hessian_samples, self.n_classes)


class DepthSweepResult(ResultView):
    """Final accuracy, degeneracy and elimination of plain and residual nets at each depth."""

    @property
    def depths(self) -> np.ndarray:
        return np.asarray(self.arrays["depth"])

    @property
    def tols(self) -> tuple:
        return tuple(float(t) for t in self.summary["tols"])

    def at_depths(self, key: str, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (depths, nets)} of `key` ("acc", "loss", "negative", "elimination", ...)."""
        return self.split(np.asarray(self.arrays[key], dtype=float), by, axis=1)

    def degenerate(self, tol: float = dg.HEADLINE_TOL, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (depths, nets)} degenerate fraction at `tol`."""
        k = [i for i, t in enumerate(self.tols) if np.isclose(t, tol)]
        if not k:
            raise ValueError(f"tol={tol!r} was not measured in result {self.name!r}; measured: {self.tols}")
        return self.split(np.asarray(self.arrays["degenerate"], dtype=float)[..., k[0]], by, axis=1)


def hessian_batch(config, d):
    """The first `hessian_samples` training examples: the fixed batch every Hessian is measured on."""
    n = config.hessian_samples
    if n > len(d.x_train):
        raise ValueError(f"hessian_samples={n} exceeds the {len(d.x_train)} training examples of {d.name}")
    return d.x_train[:n], d.y_train[:n]


def run_digits(config, ctx):
    with one_thread():                  # these small nets run faster on one thread than on two busy ones
        return run_training(config, ctx)


experiment("training_digits", TRAINING_DIGITS, TrainingResult, "the training experiment on scikit-learn digits",
           "07_training_deep")(run_digits)


def run_degeneracy(config, ctx):
    d = load_data(config)
    net = DeepMLPs(NetSpec(d.d_in, d.n_classes, depth=config.depth, width=config.width), members(config),
                   device=ctx.device)
    x, y = hessian_batch(config, d)
    settings = config.spectrum.settings()
    steps = dg.checkpoint_steps(config.steps, config.checkpoints)
    with one_thread():
        hist, tracked = dg.train_tracked(net, d, config.steps, steps, x, y, settings, lr=config.lr,
                                         batch_size=config.batch_size, record_every=config.record_every,
                                         progress=ctx.progress)
    arrays = {**hist.arrays(), **tracked.arrays("ckpt_"), **labels(net)}
    summary = {"data": d.name, "n_classes": d.n_classes, "n_params": net.n_params(), "tols": list(settings.tols),
               "method": settings.choose(net.n_params()),
               "rank_bound": float(tracked.values["rank_bound"][-1][0])}
    return summary, arrays


experiment("degeneracy", DEGENERACY, DegeneracyResult,
           "Hessian spectra and layer singularities of deep narrow nets during training",
           "08_degeneracy")(run_degeneracy)


def run_depth_sweep(config, ctx):
    d = load_data(config)
    x, y = hessian_batch(config, d)
    settings = config.spectrum.settings()
    rows = {k: [] for k in ("acc", "loss", "degenerate", "negative", "rank_bound", "elimination", "n_params")}
    with one_thread():
        for depth in config.depths:
            net = DeepMLPs(NetSpec(d.d_in, d.n_classes, depth=depth, width=config.width), members(config),
                           device=ctx.device)
            hist = train(net, d, config.steps, lr=config.lr, batch_size=config.batch_size,
                         record_every=config.steps, progress=ctx.progress,
                         checkpoint=ctx.checkpoint(f"depth_{depth}")).arrays()   # a finished depth: no steps
            m = dg.measure(net, x, y, settings)
            rows["acc"].append(hist["acc"][:, -1])
            rows["loss"].append(hist["loss"][:, -1])
            for k in ("degenerate", "negative", "rank_bound"):
                rows[k].append(m[k])
            rows["elimination"].append(m["elimination"].mean(1))
            rows["n_params"].append(np.full(len(net), net.n_params()))
    arrays = {k: np.stack(v) for k, v in rows.items()}          # (depths, nets, ...)
    arrays.update(depth=np.asarray(config.depths), **labels(net))
    return {"data": d.name, "n_classes": d.n_classes, "tols": list(settings.tols)}, arrays


experiment("depth_sweep", DEPTH_SWEEP, DepthSweepResult,
           "accuracy and degeneracy of plain and residual nets against depth", "07_training_deep")(run_depth_sweep)
