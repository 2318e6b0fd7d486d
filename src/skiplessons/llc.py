"""The local learning coefficient: how degenerate a minimum is, without an eigenvalue tolerance (chapter V.1).

Singular learning theory {Watanabe 2009} measures the degeneracy of a minimum w* of a loss K by its learning
coefficient λ: the volume of {w near w*: K(w) - K(w*) < ε} scales as ε^λ (times log(1/ε)^(m-1), m the
multiplicity). A regular minimum of d parameters has λ = d/2; every degenerate direction lowers it.

The estimator (Lau et al. 2023) samples the localized, tempered posterior

    p(w) ∝ exp(-n β L_n(w) - γ/2 |w - w*|²),    β = 1 / log n  (Watanabe's WBIC temperature),

and returns  λ̂ = n β (E_p[L_n(w)] - L_n(w*)).  For a loss that is exactly quadratic this expectation is
(1/2) Σ_i nβh_i / (nβh_i + γ) -> d/2, for K = |w|^(2k) in one dimension it is 1/(2k) at γ = 0; in general it
tends to λ - (m - 1) / log(nβ) as n grows. The sampler is stochastic-gradient Langevin dynamics
(Welling & Teh 2011),

    w <- w - (ε/2) (nβ ∇L(w) + γ (w - w*)) + sqrt(ε) ξ,    ξ ~ N(0, I),

our own ~30 lines rather than the `devinterp` package, which pulls in transformers, datasets, zarr and xarray,
and samples one net at a time where ours runs a whole batch of nets (`models.DeepMLPs`) in lockstep.
`tempered_expectation` computes the same target by quadrature for models of one or two parameters, and
`mala_expectation` by a Metropolis-adjusted sampler (no step-size bias) for the larger reduced-rank models: the
independent checks of the sampler.

**Stability rule.** Linearised along a Hessian direction of curvature h, SGLD is the autoregression
w <- (1 - εa/2) w + sqrt(ε) ξ with a = nβh + γ: stable only while εa < 4, and its stationary variance is
1 / (a (1 - εa/4)) instead of the posterior's 1/a, so that direction's share of λ̂ is inflated by the factor
1 / (1 - εa/4) (`sgld_quadratic_expectation`, exact for a quadratic loss). We therefore choose the step from the
largest curvature the chain meets, ε = κ / (nβ h_max + γ) (`stable_step`), with κ = `STIFFNESS` = 0.1: the
stiffest direction is over-dispersed by κ / (4 - κ) = 2.6 %, every other one by less. The same linearisation
says how long the chain needs: a direction relaxes in 2 / (εa) steps, so a burn-in of B steps has equilibrated
the directions with εaB ≥ `RELAXATIONS` (their energy is within e^-3 = 5 % of equilibrium); for a singular
minimum the slowest relevant directions have h ≈ 0 (a = γ), so B ≥ 3 / (εγ) (`equilibrated`). Where the budget
does not allow that, λ̂ is "not measurable here". The chains' own diagnostics (`diagnose`: split R-hat over
chains, the drift of the loss trace between the halves after burn-in) check the same thing empirically.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .curvature import spectrum
from .losses import per_net_loss

#: κ of the stability rule: ε (nβ h_max + γ) = κ over-disperses the stiffest direction by κ / (4 - κ) = 2.6 %
STIFFNESS = 0.1
#: the linear instability of SGLD: ε (nβ h + γ) ≥ 4 diverges
UNSTABLE = 4.0
#: relaxation times a burn-in must last (energy within e^-3 = 5 % of equilibrium)
RELAXATIONS = 3.0
#: split R-hat above this means the chains disagree (Vehtari et al. 2021 recommend 1.01 for long chains; 1.1 is
#: the classic threshold of Gelman & Rubin, suited to the short chains a CPU affords)
RHAT_MAX = 1.1
#: the loss trace's second half may differ from its first by at most this many standard errors
DRIFT_Z = 3.0


@dataclass(frozen=True)
class SGLDSettings:
    """The sampler: step size ε, localization strength γ, steps per chain (the first `burn_in` discarded)."""

    step_size: float
    localization: float
    steps: int
    burn_in: int

    def __post_init__(self):
        if not self.step_size > 0:
            raise ValueError(f"step_size={self.step_size!r} must be > 0")
        if not self.localization >= 0:
            raise ValueError(f"localization={self.localization!r} must be >= 0")
        if not isinstance(self.steps, int) or not isinstance(self.burn_in, int) or not 0 <= self.burn_in < self.steps:
            raise ValueError(f"steps={self.steps!r} and burn_in={self.burn_in!r} must be integers with "
                             "0 <= burn_in < steps")


def inverse_temperature(n: int) -> float:
    """β = 1 / log n, the temperature at which the tempered posterior's mean loss gives the WBIC."""
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n={n!r} must be an integer >= 2 (the number of training samples)")
    return 1.0 / math.log(n)


def sgld_losses(params: Sequence[torch.Tensor], loss_fn: Callable[[int], torch.Tensor], n: int,
                settings: SGLDSettings, generator: torch.Generator, step_sizes=None) -> np.ndarray:
    """Run localized SGLD from the current values of `params` (the centre w*), return the losses it visits.

    `loss_fn(step)` returns the loss of each of M independent models at the current parameters, shape (M,)
    (a minibatch loss for nets); the models' parameters must not be shared, so that the gradient of the sum is
    each model's own gradient. `step_sizes` (M,), if given, replaces `settings.step_size` model by model (every
    parameter tensor then has the models on axis 0). Returns the (steps, M) losses, one per step *before* that
    step's update. The parameters are restored to w* afterwards. `generator` draws the noise, so the global RNG
    is untouched."""
    params = list(params)
    if not params or not all(p.requires_grad for p in params):
        raise ValueError("params must be a non-empty sequence of tensors with requires_grad=True")
    n_beta = n * inverse_temperature(n)
    gamma = settings.localization
    if step_sizes is None:
        eps = [settings.step_size] * len(params)
    else:
        steps = np.asarray(step_sizes, dtype=float).ravel()
        if not (steps > 0).all() or any(p.shape[0] != len(steps) for p in params):
            raise ValueError(f"step_sizes must be positive, one per model (axis 0 of every parameter, "
                             f"{params[0].shape[0]}); got {steps.tolist()}")
        eps = [torch.as_tensor(steps, dtype=p.dtype, device=p.device).view(-1, *[1] * (p.ndim - 1)) for p in params]
    centre = [p.detach().clone() for p in params]
    trace = []
    try:
        for t in range(settings.steps):
            losses = loss_fn(t)
            grads = torch.autograd.grad(losses.sum(), params)
            trace.append(losses.detach().double().cpu().numpy())
            with torch.no_grad():
                for p, g, c, e in zip(params, grads, centre, eps):
                    noise = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
                    p.add_(-0.5 * e * (n_beta * g + gamma * (p - c)) + e**0.5 * noise)
            if not np.isfinite(trace[-1]).all():
                raise FloatingPointError(f"SGLD diverged at step {t} (step size too large for the curvature? "
                                         "see llc.stable_step)")
    finally:
        with torch.no_grad():
            for p, c in zip(params, centre):
                p.copy_(c)
    return np.asarray(trace)


def stiffness(step_size, curvature, n: int, localization: float):
    """ε (nβ h + γ): SGLD's stiffness along a direction of curvature h (stable below `UNSTABLE` = 4)."""
    return np.asarray(step_size, dtype=float) * (n * inverse_temperature(n) * np.asarray(curvature, dtype=float)
                                                 + localization)


def stable_step(curvature, n: int, localization: float, kappa: float = STIFFNESS):
    """The stability rule: ε = κ / (nβ h_max + γ) for the largest curvature h_max the chain meets (a number or
    one per model), so that the stiffest direction's share of λ̂ is inflated by κ / (4 - κ) only."""
    h = np.asarray(curvature, dtype=float)
    if not (np.isfinite(h).all() and (h >= 0).all()):
        raise ValueError(f"curvature={h.tolist()} must be finite and >= 0 (the largest |Hessian eigenvalue|)")
    if not 0 < kappa < UNSTABLE:
        raise ValueError(f"kappa={kappa!r} must lie in (0, {UNSTABLE:g}): SGLD diverges at ε (nβh + γ) >= 4")
    if localization <= 0 and (h == 0).any():
        raise ValueError("a flat loss without localization has no stable step: give localization > 0")
    return kappa / (n * inverse_temperature(n) * h + localization)


def sgld_quadratic_expectation(curvatures, n: int, localization: float, step_size: float) -> float:
    """What SGLD with step ε converges to on K = (1/2) Σ h_i w_i² (exactly, not linearised: the loss is
    quadratic): (1/2) Σ nβh_i / (a_i (1 - εa_i/4)), a_i = nβh_i + γ; infinite when some εa_i ≥ 4
    (divergence)."""
    h = np.asarray(curvatures, dtype=float)
    if (h < 0).any() or not step_size > 0:
        raise ValueError(f"curvatures={h.tolist()} must be >= 0 and step_size={step_size!r} > 0")
    t = n * inverse_temperature(n)
    a = t * h + localization
    inflation = 1 - step_size * a / 4
    if (inflation <= 0).any():
        return math.inf
    return float(0.5 * np.sum(t * h / (a * inflation)))


def burn_in_needed(step_size, localization: float, smallest_curvature=0.0, n: int = 2) -> np.ndarray:
    """Steps after which every direction has relaxed `RELAXATIONS` times: 3 / (ε (nβ h_min + γ)); h_min = 0 for
    a singular minimum (its flat directions are held only by the localization)."""
    a = stiffness(1.0, smallest_curvature, n, localization)
    if not (a > 0).all():
        raise ValueError("with no localization a flat direction never relaxes: give localization > 0")
    return np.ceil(RELAXATIONS / (np.asarray(step_size, dtype=float) * a))


def split_rhat(chains: np.ndarray) -> float:
    """Split R-hat (Gelman et al., Bayesian Data Analysis 3rd ed., §11.4) of one quantity from (chains, draws):
    each chain cut in halves, the between-half variance of the means against the within-half variance; 1 for
    chains that agree, larger when they do not."""
    x = np.asarray(chains, dtype=float)
    if x.ndim != 2 or x.shape[1] < 4:
        raise ValueError(f"chains must be (chains, draws) with at least 4 draws, got shape {x.shape}")
    half = x.shape[1] // 2
    parts = np.concatenate([x[:, :half], x[:, -half:]])
    means, within = parts.mean(1), parts.var(1, ddof=1).mean()
    between = half * means.var(ddof=1)
    if within == 0:
        return 1.0 if between == 0 else math.inf
    return float(math.sqrt(((half - 1) / half * within + between / half) / within))


@dataclass(frozen=True)
class Diagnostics:
    """A chain group's checks: its stiffness ε (nβ h_max + γ) at the largest curvature met, the burn-in it had
    against the one it needs, split R-hat over its chains, and the drift (second half of the kept trace minus
    the first, in standard errors of that difference over chains)."""

    stiffness: float
    burn_in: int
    burn_in_needed: float
    rhat: float
    drift_z: float

    @property
    def stable(self) -> bool:
        return bool(self.stiffness <= STIFFNESS * (1 + 1e-9))

    @property
    def equilibrated(self) -> bool:
        return bool(self.burn_in >= self.burn_in_needed and self.rhat <= RHAT_MAX and abs(self.drift_z) <= DRIFT_Z)

    @property
    def measurable(self) -> bool:
        return self.stable and self.equilibrated

    @property
    def why(self) -> str:
        """What failed, in words ("" when measurable)."""
        out = [] if self.stable else [f"stiffness {self.stiffness:.2g} > {STIFFNESS:g}"]
        if self.burn_in < self.burn_in_needed:
            out.append(f"burn-in {self.burn_in} < {self.burn_in_needed:.3g} steps needed")
        if self.rhat > RHAT_MAX:
            out.append(f"R-hat {self.rhat:.2f} > {RHAT_MAX:g}")
        if abs(self.drift_z) > DRIFT_Z:
            out.append(f"trace drifts ({self.drift_z:+.1f} SE)")
        return "; ".join(out)


def diagnose(kept: np.ndarray, stiff: float, burn_in: int, needed: float) -> Diagnostics:
    """`Diagnostics` of one quantity's post-burn-in trace, (draws, chains) as `estimate` keeps it (≥ 2 chains)."""
    kept = np.asarray(kept, dtype=float)
    if kept.ndim != 2 or kept.shape[1] < 2:
        raise ValueError(f"kept must be (draws, chains) with at least 2 chains, got shape {kept.shape}")
    half = len(kept) // 2
    diff = kept[-half:].mean(0) - kept[:half].mean(0)
    se = diff.std(ddof=1) / math.sqrt(len(diff))
    drift = 0.0 if diff.mean() == 0 else (math.inf if se == 0 else float(diff.mean() / se))
    return Diagnostics(float(stiff), int(burn_in), float(needed), split_rhat(kept.T), drift)


@dataclass(frozen=True)
class LLCEstimate:
    """λ̂ per model (the chain's post-burn-in mean), and the chain-level standard error of each λ̂ from the
    means of `n_blocks` consecutive blocks of the chain."""

    value: np.ndarray
    error: np.ndarray
    trace: np.ndarray


def estimate(trace: np.ndarray, loss_star, n: int, burn_in: int, n_blocks: int = 5) -> LLCEstimate:
    """λ̂ = nβ (mean of the post-burn-in losses - L(w*)) per model, from `sgld_losses`' (steps, M) trace and
    L(w*) per model (`loss_star`, shape (M,) or a number). The trace returned is nβ (L(w_t) - L(w*))."""
    trace = np.asarray(trace, dtype=float)
    if trace.ndim != 2 or not 0 <= burn_in < len(trace) - n_blocks:
        raise ValueError(f"trace must be (steps, models) with more than burn_in + n_blocks={burn_in + n_blocks} "
                         f"steps, got shape {trace.shape}")
    scaled = n * inverse_temperature(n) * (trace - np.asarray(loss_star, dtype=float))
    kept = scaled[burn_in:]
    blocks = np.array([b.mean(0) for b in np.array_split(kept, n_blocks)])
    return LLCEstimate(kept.mean(0), blocks.std(0, ddof=1) / math.sqrt(n_blocks), scaled)


def sample_llc(loss: Callable[[torch.Tensor], torch.Tensor], w_star, n: int, settings: SGLDSettings,
               chains: int = 64, seed: int = 0) -> LLCEstimate:
    """λ̂ of a loss `loss(w) -> (chains,)` of a (chains, d) tensor of parameters, at w* (a (d,) array), from
    `chains` independent chains: `value` has one entry per chain (their mean is the estimate)."""
    w_star = torch.as_tensor(np.asarray(w_star, dtype=float)).reshape(1, -1)
    w = w_star.repeat(chains, 1).requires_grad_(True)
    with torch.no_grad():
        loss_star = loss(w_star).double().numpy()
    g = torch.Generator().manual_seed(seed)
    trace = sgld_losses([w], lambda t: loss(w), n, settings, g)
    return estimate(trace, loss_star, n, settings.burn_in)


def tempered_expectation(loss: Callable[[np.ndarray], np.ndarray], w_star, n: int, localization: float,
                         half_width: float, points: int = 801) -> float:
    """The target of the estimator by quadrature, for one or two parameters: nβ E_p[K(w) - K(w*)] under
    p(w) ∝ exp(-nβ K(w) - γ/2 |w - w*|²), on a grid of `points` per axis over w* ± `half_width` (chosen wide
    enough that p is negligible at the edges). `loss` maps an (..., d) array of parameters to losses."""
    w_star = np.asarray(w_star, dtype=float).ravel()
    if w_star.size not in (1, 2):
        raise ValueError(f"w_star has {w_star.size} parameters; quadrature handles 1 or 2")
    n_beta = n * inverse_temperature(n)
    axis = np.linspace(-half_width, half_width, points)
    grids = np.meshgrid(*([axis] * w_star.size), indexing="ij")
    offset = np.stack(grids, -1)
    energy = n_beta * (loss(w_star + offset) - loss(w_star))
    log_p = -energy - 0.5 * localization * (offset**2).sum(-1)
    p = np.exp(log_p - log_p.max())
    edge = max(p[(0, -1), ...].max(), p[..., (0, -1)].max()) if w_star.size == 2 else max(p[0], p[-1])
    if edge > 1e-8:
        raise ValueError(f"half_width={half_width!r} is too narrow: the posterior is {edge:.1e} of its peak at "
                         "the edge of the grid")
    return float((energy * p).sum() / p.sum())


def quadratic_expectation(curvatures, n: int, localization: float) -> float:
    """Closed form for K(w) = (1/2) Σ h_i w_i²: nβ E_p[K] = (1/2) Σ_i nβh_i / (nβh_i + γ), which is d/2 at γ = 0."""
    h = np.asarray(curvatures, dtype=float)
    if (h < 0).any():
        raise ValueError(f"curvatures={h.tolist()} must be >= 0")
    t = n * inverse_temperature(n)
    return float(0.5 * np.sum(t * h / (t * h + localization)))


def hessian_top(loss: Callable, w: torch.Tensor) -> np.ndarray:
    """The largest |Hessian eigenvalue| of a model's loss at each row of w (k, d) (dense: small models only)."""
    w = torch.as_tensor(w, dtype=torch.float64).reshape(len(w), -1)
    hess = torch.func.vmap(torch.func.hessian(lambda v: loss(v.unsqueeze(0))[0]))(w)
    return torch.linalg.eigvalsh(hess).abs().amax(-1).numpy()


@dataclass(frozen=True)
class MALAResult:
    """The Metropolis-adjusted target: nβ E_p[K - K(w*)] per chain, the acceptance rate, and the largest
    |Hessian eigenvalue| of K met at the chains' recorded states."""

    value: np.ndarray
    acceptance: float
    top_curvature: float


def mala_expectation(loss: Callable, w_star, n: int, localization: float, chains: int = 64, steps: int = 4000,
                     burn_in: int = 1000, seed: int = 0) -> MALAResult:
    """The estimator's target nβ E_p[K(w) - K(w*)] under p ∝ exp(-nβK - γ/2 |w - w*|²) by the Metropolis-adjusted
    Langevin algorithm (Roberts & Tweedie 1996): Langevin proposals accepted or rejected so that the chain's law
    is exactly p, whatever the step (tuned per chain during the burn-in towards 57 % acceptance). No step-size
    bias: the independent check of SGLD on models too large for quadrature."""
    if not isinstance(steps, int) or not isinstance(burn_in, int) or not 0 < burn_in < steps:
        raise ValueError(f"steps={steps!r} and burn_in={burn_in!r} must be integers with 0 < burn_in < steps")
    t = n * inverse_temperature(n)
    centre = torch.as_tensor(np.asarray(w_star, dtype=float)).reshape(1, -1)
    k_star = float(loss(centre)[0])
    g = torch.Generator().manual_seed(seed)

    def energy(w):
        w = w.detach().requires_grad_(True)
        k = loss(w)
        u = t * (k - k_star) + 0.5 * localization * ((w - centre) ** 2).sum(-1)
        (grad,) = torch.autograd.grad(u.sum(), w)
        return u.detach(), grad, k.detach()

    w = centre.repeat(chains, 1)
    u, grad, k = energy(w)
    h = torch.full((chains, 1), stable_step(0.0, n, localization) if localization > 0 else 1e-3,
                   dtype=torch.float64)
    kept, accepted, snapshots = [], 0.0, []
    for step in range(steps):
        prop = w - 0.5 * h * grad + h.sqrt() * torch.randn(w.shape, generator=g, dtype=w.dtype)
        u2, grad2, k2 = energy(prop)
        fwd = ((prop - w + 0.5 * h * grad) ** 2).sum(-1) / (2 * h[:, 0])
        back = ((w - prop + 0.5 * h * grad2) ** 2).sum(-1) / (2 * h[:, 0])
        log_a = (u - u2 + fwd - back).clamp(max=0.0)
        take = torch.rand(chains, generator=g, dtype=w.dtype).log() < log_a
        w, u, grad, k = (torch.where(take[:, None], prop, w), torch.where(take, u2, u),
                         torch.where(take[:, None], grad2, grad), torch.where(take, k2, k))
        if step < burn_in:
            h = h * torch.exp(0.05 * (log_a.exp()[:, None] - 0.57))
        else:
            kept.append(t * (k - k_star))
            accepted += float(take.double().mean())
            if (step - burn_in) % max(1, (steps - burn_in) // 10) == 0:
                snapshots.append(w.clone())
    top = float(hessian_top(loss, torch.cat(snapshots)).max())
    return MALAResult(torch.stack(kept).mean(0).numpy(), accepted / (steps - burn_in), top)


def aoyagi_watanabe(M: int, N: int, H: int, r: int) -> tuple[float, int]:
    """(λ, multiplicity) of reduced-rank regression y = B A x, A (H x M), B (N x H), at a true B0 A0 of rank r
    (Aoyagi & Watanabe 2005, Main Theorem): in the generic case (N + r <= M + H, M + r <= N + H,
    H + r <= M + N) λ = [2(H + r)(M + N) - (M - N)² - (H + r)²] / 8 with m = 1 when M + N + H + r is even, and
    with + 1 in the bracket and m = 2 when it is odd; otherwise λ = [HM - Hr + Nr] / 2 (M + H < N + r),
    [HN - Hr + Mr] / 2 (N + H < M + r) or MN / 2 (M + N < H + r), each with m = 1."""
    for name, v in (("M", M), ("N", N), ("H", H), ("r", r)):
        if not isinstance(v, (int, np.integer)) or v < (0 if name == "r" else 1):
            raise ValueError(f"{name}={v!r} must be an integer >= {0 if name == 'r' else 1}")
    if r > min(M, N, H):
        raise ValueError(f"r={r} must be <= min(M, N, H) = {min(M, N, H)}: the true map has rank at most that")
    if M + H < N + r:
        return (H * M - H * r + N * r) / 2, 1
    if N + H < M + r:
        return (H * N - H * r + M * r) / 2, 1
    if M + N < H + r:
        return M * N / 2, 1
    odd = (M + N + H + r) % 2
    return (2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2 + odd) / 8, 1 + odd


def reduced_rank(M: int, N: int, H: int, r: int) -> "KnownModel":
    """Reduced-rank regression y = B A x (inputs x ~ N(0, I_M)) at the true map B0 A0 = [I_r 0; 0 0] (N x M),
    population loss K = (1/2) |B A - B0 A0|_F², parameters (A, B) flattened, w* = (A0, B0) of rank r."""
    lam, m = aoyagi_watanabe(M, N, H, r)
    A0, B0 = np.zeros((H, M)), np.zeros((N, H))
    A0[range(r), range(r)] = B0[range(r), range(r)] = 1.0
    C = B0 @ A0

    def loss(w):
        A, B = w[..., : H * M].reshape(*w.shape[:-1], H, M), w[..., H * M:].reshape(*w.shape[:-1], N, H)
        target = torch.as_tensor(C, dtype=w.dtype) if isinstance(w, torch.Tensor) else C
        return 0.5 * ((B @ A - target) ** 2).sum((-2, -1))

    return KnownModel(f"RRR {M},{N},{H},{r}", f"y = BAx, M={M}, N={N}, H={H}, true rank {r}",
                      tuple(np.r_[A0.ravel(), B0.ravel()]), lam, m, loss)


def nets_top_curvature(net, x: torch.Tensor, y: torch.Tensor, lanczos_steps: int = 20) -> np.ndarray:
    """(M,) the largest |Hessian eigenvalue| of each net's cross-entropy loss on (x, y), float64, by one
    Lanczos run per net in lockstep (`curvature.spectrum` by SLQ with one probe: its extreme Ritz values)."""
    spectra = spectrum(net, "ce", (x, y), "slq", nets="all", n_probes=1, n_steps=lanczos_steps)
    return np.array([s.density.max_abs for s in spectra])


def nets_llc(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, settings: SGLDSettings, batch_size: int,
             seed: int = 0, step_sizes=None) -> LLCEstimate:
    """λ̂ of every net of a batch (`models.DeepMLPs`, outputs (M, N, C)) at its current weights, on the training
    set (x, y) of n = len(x) samples: one SGLD chain per net on minibatches of `batch_size`, L(w*) the full
    training loss, with `step_sizes` (M,) per net if given (else `settings.step_size`). The nets are not
    changed (the chains run on a copy)."""
    if not isinstance(batch_size, int) or not 1 <= batch_size <= len(x):
        raise ValueError(f"batch_size={batch_size!r} must be an integer in 1 .. {len(x)} (the training set)")
    chain_net = copy.deepcopy(net)
    with torch.no_grad():
        loss_star = per_net_loss(chain_net(x), y).double().cpu().numpy()
    batches = torch.Generator().manual_seed(seed)
    noise = torch.Generator().manual_seed(seed + 1)

    def minibatch_loss(step):
        idx = torch.randint(0, len(x), (batch_size,), generator=batches).to(x.device)
        return per_net_loss(chain_net(x[idx]), y[idx])

    trace = sgld_losses(list(chain_net.parameters()), minibatch_loss, len(x), settings, noise, step_sizes)
    return estimate(trace, loss_star, len(x), settings.burn_in)


@dataclass(frozen=True)
class KnownModel:
    """A model whose learning coefficient λ (and multiplicity m) at w* is known in closed form: its population
    loss K(w) for inputs x ~ N(0, 1) (works on numpy arrays and torch tensors of shape (..., d)); `curvatures`
    are the h_i of an exactly quadratic loss (1/2) Σ h_i (w_i - w*_i)², for which the target has a closed form."""

    name: str
    formula: str
    w_star: tuple
    lam: float
    multiplicity: int
    loss: Callable
    curvatures: tuple | None = None

    @property
    def d(self) -> int:
        return len(self.w_star)

    def target(self, n: int, localization: float) -> float:
        """What λ̂ estimates at n samples: nβ E_p[K - K(w*)], in closed form for the quadratic model, else by
        quadrature (`tempered_expectation`)."""
        if self.curvatures is not None:
            return quadratic_expectation(self.curvatures, n, localization)
        half_width = 4.0 if localization == 0 else min(max(4.0, math.sqrt(60.0 / localization)), 12.0)
        return tempered_expectation(self.loss, self.w_star, n, localization, half_width, points=1201)


def quadratic(curvatures) -> KnownModel:
    """K = (1/2) Σ h_i w_i² at w* = 0: regular, λ = d/2, target in closed form (`quadratic_expectation`)."""
    h = tuple(float(v) for v in np.ravel(curvatures))
    if not h or min(h) <= 0:
        raise ValueError(f"curvatures={list(h)} must be positive numbers, at least one")
    label = f"h = {h[0]:g}" if len(set(h)) == 1 else f"h = {min(h):g} .. {max(h):g}"
    hs = torch.tensor(h, dtype=torch.float64)

    def loss(w):
        scale = hs.to(w.dtype) if isinstance(w, torch.Tensor) else np.asarray(h)
        return 0.5 * (scale * w**2).sum(-1)

    return KnownModel(f"quadratic, {label}", f"K = Σ h w²/2, {len(h)} weights, {label}", (0.0,) * len(h),
                      len(h) / 2, 1, loss, curvatures=h)


#: the validation models of chapter V.1: regular (λ = d/2), and three singular ones
KNOWN_MODELS = {
    "regular": KnownModel("regular", "y = w·x, 4 weights", (0.0,) * 4, 2.0, 1,
                          lambda w: 0.5 * (w**2).sum(-1), curvatures=(1.0,) * 4),
    "quartic": KnownModel("quartic", "y = w² x at w = 0", (0.0,), 0.25, 1, lambda w: 0.5 * w[..., 0] ** 4),
    "product, origin": KnownModel("product, origin", "y = a b x at a = b = 0 (elimination)", (0.0, 0.0), 0.5, 2,
                                  lambda w: 0.5 * (w[..., 0] * w[..., 1]) ** 2),
    "product, teacher": KnownModel("product, teacher", "y = a b x at a = b = 1 (teacher y = x)", (1.0, 1.0), 0.5, 1,
                                   lambda w: 0.5 * (w[..., 0] * w[..., 1] - 1.0) ** 2),
}


#: the calibration of chapter V.1: the known models, quadratics up to the deep nets' largest curvature (about
#: 1,000), one with the spread of curvatures a net has, and reduced-rank regressions (Aoyagi & Watanabe 2005)
CALIBRATION = {**KNOWN_MODELS,
               **{m.name: m for m in (quadratic([1000.0]), quadratic(np.logspace(0, 3, 4)))},
               **{m.name: m for m in (reduced_rank(2, 2, 2, 0), reduced_rank(2, 2, 1, 0), reduced_rank(3, 2, 2, 1))}}

