"""Rival accounts (chapter V.2): gradient similarity, lesions and path decompositions against independent
computations (per-net autograd, weight surgery, the full gradient, binomial counts)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from skiplessons import rivals
from skiplessons.models import DeepMLPs, Member, NetSpec, forward


def nets(act="relu", archs=("plain", "residual"), depth=5, width=6):
    return DeepMLPs(NetSpec(4, 3, depth=depth, width=width, act=act), [Member(a, i) for i, a in enumerate(archs)],
                    dtype=torch.float64)


def inputs(n=20, d=4, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_gradient_similarity_is_one_for_linear_nets():
    sim = rivals.gradient_similarity(nets("linear"), inputs(), distance=1.0)
    assert sim.shape == (2, 5)
    assert torch.allclose(sim, torch.ones_like(sim), atol=1e-12)


def test_gradient_similarity_matches_a_per_net_computation():
    batch = nets("tanh")
    x, dist = inputs(), 0.5
    sim = rivals.gradient_similarity(batch, x, dist, seed=3)
    # the same draws, then each net alone through its stand-alone MLP
    g = torch.Generator().manual_seed(3)
    u = torch.randn(x.shape, generator=g, dtype=x.dtype)
    u = u / u.norm(dim=-1, keepdim=True)
    readouts = [torch.randn(6, generator=g, dtype=x.dtype) for _ in range(5)]
    for m in range(2):
        mlp = batch.member(m).double()
        for l, r in enumerate(readouts):
            def grad_at(points):
                points = points.clone().requires_grad_(True)
                _, hidden = mlp(points, return_hidden=True)
                return torch.autograd.grad((hidden[l] @ r).sum(), points)[0]
            a, b = grad_at(x), grad_at(x + dist * u)
            expected = torch.nn.functional.cosine_similarity(a, b, dim=-1).mean()
            assert float(sim[m, l]) == pytest.approx(float(expected), abs=1e-10)
    with pytest.raises(ValueError, match="distance"):
        rivals.gradient_similarity(batch, x, 0.0)


def test_lesion_equals_weight_surgery():
    """Residual ReLU nets: removing layer l is W_l = 0, b_l = 0 (the branch outputs relu(0) = 0). Plain ReLU
    nets: it is W_l = I, b_l = 0 (relu(h) = h for h >= 0)."""
    batch, x = nets(), inputs()
    params = {k: v.detach().clone() for k, v in batch.named_parameters()}
    layer = 3
    params["W"][0, layer - 2] = torch.eye(6, dtype=torch.float64)
    params["W"][1, layer - 2] = 0.0
    params["b"][:, layer - 2] = 0.0
    expected = forward(params, x, "relu", batch.a, batch.c)
    assert torch.allclose(rivals.lesioned_forward(batch, x, layer), expected, atol=1e-12)
    with pytest.raises(ValueError, match="layer=1"):
        rivals.lesioned_forward(batch, x, 1)


def test_lesion_accuracy_shape():
    batch, x = nets(), inputs()
    y = torch.zeros(len(x), dtype=torch.long)
    acc = rivals.lesion_accuracy(batch, x, y)
    assert acc.shape == (2, 4) and ((acc >= 0) & (acc <= 1)).all()


def test_path_lengths_are_binomial():
    counts = rivals.path_lengths(10)
    assert counts.sum() == 2**10 and counts[5] == math.comb(10, 5)
    with pytest.raises(ValueError, match="blocks"):
        rivals.path_lengths(-1)


@pytest.mark.parametrize("act", ["relu", "tanh", "linear"])
def test_path_decomposition_sums_to_the_gradient(act):
    """The path-length parts add up to ∂(r·y)/∂h_1 from autograd, and the k = 0 part is the read-out carried by
    the skips alone, W_out r."""
    batch, x = nets(act, archs=("residual",), depth=6), inputs(8)
    parts = rivals.gradient_by_path_length(batch, 0, x, seed=1)
    assert parts.shape == (6,)
    mlp = batch.member(0).double()
    g = torch.Generator().manual_seed(1)
    r = torch.randn(3, generator=g, dtype=x.dtype)
    assert parts[0] == pytest.approx(float((mlp.W_out.detach() @ r).norm()))
    # the full gradient at h_1: recompute the net from h_1 with autograd
    p = dict(mlp.named_parameters())
    phi = {"relu": torch.relu, "tanh": torch.tanh, "linear": lambda z: z}[act]
    h1 = phi(x @ p["W_in"] + p["b_in"]).detach().requires_grad_(True)
    h = h1
    for l in range(5):
        h = phi(h @ p["W"][l] + p["b"][l]) + h
    (full,) = torch.autograd.grad(((h @ p["W_out"] + p["b_out"]) @ r).sum(), h1)
    vectors = rivals.path_gradient_vectors(batch, 0, x, seed=1)
    assert torch.allclose(vectors.sum(0), full, atol=1e-10)
    assert np.allclose(vectors.norm(dim=-1).mean(-1).numpy(), parts)


def test_path_decomposition_needs_a_residual_net():
    with pytest.raises(ValueError, match="residual net with alpha = 1"):
        rivals.gradient_by_path_length(nets(), 0, inputs())


@pytest.mark.parametrize("depth", [2, 16, 64])
def test_gradient_similarity_of_a_linear_net_is_one_at_every_depth(depth):
    """A linear net's input gradient does not depend on the input: similarity 1 at every layer, plain and
    residual, at both distances the depth experiment uses."""
    net = nets("linear", depth=depth)
    for distance in (0.25, 3.0):
        sim = rivals.gradient_similarity(net, inputs(), distance)
        assert sim.shape == (2, depth)
        assert torch.allclose(sim, torch.ones_like(sim), atol=1e-10)


def test_depth_law_fits_recover_each_law():
    L = np.array([2, 4, 8, 16, 32, 64])
    exp_fit = rivals.depth_law_fits(L, 0.9 * 0.5**L / 0.5**2)
    power_fit = rivals.depth_law_fits(L, 2.0 * L**-0.5)
    assert exp_fit["exponential"]["rate"] == pytest.approx(np.log(0.5)) and exp_fit["exponential"]["rss"] < 1e-20
    assert power_fit["power law"]["rate"] == pytest.approx(-0.5) and power_fit["power law"]["rss"] < 1e-20
    assert exp_fit["power law"]["rss"] > 1 and power_fit["exponential"]["rss"] > 0.1
    with pytest.raises(ValueError, match="similarities > 0"):
        rivals.depth_law_fits(L, np.r_[np.ones(5), -0.1])
