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
    with pytest.raises(FloatingPointError, match="step_size"):
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
