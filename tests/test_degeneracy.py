"""Tests of `skiplessons.degeneracy` against independent computations: torch.autograd.functional.hessian and
numpy eigenvalue counts, a hand-written forward pass, numpy layer statistics, scipy's Pearson r."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from skiplessons.curvature import SpectrumSettings, TOLS
from skiplessons import data, degeneracy as dg, models, train
from skiplessons.experiments import parts
from skiplessons.stats import correlation

SPEC = models.NetSpec(40, 10, depth=6, width=6)


@pytest.fixture(scope="module")
def mnist():
    return data.mnist1d(n_samples=600, seed=3)


def nets(archs=models.ARCHS, spec=SPEC):
    return models.DeepMLPs(spec, [models.Member(a, 0) for a in archs], dtype=torch.float64)


def test_dense_spectrum_matches_autograd_hessian(mnist):
    """Independent: torch.autograd.functional.hessian of the loss in the model's own parameters."""
    net = nets(["residual"], models.NetSpec(40, 10, depth=3, width=4))
    x, y = mnist.x_train[:200].double(), mnist.y_train[:200]
    mlp = net.member(0).double()
    names = [n for n, _ in mlp.named_parameters()]
    shapes = [p.shape for _, p in mlp.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in mlp.parameters()])

    def loss(t):
        parts = torch.split(t, [int(np.prod(s)) for s in shapes])
        params = {n: p.view(s) for n, p, s in zip(names, parts, shapes)}
        out = models.forward(params, x, "relu", *mlp.member.skip)
        return torch.nn.functional.cross_entropy(out, y)

    eigs = np.linalg.eigvalsh(torch.autograd.functional.hessian(loss, theta).numpy())
    d = dg.hessian_spectrum(mlp, x, y, SpectrumSettings(method="dense"))
    np.testing.assert_allclose(np.sort(d.nodes[0]), eigs, atol=1e-10 * np.abs(eigs).max())
    s = dg.spectrum_summary(d, SpectrumSettings(method="dense"))
    top = np.abs(eigs).max()
    expected = [np.mean(np.abs(eigs) <= t * top) for t in TOLS]
    np.testing.assert_allclose(s["degenerate"], expected)
    assert s["negative"] == pytest.approx(np.mean(eigs < -1e-3 * top))
    assert s["rank_bound"] == 0.0                         # N*C = 2000 > P


def test_slq_degenerate_fraction_agrees_with_exact(mnist):
    """The issue's check: on a small deep net, SLQ's degenerate fraction is within 0.02 of the exact one."""
    net = models.DeepMLPs(models.NetSpec(40, 10, depth=8, width=6), [models.Member("plain", 1),
                                                                       models.Member("residual", 1)])
    train.train(net, mnist, steps=150, lr=3e-3, batch_size=64, progress=False)
    x, y = mnist.x_train[:300], mnist.y_train[:300]
    exact = dg.measure(net, x, y, SpectrumSettings(method="dense"))
    approx = dg.measure(net, x, y, SpectrumSettings(method="slq", n_probes=20, n_steps=100))
    assert approx["nodes"].shape[1:] == (20, 100)
    for m in range(2):
        for k, tol in enumerate(TOLS):
            assert abs(approx["degenerate"][m, k] - exact["degenerate"][m, k]) <= 0.02, (m, tol)
        assert abs(approx["negative"][m] - exact["negative"][m]) <= 0.02


def test_auto_method_switches_at_dense_max():
    s = SpectrumSettings(dense_max=100)
    assert s.choose(100) == "dense" and s.choose(101) == "slq"
    assert SpectrumSettings(method="slq").choose(10) == "slq"
    with pytest.raises(ValueError, match="method"):
        SpectrumSettings(method="eig")
    with pytest.raises(ValueError, match="tols"):
        SpectrumSettings(tols=(0.0,))


def test_layer_outputs_match_a_hand_written_forward(mnist):
    net = nets()
    x = mnist.x_train[:50].double()
    hidden, branch = dg.layer_outputs(net, x)
    for m, member in enumerate(net.members):
        W_in, W, b = net.W_in[m].detach(), net.W[m].detach(), net.b[m].detach()
        a, c = member.skip
        h = torch.relu(x @ W_in + net.b_in[m].detach())
        hs = [h]
        assert torch.allclose(branch[0][m], h)
        for l in range(SPEC.depth - 1):
            u = torch.relu(h @ W[l] + b[l])
            assert torch.allclose(branch[l + 1][m], u)
            h = u + a * h + c * torch.stack(hs).mean(0)
            hs.append(h)
            assert torch.allclose(hidden[l + 1][m], h)


def test_dead_layer_is_eliminated_in_plain_but_not_in_residual_outputs(mnist):
    net = nets(["plain", "residual"])
    with torch.no_grad():
        net.b[:, 2] = -1e3                                 # branch of hidden layer 4 dead on every input
    x = mnist.x_train[:100].double()
    out = dg.layer_singularities(net, x)
    assert set(out) == set(dg.LAYER_KEYS) and out["elimination"].shape == (2, SPEC.depth)
    assert out["branch_elimination"][:, 3].tolist() == [1.0, 1.0]
    assert out["elimination"][0, 3] == 1.0 and out["elimination"][1, 3] == 0.0
    # independent: numpy std of each unit against the layer RMS
    hidden, _ = dg.layer_outputs(net, x)
    h = hidden[1][1].numpy()
    expected = np.mean(h.std(0) <= 1e-2 * np.sqrt((h**2).mean()))
    assert out["elimination"][1, 1] == pytest.approx(expected)
    with pytest.raises(ValueError, match="samples"):
        dg.layer_singularities(net, x[:5])


def test_measure_shapes_members_and_errors(mnist):
    net = nets()
    x, y = mnist.x_train[:100], mnist.y_train[:100]
    out = dg.measure(net, x, y, members=[2, 0])
    assert out["degenerate"].shape == (2, len(TOLS)) and out["elimination"].shape == (2, SPEC.depth)
    full = dg.measure(net, x, y)
    np.testing.assert_allclose(out["degenerate"], full["degenerate"][[2, 0]])
    np.testing.assert_allclose(out["overlap"], full["overlap"][[2, 0]])
    with pytest.raises(ValueError, match="members"):
        dg.measure(net, x, y, members=[3])
    with pytest.raises(ValueError, match="label"):
        dg.measure(net, x, y.double())


def test_checkpoint_steps():
    assert parts.checkpoint_steps(1000, 4) == [0, 250, 500, 1000]
    for steps, n in ((1500, 4), (20, 3), (5, 6), (10_000, 8)):
        s = parts.checkpoint_steps(steps, n)
        assert len(s) == n and s[0] == 0 and s[-1] == steps and s == sorted(set(s))
    with pytest.raises(ValueError, match="n="):
        parts.checkpoint_steps(100, 1)
    with pytest.raises(ValueError, match="steps="):
        parts.checkpoint_steps(2, 5)


def test_train_tracked_measures_the_net_at_each_checkpoint(mnist):
    """Independent: a copy trained separately for exactly s steps gives the same measurement at step s."""
    members = [models.Member("plain", 2), models.Member("hyper", 2)]
    spec = models.NetSpec(40, 10, depth=4, width=6)
    x, y = mnist.x_train[:120], mnist.y_train[:120]
    kw = dict(lr=3e-3, batch_size=32, record_every=5, progress=False)
    net = models.DeepMLPs(spec, members, dtype=torch.float64)
    hist, tracked = dg.train_tracked(net, mnist, 12, [0, 7, 12], x, y, **kw)
    a = tracked.arrays("ckpt_")
    assert a["ckpt_step"].tolist() == [0, 7, 12] and a["ckpt_degenerate"].shape == (3, 2, len(TOLS))
    alone = models.DeepMLPs(spec, members, dtype=torch.float64)
    train.train(alone, mnist, 7, **kw)
    np.testing.assert_allclose(a["ckpt_degenerate"][1], dg.measure(alone, x, y)["degenerate"])
    np.testing.assert_allclose(a["ckpt_loss"][2], hist.arrays()["loss"][:, -1], rtol=0.3)
    with pytest.raises(ValueError, match="checkpoints"):
        dg.train_tracked(net, mnist, 10, [0, 11], x, y, **kw)


def test_correlation_matches_scipy_and_covers_r():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(30)
    b = 0.7 * a + 0.5 * rng.standard_normal(30)
    c = correlation(a, b)
    assert c["r"] == pytest.approx(stats.pearsonr(a, b)[0])
    assert c["fisher_lo"] < c["r"] < c["fisher_hi"] and c["boot_lo"] < c["r"] < c["boot_hi"]
    # the Fisher-z interval of scipy >= 1.9
    ci = stats.pearsonr(a, b).confidence_interval(0.95)
    assert (c["fisher_lo"], c["fisher_hi"]) == pytest.approx((ci.low, ci.high))
    with pytest.raises(ValueError, match="paired"):
        correlation(a[:3], b[:3])


def test_live_rank_deficit_ignores_eliminated_units():
    """Independent: numpy ranks of hand-built layers. Units 0-1 dead (constant), 2-4 independent, 5 = 2 + 3: the
    plain rank deficit counts the dead units as lost rank, the live one only the dependence among 2-5."""
    from skiplessons import layer_measures as lm
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 3))
    h = np.c_[np.zeros(200), np.full(200, 0.5), z, z[:, 0] + z[:, 1]]
    assert lm.rank_deficit(h) == pytest.approx((6 - np.linalg.matrix_rank(h - h.mean(0))) / 5)    # 3 of 5
    assert lm.live_rank_deficit(h) == pytest.approx((4 - 3) / 3)
    assert lm.live_rank_deficit(np.c_[np.zeros(200), z[:, :1]]) == 0.0                # one live unit: none
    stacked = lm.live_rank_deficit([np.stack([h, h])])
    assert stacked.shape == (1, 2) and stacked[0, 1] == pytest.approx(1 / 3)
