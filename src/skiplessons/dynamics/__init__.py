"""Exact learning dynamics of a two-hidden-unit teacher-student net, with and without skips (Part II).

The student is ``f(x) = sum_i w_i h_i(x)`` with ``h_i = phi(J_i . x) + alpha x_i``, ``phi(u) = erf(u / sqrt 2)``
and ``x ~ N(0, I_d)``; ``alpha = 0`` is the plain net of Amari et al. (2006) and Wei et al. (2008), ``alpha = 1``
the skip net of Orhan & Pitkow (2018). The teacher has the same form with weights ``(K, v)``. The loss
``L = 1/2 E[(f - f*)^2]`` has a closed form, so gradient flow is integrated without sampling.

Parameters of a student are a flat vector ``theta = (J_11 .. J_1d, ..., J_n1 .. J_nd, w_1 .. w_n)``; functions
accept a batch ``(B, P)`` as well. Introduced in chapter II.1 (plateaus) and used in chapter II.2 (ghosts).

One module per subject: `teachers`, `loss` (parameter layout, closed-form loss and gradient), `flow` (gradient
flow, on-line SGD), `coordinates` (Wei et al.'s), `timing` (plateau detection), `overlap` (the overlap line,
its ghost and capture). Every public name is here too: ``dynamics.gradient_flow``.
"""
from .coordinates import effective_inputs, from_wei, to_wei, wei_velocity
from .flow import ATOL, RTOL, Trajectory, flows_per_alpha, gradient_flow, online_sgd, small_init
from .loss import (SQRT_2_OVER_PI, expected_loss, join, loss_and_grad, monte_carlo_loss, n_params, outputs, split,
                   split_readout, teacher_theta)
from .overlap import (ZERO_EIGENVALUE, OverlapLine, Stay, capture_radius, curvature_kind, ghost_speed,
                      line_distance, longest_stay, overlap_critical_point, overlap_line, slice_velocity)
from .teachers import Teacher, capture_teacher, default_teacher, rotation, teacher_grid, tilted
from .timing import slow_intervals, slow_time, time_to_threshold

__all__ = ["ATOL", "RTOL", "SQRT_2_OVER_PI", "ZERO_EIGENVALUE", "OverlapLine", "Stay", "Teacher", "Trajectory",
           "capture_radius", "capture_teacher", "curvature_kind", "default_teacher", "effective_inputs",
           "expected_loss", "flows_per_alpha", "from_wei", "ghost_speed", "gradient_flow", "join", "line_distance",
           "loss_and_grad", "longest_stay", "monte_carlo_loss", "n_params", "online_sgd", "outputs",
           "overlap_critical_point", "overlap_line", "rotation", "slice_velocity", "slow_intervals", "slow_time",
           "small_init", "split", "split_readout", "teacher_grid", "teacher_theta", "tilted", "time_to_threshold",
           "to_wei", "wei_velocity"]
