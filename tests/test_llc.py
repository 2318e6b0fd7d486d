"""The local learning coefficient (chapter V.1): the SGLD estimator against closed forms and quadrature, the
quadrature against closed forms and an independent one-dimensional integral, and the batched deep-net version."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from skiplessons import llc
from skiplessons.models import DeepMLPs, Member, NetSpec

N = 1000
T = N / math.log(N)          # nβ


def settings(steps=3000, burn_in=1000, localization=2.0):
    return llc.SGLDSettings(step_size=0.02 / T, localization=localization, steps=steps, burn_in=burn_in)


def test_inverse_temperature():
    assert llc.inverse_temperature(1000) == pytest.approx(1 / math.log(1000))
    for bad in (1, 10.5, -3):
        with pytest.raises(ValueError, match="n="):
            llc.inverse_temperature(bad)


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="step_size"):
        llc.SGLDSettings(step_size=0, localization=1, steps=10, burn_in=1)
    with pytest.raises(ValueError, match="localization"):
        llc.SGLDSettings(step_size=1e-3, localization=-1, steps=10, burn_in=1)
    with pytest.raises(ValueError, match="burn_in"):
        llc.SGLDSettings(step_size=1e-3, localization=1, steps=10, burn_in=10)


def test_quadrature_matches_closed_forms():
    """Quadratic loss: (1/2) nβh / (nβh + γ) per direction; K = w⁴ at γ = 0: exactly 1/4 (a Gamma-function
    identity), whatever n."""
    quad = lambda w: 0.5 * 3.0 * w[..., 0] ** 2                                  # noqa: E731
    assert llc.tempered_expectation(quad, [0.0], N, 5.0, half_width=1.0, points=4001) == pytest.approx(
        llc.quadratic_expectation([3.0], N, 5.0), rel=1e-6)
    quartic = lambda w: w[..., 0] ** 4                                            # noqa: E731
    value = llc.tempered_expectation(quartic, [0.0], N, 0.0, half_width=1.0, points=4001)
    assert value == pytest.approx(0.25, rel=1e-6)
    assert llc.quadratic_expectation(np.ones(6), N, 0.0) == pytest.approx(3.0)


def test_product_model_target_against_a_one_dimensional_integral():
    """For K = (ab)²/2 the b integral is Gaussian: Z(t) = ∫ sqrt(2π/(t a² + γ)) exp(-γa²/2) da, and
    t E[K] = (t/2) ∫ a² (t a² + γ)^(-3/2) e^(-γa²/2) da / ∫ (t a² + γ)^(-1/2) e^(-γa²/2) da."""
    gamma = 2.0
    w = lambda a: np.exp(-gamma * a * a / 2)                                      # noqa: E731
    num = integrate.quad(lambda a: a * a * (T * a * a + gamma) ** -1.5 * w(a), -np.inf, np.inf)[0]
    den = integrate.quad(lambda a: (T * a * a + gamma) ** -0.5 * w(a), -np.inf, np.inf)[0]
    exact = 0.5 * T * num / den
    assert llc.KNOWN_MODELS["product, origin"].target(N, gamma) == pytest.approx(exact, rel=2e-3)


def test_quadrature_rejects_a_narrow_grid_and_many_parameters():
    with pytest.raises(ValueError, match="half_width"):
        llc.tempered_expectation(lambda w: 0.0 * w[..., 0], [0.0], N, 0.1, half_width=1.0)
    with pytest.raises(ValueError, match="1 or 2"):
        llc.tempered_expectation(lambda w: w.sum(-1), [0.0] * 3, N, 1.0, half_width=1.0)


@pytest.mark.parametrize("name", ["regular", "quartic", "product, origin"])
def test_sgld_recovers_known_targets(name):
    """λ̂ within 3 standard errors over chains, or 5% (the step size's bias), of the exact target."""
    model = llc.KNOWN_MODELS[name]
    est = llc.sample_llc(model.loss, model.w_star, N, settings(), chains=64, seed=1)
    target = model.target(N, 2.0)
    se = est.value.std(ddof=1) / math.sqrt(len(est.value))
    assert abs(est.value.mean() - target) <= max(3 * se, 0.05 * target), (est.value.mean(), se, target)


def test_learning_coefficient_orders_the_models():
    """Singular models have a smaller coefficient than the regular one of the same size, and the targets
    approach λ as n grows (slowly, like 1/log n, at the multiplicity-2 point)."""
    m = llc.KNOWN_MODELS
    assert m["quartic"].target(N, 2.0) < 0.5 * llc.quadratic_expectation([1.0], N, 2.0)
    gaps = [0.5 - m["product, origin"].target(n, 2.0) for n in (10**2, 10**3, 10**4)]
    assert gaps[0] > gaps[1] > gaps[2] > 0


def test_sgld_restores_parameters_and_leaves_the_global_rng():
    w = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    state = torch.random.get_rng_state()
    trace = llc.sgld_losses([w], lambda t: 0.5 * (w**2).sum(-1), N, settings(steps=20, burn_in=5),
                            torch.Generator().manual_seed(0))
    assert trace.shape == (20, 4)
    assert torch.equal(w.detach(), torch.zeros(4, 3, dtype=torch.float64))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_sgld_reports_divergence():
    w = torch.zeros(2, 1, dtype=torch.float64, requires_grad=True)
    bad = llc.SGLDSettings(step_size=10.0, localization=0.0, steps=200, burn_in=1)
    with pytest.raises(FloatingPointError, match="step size"):
        llc.sgld_losses([w], lambda t: (w**4).sum(-1), N, bad, torch.Generator().manual_seed(0))


def test_estimate_scales_and_blocks():
    trace = np.tile(np.array([[1.0], [2.0], [3.0], [3.0], [3.0], [3.0], [3.0], [3.0]]), (1, 2))
    est = llc.estimate(trace, loss_star=[1.0, 2.0], n=N, burn_in=2)
    assert est.value == pytest.approx([2.0 * T, 1.0 * T])
    assert est.error == pytest.approx([0.0, 0.0])
    with pytest.raises(ValueError, match="trace"):
        llc.estimate(trace, 1.0, N, burn_in=5)


def test_nets_llc_matches_single_nets():
    """One chain per net of a DeepMLPs batch: net 0's λ̂ does not depend on which net sits next to it (its
    gradient is its own), and the nets are left unchanged."""
    spec = NetSpec(5, 3, depth=3, width=4)
    net = DeepMLPs(spec, [Member("plain", 0), Member("residual", 1)], dtype=torch.float64)
    before = [p.detach().clone() for p in net.parameters()]
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(200, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (200,), generator=g)
    s = llc.SGLDSettings(step_size=1e-4, localization=100.0, steps=60, burn_in=20)
    est = llc.nets_llc(net, x, y, s, batch_size=50)
    assert est.value.shape == (2,) and np.isfinite(est.value).all()
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    other = DeepMLPs(spec, [Member("plain", 0), Member("hyper", 7)], dtype=torch.float64)
    assert llc.nets_llc(other, x, y, s, batch_size=50).value[0] == pytest.approx(est.value[0], rel=1e-10)
    with pytest.raises(ValueError, match="batch_size"):
        llc.nets_llc(net, x, y, s, batch_size=0)


# ---------------------------------------------------------------- the stability rule and the chains' diagnostics

def test_sgld_on_a_quadratic_converges_to_the_discretized_expectation():
    """The theory behind the rule: on K = h w²/2 SGLD's mean nβK is (1/2) nβh / (a (1 - εa/4)), a = nβh + γ,
    checked at the deep nets' settings (ε = 1e-4, γ = 100, n = 4,000) where εa = 1.9 inflates it about twofold."""
    n, gamma, eps, h = 4000, 100.0, 1e-4, 40.0
    s = llc.SGLDSettings(step_size=eps, localization=gamma, steps=3000, burn_in=500)
    est = llc.sample_llc(lambda w: 0.5 * h * (w**2).sum(-1), [0.0], n, s, chains=256, seed=3)
    exact = llc.sgld_quadratic_expectation([h], n, gamma, eps)
    se = est.value.std(ddof=1) / math.sqrt(len(est.value))
    assert exact > 1.8 * llc.quadratic_expectation([h], n, gamma)
    assert abs(est.value.mean() - exact) <= 4 * se + 0.02 * exact, (est.value.mean(), se, exact)
    assert llc.sgld_quadratic_expectation([1e4], n, gamma, eps) == math.inf


@pytest.mark.parametrize("h", [1.0, 100.0, 1000.0])
def test_stability_rule_keeps_the_bias_below_its_bound(h):
    """At ε = κ/(nβh + γ) the stiffness is κ, the exact bias is κ/(4 - κ), and the chains recover the posterior's
    target within that bias and their own error, at curvatures up to the deep nets' largest."""
    n, gamma = 4000, 100.0
    eps = llc.stable_step(h, n, gamma)
    assert llc.stiffness(eps, h, n, gamma) == pytest.approx(llc.STIFFNESS)
    target = llc.quadratic_expectation([h], n, gamma)
    bound = llc.STIFFNESS / (4 - llc.STIFFNESS)
    assert llc.sgld_quadratic_expectation([h], n, gamma, eps) == pytest.approx(target * (1 + bound))
    s = llc.SGLDSettings(step_size=float(eps), localization=gamma, steps=600,
                         burn_in=int(llc.burn_in_needed(eps, gamma, h, n)))
    est = llc.sample_llc(lambda w: 0.5 * h * (w**2).sum(-1), [0.0], n, s, chains=256, seed=4)
    se = est.value.std(ddof=1) / math.sqrt(len(est.value))
    assert abs(est.value.mean() - target) <= 4 * se + bound * target


def test_stable_step_rejects_bad_input():
    with pytest.raises(ValueError, match="kappa"):
        llc.stable_step(1.0, N, 1.0, kappa=4.0)
    with pytest.raises(ValueError, match="curvature"):
        llc.stable_step(-1.0, N, 1.0)
    with pytest.raises(ValueError, match="localization"):
        llc.stable_step(0.0, N, 0.0)
    with pytest.raises(ValueError, match="step_sizes"):
        w = torch.zeros(2, 1, dtype=torch.float64, requires_grad=True)
        llc.sgld_losses([w], lambda t: (w**2).sum(-1), N, settings(steps=5, burn_in=1), torch.Generator(),
                        step_sizes=[1e-3, -1.0])


def test_burn_in_needed_counts_relaxation_times():
    assert llc.burn_in_needed(1e-3, 100.0) == 30                      # 3 / (ε γ): a flat direction
    assert llc.burn_in_needed(1e-3, 100.0, smallest_curvature=1.0, n=N) == math.ceil(3 / (1e-3 * (T + 100)))


def test_split_rhat_and_drift_detect_disagreeing_and_drifting_chains():
    rng = np.random.default_rng(0)
    same = rng.standard_normal((2000, 4))
    assert llc.split_rhat(same.T) < 1.01
    shifted = same + np.array([0.0, 0.0, 2.0, 2.0])
    assert llc.split_rhat(shifted.T) > llc.RHAT_MAX
    ok = llc.diagnose(same, stiff=0.1, burn_in=100, needed=50)
    assert ok.measurable and ok.why == ""
    drifting = same + np.linspace(0, 3, 2000)[:, None]
    bad = llc.diagnose(drifting, stiff=0.2, burn_in=10, needed=50)
    assert not bad.stable and not bad.equilibrated and abs(bad.drift_z) > llc.DRIFT_Z
    assert "stiffness" in bad.why and "burn-in" in bad.why
    with pytest.raises(ValueError, match="chains"):
        llc.split_rhat(np.zeros((2, 3)))


# ---------------------------------------------------------------- the calibration's targets and known values

def test_mala_matches_quadrature():
    """The Metropolis-adjusted target (no step bias) against quadrature on the elimination singularity, at the
    deep nets' localization and n."""
    model = llc.KNOWN_MODELS["product, origin"]
    m = llc.mala_expectation(model.loss, model.w_star, 4000, 100.0, chains=128, steps=1500, burn_in=500, seed=2)
    se = m.value.std(ddof=1) / math.sqrt(len(m.value))
    assert 0.4 < m.acceptance < 0.8
    assert abs(m.value.mean() - model.target(4000, 100.0)) <= 4 * se


@pytest.mark.parametrize("shape,lam,mult", [((1, 1, 1, 0), 0.5, 2), ((1, 1, 1, 1), 0.5, 1), ((2, 2, 2, 0), 1.5, 1),
                                            ((2, 2, 1, 0), 1.0, 2), ((3, 2, 2, 1), 2.5, 1), ((1, 4, 1, 1), 2.0, 1)])
def test_aoyagi_watanabe_values(shape, lam, mult):
    assert llc.aoyagi_watanabe(*shape) == (lam, mult)


@pytest.mark.parametrize("shape", [(2, 2, 2, 2), (3, 2, 2, 2), (4, 1, 1, 1), (3, 3, 1, 1)])
def test_aoyagi_watanabe_regular_cases_against_the_jacobian_rank(shape):
    """Where H = r the true map is a regular point of the rank-r matrices: λ = (rank of the Jacobian of
    (A, B) -> BA) / 2, computed numerically at a random point."""
    M, N, H, r = shape
    w = torch.randn(H * M + N * H, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(
        lambda v: (v[H * M:].reshape(N, H) @ v[: H * M].reshape(H, M)).ravel(), w)
    assert llc.aoyagi_watanabe(M, N, H, r)[0] == torch.linalg.matrix_rank(jac).item() / 2


@pytest.mark.parametrize("shape", [(2, 2, 2, 0), (2, 2, 1, 0)])
def test_aoyagi_watanabe_singular_cases_against_the_volume(shape):
    """Independent of the formula: vol{w: K(w) < ε} ∝ ε^λ (log 1/ε)^(m-1), fitted over ε = 10^-3.5 .. 10^-1.5 to
    2,000,000 uniform draws in a unit box around w*."""
    model = llc.reduced_rank(*shape)
    rng = np.random.default_rng(0)
    k = np.concatenate([model.loss(np.asarray(model.w_star) + rng.uniform(-1, 1, (200_000, model.d)))
                        for _ in range(10)])
    eps = np.logspace(-3.5, -1.5, 5)
    p = np.array([(k < e).mean() for e in eps])
    slope = np.polyfit(np.log(eps), np.log(p) - (model.multiplicity - 1) * np.log(np.log(1 / eps)), 1)[0]
    assert slope == pytest.approx(model.lam, abs=0.1)


def test_reduced_rank_rejects_bad_shapes():
    with pytest.raises(ValueError, match="r=3"):
        llc.aoyagi_watanabe(2, 2, 2, 3)
    with pytest.raises(ValueError, match="H=0"):
        llc.reduced_rank(2, 2, 0, 0)


@pytest.mark.parametrize("name", ["quadratic, h = 1000", "RRR 2,2,2,0"])
def test_calibration_cases_within_tolerance(name):
    """Two calibration cases at the book's n and localization, with the stability rule: λ̂ within the ledger's
    tolerance (5 % or 0.01) plus three standard errors of the exact or MALA target."""
    from skiplessons.claims.part5 import llc_tolerance

    model, n, gamma = llc.CALIBRATION[name], 4000, 100.0
    if model.curvatures:
        target, t_se, h = model.target(n, gamma), 0.0, max(model.curvatures)
    else:
        m = llc.mala_expectation(model.loss, model.w_star, n, gamma, chains=128, steps=1500, burn_in=500, seed=5)
        target, t_se, h = m.value.mean(), m.value.std(ddof=1) / math.sqrt(128), m.top_curvature
    eps = float(llc.stable_step(h, n, gamma))
    s = llc.SGLDSettings(step_size=eps, localization=gamma, steps=1100, burn_in=500)
    assert s.burn_in >= llc.burn_in_needed(eps, gamma, min(model.curvatures or (0.0,)), n)
    est = llc.sample_llc(model.loss, model.w_star, n, s, chains=256, seed=6)
    se = math.hypot(est.value.std(ddof=1) / math.sqrt(256), t_se)
    assert abs(est.value.mean() - target) <= llc_tolerance(target) + 3 * se, (est.value.mean(), target, se)
