"""The coordinates ``(w, z, u, m)`` of Wei et al. (2008) for a two-unit student, the flow in them, and each
unit's linearized input weights (chapters II.1, II.2)."""
from __future__ import annotations

import torch

from .loss import SQRT_2_OVER_PI, as_theta, check_skip, join, loss_and_grad, scalar_alpha, split
from .teachers import Teacher


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
    theta = as_theta(theta, teacher)
    _, g = loss_and_grad(theta, teacher, alpha)
    _, vel = torch.func.jvp(to_wei, (theta,), (-g,))
    return vel


def effective_inputs(theta, alpha: float = 0.0, n: int = 2) -> torch.Tensor:
    """Each unit's linearized input weights ``phi'(0) J_i + alpha e_i`` (rows), shape (..., n, d).

    Near ``J = 0`` unit i computes ``h_i(x) ~ (phi'(0) J_i + alpha e_i) . x``; two parallel rows mean the units
    overlap, a zero row means a unit is eliminated. Our measure of distance to the (ghost of the) singular
    sets. Introduced in chapter II.2.
    """
    alpha = scalar_alpha(alpha)
    theta = torch.as_tensor(theta, dtype=torch.float64)
    d = theta.shape[-1] // n - 1
    J, _ = split(theta, n, d)
    check_skip(alpha, n, d, "alpha")
    eye = torch.eye(n, d, dtype=torch.float64)
    return SQRT_2_OVER_PI * J + alpha * eye
