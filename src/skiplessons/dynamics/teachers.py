"""The teachers of Part II: a two-unit net ``f*(x) = sum_i v_i (phi(K_i . x) + alpha x_i)``, the book's
default and capture teachers, and the families of teachers that turn or scan them (chapters II.1, II.2)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import checks


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
            check_alpha(self.alpha, "teacher alpha")

    @property
    def n(self) -> int:
        return self.K.shape[-2]

    @property
    def d(self) -> int:
        return self.K.shape[-1]


def check_alpha(alpha, name="alpha"):
    """A skip strength in [0, 1]: a number, or a 1-D array with one strength per student of a batch."""
    if isinstance(alpha, (int, float, np.floating, np.integer)):
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"{name}={alpha!r} must be a number in [0, 1] (0: plain, 1: skip)")
        return float(alpha)
    arr = np.asarray(alpha, dtype=float) if not isinstance(alpha, torch.Tensor) else alpha.double().numpy()
    if arr.ndim != 1 or np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"{name} must be a number in [0, 1] or a 1-D array of them (one per student)")
    return torch.as_tensor(arr)


def single_teacher(teacher: Teacher) -> Teacher:
    """`teacher` if it is one teacher (K of shape (n, d)), not a batch; else a ValueError."""
    if not isinstance(teacher, Teacher):
        raise ValueError(f"teacher must be a skiplessons.dynamics.Teacher, got {type(teacher).__name__}")
    if teacher.K.ndim != 2:
        raise ValueError(f"teacher must be a single teacher here (K of shape (n, d)), got K {teacher.K.shape}")
    return teacher


def rotation(angle: float) -> np.ndarray:
    """The 2-D rotation matrix by `angle` (radians); used to turn a teacher against the skip wiring."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def default_teacher() -> Teacher:
    """Our teacher for Part II: two unequal units, roughly along the two inputs but not symmetric under any swap.

    Introduced in chapter II.1; chapter II.2 rotates and rescales it (``K @ rotation(psi).T * scale``).
    """
    return Teacher(K=np.array([[1.0, 0.2], [0.1, 0.9]]), v=np.array([1.0, 0.6]))


def capture_teacher() -> Teacher:
    """A two-input teacher whose units both read input 1 only, ``f*(x) = phi(0.3 x_1) - 2 phi(2 x_1)``: our setting
    for measuring capture (chapter II.1). Along input 1 its overlap line has the one-input curvature M > 0 (the
    segment ``|z| < 1`` attracts, plateau value well above zero); along the unread input 2 the curvature is zero
    (the argument for ``d >= 3``). With two inputs the paper's skip net (input i added to unit i) exists."""
    return Teacher(K=np.array([[0.3, 0.0], [2.0, 0.0]]), v=np.array([1.0, -2.0]))


def tilted(teacher: Teacher, angle: float) -> Teacher:
    """`teacher` (two units, two inputs) with unit 1 turned by `angle` (radians) and unit 2 by ``-angle`` in the
    input plane: how the boundary teacher `capture_teacher` leaves its boundary (chapter II.1)."""
    teacher = single_teacher(teacher)
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
