"""Tests of `skiplessons.layered_curvature.assemble` (and `gauss_newton`): the Hessian and Gauss-Newton matrix assembled layer pair by
layer pair equal `curvature.dense_hessian` / `dense_ggn` (P Hessian-vector products) for every architecture, do
not depend on how the samples are chunked, and refuse what they do not know."""
from __future__ import annotations

import pytest
import torch

from skiplessons import models
from skiplessons.curvature import dense_ggn, dense_hessian, flat_fn
from skiplessons.layered_curvature import assemble, gauss_newton

SPEC = models.NetSpec(7, 4, depth=4, width=5)


def batch(n=37, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, SPEC.d_in, generator=gen, dtype=torch.float64), torch.randint(0, SPEC.n_out, (n,), generator=gen)


@pytest.mark.parametrize("arch", [*models.ARCHS, "hyper_mean"])
def test_assembly_equals_dense_autograd_matrices(arch):
    model = models.MLP(SPEC, models.Member(arch, 1), dtype=torch.float64)
    with torch.no_grad():                              # non-zero biases, so that units switch on and off
        model.b.add_(0.3 * torch.randn(model.b.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    x, y = batch()
    hess, ggn = assemble(model, x, y, chunk=10)
    theta, f = flat_fn(model)
    ref_h, ref_g = dense_hessian(f, theta, x, y, loss="ce"), dense_ggn(f, theta, x, y, loss="ce")
    assert not torch.allclose(hess, ggn)               # the residual term is there
    torch.testing.assert_close(hess, ref_h, rtol=0, atol=1e-12 * ref_h.abs().max().item())
    torch.testing.assert_close(ggn, ref_g, rtol=0, atol=1e-12 * ref_g.abs().max().item())
    torch.testing.assert_close(gauss_newton(model, x, y, chunk=10), ref_g, rtol=0, atol=1e-12 * ref_g.abs().max().item())


def test_chunking_does_not_change_the_matrices():
    model = models.MLP(SPEC, models.Member("hyper", 3), dtype=torch.float64)
    x, y = batch(50, seed=4)
    whole, parts = assemble(model, x, y, chunk=50), assemble(model, x, y, chunk=7)
    for a, b in zip(whole, parts):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13 * a.abs().max().item())


def test_bad_inputs_raise():
    x, y = batch(5)
    with pytest.raises(TypeError, match="model"):
        assemble(torch.nn.Linear(7, 4), x, y)
    tanh = models.MLP(models.NetSpec(7, 4, depth=2, width=3, act="tanh"), models.Member("plain"))
    with pytest.raises(ValueError, match="act"):
        assemble(tanh, x, y)
    with pytest.raises(ValueError, match="chunk"):
        assemble(models.MLP(SPEC, models.Member("plain")), x, y, chunk=0)
