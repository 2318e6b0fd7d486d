"""Part IV experiments: is the benefit of skip connections just initialization? (chapters IV.1 and IV.2)

- `init_controls` (IV.1): plain and residual nets, residual nets with the two malicious initializations (the
  main one, without an activation blow-up, and the plain-draw one, with it), plain nets with the
  identity-plus-noise and the orthogonal initialization -- all in one batch, with the activation scale at
  initialization, the Hessian's degenerate and negative fractions and the per-layer measures tracked at
  checkpoints.
- `remedies` (IV.2): plain nets with the bias regularizer, with one batch-normalization layer, with both, and
  without either (two batches: nets with and without the BN layer differ in shape), with the manipulation
  measures at initialization (the BN layer frozen at the measured batch, `manipulation.freeze_batch_norm`).
- `skip_strength` (IV.2): residual nets with skip strength alpha from 0 (plain) to 1 (residual), and the
  pure-mean hyper-residual form (`models.VARIANTS`, the forking path disclosed in `models`), one batch.
- `malicious_wide` (IV.1, the main malicious comparison): plain and maliciously started residual nets
  at the width of Part III's `training` experiment, where plain nets keep their activation scale at
  initialization; training curves and the activation scale at initialization, no Hessians (one batch).

Every setting is ours (the paper gives none of them). The data, nets, optimizer and spectrum method are those of
Part III's `degeneracy` experiment: the configs derive from it (`configs.INIT_CONTROLS`, ...; `malicious_wide`'s
from the `training` config, `configs.MALICIOUS_WIDE`), so its conditions and ours can share one table; at
`default` Part IV trains half as long on half the Hessian batch (`configs.CONTROLS_OVERRIDES`, the time budget).
`init_growth_by_width` measures the activation scale at initialization of the malicious constructions against
plain and residual nets at several widths (IV.1).
"""
from __future__ import annotations

import numpy as np
import torch

from .. import degeneracy as dg
from .. import manipulation
from ..doubling import stream, width_doubled
from ..env import one_thread
from ..models import DeepMLPs, Member, NetSpec, hidden_rms
from ..regularizers import BiasRegularizer
from ..stats import mean_error
from . import experiment
from .configs import INIT_CONTROLS, MALICIOUS_WIDE, REMEDIES, SKIP_STRENGTH
from .part3 import DegeneracyResult, train_batch
from .parts import checkpoint_steps, hessian_batch, load_data
from .views import ResultView

#: the conditions of `init_controls`: (label, arch, init)
INIT_CONDITIONS = [("plain", "plain", "default"), ("residual", "residual", "default"),
                   ("residual, malicious", "residual", "malicious"),
                   ("residual, malicious (plain draw)", "residual", "malicious_plain"),
                   ("plain, identity+noise", "plain", "identity"), ("plain, orthogonal", "plain", "orthogonal")]
#: the extra condition of `skip_strength`: the pure-mean hyper-residual form at alpha = 1
HYPER_MEAN = "hyper, pure mean"
#: the conditions of `remedies`: (label, batch norm?, bias regularizer?)
REMEDY_CONDITIONS = [("plain", False, False), ("plain + bias reg.", False, True), ("plain + BN", True, False),
                     ("plain + BN + bias reg.", True, True)]


def probe_error(nodes: np.ndarray, weights: np.ndarray, tol: float) -> float:
    """Standard error, over SLQ probes, of one net's degenerate fraction at `tol`: the spread of the per-probe
    fractions (each probe's quadrature mass on |λ| <= tol · max|λ|, max over all probes) divided by
    sqrt(probes). Zero for an exact spectrum (one probe). A standard error: the comparison rule adds it to the
    variance (`stats.welch(error_a=...)`)."""
    nodes, weights = np.asarray(nodes, dtype=float), np.asarray(weights, dtype=float)
    if nodes.ndim != 2 or nodes.shape != weights.shape:
        raise ValueError(f"nodes and weights must be (probes, m) arrays of one shape, got {nodes.shape} and "
                         f"{weights.shape}")
    if len(nodes) < 2:
        return 0.0
    per_probe = (weights * (np.abs(nodes) <= tol * np.abs(nodes).max())).sum(axis=1)
    return float(per_probe.std(ddof=1) / np.sqrt(len(per_probe)))


def probe_errors(tracked: dict, tols) -> np.ndarray:
    """(checkpoints, nets, tols) `probe_error` of every net in `tracked` ("ckpt_nodes", "ckpt_weights")."""
    nodes, weights = tracked["ckpt_nodes"], tracked["ckpt_weights"]
    return np.array([[[probe_error(nodes[t, m], weights[t, m], tol) for tol in tols]
                      for m in range(nodes.shape[1])] for t in range(nodes.shape[0])])


class InitScaleResult(ResultView):
    """A Part IV result of nets grouped by condition, with training curves and the activation scale at
    initialization (the reader of `malicious_wide`; `ControlsResult` adds the Hessian measures)."""

    default_by = "condition"

    def init_rms(self, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (nets, layers)} RMS activation of every hidden layer at initialization, on the experiment's
        fixed batch (the Hessian batch of `init_controls`)."""
        return self.split(self._array("init_rms"), by)

    def init_growth(self, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: per net} activation growth at initialization, RMS(h_D) / RMS(h_1): the blow-up (>> 1) or
        vanishing (<< 1) a condition starts with."""
        return {g: v[:, -1] / v[:, 0] for g, v in self.init_rms(by).items()}

    def manipulation(self, by: str | None = None) -> dict[str, dict[str, np.ndarray]] | None:
        """{group: {property: per net}} the manipulation measures at initialization (the keys of
        `manipulation.PROPERTIES`, and "sv": (nets, inputs, width) singular values), or None for a result stored
        before they were measured."""
        if "init_sv" not in self.arrays:
            return None
        values = {p: self._array(f"init_{p}") for p in list(manipulation.PROPERTIES) + ["sv"]}
        split = {p: self.split(v, by) for p, v in values.items()}
        return {g: {p: split[p][g] for p in values} for g in self.groups(by)}


class ControlsResult(DegeneracyResult, InitScaleResult):
    """A Part IV result: the accessors of `DegeneracyResult`, grouped by condition, plus the activation scale at
    initialization, the SLQ error of the degenerate fractions and the skip-strength sweep."""

    default_by = "condition"

    @property
    def alphas(self) -> np.ndarray:
        """The skip strength of every net (experiment `skip_strength` only)."""
        return np.asarray(self.arrays["alpha"])

    def degenerate_error(self, tol: float = dg.HEADLINE_TOL, step: int = -1, by: str | None = None) -> dict:
        """{group: standard error of the group's mean degenerate fraction from the SLQ probes alone}
        (`stats.mean_error` of the nets' `probe_error`s), the `error_a`/`error_b` of `stats.welch`."""
        k = self.tol_index(tol)
        se = self.split(np.asarray(self.arrays["ckpt_degenerate_se"], dtype=float)[step][..., k], by)
        return {g: mean_error(v, np.zeros_like(v))[0] for g, v in se.items()}

    def sweep(self, quantity: str = "acc", tol: float = dg.HEADLINE_TOL) -> dict[float, np.ndarray]:
        """{alpha: per net} over the residual nets of `skip_strength`, ordered by alpha: `quantity` "acc" (final
        training accuracy) or "degenerate" (final degenerate fraction at `tol`)."""
        if quantity not in ("acc", "degenerate"):
            raise ValueError(f"quantity={quantity!r} is not valid; choose one of acc, degenerate")
        values = (self._array("acc")[:, -1] if quantity == "acc" else
                  np.asarray(self.arrays["ckpt_degenerate"], dtype=float)[-1][:, self.tol_index(tol)])
        residual = self.labels("arch") == "residual"
        return {float(a): values[residual & (self.alphas == a)] for a in np.unique(self.alphas[residual])}


#: inputs of the fixed batch the input-output Jacobians at initialization are measured on (the first ones)
JACOBIAN_INPUTS = 16


def init_manipulation(spec: NetSpec, members: list[Member], x: torch.Tensor) -> dict[str, np.ndarray]:
    """The manipulation measures of `members` at initialization (`manipulation.measure`) on the first
    `JACOBIAN_INPUTS` rows of `x`, as arrays "init_<property>": one value per net, and "init_sv" the spectra."""
    with one_thread():
        measured = manipulation.measure(DeepMLPs(spec, members), x[:JACOBIAN_INPUTS])
    return {f"init_{k}": v for k, v in measured.items()}


def run_batch(config, spec: NetSpec, members: list[Member], d, checkpoints, ctx, regularizer=None,
              part: str = "train") -> dict:
    """Train one batch of nets (`degeneracy.train_tracked`) and measure every net's Hessian spectrum and layer
    singularities at `checkpoints` (steps). Returns the curves, the RMS activation of every hidden layer at
    initialization ("init_rms", (nets, layers)) and the measurements ("ckpt_*", shape (checkpoints, nets, ...),
    with the SLQ error of the degenerate fractions "ckpt_degenerate_se")."""
    net = DeepMLPs(spec, members, device=ctx.device)
    x, y = hessian_batch(config, d)
    init_rms = hidden_rms(net, x).cpu().numpy()
    with one_thread():                  # these small nets run faster on one thread than on two busy ones
        hist, tracked = dg.train_tracked(net, d, config.steps, checkpoints, x, y, config.spectrum,
                                         lr=config.lr, batch_size=config.batch_size,
                                         record_every=config.record_every, regularizer=regularizer,
                                         progress=ctx.progress, checkpoint=ctx.checkpoint(part))
    measured = tracked.arrays("ckpt_")
    measured["ckpt_degenerate_se"] = probe_errors(measured, config.spectrum.tols)
    return {**hist.arrays(), "init_rms": init_rms, **measured}


def _checkpoint_steps(config) -> list[int]:
    """The steps at which a config's Hessians are measured: the last one only, or `config.checkpoints` from 0."""
    if config.checkpoints == 1:
        return [config.steps]
    return checkpoint_steps(config.steps, config.checkpoints)


def _spec(config, d, bn_layer=None) -> NetSpec:
    return NetSpec(d.d_in, d.n_classes, depth=config.depth, width=config.width, bn_layer=bn_layer)


def _finish(labels, arrays, config, d, spec) -> tuple[dict, dict]:
    arrays["condition"] = np.asarray(labels)
    summary = {"data": d.name, "n_classes": d.n_classes, "tols": list(config.spectrum.tols),
               "n_params": DeepMLPs(spec, [Member("plain")]).n_params(),
               "rank_bound": float(arrays["ckpt_rank_bound"][-1, 0])}
    return summary, arrays


#: the conditions of the activation-scale table at initialization (IV.1): the references and both malicious inits
SCALE_CONDITIONS = INIT_CONDITIONS[:4]


def init_growth_by_width(config, widths, seeds: int) -> dict[int, dict[str, np.ndarray]]:
    """{width: {condition: per seed}} activation growth at initialization, RMS(h_D) / RMS(h_1), of every
    condition in `SCALE_CONDITIONS` (plain, residual and the two malicious constructions), `seeds` seeds
    (0 .. seeds-1) each, at `config`'s depth and on its Hessian batch (an `init_controls` config). No training:
    the table of chapter IV.1 that shows where a malicious start keeps the activation scale (sizes:
    `configs.INIT_SCALE`). A net whose last hidden layer is all zero has growth 0."""
    if not widths or seeds < 1:
        raise ValueError(f"widths={widths!r} must name at least one width and seeds={seeds!r} must be >= 1")
    d = load_data(config)
    x, _ = hessian_batch(config, d)
    out = {}
    for width in widths:
        spec = NetSpec(d.d_in, d.n_classes, depth=config.depth, width=int(width))
        members = [Member(arch, s, init=init) for _, arch, init in SCALE_CONDITIONS for s in range(seeds)]
        with torch.no_grad(), one_thread():      # small ops: faster on one thread than on two busy ones
            rms = hidden_rms(DeepMLPs(spec, members), x).cpu().numpy()
        growth = (rms[:, -1] / rms[:, 0]).reshape(len(SCALE_CONDITIONS), seeds)
        out[int(width)] = {label: g for (label, _, _), g in zip(SCALE_CONDITIONS, growth)}
    return out


#: the skip strengths of residual nets (default init, `models.branch_scale`) measured beside the constructions:
#: the dial of chapter IV.2, where the skip itself is weakened instead of cancelled
SEARCH_ALPHAS = (0.1, 0.25, 0.5)
#: the starts of chapter IV.1's manipulation table: (label, Member arguments) -- every condition of
#: `init_controls` and residual nets at the skip strengths of `SEARCH_ALPHAS`
SEARCH_CONDITIONS = ([(label, {"arch": arch, "init": init}) for label, arch, init in INIT_CONDITIONS]
                     + [(f"residual, alpha={a:g}", {"arch": "residual", "alpha": a}) for a in SEARCH_ALPHAS])


#: the width-doubled construction's entries of `manipulation_search` (`doubling`): default plain nets of twice the
#: width, and plain nets of twice the width started at the residual nets of the search's seeds, measured in their
#: own units and in the residual state's coordinates h = u + s - c (where they are the residual nets exactly)
PLAIN_2N, DOUBLED, DOUBLED_STREAM = ("plain, width 2n", "plain 2n, doubled residual start",
                                     "plain 2n, doubled residual start (in h = u + s − c)")


def manipulation_search(config, seeds: int) -> dict[str, dict[str, np.ndarray]]:
    """{condition: {property: per seed}} the manipulation measures at initialization (`manipulation.measure`,
    with "sv" the spectra) of every start in `SEARCH_CONDITIONS`, `seeds` seeds each (0 .. seeds-1), at
    `config`'s depth and width n, on the first `JACOBIAN_INPUTS` training inputs (the rows `init_controls` and
    `malicious_wide` measure theirs on), and of the width-doubled construction beside plain nets of width 2n
    (`PLAIN_2N`, `DOUBLED`, `DOUBLED_STREAM`). No training: chapter IV.1's search for a start that is like
    plain nets, and its plain start that is like residual nets."""
    if not isinstance(seeds, int) or seeds < 2:
        raise ValueError(f"seeds={seeds!r} must be an integer >= 2 (the reference nets' spread needs two)")
    d = load_data(config)
    spec, x = _spec(config, d), d.x_train[:JACOBIAN_INPUTS]
    members = [Member(seed=s, **kw) for _, kw in SEARCH_CONDITIONS for s in range(seeds)]
    measured = init_manipulation(spec, members, x)
    found = {label: {p.removeprefix("init_"): v[i * seeds:(i + 1) * seeds] for p, v in measured.items()}
             for i, (label, _) in enumerate(SEARCH_CONDITIONS)}
    wide = NetSpec(d.d_in, d.n_classes, depth=config.depth, width=2 * config.width)
    doubled = width_doubled(spec, [Member("residual", s) for s in range(seeds)])
    with one_thread():
        found[PLAIN_2N] = manipulation.measure(DeepMLPs(wide, [Member("plain", s) for s in range(seeds)]), x)
        found[DOUBLED] = manipulation.measure(doubled, x)
        found[DOUBLED_STREAM] = manipulation.measure(doubled, x, stream=stream(config.width))
    return found


def run_init_controls(config, ctx):
    d = load_data(config)
    members = [Member(arch, seed, init=init) for _, arch, init in INIT_CONDITIONS for seed in config.seeds]
    labels = [lab for lab, _, _ in INIT_CONDITIONS for _ in config.seeds]
    spec = _spec(config, d)
    arrays = run_batch(config, spec, members, d, _checkpoint_steps(config), ctx)
    arrays |= init_manipulation(spec, members, hessian_batch(config, d)[0])
    return _finish(labels, arrays, config, d, spec)


experiment("init_controls", INIT_CONTROLS, ControlsResult, "malicious inits of residual nets (without and with an "
           "activation blow-up); identity and orthogonal init of plain nets", "09_initialization",
           replicated=True)(run_init_controls)

#: the conditions of `malicious_wide`: plain nets and the main malicious construction (no blow-up); default residual
#: nets of this size are `training`'s, trained once (chapters 0 and III.1)
WIDE_CONDITIONS = [INIT_CONDITIONS[0], INIT_CONDITIONS[2]]


def scale_batch(config, d):
    """The first `config.scale_samples` training inputs: the fixed batch the activation scale is measured on."""
    n = config.scale_samples
    if not 1 <= n <= len(d.x_train):
        raise ValueError(f"scale_samples={n} must be between 1 and the {len(d.x_train)} training examples of {d.name}")
    return d.x_train[:n]


def run_malicious_wide(config, ctx):
    """Train plain and maliciously started residual nets (`WIDE_CONDITIONS` x seeds) in one batch, as
    `training` trains; the curves, the conditions and every net's RMS activation per hidden layer at
    initialization ("init_rms", (nets, layers))."""
    d = load_data(config)
    members = [Member(arch, seed, init=init) for _, arch, init in WIDE_CONDITIONS for seed in config.seeds]
    spec, x = _spec(config, d), scale_batch(config, d)
    net = DeepMLPs(spec, members, device=ctx.device)
    init_rms = hidden_rms(net, x).cpu().numpy()
    measured = init_manipulation(spec, members, x)
    summary, arrays = train_batch(net, d, config, ctx)
    arrays["condition"] = np.array([lab for lab, _, _ in WIDE_CONDITIONS for _ in config.seeds])
    return summary, arrays | {"init_rms": init_rms} | measured


experiment("malicious_wide", MALICIOUS_WIDE, InitScaleResult, "the main malicious init of residual nets against "
           "plain nets at training's width and length, where plain nets keep their activation scale",
           "09_initialization", replicated=True)(run_malicious_wide)


def run_remedies(config, ctx):
    d = load_data(config)
    probe = d.x_train[-config.reg_probe:]      # the regularizer's probe batch: the last training points (ours)
    parts, labels = [], []
    for bn in (False, True):                   # nets with and without the BN layer differ in shape: two batches
        conds = [c for c in REMEDY_CONDITIONS if c[1] == bn]
        members = [Member("plain", seed) for _ in conds for seed in config.seeds]
        mask = torch.tensor([reg for _, _, reg in conds for _ in config.seeds])
        reg = BiasRegularizer(probe, config.reg_strength, config.reg_margin, members=mask)
        spec = _spec(config, d, config.bn_layer if bn else None)
        part = run_batch(config, spec, members, d, _checkpoint_steps(config), ctx, regularizer=reg,
                         part=f"batch_norm_{int(bn)}")
        parts.append(part | init_manipulation(spec, members, hessian_batch(config, d)[0]))
        labels += [lab for lab, _, _ in conds for _ in config.seeds]
    # spectra (nodes, weights) are not kept: their sizes differ between the two batches (the BN gains); their
    # SLQ errors ("ckpt_degenerate_se") are
    keys = [k for k in parts[0] if k not in ("ckpt_nodes", "ckpt_weights")]
    arrays = {k: (parts[0][k] if k in ("step", "ckpt_step") else
                  np.concatenate([p[k] for p in parts], axis=1 if k.startswith("ckpt_") else 0)) for k in keys}
    return _finish(labels, arrays, config, d, _spec(config, d))


experiment("remedies", REMEDIES, ControlsResult, "bias regularizer and one batch-norm layer in plain nets, alone "
           "and together", "10_remedies", replicated=True)(run_remedies)


def run_skip_strength(config, ctx):
    d = load_data(config)
    members = [Member("residual", seed, alpha=float(a)) for a in config.alphas for seed in config.seeds]
    members += [Member("hyper_mean", seed) for seed in config.seeds]
    labels = [f"alpha={float(a):g}" for a in config.alphas for _ in config.seeds] + [HYPER_MEAN] * len(config.seeds)
    spec = _spec(config, d)
    arrays = run_batch(config, spec, members, d, _checkpoint_steps(config), ctx)
    arrays["alpha"] = np.array([m.alpha for m in members])
    arrays["arch"] = np.array([m.arch for m in members])
    return _finish(labels, arrays, config, d, spec)


experiment("skip_strength", SKIP_STRENGTH, ControlsResult, "residual nets with skip strength alpha from 0 to 1, "
           "and the pure-mean hyper-residual form", "10_remedies")(run_skip_strength)
