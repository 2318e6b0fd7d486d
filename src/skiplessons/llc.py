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
`tempered_expectation` computes the same target by quadrature for models of one or two parameters: the
independent check of the sampler.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import copy

import numpy as np
import torch

from .losses import per_net_loss


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
                settings: SGLDSettings, generator: torch.Generator) -> np.ndarray:
    """Run localized SGLD from the current values of `params` (the centre w*), return the losses it visits.

    `loss_fn(step)` returns the loss of each of M independent models at the current parameters, shape (M,)
    (a minibatch loss for nets); the models' parameters must not be shared, so that the gradient of the sum is
    each model's own gradient. Returns the (steps, M) losses, one per step *before* that step's update. The
    parameters are restored to w* afterwards. `generator` draws the noise, so the global RNG is untouched."""
    params = list(params)
    if not params or not all(p.requires_grad for p in params):
        raise ValueError("params must be a non-empty sequence of tensors with requires_grad=True")
    n_beta = n * inverse_temperature(n)
    eps, gamma = settings.step_size, settings.localization
    centre = [p.detach().clone() for p in params]
    trace = []
    try:
        for t in range(settings.steps):
            losses = loss_fn(t)
            grads = torch.autograd.grad(losses.sum(), params)
            trace.append(losses.detach().double().cpu().numpy())
            with torch.no_grad():
                for p, g, c in zip(params, grads, centre):
                    noise = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
                    p.add_(-0.5 * eps * (n_beta * g + gamma * (p - c)) + math.sqrt(eps) * noise)
            if not np.isfinite(trace[-1]).all():
                raise FloatingPointError(f"SGLD diverged at step {t} (step_size={eps:g} too large?)")
    finally:
        with torch.no_grad():
            for p, c in zip(params, centre):
                p.copy_(c)
    return np.asarray(trace)


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


def nets_llc(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, settings: SGLDSettings, batch_size: int,
             seed: int = 0) -> LLCEstimate:
    """λ̂ of every net of a batch (`models.DeepMLPs`, outputs (M, N, C)) at its current weights, on the training
    set (x, y) of n = len(x) samples: one SGLD chain per net on minibatches of `batch_size`, L(w*) the full
    training loss. The nets are not changed (the chains run on a copy)."""
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

    trace = sgld_losses(list(chain_net.parameters()), minibatch_loss, len(x), settings, noise)
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
