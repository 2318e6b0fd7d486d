"""Tests of skiplessons.curvature.stacked: each net's block of the batched Hessian against that net alone
(dense autograd Hessian, per-net `slq`), on tiny float64 `DeepMLPs` batches."""
import numpy as np
import pytest
import torch

from skiplessons.curvature import (StackedProduct, dense_hessian, flat_fn, hvp_operator, slq, stacked_flat_fn,
                                   stacked_hvp, stacked_slq)
from skiplessons.env import one_thread
from skiplessons.models import DeepMLPs, Member, NetSpec

D = torch.float64


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    with one_thread():
        yield


def batch_of_nets(bn_layer=None, dtype=D):
    spec = NetSpec(7, 4, depth=4, width=5, bn_layer=bn_layer)
    members = [Member(a, s) for a in ("plain", "residual", "hyper") for s in (0, 1)] + [Member("residual", 2, 0.5)]
    return DeepMLPs(spec, members, dtype=dtype)


def data(n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 7, generator=g, dtype=D), torch.randint(0, 4, (n,), generator=g)


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("bn_layer", [None, 2])
def test_each_block_is_that_nets_own_dense_hessian(loss, bn_layer):
    net = batch_of_nets(bn_layer)
    x, labels = data()
    y = labels if loss == "ce" else torch.randn(len(x), 4, dtype=D)
    theta, f = stacked_flat_fn(net)
    op = stacked_hvp(f, theta, x, y, loss)
    v = torch.randn(3, *theta.shape, dtype=D)
    hv, hv1 = op(v), op(v[0])
    assert hv.shape == v.shape and hv1.shape == v[0].shape
    for m in range(len(net)):
        th, fm = flat_fn(net.member(m).double())
        torch.testing.assert_close(th, theta[m], rtol=0, atol=0)         # the same parameter order
        H = dense_hessian(fm, th, x, y, loss=loss)
        torch.testing.assert_close(hv[:, m], v[:, m] @ H.T, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(hv1[m], H @ v[0, m], rtol=1e-10, atol=1e-12)
        out = fm(th, x)
        expected = (torch.nn.functional.cross_entropy(out, y) if loss == "ce"
                    else 0.5 * (out - y).pow(2).sum(1).mean())
        assert op.loss_values[m] == pytest.approx(float(expected), rel=1e-12)


def test_rows_select_nets_and_dtype_casts():
    net = batch_of_nets(dtype=torch.float32)
    x, y = data()
    theta, f = stacked_flat_fn(net, rows=[4, 1], dtype=D)
    assert theta.dtype == D and theta.shape[0] == 2
    op = stacked_hvp(f, theta, x, y)
    v = torch.randn(*theta.shape, dtype=D)
    for i, m in enumerate([4, 1]):
        th, fm = flat_fn(net.member(m).double())
        torch.testing.assert_close(op(v)[i], dense_hessian(fm, th, x, y, loss="ce") @ v[i], rtol=1e-10, atol=1e-12)


def test_stacked_slq_equals_slq_on_each_net_alone():
    """The same probes for every net, so the lockstep recurrences reproduce per-net SLQ to rounding."""
    net = batch_of_nets()
    x, y = data(40)
    theta, f = stacked_flat_fn(net)
    dens = stacked_slq(stacked_hvp(f, theta, x, y), n_probes=5, n_steps=25, seed=3, max_memory=2 * 10**5)
    assert len(dens) == len(net)
    for m, d in enumerate(dens):
        th, fm = flat_fn(net.member(m).double())
        alone = slq(hvp_operator(fm, th, x, y, loss="ce"), n_probes=5, n_steps=25, seed=3)
        np.testing.assert_allclose(d.nodes, alone.nodes, atol=1e-10 * np.abs(alone.nodes).max())
        np.testing.assert_allclose(d.weights, alone.weights, atol=1e-10)
        assert (d.n_params, d.n_samples, d.n_outputs) == (th.numel(), 40, 4)
        eigs = np.linalg.eigvalsh(dense_hessian(fm, th, x, y, loss="ce").numpy())
        assert d.max_abs == pytest.approx(np.abs(eigs).max(), rel=1e-8)     # extreme Ritz values converge


def test_bad_inputs_raise_clear_value_errors():
    net = batch_of_nets()
    x, y = data()
    theta, f = stacked_flat_fn(net)
    op = stacked_hvp(f, theta, x, y)
    with pytest.raises(ValueError, match="rows"):
        stacked_flat_fn(net, rows=[7])
    with pytest.raises(ValueError, match="axis 0"):
        stacked_flat_fn(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="theta must be a floating"):
        stacked_hvp(f, theta[0], x, y)
    with pytest.raises(ValueError, match="v must have shape"):
        op(torch.randn(theta.shape[1], dtype=D))
    with pytest.raises(ValueError, match="loss"):
        stacked_hvp(f, theta, x, y, loss="hinge")
    with pytest.raises(ValueError, match="labels"):
        stacked_hvp(f, theta, x, y + 10)
    with pytest.raises(ValueError, match="n_steps"):
        stacked_slq(op, n_steps=0)
    th, fm = flat_fn(net.member(0).double())
    with pytest.raises(ValueError, match="StackedProduct"):
        stacked_slq(hvp_operator(fm, th, x, y, loss="ce"))
    assert isinstance(op, StackedProduct)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU path is checked on GPU machines")
def test_cuda_path_matches_cpu():
    net = batch_of_nets()
    x, y = data()
    theta, f = stacked_flat_fn(net)
    cpu = stacked_slq(stacked_hvp(f, theta, x, y), n_probes=3, n_steps=15)
    net_c = batch_of_nets().cuda()
    theta_c, f_c = stacked_flat_fn(net_c)
    op_c = stacked_hvp(f_c, theta_c, x, y)
    v = torch.randn(*theta.shape, dtype=D)
    torch.testing.assert_close(op_c(v.cuda()).cpu(), stacked_hvp(f, theta, x, y)(v), rtol=1e-9, atol=1e-11)
    for a, b in zip(stacked_slq(op_c, n_probes=3, n_steps=15), cpu):
        np.testing.assert_allclose(a.nodes, b.nodes, atol=1e-8 * np.abs(b.nodes).max())
