"""Learning in time: small random starts, exact gradient flow of a batch of students, the same starts at
several skip strengths, and on-line SGD (chapters II.1, II.2)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.integrate import solve_ivp

from .. import checks
from ..env import one_thread
from .loss import SQRT_2_OVER_PI, as_theta, expected_loss, join, loss_and_grad, n_params, scalar_alpha, split
from .teachers import Teacher, check_alpha, single_teacher


#: Default integrator tolerances of `gradient_flow` (scipy's RK45); stated in the chapters.
RTOL, ATOL = 1e-7, 1e-10


def small_init(n_init: int, init_scale: float, n: int = 2, d: int = 2, seed: int = 0) -> torch.Tensor:
    """Random initializations ``theta ~ N(0, init_scale^2 I)``, shape (n_init, P) (our choice of init).

    Introduced in chapter II.1.
    """
    if not isinstance(n_init, (int, np.integer)) or n_init < 1:
        raise ValueError(f"n_init={n_init!r} must be a positive integer")
    if not init_scale > 0:
        raise ValueError(f"init_scale={init_scale!r} must be positive")
    gen = torch.Generator().manual_seed(checks.integer(seed, "seed", 0, 2**63))
    return init_scale * torch.randn(n_init, n_params(n, d), generator=gen, dtype=torch.float64)


@dataclass
class Trajectory:
    """Recorded learning: times ``t (T,)``, parameters ``theta (T, B, P)`` and losses ``loss (T, B)``."""

    t: np.ndarray
    theta: np.ndarray
    loss: np.ndarray


def gradient_flow(theta0, teacher: Teacher, alpha: float = 0.0, t_max: float = 1000.0, n_eval: int = 501,
                  rtol: float = RTOL, atol: float = ATOL, method: str = "RK45", readout: bool = False) -> Trajectory:
    """Integrate ``d theta/dt = -grad L`` for a batch of initializations at once with scipy's `solve_ivp`
    (`readout`: students with a free linear readout, `expected_loss`).

    The batch is one ODE state, so all runs share the adaptive steps; scipy's error norm is an RMS over
    the whole state, which is why the default tolerances are tighter than usual (checked in the tests
    against single runs at ``rtol=1e-11``). Introduced in chapter II.1.
    """
    alpha = check_alpha(alpha)
    theta0 = as_theta(theta0, teacher, readout, name="theta0")
    if theta0.ndim > 2:
        raise ValueError(f"theta0 must have shape (P,) or (B, P), got {tuple(theta0.shape)}")
    if not t_max > 0:
        raise ValueError(f"t_max={t_max!r} must be positive")
    if not isinstance(n_eval, (int, np.integer)) or n_eval < 2:
        raise ValueError(f"n_eval={n_eval!r} must be an integer >= 2")
    if method not in ("RK45", "DOP853", "RK23"):
        raise ValueError(f"method={method!r} must be one of RK45, DOP853, RK23")
    single = theta0.ndim == 1
    batch = theta0.reshape(-1, theta0.shape[-1])
    shape = batch.shape

    def rhs(_t, y):
        _, g = loss_and_grad(torch.from_numpy(y).reshape(shape), teacher, alpha, readout)
        return -g.reshape(-1).numpy()

    t_eval = np.linspace(0.0, float(t_max), int(n_eval))
    with one_thread():  # tensors this small only lose time to threading
        sol = solve_ivp(rhs, (0.0, float(t_max)), batch.reshape(-1).numpy(), method=method, t_eval=t_eval,
                        rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"gradient flow failed: {sol.message}")
    theta = sol.y.T.reshape(len(t_eval), *shape)
    loss = expected_loss(torch.from_numpy(theta), teacher, alpha, readout).numpy()
    if single:
        theta, loss = theta[:, 0], loss[:, 0]
    return Trajectory(t=sol.t, theta=theta, loss=loss)


def flows_per_alpha(theta0, teacher: Teacher, alphas, **kwargs) -> list[Trajectory]:
    """Gradient flow from the same initializations `theta0` (B, P) for each skip strength in `alphas`, as one
    batched integration (one alpha per block of rows); returns one `Trajectory` per alpha.

    Introduced in chapter II.2 (plain vs skip from the same starts; the alpha player).
    """
    theta0 = as_theta(theta0, teacher, name="theta0")
    if theta0.ndim != 2:
        raise ValueError(f"theta0 must be a batch (B, P), got shape {tuple(theta0.shape)}")
    alphas = np.atleast_1d(np.asarray(alphas, dtype=float))
    check_alpha(alphas, "alphas")
    if teacher.K.ndim != 2:
        raise ValueError("teacher must be a single teacher (K of shape (n, d)) for flows_per_alpha")
    B = theta0.shape[0]
    run = gradient_flow(theta0.repeat(len(alphas), 1), teacher, np.repeat(alphas, B), **kwargs)
    return [Trajectory(t=run.t, theta=run.theta[:, i * B:(i + 1) * B], loss=run.loss[:, i * B:(i + 1) * B])
            for i in range(len(alphas))]


def online_sgd(theta0, teacher: Teacher, alpha: float = 0.0, lr: float = 0.01, n_steps: int = 10_000,
               n_record: int = 201, seed: int = 0) -> Trajectory:
    """On-line SGD: one fresh Gaussian input per step, ``theta -= lr * grad 1/2 (f(x) - f*(x))^2``.

    Runs a batch of students, each with its own inputs. Time is ``t = lr * step`` so that it matches
    gradient flow as ``lr -> 0`` (Saad & Solla 1995). Losses recorded are the exact expected loss.
    Introduced in chapter II.1.
    """
    alpha = scalar_alpha(alpha)
    theta = as_theta(theta0, single_teacher(teacher), name="theta0").clone()
    if theta.ndim > 2:
        raise ValueError(f"theta0 must have shape (P,) or (B, P), got {tuple(theta.shape)}")
    if not lr > 0:
        raise ValueError(f"lr={lr!r} must be positive")
    if not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps={n_steps!r} must be a positive integer")
    single = theta.ndim == 1
    theta = theta.reshape(-1, theta.shape[-1])
    n, d = teacher.n, teacher.d
    a_t = alpha if teacher.alpha is None else teacher.alpha
    gen = torch.Generator().manual_seed(checks.integer(seed, "seed", 0, 2**63))
    record = set(np.linspace(0, n_steps, min(n_record, n_steps + 1)).round().astype(int).tolist())
    ts, thetas = [], []
    K, v = torch.as_tensor(teacher.K), torch.as_tensor(teacher.v)
    for step in range(n_steps + 1):
        if step in record:
            ts.append(lr * step)
            thetas.append(theta.clone())
        if step == n_steps:
            break
        x = torch.randn(theta.shape[0], d, generator=gen, dtype=torch.float64)
        J, w = split(theta, n, d)
        pre = torch.einsum("bkd,bd->bk", J, x)
        h = torch.erf(pre / math.sqrt(2.0)) + alpha * x[:, :n]
        target = (v * (torch.erf(x @ K.T / math.sqrt(2.0)) + a_t * x[:, :n])).sum(-1)
        err = (w * h).sum(-1) - target
        dphi = SQRT_2_OVER_PI * torch.exp(-0.5 * pre**2)
        grad_J = (err[:, None] * w * dphi)[:, :, None] * x[:, None, :]
        grad_w = err[:, None] * h
        theta = theta - lr * join(grad_J, grad_w)
    theta = torch.stack(thetas)
    loss = expected_loss(theta, teacher, alpha).numpy()
    theta = theta.numpy()
    if single:
        theta, loss = theta[:, 0], loss[:, 0]
    return Trajectory(t=np.array(ts), theta=theta, loss=loss)
