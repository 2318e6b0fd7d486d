"""Part III experiments: deep plain, residual and hyper-residual nets -- the headline `training` experiment
(chapter 0 and III.1), training on a second data set, degeneracy during training, exact zeros of small nets'
dense spectra, a depth sweep and a width sweep (chapters III.1 and III.2). Sizes: `configs`.

`training` trains plain, residual and hyper-residual nets of depth 30 together over seeds. Every setting is our
choice (the paper's optimizer, schedule and initialization are not known): Adam, constant learning rate,
minibatches of 128, the initialization documented in `skiplessons.models`.

The rank trap decides the sizes of the degeneracy experiments: the Gauss-Newton part of the Hessian over N
samples and C classes has rank <= N*(C-1) (softmax outputs sum to one), so fractions are compared only where
that bound is well above the parameter count P. At `default` the nets are deep and *narrow* (depth 30, width
8: P = 2,506) and the Hessian uses N = 1,000 training examples.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import data as _data
from .. import degeneracy as dg
from .. import exact_zeros as ez
from ..curvature import NORMALIZATIONS, SpectralDensity, near_zero_fraction, slq
from ..env import one_thread
from ..files import DamagedFile, load_tensors, save_tensors, set_aside
from ..layered_curvature import assemble, gauss_newton
from ..models import DeepMLPs
from ..stats import mean_error
from ..train import train
from . import experiment
from .configs import DEGENERACY, DEPTH_SWEEP, EXACT_ZEROS, TRAINING, TRAINING_DIGITS, WIDTH_SWEEP
from .parts import checkpoint_steps, hessian_batch, labels, load_data, nets
from .views import ResultView


class TrainingResult(ResultView):
    """Curves of every net (`curves`, `final`) grouped by architecture; `n_params` per net."""


def run_training(config, ctx) -> tuple[dict, dict]:
    """Train every architecture x seed of `config` in one batch; the curves and the final numbers per net."""
    d = load_data(config)
    return train_batch(nets(config, d, ctx.device, dtype=getattr(torch, config.dtype)), d, config, ctx)


def train_batch(net: DeepMLPs, d: _data.Dataset, config, ctx) -> tuple[dict, dict]:
    """Train the nets of `net` together on `d` with `config`'s steps, rate, minibatches and recording (a net
    whose loss turns non-finite is dropped and named in the summary); (summary, arrays) of curves and labels."""
    with one_thread():              # 10x faster than two threads on a busy 2-core machine (bench/threads.py)
        hist = train(net, d, steps=config.steps, lr=config.lr, batch_size=config.batch_size,
                     record_every=config.record_every, progress=ctx.progress, on_nonfinite="drop",
                     checkpoint=ctx.checkpoint("train"))
    arrays = {**hist.arrays(), **labels(net)}
    summary = {"data": d.name, "n_classes": d.n_classes, "n_params": net.n_params()}
    if hist.failed:                 # nets dropped for a non-finite loss: their curves are NaN from that step
        summary["failed"] = [{"net": m, "label": net.members[m].label, "step": s} for m, s in sorted(hist.failed.items())]
    return summary, arrays


experiment("training", TRAINING, TrainingResult, "plain vs residual vs hyper-residual deep MLPs over seeds",
           "00_headline", replicated=True)(run_training)


class DegeneracyResult(ResultView):
    """Hessian spectra and per-layer measures of every net at the checkpoints of training, plus its curves.

    `step` selects a checkpoint by position (-1: the last); `by` the grouping ("arch", or "condition" in
    Part IV)."""

    @property
    def checkpoints(self) -> np.ndarray:
        """The training steps at which the nets were measured."""
        return np.asarray(self.arrays["ckpt_step"])

    @property
    def hessian_samples(self) -> int:
        return int(self.config.hessian_samples)

    @property
    def rank_bound(self) -> float:
        """The fraction of Hessian eigenvalues the data size alone forces to zero (Gauss-Newton rank bound)."""
        return float(self.summary["rank_bound"])

    def _at(self, key: str, step) -> np.ndarray:
        values = np.asarray(self.arrays[f"ckpt_{key}"], dtype=float)
        return np.moveaxis(values, 0, 1) if step is None else values[step]

    def degenerate(self, tol: float = dg.HEADLINE_TOL, step: int | None = -1, by: str | None = None):
        """{group: degenerate fraction (|λ| <= tol max|λ|) per net} at checkpoint `step` (None: every checkpoint,
        shape (nets, checkpoints))."""
        k = self.tol_index(tol)
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
        if f"ckpt_{key}" not in self.arrays:
            raise ValueError(f"result {self.name!r} ({self.scale}) was computed before layer measure {key!r} was "
                             f"stored; run it again to read it")
        values = self._at(key, step)
        return self.split(values if per_layer else values.mean(-1), by)

    def density(self, net: int, step: int = -1) -> SpectralDensity:
        """The Hessian spectrum of net number `net` at checkpoint `step`, as quadrature nodes and weights."""
        if "ckpt_nodes" not in self.arrays:
            raise ValueError(f"result {self.name!r} stores no spectra (nodes and weights); near-zero fractions "
                             f"under other normalizations cannot be recomputed from it")
        nodes, weights = self.arrays["ckpt_nodes"][step, net], self.arrays["ckpt_weights"][step, net]
        return SpectralDensity(nodes, weights, self.n_params, self.hessian_samples, self.n_classes)

    def _near(self, threshold, normalization, step):
        n = len(self.labels())
        values = [near_zero_fraction(self.density(m, step), threshold, normalization) for m in range(n)]
        return (np.array([v.fraction for v in values]), np.array([v.error for v in values]),
                np.array([v.resolution for v in values]))

    def near_zero(self, normalization: str = "max", threshold: float | None = None, step: int = -1,
                  by: str | None = None) -> dict[str, np.ndarray]:
        """{group: fraction per net} of eigenvalues with |λ| <= threshold * scale (`curvature.near_zero_fraction`;
        scale max|λ|, mean|λ| or 1), recomputed from the stored spectra at checkpoint `step`; `threshold`
        defaults to `degeneracy.NEAR_ZERO[normalization]`."""
        threshold = dg.NEAR_ZERO[normalization] if threshold is None else threshold
        return self.split(self._near(threshold, normalization, step)[0], by)

    def near_zero_error(self, normalization: str = "max", threshold: float | None = None, step: int = -1,
                        by: str | None = None) -> dict[str, tuple[float, float]]:
        """{group: (standard error, bound)} of its mean near-zero fraction from SLQ itself (`stats.mean_error`):
        the probes' spread, a standard error that averages down over nets, and the quadrature's resolution
        (`curvature.NearZero.resolution`), a deterministic bound that does not."""
        threshold = dg.NEAR_ZERO[normalization] if threshold is None else threshold
        _, se, res = self._near(threshold, normalization, step)
        se, res = self.split(se, by), self.split(res, by)
        return {g: mean_error(se[g], res[g]) for g in se}

    def sweep(self, normalization: str = "max", thresholds=None, step: int = -1,
              by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (nets, thresholds)} near-zero fractions over `thresholds` (default `degeneracy.SWEEP`)."""
        thresholds = dg.SWEEP[normalization] if thresholds is None else np.asarray(thresholds)
        values = np.stack([self._near(t, normalization, step)[0] for t in thresholds], axis=1)
        return self.split(values, by)

    def scales(self, step: int = -1, by: str | None = None) -> dict[str, dict[str, np.ndarray]]:
        """{"max": {group: max|λ| per net}, "mean": {group: mean|λ|}, "trace": {group: tr H}} at `step`."""
        ds = [self.density(m, step) for m in range(len(self.labels()))]
        return {"max": self.split(np.array([d.max_abs for d in ds]), by),
                "mean": self.split(np.array([d.mean_abs for d in ds]), by),
                "trace": self.split(np.array([d.trace for d in ds]), by)}

    def collapsed(self, step: int = -1, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: bool per net}: some hidden layer's outputs are all eliminated, so the output no longer
        depends on the input (a failed run, not a degenerate solution)."""
        return self.split((self._at("elimination", step) >= 1.0).any(-1), by)


class DepthSweepResult(ResultView):
    """Final accuracy, degeneracy and elimination of plain and residual nets at each depth: `at_depths(key)` is
    {group: (depths, nets)} of "acc", "loss", "negative", "elimination", ..."""

    grid_name = "depth"
    depths, at_depths = ResultView.points, ResultView.along_grid

    def degenerate(self, tol: float = dg.HEADLINE_TOL, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (depths, nets)} degenerate fraction at `tol`."""
        return self.split(np.asarray(self.arrays["degenerate"], dtype=float)[..., self.tol_index(tol)], by, axis=1)

    def near_zero(self, normalization: str = "max", by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (depths, nets)} near-zero fraction at `degeneracy.NEAR_ZERO[normalization]` (stored by the
        run: results computed before these were stored raise a ValueError)."""
        return self.split(self._stored(f"near_zero_{normalization}"), by, axis=1)

    def near_zero_error(self, normalization: str = "max", by: str | None = None) -> dict[str, tuple]:
        """{group: ((depths,) standard errors, (depths,) bounds)} of each depth's mean near-zero fraction from SLQ
        itself (`stats.mean_error` over the nets of a depth). Results stored with one combined error per net
        (before the two were kept apart) count all of it as a bound, which can only widen the interval."""
        if f"near_zero_{normalization}_se" in self.arrays:
            se, bound = (self.split(self._stored(f"near_zero_{normalization}_{k}"), by, axis=1) for k in ("se", "bound"))
        else:
            bound = self.split(self._stored(f"near_zero_{normalization}_error"), by, axis=1)
            se = {g: np.zeros_like(b) for g, b in bound.items()}
        return {g: tuple(np.array(v) for v in zip(*(mean_error(s_, b_) for s_, b_ in zip(se[g], bound[g]))))
                for g in se}

    def _stored(self, key):
        if key not in self.arrays:
            raise ValueError(f"result {self.name!r} ({self.scale}) was computed before {key!r} was stored; "
                             f"run it again to read near-zero fractions per normalization")
        return np.asarray(self.arrays[key], dtype=float)


def run_digits(config, ctx):
    with one_thread():                  # these small nets run faster on one thread than on two busy ones
        return run_training(config, ctx)


experiment("training_digits", TRAINING_DIGITS, TrainingResult, "the training experiment on scikit-learn digits",
           "07_training_deep")(run_digits)


def run_degeneracy(config, ctx):
    d = load_data(config)
    net = nets(config, d, ctx.device)
    x, y = hessian_batch(config, d)
    settings = config.spectrum
    steps = checkpoint_steps(config.steps, config.checkpoints)
    with one_thread():
        hist, tracked = dg.train_tracked(net, d, config.steps, steps, x, y, settings, lr=config.lr,
                                         batch_size=config.batch_size, record_every=config.record_every,
                                         progress=ctx.progress, checkpoint=ctx.checkpoint("train"))
    arrays = {**hist.arrays(), **tracked.arrays("ckpt_"), **labels(net)}
    summary = {"data": d.name, "n_classes": d.n_classes, "n_params": net.n_params(), "tols": list(settings.tols),
               "method": settings.choose(net.n_params()),
               "rank_bound": float(tracked.values["rank_bound"][-1][0])}
    return summary, arrays


experiment("degeneracy", DEGENERACY, DegeneracyResult,
           "Hessian spectra and layer singularities of deep narrow nets during training",
           "08_degeneracy", replicated=True)(run_degeneracy)


def run_depth_sweep(config, ctx):
    d = load_data(config)
    x, y = hessian_batch(config, d)
    settings = config.spectrum
    rows = {k: [] for k in ("acc", "loss", "degenerate", "negative", "rank_bound", "elimination", "n_params")}
    with one_thread():
        for depth in config.depths:
            net = nets(config, d, ctx.device, depth=depth)
            hist = train(net, d, config.steps, lr=config.lr, batch_size=config.batch_size,
                         record_every=config.steps, progress=ctx.progress,
                         checkpoint=ctx.checkpoint(f"depth_{depth}")).arrays()   # a finished depth: no steps
            m = dg.measure(net, x, y, settings)
            p = net.n_params()
            for norm in NORMALIZATIONS:
                nz = [near_zero_fraction(SpectralDensity(n_, w_, p), dg.NEAR_ZERO[norm], norm)
                      for n_, w_ in zip(m["nodes"], m["weights"])]
                rows.setdefault(f"near_zero_{norm}", []).append([v.fraction for v in nz])
                rows.setdefault(f"near_zero_{norm}_se", []).append([v.error for v in nz])
                rows.setdefault(f"near_zero_{norm}_bound", []).append([v.resolution for v in nz])
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


class ExactZerosResult(ResultView):
    """Dense Hessian and Gauss-Newton spectra of deep nets at initialization and at the end of training
    (`at` = "init" or "end"), their exact zeros counted by the spectral gap and attributed to causes
    (`exact_zeros.CAUSES`), and SLQ estimates of each Hessian spectrum at several sizes, to measure SLQ's error
    against the dense one."""

    causes = ez.CAUSES

    def _key(self, what: str, matrix: str, at: str) -> np.ndarray:
        if matrix not in ez.MATRICES:
            raise ValueError(f"matrix={matrix!r} is not valid; choose one of {', '.join(ez.MATRICES)}")
        if at not in STAGES:
            raise ValueError(f"at={at!r} is not valid; choose one of {', '.join(STAGES)}")
        i = STAGES.index(at)
        if np.isnan(np.asarray(self.arrays[f"eigs_{matrix}"][i], dtype=float)).all():
            raise ValueError(f"the {matrix} spectrum was not computed at {at!r} in this result (config "
                             f"ggn_at_init={self.config.ggn_at_init})")
        return np.asarray(self.arrays[f"{what}_{matrix}"][i])

    def eigenvalues(self, net: int, matrix: str = "hessian", at: str = "end") -> np.ndarray:
        """The dense eigenvalues (P,) of net number `net` ("hessian" or "ggn")."""
        return self._key("eigs", matrix, at)[net]

    @property
    def slq_sizes(self) -> list[tuple[int, int]]:
        """Every (probes, Lanczos steps) with a stored SLQ estimate; the first is `spectrum`'s, the chapter's."""
        spec = self.config.spectrum
        return [(spec.n_probes, spec.n_steps)] + [tuple(s) for s in self.config.slq_sizes]

    def density(self, net: int, matrix: str = "hessian", method: str = "dense", at: str = "end",
                size: tuple | None = None) -> SpectralDensity:
        """Net `net`'s spectrum as a density: dense (one probe) or, for the Hessian, its SLQ estimate at `size`
        (probes, steps; default the first of `slq_sizes`)."""
        if method == "slq":
            if matrix != "hessian":
                raise ValueError("only the Hessian has an SLQ estimate in this result")
            size = self.slq_sizes[0] if size is None else tuple(size)
            if size not in self.slq_sizes:
                raise ValueError(f"size={size!r} has no SLQ estimate; choose one of {self.slq_sizes}")
            k = self.slq_sizes.index(size)
            i = STAGES.index(at)
            return SpectralDensity(self.arrays[f"slq{k}_nodes"][i, net], self.arrays[f"slq{k}_weights"][i, net],
                                   self.n_params, self.hessian_samples, self.n_classes)
        if method != "dense":
            raise ValueError(f"method={method!r} is not valid; choose one of dense, slq")
        eigs = self.eigenvalues(net, matrix, at)
        return SpectralDensity(eigs[None], np.full((1, eigs.size), 1.0 / eigs.size), eigs.size,
                               self.hessian_samples, self.n_classes)

    @property
    def hessian_samples(self) -> int:
        return int(self.config.hessian_samples)

    def measured(self, matrix: str = "hessian", by: str | None = None, at: str = "end") -> dict[str, np.ndarray]:
        """{group: exact-zero fraction per net}: the count below the spectral gap / P."""
        return self.split(self._key("zeros", matrix, at) / self.n_params, by)

    def functional_dimension(self, by: str | None = None, at: str = "end") -> dict[str, np.ndarray]:
        """{group: batch functional dimension per net}: the rank of the Gauss-Newton matrix, i.e. of the output
        Jacobian over the Hessian batch modulo the softmax's common logit shift (Grigsby et al. 2022)."""
        return self.split(self.n_params - self._key("zeros", "ggn", at), by)

    def gap_decades(self, matrix: str = "hessian", by: str | None = None, at: str = "end") -> dict[str, np.ndarray]:
        """{group: width of the gap in decades per net} (nan where no eigenvalue is at round-off level)."""
        return self.split(self._key("gap", matrix, at), by)

    def attribution(self, matrix: str = "hessian", by: str | None = None, at: str = "end"
                    ) -> dict[str, dict[str, np.ndarray]]:
        """{group: {cause: count per net}} with "unexplained" last (measured minus the causes' total)."""
        counts, measured = self._key("causes", matrix, at), self._key("zeros", matrix, at)
        out = {}
        for g, idx in self.split(np.arange(len(measured)), by).items():
            out[g] = {c: counts[idx, k] for k, c in enumerate(self.causes)}
            out[g]["unexplained"] = measured[idx] - counts[idx].sum(1)
        return out

    def collapsed(self, by: str | None = None, at: str = "end") -> dict[str, np.ndarray]:
        """{group: bool per net} whether the net's output no longer depends on its input."""
        return self.split(np.asarray(self.arrays["collapsed"][STAGES.index(at)], dtype=bool), by)

    def near_zero(self, normalization: str = "max", threshold: float | None = None, matrix: str = "hessian",
                  method: str = "dense", by: str | None = None, at: str = "end", size: tuple | None = None
                  ) -> dict[str, np.ndarray]:
        """{group: near-zero fraction per net} as `DegeneracyResult.near_zero`, from the dense spectra (or the
        Hessian's SLQ estimate at `size` with `method="slq"`)."""
        threshold = dg.NEAR_ZERO[normalization] if threshold is None else threshold
        n = len(self.labels())
        return self.split(np.array([near_zero_fraction(self.density(m, matrix, method, at, size), threshold,
                                                       normalization).fraction for m in range(n)]), by)

    def sweep(self, normalization: str = "max", thresholds=None, matrix: str = "hessian", method: str = "dense",
              by: str | None = None, at: str = "end") -> dict[str, np.ndarray]:
        """{group: (nets, thresholds)} near-zero fractions over `thresholds` (default `degeneracy.SWEEP`)."""
        thresholds = dg.SWEEP[normalization] if thresholds is None else np.asarray(thresholds)
        values = [self.near_zero(normalization, t, matrix, method, by, at) for t in thresholds]
        return {g: np.stack([v[g] for v in values], axis=1) for g in values[0]}

    def negative(self, matrix: str = "hessian", by: str | None = None, at: str = "end") -> dict[str, np.ndarray]:
        """{group: fraction of eigenvalues below -(round-off) per net}: |λ| above the spectral gap and λ < 0."""
        zeros, out = self._key("zeros", matrix, at), []
        for m in range(len(self.labels())):
            eigs = self.eigenvalues(m, matrix, at)
            nonzero = eigs[np.argsort(np.abs(eigs))[int(zeros[m]):]]
            out.append(float((nonzero < 0).sum()) / eigs.size)
        return self.split(np.array(out), by)

    def slq_error(self, normalization: str = "max", threshold: float | None = None, at: str = "end",
                  size: tuple | None = None) -> dict[str, np.ndarray]:
        """Per net: "error" |SLQ - dense| of the Hessian's near-zero fraction at SLQ size `size`, and the errors
        SLQ states for itself: "se" (the spread over probes) and "bound" (the quadrature's resolution)."""
        threshold = dg.NEAR_ZERO[normalization] if threshold is None else threshold
        n = len(self.labels())
        slq_v = [near_zero_fraction(self.density(m, "hessian", "slq", at, size), threshold, normalization)
                 for m in range(n)]
        dense = [near_zero_fraction(self.density(m, at=at), threshold, normalization).fraction for m in range(n)]
        return {"error": np.abs(np.array([v.fraction for v in slq_v]) - dense),
                "se": np.array([v.error for v in slq_v]), "bound": np.array([v.resolution for v in slq_v])}


#: when `exact_zeros` measures: at initialization and at the end of training
STAGES = ("init", "end")


def measure_exact(model, x, y, config, ggn: bool = True) -> dict:
    """One net's dense spectra, exact-zero counts, attribution and SLQ estimates of its Hessian at every size
    of `config` (SLQ run on the assembled Hessian: the same operator as the Hessian-vector products)."""
    hess, gn = assemble(model, x, y)
    eigs = {"hessian": torch.linalg.eigvalsh(hess).numpy()}
    if ggn:
        eigs["ggn"] = torch.linalg.eigvalsh(gn).numpy()
    del gn
    att = ez.attribute(model, x, eigs)
    row = {"collapsed": att["hessian"].collapsed}
    for matrix in ez.MATRICES:
        a = att.get(matrix)
        row[f"eigs_{matrix}"] = eigs.get(matrix, np.full(len(hess), np.nan))
        row[f"zeros_{matrix}"] = a.measured if a else -1
        row[f"gap_{matrix}"] = a.gap.decades if a else np.nan
        row[f"causes_{matrix}"] = [a.counts.get(c, 0) if a else -1 for c in ez.CAUSES]
    spec = config.spectrum
    for k, (probes, steps) in enumerate([(spec.n_probes, spec.n_steps), *config.slq_sizes]):
        dens = slq(hess, n_probes=probes, n_steps=steps, seed=spec.seed)
        row[f"slq{k}_nodes"], row[f"slq{k}_weights"] = dens.nodes, dens.weights
    return row


def _row_fingerprint(model) -> str:
    """What a stored per-net row must have been measured from: the net's parameters, hashed."""
    params = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()]).numpy()
    return hashlib.sha256(params.tobytes()).hexdigest()[:16]


def _read_row(path, fingerprint: str) -> dict | None:
    """A per-net row stored at `path` for this very net (same `fingerprint`), else None. Read without pickle
    (`files.load_tensors`); a damaged or malformed file is set aside with a warning naming it."""
    if path is None or not path.is_file():
        return None
    try:
        state = load_tensors(path)
        if not (isinstance(state, dict) and isinstance(state.get("row"), dict) and "fingerprint" in state
                and all(isinstance(v, torch.Tensor) for v in state["row"].values())):
            raise DamagedFile(f"{path} is not a per-net row of exact spectra (missing or malformed fields)")
    except DamagedFile as e:
        set_aside(path, str(e))
        return None
    return {k: v.numpy() for k, v in state["row"].items()} if state["fingerprint"] == fingerprint else None


def _measure_all(net, x, y, config, ctx, stage):
    """`measure_exact` of every net at `stage`, each net's row checkpointed (tensors only, with the net's
    fingerprint) so that a killed run resumes."""
    rows = []
    for m in tqdm(range(len(net)), desc=f"exact spectra ({stage})", leave=False, disable=not ctx.progress):
        path = ctx.checkpoint(f"{stage}_net{m}")
        model = net.member(m).to("cpu").double()
        fingerprint = _row_fingerprint(model)
        row = _read_row(path, fingerprint)
        if row is None:
            row = measure_exact(model, x, y, config, ggn=stage == "end" or config.ggn_at_init)
            if path is not None:
                save_tensors({"fingerprint": fingerprint,
                              "row": {k: torch.as_tensor(np.asarray(v)) for k, v in row.items()}}, path)
        rows.append(row)
    return {k: np.asarray([r[k] for r in rows]) for k in rows[0]}


def run_exact_zeros(config, ctx):
    d = load_data(config)
    net = nets(config, d, ctx.device)
    x, y = (t.to("cpu") for t in hessian_batch(config, d))
    with one_thread():
        init = _measure_all(net, x, y, config, ctx, "init")
        hist = train(net, d, config.steps, lr=config.lr, batch_size=config.batch_size,
                     record_every=config.record_every, progress=ctx.progress, checkpoint=ctx.checkpoint("train"))
        end = _measure_all(net, x, y, config, ctx, "end")
    arrays = {k: np.stack([init[k], end[k]]) for k in init}
    arrays.update(**hist.arrays(), **labels(net))
    summary = {"data": d.name, "n_classes": d.n_classes, "n_params": net.n_params(), "causes": list(ez.CAUSES),
               "stages": list(STAGES)}
    return summary, arrays


experiment("exact_zeros", EXACT_ZEROS, ExactZerosResult,
           "exact zeros of dense Hessian and Gauss-Newton spectra of small deep nets, and their causes",
           "08_degeneracy", replicated=True)(run_exact_zeros)


class WidthSweepResult(ResultView):
    """Exact Gauss-Newton zeros and final accuracy of plain and residual nets at each width: `at_widths(key)` is
    {group: (widths, nets)} of "zeros" (the exact-zero fraction), "gap" (the spectral gap under the zeros, in
    decades), "acc", "loss", "n_params" or "hessian_samples"."""

    grid_name = "width"
    widths, at_widths = ResultView.points, ResultView.along_grid


def run_width_sweep(config, ctx):
    d = load_data(config)
    rows = {k: [] for k in ("acc", "loss", "zeros", "gap", "n_params", "hessian_samples")}
    with one_thread():
        for width in config.widths:
            net = nets(config, d, ctx.device, width=width)
            hist = train(net, d, config.steps, lr=config.lr, batch_size=config.batch_size,
                         record_every=config.steps, progress=ctx.progress,
                         checkpoint=ctx.checkpoint(f"width_{width}")).arrays()
            p = net.n_params()
            n = math.ceil(config.rank_margin * p / (d.n_classes - 1))      # N(C-1) above P: no zero forced
            x, y = (t.to("cpu") for t in hessian_batch(config, d, n))
            gaps = [ez.zero_gap(torch.linalg.eigvalsh(gauss_newton(net.member(m).to("cpu").double(), x, y)).numpy())
                    for m in range(len(net))]
            rows["zeros"].append([g.count / p for g in gaps])
            rows["gap"].append([g.decades for g in gaps])
            rows["acc"].append(hist["acc"][:, -1])
            rows["loss"].append(hist["loss"][:, -1])
            rows["n_params"].append(np.full(len(net), p))
            rows["hessian_samples"].append(np.full(len(net), n))
    arrays = {k: np.stack([np.asarray(r, dtype=float) for r in v]) for k, v in rows.items()}    # (widths, nets)
    arrays.update(width=np.asarray(config.widths), **labels(net))
    return {"data": d.name, "n_classes": d.n_classes, "depth": config.depth}, arrays


experiment("width_sweep", WIDTH_SWEEP, WidthSweepResult,
           "exact Gauss-Newton zeros of plain and residual nets against width", "08_degeneracy",
           replicated=True)(run_width_sweep)
