"""The student's parameter layout, its closed-form expected loss and exact gradient, its outputs, and a
Monte-Carlo estimate of the loss to test the closed form against (chapter II.1)."""
from __future__ import annotations

import math

import numpy as np
import torch

from .. import checks
from .teachers import Teacher, check_alpha, single_teacher


SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def n_params(n: int, d: int) -> int:
    """Number of student parameters: n*d incoming weights plus n outgoing weights."""
    return n * d + n


def split(theta: torch.Tensor, n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split flat parameters ``(..., n*d + n)`` into ``J (..., n, d)`` and ``w (..., n)``."""
    if theta.shape[-1] != n_params(n, d):
        raise ValueError(f"theta must have last dimension n*d+n = {n_params(n, d)}, got {theta.shape[-1]}")
    return theta[..., : n * d].reshape(*theta.shape[:-1], n, d), theta[..., n * d:]


def join(J, w) -> torch.Tensor:
    """Inverse of `split`: flat parameters from ``J (..., n, d)`` and ``w (..., n)``."""
    J, w = torch.as_tensor(J, dtype=torch.float64), torch.as_tensor(w, dtype=torch.float64)
    return torch.cat([J.reshape(*J.shape[:-2], -1), w], dim=-1)


def split_readout(theta: torch.Tensor, n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a readout student's parameters ``(..., n*d + n + d)`` into the units' ``(..., n*d + n)`` and the
    linear readout ``r (..., d)``."""
    P = n_params(n, d)
    if theta.shape[-1] != P + d:
        raise ValueError(f"theta must have last dimension n*d+n+d = {P + d} (units and readout), got {theta.shape[-1]}")
    return theta[..., :P], theta[..., P:]


def as_theta(theta, teacher: Teacher, readout: bool = False, name: str = "theta") -> torch.Tensor:
    """`theta` as float64 parameters (..., P) of a student of `teacher` (with a readout: P + d), or a ValueError
    naming `name`."""
    if not isinstance(teacher, Teacher):
        raise ValueError(f"teacher must be a skiplessons.dynamics.Teacher, got {type(teacher).__name__}")
    theta = torch.as_tensor(checks.finite(theta, name), dtype=torch.float64)
    P = n_params(teacher.n, teacher.d) + (teacher.d if readout else 0)
    if theta.ndim < 1 or theta.shape[-1] != P or not theta.numel():
        raise ValueError(f"{name} must have shape (..., P) with P = {P} for this teacher"
                         f"{' and a readout' if readout else ''}, got {tuple(theta.shape)}")
    return theta


def scalar_alpha(alpha, name="alpha") -> float:
    """One skip strength in [0, 1] (not one per student), or a ValueError naming `name`."""
    alpha = check_alpha(alpha, name)
    if isinstance(alpha, torch.Tensor):
        raise ValueError(f"{name} must be a single number in [0, 1] here, not an array")
    return alpha


def check_skip(alpha, n: int, d: int, name: str) -> None:
    """A skip (`alpha` not 0) adds input i to unit i, so it needs as many inputs as units; else a ValueError."""
    if bool(np.any(np.asarray(alpha) != 0.0)) and n != d:
        raise ValueError(f"{name}={alpha} needs a skip per unit: input width d={d} must equal hidden width n={n}")


def expected_loss(theta, teacher: Teacher, alpha: float = 0.0, readout: bool = False) -> torch.Tensor:
    """Closed-form ``1/2 E[(f(x) - f*(x))^2]`` over ``x ~ N(0, I)``; differentiable in `theta`.

    Writes ``f - f* = sum_k c_k phi(A_k . x) + b . x`` with rows ``A = [J; K]``, ``c = [w; -v]`` and
    ``b = alpha w - alpha_teacher v``, then uses ``E[phi(a.x) phi(c.x)] = (2/pi) asin(a.c / sqrt((1+|a|^2)(1+|c|^2)))``,
    ``E[x phi(a.x)] = sqrt(2/pi) a / sqrt(1+|a|^2)`` and ``E[x x^T] = I``. The teacher's alpha may be one per
    student of a batch. With `readout` the student has a free linear readout ``r . x`` too (its last d
    parameters, `split_readout`), added to ``b``: plain units with a learned linear part (chapter II.1's control).
    Introduced in chapter II.1.
    """
    alpha = check_alpha(alpha)
    theta = as_theta(theta, teacher, readout)
    a_t = alpha if teacher.alpha is None else check_alpha(teacher.alpha, "teacher alpha")
    n, d = teacher.n, teacher.d
    check_skip(alpha, n, d, "alpha")
    check_skip(a_t, n, d, "teacher alpha")
    if readout and n != d:
        raise ValueError(f"readout needs as many units as inputs here (n={n}, d={d})")
    theta, r = split_readout(theta, n, d) if readout else (theta, None)
    J, w = split(theta, n, d)
    K = torch.as_tensor(teacher.K, dtype=torch.float64).expand(*J.shape[:-2], n, d)
    v = torch.as_tensor(teacher.v, dtype=torch.float64).expand(*w.shape[:-1], n)
    A = torch.cat([J, K], dim=-2)
    c = torch.cat([w, -v], dim=-1)
    alpha_s = alpha[:, None] if isinstance(alpha, torch.Tensor) else alpha
    alpha_t = a_t[:, None] if isinstance(a_t, torch.Tensor) else a_t
    b = alpha_s * w - alpha_t * v  # the linear (skip) part; zero for the plain net
    if r is not None:
        b = b + r
    gram = A @ A.transpose(-1, -2)
    norm = torch.sqrt(1.0 + torch.diagonal(gram, dim1=-2, dim2=-1))
    corr = (gram / (norm[..., :, None] * norm[..., None, :])).clamp(-1.0, 1.0)
    phiphi = (2.0 / math.pi) * torch.asin(corr)
    quad = torch.einsum("...k,...kl,...l->...", c, phiphi, c)
    if n != d:                                  # no skips possible (`check_skip`): the plain net, b = 0
        return 0.5 * quad
    cross = SQRT_2_OVER_PI * torch.einsum("...k,...kj,...j->...", c / norm, A, b)
    return 0.5 * (quad + 2.0 * cross + (b * b).sum(-1))


def loss_and_grad(theta, teacher: Teacher, alpha: float = 0.0, readout: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss and its exact gradient (autograd on the closed form), for one or a batch of students
    (`readout`: students with a free linear readout, `expected_loss`).

    Batched students are independent, so the gradient of the summed loss is every student's own gradient.
    Introduced in chapter II.1.
    """
    theta = as_theta(theta, teacher, readout).detach().clone().requires_grad_(True)
    loss = expected_loss(theta, teacher, alpha, readout)
    (grad,) = torch.autograd.grad(loss.sum(), theta)
    return loss.detach(), grad


def outputs(theta, x, alpha: float = 0.0, n: int = 2) -> torch.Tensor:
    """Network outputs ``f(x)`` for inputs ``x (N, d)`` and parameters ``theta (P,)`` or ``(B, P)`` -> (N,) or (B, N).

    Introduced in chapter II.1 (used for the Monte-Carlo check and on-line SGD).
    """
    alpha = scalar_alpha(alpha)
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D array (N samples x d inputs), got shape {tuple(x.shape)}")
    d = x.shape[1]
    check_skip(alpha, n, d, "alpha")
    J, w = split(torch.as_tensor(theta, dtype=torch.float64), n, d)
    pre = torch.einsum("...kd,nd->...nk", J, x)
    h = torch.erf(pre / math.sqrt(2.0))
    if alpha:
        h = h + alpha * x[:, :n]
    return (h * w[..., None, :]).sum(-1)


def teacher_theta(teacher: Teacher) -> torch.Tensor:
    """The teacher's weights as a flat parameter vector (a global minimum of the loss)."""
    return join(torch.as_tensor(teacher.K), torch.as_tensor(teacher.v))


def monte_carlo_loss(theta, teacher: Teacher, alpha: float = 0.0, n_samples: int = 200_000,
                     seed: int = 0) -> tuple[float, float]:
    """Sample estimate of the loss and its standard error, from fresh Gaussian inputs (for testing).

    Introduced in chapter II.1.
    """
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise ValueError(f"n_samples={n_samples!r} must be an integer >= 2")
    alpha = scalar_alpha(alpha)
    theta = as_theta(theta, single_teacher(teacher))
    if theta.ndim != 1:
        raise ValueError(f"theta must be a single parameter vector (P,), got shape {tuple(theta.shape)}")
    a_t = alpha if teacher.alpha is None else teacher.alpha
    gen = torch.Generator().manual_seed(checks.integer(seed, "seed", 0, 2**63))
    x = torch.randn(n_samples, teacher.d, generator=gen, dtype=torch.float64)
    err = outputs(theta, x, alpha, teacher.n) - outputs(teacher_theta(teacher), x, a_t, teacher.n)
    sq = 0.5 * err**2
    return float(sq.mean()), float(sq.std() / math.sqrt(n_samples))
