"""Every experiment's sizes per scale, in one place, as frozen dataclasses (our choices; the paper gives none).

Configs that share settings are derived from each other with `dataclasses.replace`: Part IV's controls from
Part III's `degeneracy` config, the depth sweep from it too, the digits run from the `training` config. A config is
hashed through `as_dict` (JSON of its fields), so a stored result is found again only by the same settings.
Chapter-level sizes of Parts I and II (sliders, grids, samples) live here too (`PART1`, `PART2`).

The `paper` configs are what the committed paper-scale results ran: the paper's network sizes on `PAPER_DATA`,
100,000 generated MNIST-1D examples (the GPU machine had no internet). The paper's own data set is a separately
named configuration, `CIFAR100`: the same config with `data="cifar100"` (`python -m skiplessons run NAME
--scale paper --data cifar100`), hashed and stored as a different result; `takes_paper_data` says which
experiments it applies to.

The thresholds chapters and the ledger read for near-zero fractions are `degeneracy.NEAR_ZERO` (one per
normalization; `degeneracy.HEADLINE_TOL` relative to max|λ|); a result's class count comes from its data set (`data.n_classes`), never from a literal.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, replace

from ..curvature import SpectrumSettings
from ..dynamics import capture_teacher, default_teacher
from ..env import SCALES
ARCHS = ("plain", "residual", "hyper")


def as_dict(config) -> dict:
    """A config as the plain dict it is stored as (tuples become lists, as in JSON): the form that is hashed."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(template, values: dict):
    """A config of `template`'s type from `values`, the plain dict it was stored as (`as_dict`): nested configs
    rebuilt, lists turned back into tuples. A ValueError names the fields that do not fit the type."""
    names = [f.name for f in dataclasses.fields(template)]
    if not isinstance(values, dict) or set(values) != set(names):
        got = set(values) if isinstance(values, dict) else set()
        raise ValueError(f"a stored config does not fit {type(template).__name__}: missing "
                         f"{sorted(set(names) - got)}, unknown {sorted(got - set(names))}")

    def typed(t, v):
        if dataclasses.is_dataclass(t):
            return from_dict(t, v)
        return tuple(typed(None, x) for x in v) if isinstance(v, list) else v

    return type(template)(**{n: typed(getattr(template, n), values[n]) for n in names})


def per_scale(smoke, default, paper) -> dict:
    """{scale: config} for the three scales (a helper that keeps the tables below readable)."""
    return {"smoke": smoke, "default": default, "paper": paper}


def derive(cls, base, **extra):
    """A `cls` config with every field that `base` (another experiment's config) also has copied from it, then
    `extra`: how a config shares another's settings without repeating them."""
    shared = {f.name: getattr(base, f.name) for f in dataclasses.fields(cls) if hasattr(base, f.name)}
    return cls(**(shared | extra))


# ------------------------------------------------------------------------------------------ shared parts

@dataclass(frozen=True, kw_only=True)
class Runs:
    """What every deep-net experiment shares: data, optimizer, seeds and steps (Adam, constant rate)."""

    data: str = "mnist1d"
    n_samples: int = 5000
    data_dir: str = "data"
    seeds: tuple
    steps: int
    lr: float
    batch_size: int = 128


@dataclass(frozen=True, kw_only=True)
class Deep(Runs):
    """The runs of one width (every deep-net experiment but the width sweep)."""

    width: int


#: the data of every `paper` config that trains on the paper's data set in the paper: MNIST-1D, 100,000 examples
PAPER_DATA = {"data": "mnist1d", "n_samples": 100_000}
#: the paper's data set, as the overrides that turn a `paper` config into its CIFAR-100 configuration (CIFAR's
#: size is fixed, so `n_samples` stays and is unused)
CIFAR100 = {"data": "cifar100"}


def takes_paper_data(config) -> bool:
    """Whether `config` trains on `PAPER_DATA`, so that `CIFAR100` names its run on the paper's data set."""
    return all(getattr(config, k, None) == v for k, v in PAPER_DATA.items())


# ------------------------------------------------------------------------------------------ Part III

@dataclass(frozen=True, kw_only=True)
class Training(Deep):
    """Experiment `training` (chapter 0, III.1): plain, residual and hyper-residual nets over seeds."""

    depth: int = 30
    archs: tuple = ARCHS
    record_every: int
    dtype: str = "float32"


TRAINING = per_scale(
    Training(n_samples=600, depth=4, width=16, seeds=(0, 1), steps=30, lr=1e-3, batch_size=64, record_every=10),
    Training(width=64, seeds=(0, 1, 2, 3), steps=1200, lr=1e-3, record_every=50),
    Training(**PAPER_DATA, width=128, seeds=tuple(range(10)), steps=20_000, lr=1e-3,
             record_every=500),
)

TRAINING_DIGITS = {s: replace(c, data="digits", n_samples=0) for s, c in per_scale(
    replace(TRAINING["smoke"], seeds=(0,), steps=20),
    replace(TRAINING["default"], width=32, seeds=(0, 1, 2), steps=400, record_every=25),
    replace(TRAINING["paper"], steps=5000, record_every=250),
).items()}


@dataclass(frozen=True, kw_only=True)
class Degeneracy(Deep):
    """Experiment `degeneracy` (III.2): deep narrow nets, their Hessian on `hessian_samples` training points
    measured at `checkpoints` steps during training (the rank trap decides the sizes: chapter III.2)."""

    depth: int = 30
    archs: tuple = ARCHS
    record_every: int
    checkpoints: int
    hessian_samples: int
    spectrum: SpectrumSettings = field(default_factory=SpectrumSettings)


DEGENERACY = per_scale(
    Degeneracy(n_samples=600, depth=4, width=6, seeds=(0, 1), steps=20, lr=3e-3, batch_size=64, record_every=10,
               checkpoints=3, hessian_samples=100, spectrum=SpectrumSettings(n_steps=10)),
    Degeneracy(width=8, seeds=(0, 1, 2, 3, 4), steps=1500, lr=3e-3, record_every=50, checkpoints=2,
               hessian_samples=1000),
    Degeneracy(**PAPER_DATA, width=16, seeds=tuple(range(10)), steps=5000, lr=1e-3,
               record_every=250, checkpoints=5, hessian_samples=5000, spectrum=SpectrumSettings(n_probes=10, n_steps=100)),
)


@dataclass(frozen=True, kw_only=True)
class ExactZeros(Deep):
    """Experiment `exact_zeros` (III.2): deep nets whose dense float64 Hessian and Gauss-Newton spectra are
    computed at initialization and at the end of training on `hessian_samples` points (N*(C-1) above P), with
    SLQ estimates of each Hessian spectrum at `spectrum`'s size and at every other (probes, steps) in
    `slq_sizes`.
    `ggn_at_init=False` leaves out the Gauss-Newton spectrum at initialization (the cut that keeps the paper
    size within two hours of one CPU core; seeds are never cut)."""

    depth: int
    archs: tuple = ARCHS
    record_every: int
    hessian_samples: int
    spectrum: SpectrumSettings = field(default_factory=SpectrumSettings)
    slq_sizes: tuple = ((10, 100), (10, 300))
    ggn_at_init: bool = True


#: `paper` is the registered `paper` config of `degeneracy` (depth 30, width 16, ten seeds, N = 5,000 Hessian
#: samples of 100,000 MNIST-1D examples), measured exactly; `default` has ten seeds per architecture, and its
#: largest SLQ size is 10 x 200 (a third of P = 610: 300 steps cost twice as much and told nothing more)
EXACT_ZEROS = per_scale(
    ExactZeros(n_samples=600, depth=3, width=4, seeds=(0, 1), steps=20, lr=3e-3, batch_size=64, record_every=10,
               hessian_samples=100, spectrum=SpectrumSettings(n_steps=10), slq_sizes=((2, 10), (4, 20))),
    ExactZeros(depth=8, width=6, seeds=tuple(range(10)), steps=800, lr=3e-3, record_every=100,
               hessian_samples=200, spectrum=DEGENERACY["default"].spectrum, slq_sizes=((10, 100), (10, 200))),
    derive(ExactZeros, DEGENERACY["paper"], slq_sizes=((4, 40), (10, 300)), ggn_at_init=False),
)


@dataclass(frozen=True, kw_only=True)
class WidthSweep(Runs):
    """Experiment `width_sweep` (III.2): plain and residual nets of depth `depth` at each width in `widths`, their
    exact Gauss-Newton spectra at the end of training, each on the first N training examples with N(C-1) =
    `rank_margin` x P (so that the data size forces no zero: the rank trap of chapter III.2)."""

    widths: tuple
    depth: int
    archs: tuple = ("plain", "residual")
    rank_margin: float = 1.1


WIDTH_SWEEP = per_scale(
    WidthSweep(n_samples=600, widths=(4, 8), depth=3, seeds=(0, 1), steps=20, lr=3e-3, batch_size=64),
    WidthSweep(widths=(4, 8, 16, 32), depth=3, seeds=tuple(range(5)), steps=800, lr=3e-3),
    WidthSweep(**PAPER_DATA, widths=(8, 12, 16), depth=30, seeds=tuple(range(10)), steps=5000, lr=1e-3),
)


@dataclass(frozen=True, kw_only=True)
class DepthSweep(Deep):
    """Experiment `depth_sweep` (III.1): plain and residual nets at each depth in `depths`, measured at the end."""

    depths: tuple
    archs: tuple = ("plain", "residual")
    hessian_samples: int
    spectrum: SpectrumSettings = field(default_factory=SpectrumSettings)


DEPTH_SWEEP = per_scale(
    DepthSweep(n_samples=600, depths=(2, 4), width=6, seeds=(0,), steps=20, lr=3e-3, batch_size=64,
               hessian_samples=100, spectrum=SpectrumSettings(n_steps=10)),
    DepthSweep(depths=(2, 4, 8, 16, 30), width=8, seeds=(0, 1), steps=1000, lr=3e-3, hessian_samples=1000),
    DepthSweep(**PAPER_DATA, depths=(2, 4, 8, 16, 30, 50), width=16, seeds=tuple(range(5)),
               steps=2500, lr=1e-3, hessian_samples=5000, spectrum=SpectrumSettings(n_probes=10, n_steps=100)),
)


# ------------------------------------------------------------------------------------------ Part IV

@dataclass(frozen=True, kw_only=True)
class Controls(Deep):
    """What Part IV's experiments share: the data, nets, optimizer, Hessian batch and spectrum method of
    `degeneracy` (less the fields `CONTROLS_OVERRIDES` changes at a scale), so that its conditions and Part
    III's can share one table. Hessians are measured at `checkpoints` steps from the start
    to the end of training (1: at the end only)."""

    depth: int = 30
    record_every: int
    hessian_samples: int
    spectrum: SpectrumSettings = field(default_factory=SpectrumSettings)
    checkpoints: int = 1


#: what Part IV changes of `degeneracy`'s settings, per scale; every other field of `Controls` (data, nets,
#: optimizer, batch size, recording, spectrum method) is Part III's. At `default`, half the training steps and
#: half the Hessian batch: Part IV trains 50 nets in three experiments and measures 80 Hessians, and with
#: Part III's sizes chapters IV.1 and IV.2 took 2.5 and 3 minutes on 2 cores against the book's 90 seconds each.
#: N(C-1) = 4,500 stays above the nets' ~2,500 parameters, so the rank bound still forces nothing. Part IV's
#: plain and residual nets are trained again in each of its batches, so its conditions compare with each other;
#: chapter IV.2's table says which rows are measured with which sizes.
CONTROLS_OVERRIDES = per_scale({}, {"steps": 750, "hessian_samples": 500}, {})


def _controls(scale: str, **extra) -> dict:
    base = DEGENERACY[scale]
    shared = {f.name: getattr(base, f.name) for f in dataclasses.fields(Controls) if f.name != "checkpoints"}
    return shared | CONTROLS_OVERRIDES[scale] | extra


@dataclass(frozen=True, kw_only=True)
class InitControls(Controls):
    """Experiment `init_controls` (IV.1): two malicious, an identity-plus-noise and an orthogonal initialization,
    Hessians measured from the start (two checkpoints at the smaller scales: the Hessians cost more than the
    training)."""


@dataclass(frozen=True, kw_only=True)
class Remedies(Controls):
    """Experiment `remedies` (IV.2): a bias regularizer (strength, margin, probe batch size) and one batch-norm
    layer (at `bn_layer`) in plain nets; Hessians measured at the end of training (`checkpoints` = 1)."""

    bn_layer: int
    reg_strength: float = 1.0
    reg_margin: float = 0.1
    reg_probe: int = 128


@dataclass(frozen=True, kw_only=True)
class SkipStrength(Controls):
    """Experiment `skip_strength` (IV.2): residual nets with skip strength alpha in `alphas` and the pure-mean
    hyper-residual form; Hessians measured at the end of training (`checkpoints` = 1)."""

    alphas: tuple


INIT_CONTROLS = {s: InitControls(**_controls(s, checkpoints=2 if s != "paper" else 6)) for s in SCALES}
REMEDIES = {s: Remedies(**_controls(s, bn_layer=max(DEGENERACY[s].depth // 2, 1))) for s in SCALES}
#: skip strengths of the dial: three at `default` (20 nets with the pure-mean form; five took chapter IV.2 past
#: its time budget), six at `paper`
SKIP_STRENGTH = {s: SkipStrength(**_controls(s, alphas=a)) for s, a in per_scale(
    (0.0, 1.0), (0.0, 0.5, 1.0), (0.0, 0.125, 0.25, 0.5, 0.75, 1.0)).items()}


@dataclass(frozen=True, kw_only=True)
class MaliciousWide(Deep):
    """Experiment `malicious_wide` (IV.1): plain and maliciously started residual nets (the main construction) at
    the data, depth, width, seeds, steps and optimizer of Part III's `training` experiment, wide enough
    that plain ReLU nets keep their activation scale at initialization, so that "the malicious start is within 2x
    of the plain net's scale" can hold. No Hessians (too many parameters for SLQ on a CPU). The activation scale
    at initialization is measured on the first `scale_samples` training points: `init_controls`'s Hessian batch,
    the inputs of chapter IV.1's width table."""

    depth: int = 30
    record_every: int
    scale_samples: int


MALICIOUS_WIDE = {s: derive(MaliciousWide, TRAINING[s], scale_samples=INIT_CONTROLS[s].hessian_samples)
                  for s in SCALES}


@dataclass(frozen=True)
class InitScale:
    """Chapter IV.1's table of the activation scale at initialization (no training): `seeds` draws of plain and
    residual nets and of the two malicious constructions at every width in `widths`, at `init_controls`'s depth
    and on its Hessian batch (`part4.init_growth_by_width`). Plain ReLU nets keep their activation scale over
    30 layers only when wide enough, so a malicious start is compared with them at several widths. The
    manipulation table (`part4.manipulation_search`, input-output Jacobians at `malicious_wide`'s width) uses
    `search_seeds` draws of every start."""

    widths: tuple
    seeds: int
    search_seeds: int


INIT_SCALE = per_scale(InitScale(widths=(6, 32), seeds=4, search_seeds=3),
                       InitScale(widths=(8, 16, 32, 64, 128), seeds=16, search_seeds=8),
                       InitScale(widths=(16, 32, 64, 128), seeds=16, search_seeds=16))


# ------------------------------------------------------------------------------------------ Parts I and II

@dataclass(frozen=True)
class PartOne:
    """Part I's sizes: inputs for each Fisher (`n_samples`), unit counts and seeds of the count tables, frames
    of sliders and players, loss-surface grid, deep linear nets (depth, width, samples)."""

    n_samples: int
    units: tuple
    seeds: int
    frames: int
    grid: int
    depth: int
    width: int
    deep_samples: int


PART1 = per_scale(
    PartOne(n_samples=120, units=(3,), seeds=1, frames=4, grid=9, depth=4, width=8, deep_samples=64),
    PartOne(n_samples=200, units=(3, 5), seeds=2, frames=12, grid=41, depth=30, width=32, deep_samples=500),
    PartOne(n_samples=400, units=(3, 4, 5, 6), seeds=5, frames=12, grid=61, depth=60, width=64, deep_samples=2000),
)


@dataclass(frozen=True)
class PartTwo:
    """Part II's sizes: random initializations per model (`n_init`), gradient-flow time and recorded times,
    the on-line SGD comparison (learning rate, steps, runs), the initialization scales whose starting points are
    drawn, the phase-portrait grid, the ghost curve (`ghost_n_init` starts at each skip strength in
    `ghost_alphas`), the grid of 2-input teachers scanned for an attracting line (`dynamics.teacher_grid`: unit
    norms, how many angles between the units, output-weight ratios), and the on-line SGD run from where captured runs came to rest (learning rate `trap_lr`, `trap_steps` steps)."""

    n_init: int
    t_max: float
    n_eval: int
    sgd_lr: float
    sgd_steps: int
    sgd_runs: int
    sweep_scales: tuple
    grid: int
    ghost_n_init: int
    ghost_alphas: tuple
    scan_norms: tuple
    scan_angles: int
    scan_ratios: tuple
    trap_lr: float
    trap_steps: int


PART2 = per_scale(
    PartTwo(n_init=8, t_max=150.0, n_eval=76, sgd_lr=0.05, sgd_steps=500, sgd_runs=4, sweep_scales=(0.01, 0.3),
            grid=7, ghost_n_init=4, ghost_alphas=(0.0, 1.0), scan_norms=(1.0,), scan_angles=2, scan_ratios=(-1.0, 0.5),
            trap_lr=0.1, trap_steps=2_000),
    PartTwo(n_init=256, t_max=500.0, n_eval=251, sgd_lr=0.1, sgd_steps=3_000, sgd_runs=16, sweep_scales=(0.01, 0.3),
            grid=15, ghost_n_init=32, ghost_alphas=(0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0), scan_norms=(0.5, 1.0, 2.0),
            scan_angles=5, scan_ratios=(-2.0, -1.0, -0.5, 0.5, 1.0, 2.0), trap_lr=0.1, trap_steps=30_000),
    PartTwo(n_init=2048, t_max=4000.0, n_eval=2001, sgd_lr=0.005, sgd_steps=400_000, sgd_runs=256,
            sweep_scales=(1e-3, 1e-2, 0.1, 0.3, 1.0), grid=25, ghost_n_init=256,
            ghost_alphas=tuple(round(0.1 * i, 1) for i in range(11)), scan_norms=(0.25, 0.5, 1.0, 2.0, 4.0),
            scan_angles=11, scan_ratios=(-4.0, -2.0, -1.0, -0.5, -0.25, 0.25, 0.5, 1.0, 2.0, 4.0), trap_lr=0.02,
            trap_steps=500_000),
)


@dataclass(frozen=True)
class SingularCounts:
    """Experiment `singular_counts` (I.2-I.4): zero Fisher eigenvalues at each singular point in `kinds`."""

    units: tuple
    seeds: tuple
    n_samples: int
    outputs: int = 3
    linear_outputs: int = 8
    kinds: tuple = ("incoming", "outgoing", "overlap", "dead", "dependence")


SINGULAR_COUNTS = {s: SingularCounts(units=PART1[s].units, seeds=tuple(range(PART1[s].seeds)),
                                     n_samples=PART1[s].n_samples) for s in SCALES}


#: How "near the overlap line" is defined on our saddle teacher (experiment `plateaus`; our choice, varied): a run
#: stays within a radius of `CAPTURE_RADII` (Euclidean, in parameter space, `dynamics.line_distance`) for at least
#: a time of `CAPTURE_STAYS` without a break (`dynamics.longest_stay`); one pair is primary, the others secondary.
#: Experiment `capture` uses one radius derived from its teacher instead (`dynamics.capture_radius`).
CAPTURE_RADII = (0.03, 0.1, 0.3)
CAPTURE_STAYS = (50.0, 100.0, 200.0)


@dataclass(frozen=True)
class Plateaus:
    """Experiment `plateaus` (II.1-II.2): gradient flow of plain and skip students from the same small starts;
    plateau times by the rate detector at each of `kappas` (`kappa` the headline one), loss thresholds at
    `threshold_factor` times each student's loss at zero weights, and the ghost curve: `ghost_n_init` starts
    at each skip strength in `ghost_alphas`, the slowest flow over `z_points` points of the line |z| <= `z_span`;
    the flows of the first `n_show` starts are stored for the figures."""

    n_init: int
    t_max: float
    n_eval: int
    teacher_K: tuple
    teacher_v: tuple
    ghost_n_init: int
    ghost_alphas: tuple
    init_scale: float = 0.01
    seeds: tuple = (0,)
    kappas: tuple = (0.003, 0.01, 0.03)
    kappa: float = 0.01
    threshold_factor: float = 1e-3
    z_span: float = 3.0
    z_points: int = 61
    n_show: int = 16
    radii: tuple = CAPTURE_RADII
    min_stays: tuple = CAPTURE_STAYS


_TEACHER = default_teacher()
PLATEAUS = {s: Plateaus(n_init=PART2[s].n_init, t_max=PART2[s].t_max, n_eval=PART2[s].n_eval,
                        teacher_K=tuple(map(tuple, _TEACHER.K.tolist())), teacher_v=tuple(_TEACHER.v.tolist()),
                        ghost_n_init=PART2[s].ghost_n_init, ghost_alphas=PART2[s].ghost_alphas)
            for s in SCALES}


@dataclass(frozen=True)
class Capture:
    """Experiment `capture` (II.1): gradient flow of the students of `part2.CAPTURE_STUDENTS` (plain and skip, each
    on its own teacher; skip on the plain target; plain units with a free readout on the skip target) from the same
    `n_init` starts from N(0, init_scale^2), on the teacher whose overlap line attracts along the input it reads
    (`dynamics.capture_teacher`), integrated to `t_max` and recorded at `n_eval` times; capture counted at one
    radius derived from the teacher (`dynamics.capture_radius`); the first `n_show` starts are drawn."""

    n_init: int
    t_max: float
    n_eval: int
    teacher_K: tuple
    teacher_v: tuple
    init_scale: float = 0.01
    seed: int = 0
    n_show: int = 24


#: at `default`, t_max = 2000: ten times the longest minimum stay (capture along the unread input is slow: its
#: curvature is zero); the skip runs set the step of the shared integration, so 2000 costs about 35 s on 2 cores
_CAPTURE_TEACHER = capture_teacher()
CAPTURE = {s: Capture(n_init=n, t_max=t, n_eval=int(t / 5) + 1,
                      teacher_K=tuple(map(tuple, _CAPTURE_TEACHER.K.tolist())),
                      teacher_v=tuple(_CAPTURE_TEACHER.v.tolist()))
           for s, (n, t) in per_scale((16, 400.0), (256, 2000.0), (2048, 10000.0)).items()}


# ------------------------------------------------------------------------------------------ Part V

@dataclass(frozen=True, kw_only=True)
class LLCToy:
    """Experiment `llc_toy` (V.1): the calibration of the SGLD estimator on the models of `llc.CALIBRATION`, at
    each n in `ns` (the deep nets' training-set size and 10^5) and the deep nets' localization: `chains` chains of
    `steps` steps (`burn_in` dropped) with the step of the stability rule at `kappa`; targets by closed form,
    quadrature or a Metropolis-adjusted sampler (`target_chains` x `target_steps`, `target_burn_in` dropped).
    Then a step-size sweep: κ over `sweep` for the models `sweep_models` at the first n."""

    ns: tuple = (4000, 100_000)
    chains: int
    steps: int
    burn_in: int
    kappa: float = 0.1
    localization: float = 100.0
    target_chains: int
    target_steps: int
    target_burn_in: int
    sweep: tuple = (0.025, 0.1, 0.2, 0.4, 1.6, 3.2)
    sweep_models: tuple = ("quadratic, h = 1000", "RRR 2,2,2,0")
    seed: int = 0


LLC_TOY = per_scale(
    LLCToy(ns=(4000,), chains=8, steps=200, burn_in=100, target_chains=8, target_steps=200, target_burn_in=100,
           sweep=(0.1, 3.2)),
    LLCToy(chains=256, steps=1100, burn_in=500, target_chains=256, target_steps=1500, target_burn_in=500),
    LLCToy(chains=1024, steps=20_000, burn_in=5000, target_chains=1024, target_steps=20_000, target_burn_in=5000))


@dataclass(frozen=True, kw_only=True)
class LLCDeep(Deep):
    """Experiment `llc_deep` (V.1): the nets, training and checkpoints of `degeneracy` (so the two can be compared
    net by net), with `chains` SGLD chains per net at each checkpoint: each net's step from the stability rule
    (`llc.stable_step` at `kappa`) and its largest Hessian eigenvalue on `curvature_samples` training points,
    localization γ, steps, burn-in, minibatch."""

    depth: int = 30
    archs: tuple = ARCHS
    record_every: int
    checkpoints: int
    kappa: float = 0.1
    localization: float = 100.0
    chains: int = 2
    sgld_steps: int
    burn_in: int
    sgld_batch: int = 256
    curvature_samples: int = 512


LLC_DEEP = {s: derive(LLCDeep, DEGENERACY[s], sgld_steps=n, burn_in=b)
            for s, (n, b) in per_scale((30, 10), (200, 100), (2000, 500)).items()}


@dataclass(frozen=True, kw_only=True)
class RankCollapse:
    """Experiment `rank_collapse` (V.3): random attention stacks of width `d_model`, `heads` heads and `depth`
    layers on `sequences` sequences of `tokens` Gaussian tokens, over `seeds`; each variant (skip, mlp, norm).
    Then pre-LN stacks of `train_depth` layers with and without skips, trained briefly (Adam, `train_steps` full
    batches of `train_sequences` sequences) on `attention.token_task`, over `train_seeds`."""

    tokens: int = 12
    d_model: int = 32
    heads: int = 4
    depth: int
    sequences: int
    seeds: tuple
    variants: tuple = tuple((skip, mlp, norm) for norm in (False, True) for skip in (False, True)
                            for mlp in (False, True))
    train_depth: int
    train_sequences: int
    train_steps: int
    train_seeds: tuple
    train_lr: float = 3e-3
    train_record: int = 10


RANK_COLLAPSE = per_scale(
    RankCollapse(depth=6, sequences=2, seeds=(0, 1), train_depth=4, train_sequences=4, train_steps=20,
                 train_seeds=(0, 1)),
    RankCollapse(depth=24, sequences=8, seeds=(0, 1, 2, 3), train_depth=8, train_sequences=16, train_steps=200,
                 train_seeds=(0, 1, 2)),
    RankCollapse(d_model=64, heads=8, depth=48, sequences=32, seeds=tuple(range(10)), train_depth=24,
                 train_sequences=64, train_steps=2000, train_seeds=tuple(range(5)), train_lr=1e-3, train_record=50))


@dataclass(frozen=True, kw_only=True)
class Rivals(Deep):
    """Experiment `rivals` (V.2): deep nets of each architecture trained as in Part III, measured at the start and
    the end for shattered gradients (input-gradient similarity at input pairs `distance` apart) and, at the end,
    for single-layer lesions and the path-length decomposition of the gradient, on `probe` training inputs."""

    depth: int = 30
    archs: tuple = ARCHS
    record_every: int
    #: on inputs of norm about 6: at 0.25 zero-bias ReLU nets, positively homogeneous, give nearly equal
    #: gradients whatever the architecture (chapter V.2's depth laws show both distances)
    distance: float = 3.0
    probe: int = 500


@dataclass(frozen=True, kw_only=True)
class ShatteredDepth:
    """Experiment `shattered_depth` (V.2): input-gradient similarity against depth at initialization, read at
    hidden layers `depths` of nets `max(depths)` deep and `width` wide (plain and residual, `seeds`), at input pairs
    each of `distances` apart, on `probe` training inputs of `data` (`n_samples`)."""

    data: str = "mnist1d"
    n_samples: int = 5000
    data_dir: str = "data"
    width: int
    archs: tuple = ("plain", "residual")
    seeds: tuple
    depths: tuple = (2, 4, 8, 16, 32, 64)
    distances: tuple = (0.25, 3.0)
    probe: int


SHATTERED_DEPTH = per_scale(
    ShatteredDepth(n_samples=600, width=8, seeds=(0, 1), depths=(2, 4, 8), probe=50),
    ShatteredDepth(width=32, seeds=(0, 1, 2, 3, 4), probe=200),
    ShatteredDepth(**PAPER_DATA, width=128, seeds=tuple(range(10)), depths=(2, 4, 8, 16, 32, 64, 128), probe=1000),
)


RIVALS = per_scale(
    Rivals(n_samples=600, depth=4, width=6, seeds=(0, 1), steps=20, lr=3e-3, batch_size=64, record_every=10,
           probe=100),
    Rivals(width=16, seeds=(0, 1, 2), steps=800, lr=3e-3, record_every=100),
    Rivals(**PAPER_DATA, width=64, seeds=tuple(range(5)), steps=5000, lr=1e-3,
           record_every=500, probe=2000),
)
