"""Exact learning dynamics of a two-hidden-unit teacher-student net, with and without skips (Part II).

The student is ``f(x) = sum_i w_i h_i(x)`` with ``h_i = phi(J_i . x) + alpha x_i``, ``phi(u) = erf(u / sqrt 2)``
and ``x ~ N(0, I_d)``; ``alpha = 0`` is the plain net of Amari et al. (2006) and Wei et al. (2008), ``alpha = 1``
the skip net of Orhan & Pitkow (2018). The teacher has the same form with weights ``(K, v)``. The loss
``L = 1/2 E[(f - f*)^2]`` has a closed form, so gradient flow is integrated without sampling.

Parameters of a student are a flat vector ``theta = (J_11 .. J_1d, ..., J_n1 .. J_nd, w_1 .. w_n)``; functions
accept a batch ``(B, P)`` as well. Introduced in chapter II.1 (plateaus) and used in chapter II.2 (ghosts).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.integrate import solve_ivp
from scipy.optimize import minimize

from . import checks
from .env import one_thread

#: Default integrator tolerances of `gradient_flow` (scipy's RK45); stated in the chapters.
RTOL, ATOL = 1e-7, 1e-10

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@dataclass(frozen=True)
class Teacher:
    """A teacher net ``f*(x) = sum_i v_i (phi(K_i . x) + alpha x_i)``; its alpha is the student's unless set.

    ``K`` is (n, d) and ``v`` (n,), or a batch ``(B, n, d)`` and ``(B, n)``: one teacher per student, so that a
    sweep over teachers is one batched integration. Introduced in chapter II.1.
    """

    K: np.ndarray
    v: np.ndarray
    alpha: float | None = None

    def __post_init__(self):
        K = np.array(checks.finite(self.K, "K"), dtype=float)   # copies: a view (e.g. K[::-1]) must not change
        v = np.array(checks.finite(self.v, "v"), dtype=float)
        if K.ndim not in (2, 3):
            raise ValueError(f"K must be (n units, d inputs) or a batch (B, n, d), got shape {K.shape}")
        if v.shape != K.shape[:-1]:
            raise ValueError(f"v must have shape {K.shape[:-1]} to match K, got {v.shape}")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "v", v)
        if self.alpha is not None:
            _check_alpha(self.alpha, "teacher alpha")

    @property
    def n(self) -> int:
        return self.K.shape[-2]

    @property
    def d(self) -> int:
        return self.K.shape[-1]


def rotation(angle: float) -> np.ndarray:
    """The 2-D rotation matrix by `angle` (radians); used to turn a teacher against the skip wiring."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def default_teacher() -> Teacher:
    """Our teacher for Part II: two unequal units, roughly along the two inputs but not symmetric under any swap.

    Introduced in chapter II.1; chapter II.2 rotates and rescales it (``K @ rotation(psi).T * scale``).
    """
    return Teacher(K=np.array([[1.0, 0.2], [0.1, 0.9]]), v=np.array([1.0, 0.6]))


def _check_alpha(alpha, name="alpha"):
    """A skip strength in [0, 1]: a number, or a 1-D array with one strength per student of a batch."""
    if isinstance(alpha, (int, float, np.floating, np.integer)):
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"{name}={alpha!r} must be a number in [0, 1] (0: plain, 1: skip)")
        return float(alpha)
    arr = np.asarray(alpha, dtype=float) if not isinstance(alpha, torch.Tensor) else alpha.double().numpy()
    if arr.ndim != 1 or np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"{name} must be a number in [0, 1] or a 1-D array of them (one per student)")
    return torch.as_tensor(arr)


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


def _as_theta(theta, teacher: Teacher, readout: bool = False, name: str = "theta") -> torch.Tensor:
    if not isinstance(teacher, Teacher):
        raise ValueError(f"teacher must be a skiplessons.dynamics.Teacher, got {type(teacher).__name__}")
    theta = torch.as_tensor(checks.finite(theta, name), dtype=torch.float64)
    P = n_params(teacher.n, teacher.d) + (teacher.d if readout else 0)
    if theta.ndim < 1 or theta.shape[-1] != P or not theta.numel():
        raise ValueError(f"{name} must have shape (..., P) with P = {P} for this teacher"
                         f"{' and a readout' if readout else ''}, got {tuple(theta.shape)}")
    return theta


def _scalar_alpha(alpha, name="alpha") -> float:
    alpha = _check_alpha(alpha, name)
    if isinstance(alpha, torch.Tensor):
        raise ValueError(f"{name} must be a single number in [0, 1] here, not an array")
    return alpha


def _single_teacher(teacher: Teacher) -> Teacher:
    if not isinstance(teacher, Teacher):
        raise ValueError(f"teacher must be a skiplessons.dynamics.Teacher, got {type(teacher).__name__}")
    if teacher.K.ndim != 2:
        raise ValueError(f"teacher must be a single teacher here (K of shape (n, d)), got K {teacher.K.shape}")
    return teacher


def _skip_ok(alpha, n: int, d: int, name: str) -> None:
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
    alpha = _check_alpha(alpha)
    theta = _as_theta(theta, teacher, readout)
    a_t = alpha if teacher.alpha is None else _check_alpha(teacher.alpha, "teacher alpha")
    n, d = teacher.n, teacher.d
    _skip_ok(alpha, n, d, "alpha")
    _skip_ok(a_t, n, d, "teacher alpha")
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
    if n != d:                                  # no skips possible (`_skip_ok`): the plain net, b = 0
        return 0.5 * quad
    cross = SQRT_2_OVER_PI * torch.einsum("...k,...kj,...j->...", c / norm, A, b)
    return 0.5 * (quad + 2.0 * cross + (b * b).sum(-1))


def split_readout(theta: torch.Tensor, n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a readout student's parameters ``(..., n*d + n + d)`` into the units' ``(..., n*d + n)`` and the
    linear readout ``r (..., d)``."""
    P = n_params(n, d)
    if theta.shape[-1] != P + d:
        raise ValueError(f"theta must have last dimension n*d+n+d = {P + d} (units and readout), got {theta.shape[-1]}")
    return theta[..., :P], theta[..., P:]


def loss_and_grad(theta, teacher: Teacher, alpha: float = 0.0, readout: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss and its exact gradient (autograd on the closed form), for one or a batch of students
    (`readout`: students with a free linear readout, `expected_loss`).

    Batched students are independent, so the gradient of the summed loss is every student's own gradient.
    Introduced in chapter II.1.
    """
    theta = _as_theta(theta, teacher, readout).detach().clone().requires_grad_(True)
    loss = expected_loss(theta, teacher, alpha, readout)
    (grad,) = torch.autograd.grad(loss.sum(), theta)
    return loss.detach(), grad


def outputs(theta, x, alpha: float = 0.0, n: int = 2) -> torch.Tensor:
    """Network outputs ``f(x)`` for inputs ``x (N, d)`` and parameters ``theta (P,)`` or ``(B, P)`` -> (N,) or (B, N).

    Introduced in chapter II.1 (used for the Monte-Carlo check and on-line SGD).
    """
    alpha = _scalar_alpha(alpha)
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D array (N samples x d inputs), got shape {tuple(x.shape)}")
    d = x.shape[1]
    _skip_ok(alpha, n, d, "alpha")
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
    alpha = _scalar_alpha(alpha)
    theta = _as_theta(theta, _single_teacher(teacher))
    if theta.ndim != 1:
        raise ValueError(f"theta must be a single parameter vector (P,), got shape {tuple(theta.shape)}")
    a_t = alpha if teacher.alpha is None else teacher.alpha
    gen = torch.Generator().manual_seed(checks.integer(seed, "seed", 0, 2**63))
    x = torch.randn(n_samples, teacher.d, generator=gen, dtype=torch.float64)
    err = outputs(theta, x, alpha, teacher.n) - outputs(teacher_theta(teacher), x, a_t, teacher.n)
    sq = 0.5 * err**2
    return float(sq.mean()), float(sq.std() / math.sqrt(n_samples))


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
    alpha = _check_alpha(alpha)
    theta0 = _as_theta(theta0, teacher, readout, name="theta0")
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
    theta0 = _as_theta(theta0, teacher, name="theta0")
    if theta0.ndim != 2:
        raise ValueError(f"theta0 must be a batch (B, P), got shape {tuple(theta0.shape)}")
    alphas = np.atleast_1d(np.asarray(alphas, dtype=float))
    _check_alpha(alphas, "alphas")
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
    alpha = _scalar_alpha(alpha)
    theta = _as_theta(theta0, _single_teacher(teacher), name="theta0").clone()
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


# ---- Wei et al. (2008) coordinates -------------------------------------------------------------------------

def to_wei(theta) -> torch.Tensor:
    """Wei et al. (2008) coordinates ``(w, z, u, m)`` of a two-unit student, flat ``(..., 2 + 2d)``.

    ``w = w1 + w2``, ``z = (w1 - w2)/(w1 + w2)``, ``u = J2 - J1``, ``m = (w1 J1 + w2 J2)/(w1 + w2)`` (Wei et al.
    write v for m; the book keeps v for the teacher's outgoing weights). Undefined where ``w1 + w2 = 0``.
    Introduced in chapter II.1.
    """
    theta = torch.as_tensor(theta, dtype=torch.float64)
    d = (theta.shape[-1] - 2) // 2
    if theta.shape[-1] != 2 * d + 2 or d < 1:
        raise ValueError(f"theta must be a two-unit student with last dimension 2d+2, got {theta.shape[-1]}")
    J, wi = split(theta, 2, d)
    w = wi[..., 0] + wi[..., 1]
    if torch.any(w == 0):
        raise ValueError("theta has w1 + w2 = 0, where the Wei et al. coordinates z and m are undefined")
    z = (wi[..., 0] - wi[..., 1]) / w
    u = J[..., 1, :] - J[..., 0, :]
    m = (wi[..., 0, None] * J[..., 0, :] + wi[..., 1, None] * J[..., 1, :]) / w[..., None]
    return torch.cat([w[..., None], z[..., None], u, m], dim=-1)


def from_wei(coords) -> torch.Tensor:
    """Inverse of `to_wei`: ``w1 = w(1+z)/2``, ``w2 = w(1-z)/2``, ``J1 = m - (1-z)u/2``, ``J2 = m + (1+z)u/2``."""
    coords = torch.as_tensor(coords, dtype=torch.float64)
    d = (coords.shape[-1] - 2) // 2
    if coords.shape[-1] != 2 * d + 2 or d < 1:
        raise ValueError(f"coords must be (w, z, u, m) with last dimension 2d+2, got {coords.shape[-1]}")
    w, z = coords[..., 0:1], coords[..., 1:2]
    u, m = coords[..., 2:2 + d], coords[..., 2 + d:]
    J = torch.stack([m - 0.5 * (1 - z) * u, m + 0.5 * (1 + z) * u], dim=-2)
    return join(J, torch.cat([0.5 * w * (1 + z), 0.5 * w * (1 - z)], dim=-1))


def wei_velocity(theta, teacher: Teacher, alpha: float = 0.0) -> torch.Tensor:
    """Gradient-flow velocity in Wei coordinates, ``d(w, z, u, m)/dt``, by pushing ``-grad L`` through `to_wei`.

    Introduced in chapter II.1 (phase portraits).
    """
    theta = _as_theta(theta, teacher)
    _, g = loss_and_grad(theta, teacher, alpha)
    _, vel = torch.func.jvp(to_wei, (theta,), (-g,))
    return vel


def effective_inputs(theta, alpha: float = 0.0, n: int = 2) -> torch.Tensor:
    """Each unit's linearized input weights ``phi'(0) J_i + alpha e_i`` (rows), shape (..., n, d).

    Near ``J = 0`` unit i computes ``h_i(x) ~ (phi'(0) J_i + alpha e_i) . x``; two parallel rows mean the units
    overlap, a zero row means a unit is eliminated. Our measure of distance to the (ghost of the) singular
    sets. Introduced in chapter II.2.
    """
    alpha = _scalar_alpha(alpha)
    theta = torch.as_tensor(theta, dtype=torch.float64)
    d = theta.shape[-1] // n - 1
    J, _ = split(theta, n, d)
    _skip_ok(alpha, n, d, "alpha")
    eye = torch.eye(n, d, dtype=torch.float64)
    return SQRT_2_OVER_PI * J + alpha * eye


# ---- the plateau and its detection ---------------------------------------------------------------------------

def overlap_critical_point(teacher: Teacher, alpha: float = 0.0, seed: int = 0) -> tuple[float, torch.Tensor]:
    """Best one-unit fit ``(w*, m*)``: the loss on Wei et al.'s line of critical points and a point of the line.

    Minimizes the loss over students with ``J1 = J2 = m`` and ``w1 + w2 = w`` (by BFGS on the closed form),
    returns ``(plateau loss, theta with z = 0)``. Introduced in chapter II.1.
    """
    alpha = _scalar_alpha(alpha)
    _single_teacher(teacher)
    d = teacher.d
    gen = torch.Generator().manual_seed(checks.integer(seed, "seed", 0, 2**63))
    p0 = 0.5 * torch.randn(d + 1, generator=gen, dtype=torch.float64) + 0.5

    def theta_of(p):
        return join(torch.stack([p[1:], p[1:]]), torch.stack([p[0] / 2, p[0] / 2]))

    def loss_of(p):
        return expected_loss(theta_of(p), teacher, alpha)

    def value_and_grad(x):
        p = torch.from_numpy(x).requires_grad_(True)
        loss = loss_of(p)
        (g,) = torch.autograd.grad(loss, p)
        return loss.item(), g.numpy()

    p = torch.from_numpy(minimize(value_and_grad, p0.numpy(), jac=True, method="BFGS", options={"gtol": 1e-12}).x)
    theta = theta_of(p)
    return float(expected_loss(theta, teacher, alpha)), theta


def time_to_threshold(t, loss, threshold: float) -> np.ndarray:
    """First time each run's loss is at or below `threshold` (``inf`` if never); `loss` is (T,) or (T, B).

    Introduced in chapter II.1.
    """
    t, loss = _check_curve(t, loss)
    if not threshold > 0:
        raise ValueError(f"threshold={threshold!r} must be positive")
    hit = loss <= threshold
    first = np.argmax(hit, axis=0)
    out = np.where(hit.any(axis=0), t[first], np.inf)
    return out if out.ndim else float(out)


def slow_intervals(t, loss, kappa: float) -> np.ndarray:
    """Which intervals between recorded times are slow, ``|d log L/dt| < kappa``: (T-1,) or (T-1, B) booleans.

    The plateau detector of `slow_time`, per interval (e.g. to pick the times a run spends on a plateau).
    Introduced in chapter II.1.
    """
    t, loss = _check_curve(t, loss)
    if not kappa > 0:
        raise ValueError(f"kappa={kappa!r} must be positive (a rate per unit time)")
    if np.any(loss <= 0) or not np.isfinite(loss).all():
        raise ValueError("loss must be positive and finite for its logarithm: a run at exactly zero (or infinite) "
                         "loss has no rate")
    dt = np.diff(t).reshape(-1, *([1] * (loss.ndim - 1)))
    return np.abs(np.diff(np.log(loss), axis=0)) / dt < kappa


def slow_time(t, loss, kappa: float, threshold: float | None = None) -> np.ndarray:
    """Time each run spends on a plateau: with a relative rate of change ``|d log L/dt| < kappa``, counted
    until its loss first reaches `threshold` (the whole run when None, or when it never gets there).

    A plateau detector that does not depend on the level of the loss, so that two models with different
    plateau values (or none) are measured alike. Rates are taken between recorded times (finite differences
    of ``log L``), so a plateau shorter than the recording step is not seen. `loss` is (T,) or (T, B).
    Introduced in chapter II.1; used for every plateau statistic of Part II.
    """
    t, loss = _check_curve(t, loss)
    dt = np.diff(t).reshape(-1, *([1] * (loss.ndim - 1)))
    slow = slow_intervals(t, loss, kappa)
    if threshold is not None:
        if not threshold > 0:
            raise ValueError(f"threshold={threshold!r} must be positive")
        hit = loss <= threshold
        first = np.where(hit.any(axis=0), np.argmax(hit, axis=0), len(t))      # index of the first hit
        before = np.arange(len(t) - 1).reshape(-1, *([1] * (loss.ndim - 1))) < first
        slow &= before
    out = (slow * dt).sum(axis=0)
    return out if out.ndim else float(out)


def _check_curve(t, loss):
    t = np.asarray(checks.finite(t, "t"), dtype=float)
    loss = np.asarray(checks.real(loss, "loss"), dtype=float)
    if np.isnan(loss).any() or not loss.size:
        raise ValueError(f"loss must be non-empty and hold no NaN, got {int(np.isnan(loss).sum())} NaN of {loss.size}")
    if t.ndim != 1 or len(t) < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("t must be a 1-D increasing array of at least 2 times")
    if loss.shape[:1] != t.shape:
        raise ValueError(f"loss must have time first, shape ({len(t)},) or ({len(t)}, B); got {loss.shape}")
    return t, loss


# ---- the overlap line: stability and a 2-D slice of the flow ------------------------------------------------

#: eigenvalues of M smaller than this times its largest |eigenvalue| count as zero (`curvature_kind`): a zero
#: forced by the model (an input no teacher unit reads) comes out of autograd at ~1e-9 relative, not exactly 0
ZERO_EIGENVALUE = 1e-6


def curvature_kind(eigenvalues) -> str:
    """Where the overlap line attracts to second order, from the eigenvalues of its curvature M (Fukumizu &
    Amari 2000): "|z| < 1" (M positive definite), "|z| > 1" (negative definite), "nowhere" (indefinite: every
    point a saddle), or "undecided" (semidefinite: some direction of u has zero curvature, so the second order
    does not decide it). Eigenvalues below `ZERO_EIGENVALUE` times the largest |eigenvalue| count as zero."""
    eig = np.asarray(eigenvalues, dtype=float)
    if eig.ndim != 1 or not eig.size or not np.all(np.isfinite(eig)):
        raise ValueError("eigenvalues must be a non-empty 1-D array of finite numbers (one matrix M)")
    scale = np.abs(eig).max()
    if scale == 0:
        return "undecided"
    pos, neg = eig > ZERO_EIGENVALUE * scale, eig < -ZERO_EIGENVALUE * scale
    if pos.any() and neg.any():
        return "nowhere"
    if not (pos | neg).all():
        return "undecided"
    return "|z| < 1" if pos.all() else "|z| > 1"


@dataclass(frozen=True)
class OverlapLine:
    """Wei et al.'s line of critical points of the plain net at the best one-unit fit ``(w*, m*)``, and its
    curvature across the line.

    On the line (``u = 0``) the gradient in ``u`` vanishes for every ``(w, z, m)`` (the student's first-order
    term in ``u`` cancels), so the Hessian is block-diagonal there, and expanding
    ``f = w phi(m.x) + w (1 - z^2)/8 phi''(m.x) (u.x)^2 + O(u^3)`` gives the ``u``-block
    ``(1 - z^2) M`` with ``M = (w*/4) E[(f - f*) phi''(m*.x) x x^T]`` (Fukumizu & Amari 2000). A segment of
    the line attracts an open set of starts only where ``(1 - z^2) M`` is positive definite: ``|z| < 1`` when
    `M` is positive definite, ``|z| > 1`` when it is negative definite, nowhere when it is indefinite; when M
    is semidefinite the second order leaves a direction undecided.
    Introduced in chapter II.1.
    """

    plateau: float
    theta: torch.Tensor
    M: torch.Tensor

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of `M`, ascending."""
        return torch.linalg.eigvalsh(self.M).numpy()

    def hessian(self, z: float) -> torch.Tensor:
        """The ``u``-Hessian of the loss at the point of the line with ratio `z`: ``(1 - z^2) M``."""
        return (1.0 - float(z) ** 2) * self.M

    @property
    def attracting(self) -> str:
        """Where the line attracts to second order (`curvature_kind` of M's eigenvalues)."""
        return curvature_kind(self.eigenvalues)

    def point(self, z: float) -> torch.Tensor:
        """Student parameters at the point of the line with ratio `z`."""
        coords = to_wei(self.theta)
        coords[1] = float(z)
        return from_wei(coords)


def overlap_line(teacher: Teacher) -> OverlapLine:
    """The plain net's overlap line for `teacher`: plateau value, its point at ``z = 0`` and the curvature
    matrix ``M`` (the ``u``-Hessian at ``z = 0``, by autograd on the closed form). Introduced in chapter II.1.
    """
    plateau, theta = overlap_critical_point(teacher)
    base = to_wei(theta)
    d = teacher.d

    def loss_of_u(u):
        return expected_loss(from_wei(torch.cat([base[:2], u, base[2 + d:]])), teacher)

    M = torch.autograd.functional.hessian(loss_of_u, torch.zeros(d, dtype=torch.float64))
    return OverlapLine(plateau=plateau, theta=theta, M=M)


def capture_teacher() -> Teacher:
    """A two-input teacher whose units both read input 1 only, ``f*(x) = phi(0.3 x_1) - 2 phi(2 x_1)``: our setting
    for measuring capture (chapter II.1). Along input 1 its overlap line has the one-input curvature M > 0 (the
    segment ``|z| < 1`` attracts, plateau value well above zero); along the unread input 2 the curvature is zero
    (the argument for ``d >= 3``). With two inputs the paper's skip net (input i added to unit i) exists."""
    return Teacher(K=np.array([[0.3, 0.0], [2.0, 0.0]]), v=np.array([1.0, -2.0]))


def tilted(teacher: Teacher, angle: float) -> Teacher:
    """`teacher` (two units, two inputs) with unit 1 turned by `angle` (radians) and unit 2 by ``-angle`` in the
    input plane: how the boundary teacher `capture_teacher` leaves its boundary (chapter II.1)."""
    teacher = _single_teacher(teacher)
    if (teacher.n, teacher.d) != (2, 2):
        raise ValueError(f"teacher must have two units on two inputs, got n={teacher.n}, d={teacher.d}")
    K = np.stack([teacher.K[0] @ rotation(angle).T, teacher.K[1] @ rotation(-angle).T])
    return Teacher(K=K, v=teacher.v, alpha=teacher.alpha)


def teacher_grid(norms, angles: int, ratios) -> list[Teacher]:
    """Two-unit teachers on two inputs covering the teacher space up to its symmetries, for scanning where the
    overlap line attracts: unit 1 along x_1 with norm r_1, unit 2 at angle beta from it with norm r_2 >= r_1,
    output weights (1, rho), for r_1 <= r_2 in `norms`, `angles` angles spread evenly in (0, pi) and rho in
    `ratios`. Rotating the inputs rotates M, swapping the units or flipping one's signs (phi is odd) leaves the
    teacher's function unchanged, and scaling v by c scales M by c^2: none changes whether M is definite, so
    (r_1, r_2, beta, rho) is the whole space (tested). Chapter II.1."""
    norms, ratios = np.asarray(norms, dtype=float), np.asarray(ratios, dtype=float)
    if norms.ndim != 1 or not len(norms) or np.any(norms <= 0):
        raise ValueError(f"norms={norms.tolist()!r} must be a non-empty list of positive numbers")
    if not isinstance(angles, (int, np.integer)) or angles < 1:
        raise ValueError(f"angles={angles!r} must be a positive integer (how many angles in (0, pi))")
    if ratios.ndim != 1 or not len(ratios) or not np.all(np.isfinite(ratios)):
        raise ValueError(f"ratios={ratios.tolist()!r} must be a non-empty list of finite numbers")
    betas = np.pi * np.arange(1, angles + 1) / (angles + 1)
    norms = np.unique(norms)
    return [Teacher(K=np.array([[r1, 0.0], [r2 * math.cos(b), r2 * math.sin(b)]]), v=np.array([1.0, rho]))
            for i, r1 in enumerate(norms) for r2 in norms[i:] for b in betas for rho in ratios]


def ghost_speed(line: OverlapLine, teacher: Teacher, alphas, z) -> np.ndarray:
    """Slowest flow where the plain net's overlap line was: ``min_z |grad L_alpha|`` over the points of `line`
    with ratios `z`, for each skip strength in `alphas` -> (len(alphas),).

    Zero at ``alpha = 0`` (a line of critical points); how fast it grows with alpha is how quickly the
    singularity fades into a ghost. Introduced in chapter II.2.
    """
    alphas = np.atleast_1d(np.asarray(alphas, dtype=float))
    _check_alpha(alphas, "alphas")
    z = np.atleast_1d(np.asarray(z, dtype=float))
    if z.ndim != 1 or not len(z):
        raise ValueError("z must be a non-empty 1-D array of points of the line")
    points = torch.stack([line.point(zi) for zi in z])
    theta = points.repeat(len(alphas), 1)
    _, g = loss_and_grad(theta, _single_teacher(teacher), torch.as_tensor(np.repeat(alphas, len(z))))
    return g.norm(dim=-1).reshape(len(alphas), len(z)).min(dim=1).values.numpy()


def slice_velocity(teacher: Teacher, alpha: float, base, direction, z, s) -> tuple[np.ndarray, np.ndarray]:
    """Gradient flow projected on the slice ``(w, m) = base's, u = s * direction``, over a grid of ``(z, s)``.

    Returns ``(dz/dt, ds/dt)`` with ``ds/dt = direction . du/dt`` (`direction` has unit length), arrays of the
    grid's shape. Introduced in chapter II.1 (phase portraits); chapter II.2 draws the skip net's ghost.
    """
    base = torch.as_tensor(base, dtype=torch.float64)
    direction = torch.as_tensor(direction, dtype=torch.float64)
    if direction.shape != (teacher.d,) or not math.isclose(float(direction.norm()), 1.0, rel_tol=1e-9):
        raise ValueError(f"direction must be a unit vector of length d={teacher.d}")
    Z, S = np.broadcast_arrays(np.asarray(z, dtype=float), np.asarray(s, dtype=float))
    coords = base.expand(Z.size, -1).clone()
    coords[:, 1] = torch.as_tensor(Z.ravel())
    coords[:, 2:2 + teacher.d] = torch.as_tensor(S.ravel())[:, None] * direction
    vel = wei_velocity(from_wei(coords), teacher, alpha)
    dz = vel[:, 1].numpy().reshape(Z.shape)
    ds = (vel[:, 2:2 + teacher.d] @ direction).numpy().reshape(Z.shape)
    return dz, ds


# ---- capture by the overlap line ------------------------------------------------------------------------------

def line_distance(theta, line: OverlapLine) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance in parameter space from each student to the overlap line `line`, and the ratio z of its
    nearest point: arrays of `theta`'s batch shape.

    In the original weights the line is straight: ``J_1 = J_2 = m*``, ``w_1 = w*(1+z)/2``, ``w_2 = w*(1-z)/2``, so
    the squared distance is ``|J_1 - m*|^2 + |J_2 - m*|^2 + (w_1 + w_2 - w*)^2 / 2`` at ``z = (w_1 - w_2)/w*``.
    phi is odd, so flipping the signs of ``(J_i, w_i)`` leaves the network unchanged; the distance is the smallest
    over the four sign images of the student (the images of the line). Introduced in chapter II.1 (capture).
    """
    if not isinstance(line, OverlapLine):
        raise ValueError(f"line must be a skiplessons.dynamics.OverlapLine, got {type(line).__name__}")
    theta = torch.as_tensor(theta, dtype=torch.float64)
    d = line.M.shape[0]
    if theta.ndim < 1 or theta.shape[-1] != n_params(2, d):
        raise ValueError(f"theta must be two-unit students (..., {n_params(2, d)}) for this line, got "
                         f"{tuple(theta.shape)}")
    J, w = split(theta, 2, d)
    J_line, w_line = split(line.theta, 2, d)
    m, w_star = J_line[0], float(w_line.sum())
    best_d2, best_z = None, None
    for signs in ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)):
        s = torch.tensor(signs, dtype=torch.float64)
        Js, ws = J * s[:, None], w * s
        d2 = ((Js - m) ** 2).sum((-1, -2)) + (ws.sum(-1) - w_star) ** 2 / 2
        z = (ws[..., 0] - ws[..., 1]) / w_star
        if best_d2 is None:
            best_d2, best_z = d2, z
        else:
            closer = d2 < best_d2
            best_d2, best_z = torch.where(closer, d2, best_d2), torch.where(closer, z, best_z)
    return best_d2.sqrt().numpy(), best_z.numpy()


def capture_radius(teacher: Teacher, line: OverlapLine) -> float:
    """Half the distance from the plain net's overlap line to the teacher's own weights (`line_distance`): a run
    within it is nearer the line than the solution it would otherwise reach (triangle inequality), the one radius
    at which chapter II.1 counts runs as captured."""
    return float(line_distance(teacher_theta(_single_teacher(teacher)), line)[0]) / 2


@dataclass(frozen=True)
class Stay:
    """Each run's longest stay within a radius of the overlap line (all arrays (B,)): its `duration` (time between
    its first and last recorded times inside, 0 if never inside), the ratio z of the nearest point of the line at
    entry and at exit (`z_in`, `z_out`; nan if never inside), and whether it lasts to the end of the record
    (`to_end`: censored, the run had not left when the integration stopped)."""

    duration: np.ndarray
    z_in: np.ndarray
    z_out: np.ndarray
    to_end: np.ndarray

    def captured(self, min_stay: float) -> np.ndarray:
        """Runs whose longest stay lasts at least `min_stay` time units: the book's definition of *captured*."""
        if not min_stay > 0:
            raise ValueError(f"min_stay={min_stay!r} must be a positive time")
        return self.duration >= min_stay

    @property
    def drift(self) -> np.ndarray:
        """How far each run moved along the line during its stay, ``|z_out - z_in|`` (nan if never inside)."""
        return np.abs(self.z_out - self.z_in)


def longest_stay(t, dist, z, radius: float) -> Stay:
    """The longest contiguous stay of each run within `radius` of the line, from its recorded distance `dist`
    (T, B) and nearest-point ratio `z` (T, B) at times `t` (T,) (`line_distance`). Introduced in chapter II.1.
    """
    t = np.asarray(t, dtype=float)
    dist, z = np.asarray(dist, dtype=float), np.asarray(z, dtype=float)
    if t.ndim != 1 or len(t) < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("t must be a 1-D increasing array of at least 2 times")
    if dist.ndim != 2 or dist.shape[0] != len(t) or z.shape != dist.shape:
        raise ValueError(f"dist and z must both have shape (T={len(t)}, B runs), got {dist.shape} and {z.shape}")
    if not radius > 0:
        raise ValueError(f"radius={radius!r} must be positive")
    inside = dist < radius
    B = dist.shape[1]
    duration, z_in, z_out = np.zeros(B), np.full(B, np.nan), np.full(B, np.nan)
    to_end = np.zeros(B, dtype=bool)
    for b in range(B):
        idx = np.flatnonzero(inside[:, b])
        if not len(idx):
            continue
        breaks = np.flatnonzero(np.diff(idx) > 1)                 # contiguous runs of recorded times inside
        starts, ends = idx[np.r_[0, breaks + 1]], idx[np.r_[breaks, len(idx) - 1]]
        k = int(np.argmax(t[ends] - t[starts]))
        duration[b] = t[ends[k]] - t[starts[k]]
        z_in[b], z_out[b] = z[starts[k], b], z[ends[k], b]
        to_end[b] = ends[k] == len(t) - 1
    return Stay(duration=duration, z_in=z_in, z_out=z_out, to_end=to_end)
