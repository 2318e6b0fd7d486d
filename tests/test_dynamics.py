"""Tests of skiplessons.dynamics against independent computations (Monte Carlo, finite differences,
a high-accuracy integrator, the symmetry argument)."""
import math

import numpy as np
import pytest
import torch

from skiplessons import dynamics as D

T = D.default_teacher()


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form_matches_monte_carlo(alpha, seed):
    gen = torch.Generator().manual_seed(100 + seed)
    theta = torch.randn(6, generator=gen, dtype=torch.float64) * 1.2
    teacher = D.Teacher(T.K * (1 + seed), T.v)
    exact = D.expected_loss(theta, teacher, alpha).item()
    mc, se = D.monte_carlo_loss(theta, teacher, alpha, n_samples=400_000, seed=seed)
    assert abs(exact - mc) < 3 * se, (exact, mc, se)


def test_closed_form_with_plain_teacher_for_skip_student_matches_monte_carlo():
    teacher = D.Teacher(T.K, T.v, alpha=0.0)
    theta = torch.tensor([0.3, -0.7, 1.1, 0.4, 0.9, -0.5], dtype=torch.float64)
    exact = D.expected_loss(theta, teacher, 1.0).item()
    mc, se = D.monte_carlo_loss(theta, teacher, 1.0, n_samples=400_000, seed=7)
    assert abs(exact - mc) < 3 * se


def test_loss_is_zero_at_teacher_and_positive_elsewhere():
    for alpha in (0.0, 1.0):
        assert D.expected_loss(D.teacher_theta(T), T, alpha).item() == pytest.approx(0.0, abs=1e-14)
        assert D.expected_loss(D.teacher_theta(T) + 0.1, T, alpha).item() > 1e-4


def test_batched_loss_equals_loop_and_batched_teacher_and_alpha():
    theta = D.small_init(5, 0.7, seed=3)
    alphas = np.linspace(0, 1, 5)
    Ks = np.stack([T.K * s for s in (0.5, 1, 2, 3, 4)])
    batch = D.expected_loss(theta, D.Teacher(Ks, np.tile(T.v, (5, 1))), alphas)
    loop = [D.expected_loss(theta[i], D.Teacher(Ks[i], T.v), float(alphas[i])).item() for i in range(5)]
    np.testing.assert_allclose(batch.numpy(), loop, rtol=1e-13)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_gradient_matches_finite_differences(alpha):
    theta = torch.tensor([0.4, -0.2, 0.3, 0.8, 0.7, -1.1], dtype=torch.float64)
    _, g = D.loss_and_grad(theta, T, alpha)
    eps = 1e-6
    fd = torch.zeros(6, dtype=torch.float64)
    for i in range(6):
        e = torch.zeros(6, dtype=torch.float64)
        e[i] = eps
        fd[i] = (D.expected_loss(theta + e, T, alpha) - D.expected_loss(theta - e, T, alpha)) / (2 * eps)
    np.testing.assert_allclose(g.numpy(), fd.numpy(), rtol=1e-6, atol=1e-9)


def test_plain_loss_is_invariant_under_rotating_inputs():
    R = D.rotation(0.7)
    theta = torch.tensor([0.4, -0.2, 0.3, 0.8, 0.7, -1.1], dtype=torch.float64)
    J, w = D.split(theta, 2, 2)
    rotated = D.join(J @ torch.as_tensor(R).T, w)
    a = D.expected_loss(theta, T, 0.0).item()
    b = D.expected_loss(rotated, D.Teacher(T.K @ R.T, T.v), 0.0).item()
    assert a == pytest.approx(b, rel=1e-12)
    c = D.expected_loss(rotated, D.Teacher(T.K @ R.T, T.v), 1.0).item()
    assert abs(c - D.expected_loss(theta, T, 1.0).item()) > 1e-3  # the skip wiring picks out the axes


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_batched_flow_matches_high_accuracy_single_runs(alpha):
    theta0 = D.small_init(6, 0.3, seed=4)
    flow = D.gradient_flow(theta0, T, alpha, t_max=150.0, n_eval=31)
    for i in (0, 5):
        ref = D.gradient_flow(theta0[i], T, alpha, t_max=150.0, n_eval=31, rtol=1e-11, atol=1e-13,
                              method="DOP853")
        np.testing.assert_allclose(flow.theta[:, i], ref.theta, atol=2e-5)
        np.testing.assert_allclose(flow.loss[:, i], ref.loss, rtol=1e-4, atol=1e-9)


def test_flow_decreases_loss_and_online_sgd_follows_flow_for_small_lr():
    theta0 = D.small_init(8, 0.5, seed=5)
    flow = D.gradient_flow(theta0, T, 0.0, t_max=40.0, n_eval=5)
    assert np.all(np.diff(flow.loss, axis=0) <= 1e-12)
    sgd = D.online_sgd(theta0, T, 0.0, lr=0.002, n_steps=20_000, n_record=5, seed=0)
    np.testing.assert_allclose(sgd.t, flow.t)
    # SGD noise: the median over runs of the loss tracks the flow within 20%
    ratio = np.median(sgd.loss[-1] / flow.loss[-1])
    assert 0.8 < ratio < 1.25, ratio


def test_wei_coordinates_round_trip():
    theta = D.small_init(50, 1.0, seed=6)
    coords = D.to_wei(theta)
    np.testing.assert_allclose(D.from_wei(coords).numpy(), theta.numpy(), atol=1e-12)
    np.testing.assert_allclose(D.to_wei(D.from_wei(coords)).numpy(), coords.numpy(), rtol=1e-10, atol=1e-12)
    # by hand for one point
    th = torch.tensor([1.0, 2.0, 3.0, 5.0, 3.0, 1.0], dtype=torch.float64)
    w, z, u1, u2, v1, v2 = D.to_wei(th).tolist()
    assert (w, z, u1, u2) == (4.0, 0.5, 2.0, 3.0)
    assert (v1, v2) == pytest.approx(((3 * 1 + 3) / 4, (3 * 2 + 5) / 4))


def test_symmetric_set_is_invariant_for_plain_but_not_for_skip():
    J = torch.tensor([[0.3, 0.5], [0.3, 0.5]], dtype=torch.float64)
    theta0 = D.join(J, torch.tensor([0.4, 0.4], dtype=torch.float64))
    plain = D.gradient_flow(theta0, T, 0.0, t_max=300.0, n_eval=4)
    Jp, wp = D.split(torch.as_tensor(plain.theta[-1]), 2, 2)
    assert torch.abs(Jp[0] - Jp[1]).max() < 1e-8 and abs(wp[0] - wp[1]) < 1e-8
    assert np.abs(plain.theta[-1] - plain.theta[0]).max() > 0.1  # it did move, along the set
    skip = D.gradient_flow(theta0, T, 1.0, t_max=300.0, n_eval=4)
    Js, ws = D.split(torch.as_tensor(skip.theta[-1]), 2, 2)
    assert torch.abs(Js[0] - Js[1]).max() > 0.1


def test_overlap_line_is_invariant_only_where_w_and_v_are_stationary():
    # generic (w, v), z != 0: u leaves 0 at once, with du/dt = (w1 - w2) * g (a first-order effect)
    start = D.from_wei(torch.tensor([1.0, 0.4, 0.0, 0.0, 0.3, 0.5], dtype=torch.float64))
    vel = D.wei_velocity(start, T)
    assert vel[2:4].abs().max() > 1e-3
    run = D.gradient_flow(start, T, 0.0, t_max=20.0, n_eval=3)
    assert D.to_wei(torch.as_tensor(run.theta[-1]))[2:4].abs().max() > 1e-3
    # (w, v) at the best one-unit fit: every z gives a critical point, so the line stays put
    _, on_line = D.overlap_critical_point(T)
    c = D.to_wei(on_line)
    for z in (-3.0, -0.5, 0.0, 0.7, 2.0):
        c[1] = z
        _, g = D.loss_and_grad(D.from_wei(c), T)
        assert g.abs().max() < 1e-7
        run = D.gradient_flow(D.from_wei(c), T, 0.0, t_max=200.0, n_eval=3)
        assert np.abs(run.theta[-1] - run.theta[0]).max() < 1e-6


def test_plateau_value_is_the_best_one_unit_fit():
    plateau, theta = D.overlap_critical_point(T)
    # a brute-force search over one-unit students cannot do better
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(4000, 3, generator=gen, dtype=torch.float64) * 1.5
    cand = D.join(torch.stack([p[:, 1:], p[:, 1:]], 1), torch.stack([p[:, 0] / 2, p[:, 0] / 2], 1))
    assert D.expected_loss(cand, T).min().item() >= plateau - 1e-12


def test_time_to_threshold_on_a_synthetic_curve():
    t = np.linspace(0, 100, 1001)
    loss = np.where(t < 30, 1.0, np.where(t < 70, 0.1, 1e-3))
    assert D.time_to_threshold(t, loss, 0.01) == pytest.approx(70.0)
    assert D.time_to_threshold(t, loss, 1e-4) == math.inf
    two = np.stack([loss, np.full_like(t, 0.5)], 1)
    np.testing.assert_allclose(D.time_to_threshold(t, two, 0.01), [70.0, np.inf])


def _curve(t, pieces):
    """A loss curve exp(-integral of a piecewise-constant rate): `pieces` are (end time, rate)."""
    rate = np.select([t < end for end, _ in pieces], [r for _, r in pieces], default=pieces[-1][1])
    return np.exp(-np.concatenate([[0.0], np.cumsum(rate[:-1] * np.diff(t))]))


def test_slow_time_finds_hand_made_plateaus_at_any_level():
    t = np.linspace(0, 200, 2001)
    # fast drop (rate 0.5) for 20, a plateau (rate 0.001) for 50, fast again (rate 0.2): plateau length 50
    loss = _curve(t, [(20, 0.5), (70, 0.001), (1e9, 0.2)])
    for kappa in (0.005, 0.05, 0.1):                   # any threshold between the plateau's rate and the drops'
        assert D.slow_time(t, loss, kappa) == pytest.approx(50.0, abs=0.11)
        # the same curve scaled by 1000 (another loss level) has the same plateau
        assert D.slow_time(t, 1000 * loss, kappa) == pytest.approx(50.0, abs=0.11)
    assert D.slow_time(t, loss, 0.6) == pytest.approx(200.0)          # everything is slow
    assert D.slow_time(t, loss, 1e-4) == 0.0                           # nothing is
    # counted only until the loss first reaches the threshold: a second plateau after it is not counted
    two = _curve(t, [(20, 0.5), (70, 0.001), (100, 0.2), (150, 0.0), (1e9, 0.2)])
    assert D.slow_time(t, two, 0.05) == pytest.approx(100.0, abs=0.11)
    threshold = two[np.searchsorted(t, 90.0)]
    assert D.slow_time(t, two, 0.05, threshold=threshold) == pytest.approx(50.0, abs=0.11)
    batch = np.stack([loss, two], 1)
    np.testing.assert_allclose(D.slow_time(t, batch, 0.05), [50.0, 100.0], atol=0.11)
    # per interval: slow exactly on the plateau (t in [20, 70))
    mid = 0.5 * (t[1:] + t[:-1])
    np.testing.assert_array_equal(D.slow_intervals(t, loss, 0.05), (mid > 20) & (mid < 70))


def test_overlap_curvature_matches_finite_differences_along_the_line():
    line = D.overlap_line(T)
    eps = 1e-4
    for z in (-2.0, -0.5, 0.0, 0.3, 1.5):
        base = D.to_wei(line.point(z))

        def loss(du):
            c = base.clone()
            c[2:4] = torch.as_tensor(du, dtype=torch.float64)
            return D.expected_loss(D.from_wei(c), T).item()

        fd = np.zeros((2, 2))
        for i in range(2):
            for j in range(2):
                ei, ej = np.eye(2)[i] * eps, np.eye(2)[j] * eps
                fd[i, j] = (loss(ei + ej) - loss(ei - ej) - loss(ej - ei) + loss(-ei - ej)) / (4 * eps**2)
        np.testing.assert_allclose(line.hessian(z).numpy(), fd, atol=2e-7)


def test_overlap_curvature_matches_its_monte_carlo_formula():
    """M = (w*/4) E[(f - f*) phi''(m*.x) x x^T], phi''(s) = -s sqrt(2/pi) exp(-s^2/2), over sampled inputs."""
    line = D.overlap_line(T)
    w, _, _, _, m1, m2 = D.to_wei(line.theta).tolist()
    x = torch.randn(2_000_000, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    s = x @ torch.tensor([m1, m2], dtype=torch.float64)
    r = D.outputs(line.theta, x) - D.outputs(D.teacher_theta(T), x)
    g = (w / 4) * r * (-s * math.sqrt(2 / math.pi) * torch.exp(-s**2 / 2))
    samples = g[:, None, None] * x[:, :, None] * x[:, None, :]
    mc, se = samples.mean(0).numpy(), samples.std(0).numpy() / math.sqrt(len(x))
    assert np.all(np.abs(mc - line.M.numpy()) < 4 * se), (mc, line.M.numpy(), se)


def test_curvature_has_a_zero_eigenvalue_off_the_teachers_plane():
    """A theoretical count: with d = 3 and a teacher in the (x1, x2) plane, e3 is orthogonal to m* and to the
    teacher, so e3^T M e3 = -(w*/4) m*.E[(f - f*) phi'(m*.x) x] E[x3^2] = 0 by stationarity in m: M is never
    definite for d > 2."""
    teacher = D.Teacher(np.array([[1.0, 0.2, 0.0], [0.1, 0.9, 0.0]]), T.v)
    line = D.overlap_line(teacher)
    assert abs(line.M[2, 2].item()) < 1e-9 and line.M[2, :2].abs().max() < 1e-9
    assert line.attracting == "nowhere"


def test_curvature_kind_on_hand_made_spectra():
    assert D.curvature_kind([1e-3, 2e-3]) == "|z| < 1" and D.curvature_kind([-2.0, -1.0]) == "|z| > 1"
    assert D.curvature_kind([-1e-3, 2e-3]) == "nowhere"
    assert D.curvature_kind([1e-12, 1e-3]) == "undecided" and D.curvature_kind([-1e-12, 1e-3]) == "undecided"
    assert D.curvature_kind([0.0, 0.0]) == "undecided" and D.curvature_kind([-1e-3, 0.0, 1e-3]) == "nowhere"
    for bad in ([], [[1.0]], [np.nan, 1.0]):
        with pytest.raises(ValueError, match="eigenvalues"):
            D.curvature_kind(bad)


def test_capture_teacher_curvature_is_the_one_input_curvature_plus_a_zero():
    """Independent computation: the same teacher on one input (its units read input 1 only) gives M's nonzero
    eigenvalue; the unread input 2 adds the zero of the d >= 3 argument. Tilting the two units apart, in either
    sense, turns that zero negative: M becomes indefinite."""
    teacher = D.capture_teacher()
    line = D.overlap_line(teacher)
    one = D.overlap_line(D.Teacher(teacher.K[:, :1], teacher.v))
    np.testing.assert_allclose(line.eigenvalues[1], one.M.item(), rtol=1e-6)
    assert abs(line.eigenvalues[0]) < 1e-8 * line.eigenvalues[1] and line.attracting == "undecided"
    assert abs(line.M[1, 1].item()) < 1e-10 and abs(line.M[0, 1].item()) < 1e-10
    for angle in (0.05, -0.05):
        bent = D.tilted(teacher, angle)
        np.testing.assert_allclose(bent.K[0], [0.3 * math.cos(angle), 0.3 * math.sin(angle)])
        np.testing.assert_allclose(bent.K[1], [2.0 * math.cos(angle), -2.0 * math.sin(angle)])
        assert D.overlap_line(bent).attracting == "nowhere"
    with pytest.raises(ValueError, match="two units on two inputs"):
        D.tilted(D.Teacher(teacher.K[:, :1], teacher.v), 0.1)


def test_teacher_grid_covers_the_space_up_to_symmetries():
    """The symmetries `teacher_grid` relies on, checked on the curvature M of a generic teacher: rotating the inputs
    rotates M, swapping the units or flipping one's signs leaves it, scaling v by c scales it by c^2."""
    grid = D.teacher_grid([0.5, 2.0, 1.0], 3, [-1.0, 0.5])
    assert len(grid) == 3 * 2 * 3 * 2                          # pairs r1 <= r2 of 3 norms, 3 angles, 2 ratios
    angles = {round(math.atan2(t.K[1, 1], t.K[1, 0]), 6) for t in grid}
    assert angles == {round(math.pi * k / 4, 6) for k in (1, 2, 3)}
    assert all(t.K[0, 1] == 0 and np.linalg.norm(t.K[0]) <= np.linalg.norm(t.K[1]) + 1e-12 for t in grid)
    K, v = np.array([[0.7, -0.4], [0.2, 1.3]]), np.array([1.1, -0.5])
    eig = D.overlap_line(D.Teacher(K, v)).eigenvalues
    images = {"rotated": (K @ D.rotation(0.8).T, v, 1.0), "swapped": (K[::-1], v[::-1], 1.0),
              "sign-flipped": (K * np.array([[1.0], [-1.0]]), v * np.array([1.0, -1.0]), 1.0),
              "v scaled by -2": (K, -2.0 * v, 4.0)}
    for name, (K2, v2, factor) in images.items():
        np.testing.assert_allclose(D.overlap_line(D.Teacher(K2, v2)).eigenvalues, factor * eig, rtol=1e-5,
                                   atol=1e-9, err_msg=name)
    for norms, angles, ratios, name in (([], 2, [1.0], "norms"), ([1.0], 0, [1.0], "angles"),
                                        ([-1.0], 2, [1.0], "norms"), ([1.0], 2, [np.inf], "ratios")):
        with pytest.raises(ValueError, match=f"^{name}="):
            D.teacher_grid(norms, angles, ratios)


def test_default_teacher_line_is_a_saddle_and_one_input_line_attracts():
    line = D.overlap_line(T)
    assert line.eigenvalues[0] < 0 < line.eigenvalues[1] and line.attracting == "nowhere"
    one = D.overlap_line(D.Teacher(np.array([[0.5], [4.0]]), np.array([1.0, 0.6])))     # one input: M a number
    assert one.M.shape == (1, 1) and one.attracting == ("|z| < 1" if one.M.item() > 0 else "|z| > 1")


def test_ghost_speed_vanishes_at_alpha_zero_and_grows_with_alpha():
    line = D.overlap_line(T)
    z = np.linspace(-3, 3, 31)
    speed = D.ghost_speed(line, T, [0.0, 0.5, 1.0], z)
    assert speed[0] < 1e-7 and 0 < speed[1] < speed[2]
    # alpha = 0 is the plain model: the same gradient as the plain loss, point by point
    _, g = D.loss_and_grad(torch.stack([line.point(zi) for zi in z]), T, 0.0)
    assert speed[0] == pytest.approx(g.norm(dim=-1).min().item(), abs=1e-15)
    # and by hand at alpha = 1: the smallest gradient norm over the points
    _, g1 = D.loss_and_grad(torch.stack([line.point(zi) for zi in z]), T, 1.0)
    assert speed[2] == pytest.approx(g1.norm(dim=-1).min().item(), rel=1e-12)


def test_effective_inputs():
    theta = torch.zeros(6, dtype=torch.float64)
    np.testing.assert_allclose(D.effective_inputs(theta, 1.0).numpy(), np.eye(2))
    np.testing.assert_allclose(D.effective_inputs(theta, 0.0).numpy(), np.zeros((2, 2)))


@pytest.mark.parametrize("call, word", [
    (lambda: D.expected_loss(torch.zeros(6), T, alpha=1.5), "alpha"),
    (lambda: D.expected_loss(torch.zeros(5), T), "theta"),
    (lambda: D.expected_loss(torch.zeros(6), "teacher"), "teacher"),
    (lambda: D.Teacher(np.eye(2), np.ones(3)), "v"),
    (lambda: D.Teacher(np.ones(2), np.ones(2)), "K"),
    (lambda: D.expected_loss(torch.zeros(8), D.Teacher(np.ones((2, 3)), np.ones(2)), alpha=1.0), "alpha"),
    (lambda: D.gradient_flow(torch.zeros(6), T, t_max=-1.0), "t_max"),
    (lambda: D.gradient_flow(torch.zeros(6), T, n_eval=1), "n_eval"),
    (lambda: D.gradient_flow(torch.zeros(6), T, method="Euler"), "method"),
    (lambda: D.online_sgd(torch.zeros(6), T, lr=0.0), "lr"),
    (lambda: D.monte_carlo_loss(torch.zeros(6), T, n_samples=1), "n_samples"),
    (lambda: D.small_init(0, 0.1), "n_init"),
    (lambda: D.small_init(3, -0.1), "init_scale"),
    (lambda: D.to_wei(torch.tensor([1.0, 0, 0, 1, 1.0, -1.0])), r"w1 \+ w2"),
    (lambda: D.time_to_threshold([0, 1], [1, 2], -1.0), "threshold"),
    (lambda: D.slow_time([1, 0], [1, 2], 0.1), "t must"),
    (lambda: D.slow_time([0, 1], [1, 2], 0.0), "kappa"),
    (lambda: D.slow_time([0, 1], [1, 0], 0.1), "loss must be positive"),
    (lambda: D.slow_time([0, 1], [1, 2], 0.1, threshold=-1.0), "threshold"),
    (lambda: D.ghost_speed(D.overlap_line(T), T, [0.0, 2.0], [0.0]), "alphas"),
    (lambda: D.ghost_speed(D.overlap_line(T), T, [0.0], []), "z must"),
])
def test_bad_inputs_raise_value_error_naming_the_argument(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_flows_per_alpha_matches_separate_runs():
    theta0 = D.small_init(3, 0.3, seed=8)
    both = D.flows_per_alpha(theta0, T, [0.0, 1.0], t_max=50.0, n_eval=6, rtol=1e-10, atol=1e-12)
    for run, a in zip(both, (0.0, 1.0)):
        alone = D.gradient_flow(theta0, T, a, t_max=50.0, n_eval=6, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(run.theta, alone.theta, atol=1e-7)
        np.testing.assert_allclose(run.loss, alone.loss, rtol=1e-6, atol=1e-12)


# ---- capture by the overlap line ---------------------------------------------

def test_line_distance_matches_a_numerical_minimization_over_the_line_and_sign_images():
    from scipy.optimize import minimize_scalar
    for teacher in (T, D.capture_teacher()):
        line = D.overlap_line(teacher)
        d = teacher.d
        # points of the line and their sign images are at distance 0, with their own z
        for z in (-2.0, 0.0, 0.4):
            p = line.point(z)
            J, w = D.split(p, 2, d)
            image = D.join(J * torch.tensor([[1.0], [-1.0]], dtype=torch.float64), w * torch.tensor([1.0, -1.0]))
            for q in (p, image):
                dist, zq = D.line_distance(q, line)
                assert dist < 1e-9 and zq == pytest.approx(z, abs=1e-9)
        gen = torch.Generator().manual_seed(4)
        theta = line.theta + 0.5 * torch.randn(5, D.n_params(2, d), generator=gen, dtype=torch.float64)
        dist, z = D.line_distance(theta, line)
        for b in range(5):
            J, w = D.split(theta[b], 2, d)
            best = np.inf
            for s in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                s = torch.tensor(s, dtype=torch.float64)
                img = D.join(J * s[:, None], w * s)
                r = minimize_scalar(lambda zz: (img - line.point(zz)).norm().item(), bounds=(-50, 50),
                                    method="bounded", options={"xatol": 1e-10})
                best = min(best, r.fun)
            assert dist[b] == pytest.approx(best, rel=1e-6)


def test_longest_stay_on_hand_made_distances():
    t = np.arange(11.0)
    inside, outside = 0.05, 1.0
    dist = np.full((11, 3), outside)
    dist[2:5, 0] = inside                  # stays t = 2..4 (2 units) and t = 6..9 (3 units): the longest is 3
    dist[6:10, 0] = inside
    dist[7:, 1] = inside                   # from t = 7 to the end: 3 units, censored
    z = np.tile(np.linspace(0, 1, 11)[:, None], (1, 3))
    stay = D.longest_stay(t, dist, z, radius=0.1)
    np.testing.assert_allclose(stay.duration, [3.0, 3.0, 0.0])
    np.testing.assert_array_equal(stay.to_end, [False, True, False])
    np.testing.assert_allclose(stay.z_in[:2], [0.6, 0.7]); np.testing.assert_allclose(stay.z_out[:2], [0.9, 1.0])
    np.testing.assert_allclose(stay.drift[:2], [0.3, 0.3]); assert np.isnan(stay.drift[2])
    np.testing.assert_array_equal(stay.captured(3.0), [True, True, False])
    np.testing.assert_array_equal(stay.captured(3.5), [False, False, False])


def test_capture_bad_inputs():
    line = D.overlap_line(T)
    with pytest.raises(ValueError, match="line"):
        D.line_distance(torch.zeros(6), "line")
    with pytest.raises(ValueError, match="theta"):
        D.line_distance(torch.zeros(4), line)
    with pytest.raises(ValueError, match="radius"):
        D.longest_stay([0, 1], np.zeros((2, 1)), np.zeros((2, 1)), 0.0)
    with pytest.raises(ValueError, match="dist and z"):
        D.longest_stay([0, 1], np.zeros((3, 1)), np.zeros((3, 1)), 0.1)
    with pytest.raises(ValueError, match="min_stay"):
        D.longest_stay([0, 1], np.zeros((2, 1)), np.zeros((2, 1)), 0.1).captured(0)


# ---- chapter II.1's capture controls: a teacher per student, a free linear readout, the capture radius ------

def test_readout_student_loss_matches_monte_carlo():
    """Plain units plus a free linear readout r . x on the skip teacher's target: the closed form against an
    average over fresh Gaussian inputs."""
    teacher = D.capture_teacher()
    theta = D.small_init(1, 0.7, seed=3)[0]
    r = torch.tensor([0.3, -0.4], dtype=torch.float64)
    x = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    err = D.outputs(theta, x, 0.0) + x @ r - D.outputs(D.teacher_theta(teacher), x, 1.0)
    sq = 0.5 * err**2
    exact = D.expected_loss(torch.cat([theta, r]), D.Teacher(teacher.K, teacher.v, alpha=1.0), readout=True)
    assert abs(exact.item() - sq.mean().item()) < 4 * sq.std().item() / np.sqrt(len(sq))
    with pytest.raises(ValueError, match="P = 8"):
        D.expected_loss(theta, teacher, readout=True)


def test_teacher_alpha_per_student_equals_separate_teachers():
    """One batched flow with a teacher skip strength per row gives each row's own flow."""
    teacher = D.capture_teacher()
    theta0 = D.small_init(3, 0.1, seed=1)
    both = D.gradient_flow(theta0.repeat(2, 1), D.Teacher(teacher.K, teacher.v, alpha=np.repeat([0.0, 1.0], 3)),
                           1.0, t_max=5.0, n_eval=3)
    for i, a_t in enumerate((0.0, 1.0)):
        one = D.gradient_flow(theta0, D.Teacher(teacher.K, teacher.v, alpha=a_t), 1.0, t_max=5.0, n_eval=3)
        np.testing.assert_allclose(both.theta[:, 3 * i:3 * i + 3], one.theta, rtol=1e-5, atol=1e-8)


def test_capture_radius_is_half_the_line_to_teacher_distance():
    teacher = D.capture_teacher()
    line = D.overlap_line(teacher)
    r = D.capture_radius(teacher, line)
    assert r == pytest.approx(D.line_distance(D.teacher_theta(teacher), line)[0] / 2)
    # a point within r of the line is nearer the line than the teacher's weights
    near = line.point(0.3) + r / 2 * torch.nn.functional.normalize(torch.ones(6, dtype=torch.float64), dim=0)
    assert D.line_distance(near, line)[0] < float((near - D.teacher_theta(teacher)).norm())
