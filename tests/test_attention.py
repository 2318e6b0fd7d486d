"""Rank collapse (chapter V.3): the distance from rank one on constructed inputs, and attention stacks whose
effect on it is known in closed form."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from skiplessons import attention as at


def tokens(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_residual_of_rank_one_inputs_is_zero():
    v = tokens(7)
    x = torch.ones(5, 1, dtype=torch.float64) * v            # every token the same vector
    assert float(at.rank_one_residual(x)) < 1e-15
    assert float(at.effective_rank(x)) == pytest.approx(1.0, abs=1e-6)


def test_residual_closed_form():
    """Two tokens ±u: the mean is 0, so res = 1; tokens c + e_i: res = |e - ē| / |c + e| by hand."""
    u = tokens(4)
    assert float(at.rank_one_residual(torch.stack([u, -u]))) == pytest.approx(1.0)
    c, e = tokens(3, seed=1), torch.eye(3, dtype=torch.float64)
    x = c + e
    centred = e - e.mean(0)
    assert float(at.rank_one_residual(x)) == pytest.approx(float(centred.norm() / x.norm()))
    # scale-free and batched over leading axes
    xs = torch.stack([x, 5 * x])
    r = at.rank_one_residual(xs)
    assert r.shape == (2,) and float(r[0]) == pytest.approx(float(r[1]))


def test_effective_rank_of_orthogonal_tokens():
    assert float(at.effective_rank(torch.eye(4, dtype=torch.float64))) == pytest.approx(4.0)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="at least 2 tokens"):
        at.rank_one_residual(tokens(1, 3))
    with pytest.raises(ValueError, match="heads=3 must divide d_model=8"):
        at.StackSpec(d_model=8, heads=3)
    with pytest.raises(ValueError, match="depth"):
        at.StackSpec(depth=0)


def uniform_stack(skip: bool) -> at.AttentionStack:
    """A stack whose queries and keys are zero: every head averages the tokens uniformly."""
    stack = at.AttentionStack(at.StackSpec(d_model=8, heads=2, depth=3, skip=skip))
    with torch.no_grad():
        stack.Q.zero_()
        stack.K.zero_()
    return stack


def test_uniform_attention_collapses_in_one_layer_without_skips():
    """SA(X) = 1 x̄ᵀ V O: rank one after the first layer, exactly."""
    x = tokens(6, 8)
    with torch.no_grad():
        out = uniform_stack(skip=False)(x)
    assert float(at.rank_one_residual(out[0])) > 0.5
    assert all(float(at.rank_one_residual(h)) < 1e-14 for h in out[1:])


def test_uniform_attention_with_skips_keeps_the_deviations():
    """X + 1 x̄ᵀ V O adds the same row to every token: the deviations from the mean token are unchanged."""
    x = tokens(6, 8)
    with torch.no_grad():
        out = uniform_stack(skip=True)(x)
    for h in out[1:]:
        assert torch.allclose(h - h.mean(0), x - x.mean(0), atol=1e-12)


def test_attention_matches_a_hand_written_head():
    spec = at.StackSpec(d_model=4, heads=1, depth=1)
    stack = at.AttentionStack(spec, seed=3)
    x = tokens(5, 4, seed=2)
    Q, K, V, O = (w[0].detach() for w in (stack.Q, stack.K, stack.V, stack.O))
    scores = (x @ Q) @ (x @ K).T / 2.0
    expected = torch.softmax(scores, -1) @ (x @ V) @ O
    with torch.no_grad():
        assert torch.allclose(stack.attention(x, 0), expected, atol=1e-12)


def test_pre_ln_normalizes_block_inputs():
    spec = at.StackSpec(d_model=6, heads=2, depth=1, norm=True)
    stack = at.AttentionStack(spec)
    x = tokens(3, 6) * 10 + 4
    z = stack.normalize(x)
    assert torch.allclose(z.mean(-1), torch.zeros(3, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(z.var(-1, unbiased=False), torch.ones(3, dtype=torch.float64), atol=1e-4)


def test_random_stacks_without_skips_collapse():
    r = at.residual_by_depth(at.StackSpec(depth=8), tokens(2, 10, 32)).numpy()
    assert r[0] > 0.5 and r[-1] < 1e-10
    kept = at.residual_by_depth(at.StackSpec(depth=8, skip=True, norm=True), tokens(2, 10, 32)).numpy()
    assert kept[-1] > 0.1
    assert np.all(np.isfinite(kept))


def test_query_key_gradients_vanish_on_collapsed_tokens():
    """Equal tokens: uniform attention whatever Q and K, so their gradient is zero (to rounding) in every layer; on
    generic tokens it is not. Checked against finite differences of the read-out in one entry of Q_0."""
    spec = at.StackSpec(d_model=8, heads=2, depth=2)
    stack = at.AttentionStack(spec, seed=1)
    same = torch.ones(5, 1, dtype=torch.float64) * tokens(8)
    assert torch.all(at.query_key_gradients(stack, same) < 1e-12)
    x = tokens(5, 8, seed=4)
    ratio = at.query_key_gradients(stack, x)
    assert torch.all(ratio > 1e-3)
    readout = torch.randn(5, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    f = lambda: float((stack(x)[-1] * readout).sum())                       # noqa: E731
    grad_q = torch.autograd.grad((stack(x)[-1] * readout).sum(), stack.Q)[0][0, 1, 2]
    h = 1e-6
    with torch.no_grad():
        stack.Q[0, 1, 2] += h
        up = f()
        stack.Q[0, 1, 2] -= 2 * h
        down = f()
        stack.Q[0, 1, 2] += h
    assert float(grad_q) == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)


def test_token_task_and_rank_one_floor():
    """The floor is the loss of the best per-sequence constant output (the sequence mean of y): check it against
    that output, and that any other rank-one output does worse."""
    x, y = at.token_task(3, 5, 4)
    assert x.shape == y.shape == (3, 5, 4)
    best = y.mean(-2, keepdim=True).expand_as(y)
    assert at.rank_one_floor(y) == pytest.approx(float(0.5 * (best - y).pow(2).sum(-1).mean()))
    worse = best + 0.1
    assert float(0.5 * (worse - y).pow(2).sum(-1).mean()) > at.rank_one_floor(y)


def test_train_stack_lowers_the_loss_and_checks_arguments():
    x, y = at.token_task(4, 6, 8)
    stack = at.AttentionStack(at.StackSpec(d_model=8, heads=2, depth=2, skip=True, norm=True))
    losses = at.train_stack(stack, x, y, steps=30, lr=1e-2, record_every=10)
    assert losses.shape == (4,) and losses[-1] < losses[0]
    assert losses[0] == pytest.approx(float(0.5 * y.pow(2).sum(-1).mean()))      # the read-out starts at zero
    with pytest.raises(ValueError, match="steps=0"):
        at.train_stack(stack, x, y, steps=0, lr=1e-2, record_every=10)
