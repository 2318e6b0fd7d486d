"""The plain net's overlap line of critical points: where it is and how it curves, its ghost in skip nets,
a 2-D slice of the flow near it, and the capture of runs by it (chapters II.1, II.2)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize

from .. import checks
from .coordinates import from_wei, to_wei, wei_velocity
from .loss import expected_loss, join, loss_and_grad, n_params, scalar_alpha, split, teacher_theta
from .teachers import Teacher, check_alpha, single_teacher


def overlap_critical_point(teacher: Teacher, alpha: float = 0.0, seed: int = 0) -> tuple[float, torch.Tensor]:
    """Best one-unit fit ``(w*, m*)``: the loss on Wei et al.'s line of critical points and a point of the line.

    Minimizes the loss over students with ``J1 = J2 = m`` and ``w1 + w2 = w`` (by BFGS on the closed form),
    returns ``(plateau loss, theta with z = 0)``. Introduced in chapter II.1.
    """
    alpha = scalar_alpha(alpha)
    single_teacher(teacher)
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


def ghost_speed(line: OverlapLine, teacher: Teacher, alphas, z) -> np.ndarray:
    """Slowest flow where the plain net's overlap line was: ``min_z |grad L_alpha|`` over the points of `line`
    with ratios `z`, for each skip strength in `alphas` -> (len(alphas),).

    Zero at ``alpha = 0`` (a line of critical points); how fast it grows with alpha is how quickly the
    singularity fades into a ghost. Introduced in chapter II.2.
    """
    alphas = np.atleast_1d(np.asarray(alphas, dtype=float))
    check_alpha(alphas, "alphas")
    z = np.atleast_1d(np.asarray(z, dtype=float))
    if z.ndim != 1 or not len(z):
        raise ValueError("z must be a non-empty 1-D array of points of the line")
    points = torch.stack([line.point(zi) for zi in z])
    theta = points.repeat(len(alphas), 1)
    _, g = loss_and_grad(theta, single_teacher(teacher), torch.as_tensor(np.repeat(alphas, len(z))))
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
    return float(line_distance(teacher_theta(single_teacher(teacher)), line)[0]) / 2


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
