"""Rank collapse in self-attention stacks, and how skip connections prevent it (chapter V.3).

Dong, Cordonnier & Loukas (2021) show that a stack of pure self-attention layers drives the token
representations X (T tokens x D features) towards rank one -- every token the same vector -- doubly
exponentially fast in depth, and that skip connections prevent this. We measure the distance from rank one as

    res(X) = ||X - 1 x̄ᵀ||_F / ||X||_F,    x̄ the mean token,

the relative Frobenius residual (Dong et al. use a composite l1/l-inf norm; the Frobenius norm's best rank-one
approximation of the form 1 xᵀ is the mean token, so res has a closed form and is scale-free).

A layer of `AttentionStack` is, with row-vector tokens and H heads of size D/H,

    SA(X)  = concat_h softmax(X Q_h (X K_h)ᵀ / sqrt(D/H)) X V_h   then   O
    X <- SA(N(X)) + X            (skip)      or   X <- SA(N(X))          (no skip)
    X <- relu(N(X) W_1) W_2 + X  (skip, mlp) or   X <- relu(N(X) W_1) W_2 (mlp, no skip)

where N is the identity, or with `norm` a layer norm of each token without gain or bias (the "pre-LN" layout of
today's transformers; Dong et al. show that layer norm alone does not stop the collapse). Weights are Gaussian with
variance 1/fan-in (ReLU layers 2/fan-in).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .train import fit


def rank_one_residual(x: torch.Tensor) -> torch.Tensor:
    """res(X) = ||X - 1 x̄ᵀ||_F / ||X||_F over the token axis (-2), for X of shape (..., T, D); 0 exactly when
    every token is the same vector."""
    if x.dim() < 2 or x.shape[-2] < 2:
        raise ValueError(f"x must have shape (..., tokens, features) with at least 2 tokens, got {tuple(x.shape)}")
    centred = x - x.mean(-2, keepdim=True)
    return centred.flatten(-2).norm(dim=-1) / x.flatten(-2).norm(dim=-1)


def effective_rank(x: torch.Tensor) -> torch.Tensor:
    """exp of the entropy of the normalized singular values of X (..., T, D) (Roy & Vetterli 2007): 1 for rank
    one, min(T, D) for equal singular values."""
    s = torch.linalg.svdvals(x)
    p = s / s.sum(-1, keepdim=True)
    return torch.exp(-(p * torch.log(p.clamp_min(1e-30))).sum(-1))


@dataclass(frozen=True)
class StackSpec:
    """An attention stack: model width D, heads H, depth, and whether it has skips and MLP blocks."""

    d_model: int = 32
    heads: int = 4
    depth: int = 12
    skip: bool = False
    mlp: bool = False
    norm: bool = False

    def __post_init__(self):
        for name in ("d_model", "heads", "depth"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}={v!r} must be an integer >= 1")
        if self.d_model % self.heads:
            raise ValueError(f"heads={self.heads} must divide d_model={self.d_model}")

    @property
    def label(self) -> str:
        return ("attention" + (" + MLP" if self.mlp else "") + (", pre-LN" if self.norm else "")
                + (", skips" if self.skip else ", no skips"))


class AttentionStack(nn.Module):
    """`depth` self-attention layers (optionally with MLP blocks and skips, see the module docstring); the
    forward pass returns the token representations after every layer, [X_0, X_1, ..., X_depth]."""

    def __init__(self, spec: StackSpec, seed: int = 0, dtype=torch.float64):
        super().__init__()
        self.spec = spec
        g = torch.Generator().manual_seed(seed)
        D, L = spec.d_model, spec.depth

        def gauss(*shape, var):
            return nn.Parameter(torch.randn(*shape, generator=g, dtype=dtype) * math.sqrt(var))

        self.Q, self.K, self.V = (gauss(L, D, D, var=1.0 / D) for _ in range(3))
        self.O = gauss(L, D, D, var=1.0 / D)
        if spec.mlp:
            self.W1 = gauss(L, D, D, var=2.0 / D)
            self.W2 = gauss(L, D, D, var=1.0 / D)

    def attention(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """SA(X) of layer `layer` for tokens x (..., T, D)."""
        H, D = self.spec.heads, self.spec.d_model
        dh = D // H

        def heads(w):
            return (x @ w[layer]).unflatten(-1, (H, dh)).transpose(-3, -2)       # (..., H, T, dh)

        q, k, v = heads(self.Q), heads(self.K), heads(self.V)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        return (weights @ v).transpose(-3, -2).flatten(-2) @ self.O[layer]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Layer norm of each token (no gain or bias) when the spec has `norm`, else x."""
        if not self.spec.norm:
            return x
        return torch.nn.functional.layer_norm(x, x.shape[-1:])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = [x]
        for layer in range(self.spec.depth):
            a = self.attention(self.normalize(x), layer)
            x = x + a if self.spec.skip else a
            if self.spec.mlp:
                m = torch.relu(self.normalize(x) @ self.W1[layer]) @ self.W2[layer]
                x = x + m if self.spec.skip else m
            out.append(x)
        return out


def residual_by_depth(spec: StackSpec, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """res(X_l) for l = 0 .. depth of a random stack `spec` (seed `seed`) applied to tokens x (..., T, D),
    averaged over any leading (sequence) axes: shape (depth + 1,)."""
    stack = AttentionStack(spec, seed, dtype=x.dtype)
    with torch.no_grad():
        layers = stack(x)
    return torch.stack([rank_one_residual(h).reshape(-1).mean() for h in layers])


def query_key_gradients(stack: AttentionStack, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Per layer, |∂f/∂(Q_l, K_l)| / |∂f/∂V_l| for a fixed random linear read-out f of the last layer's tokens.

    When a layer's input tokens are all equal, every attention score in a row is equal, the softmax is uniform
    whatever Q_l and K_l are, and this ratio is 0 (up to rounding): the query and key weights of every layer above a
    collapse are in an elimination-like singular set (their Fisher information vanishes)."""
    g = torch.Generator().manual_seed(seed)
    out = stack(x)[-1]
    readout = torch.randn(out.shape, generator=g, dtype=out.dtype)
    grads = torch.autograd.grad((out * readout).sum(), [stack.Q, stack.K, stack.V])
    qk = (grads[0].flatten(1).pow(2).sum(1) + grads[1].flatten(1).pow(2).sum(1)).sqrt()
    return qk / grads[2].flatten(1).norm(dim=1).clamp_min(1e-300)


def token_task(sequences: int, tokens: int, d_model: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A regression task that needs distinct tokens: Gaussian tokens x (sequences, T, D) and targets
    y_t = x_t A + x̄ B (each token's own part plus the sequence's mean, A and B random D x D maps)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(sequences, tokens, d_model, generator=g, dtype=torch.float64)
    A, B = (torch.randn(d_model, d_model, generator=g, dtype=torch.float64) / d_model**0.5 for _ in range(2))
    return x, x @ A + x.mean(-2, keepdim=True) @ B


def rank_one_floor(y: torch.Tensor) -> float:
    """The lowest loss (1/2) mean |f_t - y_t|² of any output that is rank one in each sequence (every token the
    same vector): the within-sequence variance of the targets, (1/2) mean |y_t - ȳ|²."""
    return float(0.5 * (y - y.mean(-2, keepdim=True)).pow(2).sum(-1).mean())


def train_stack(stack: AttentionStack, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float,
                record_every: int) -> np.ndarray:
    """Train the stack and a linear read-out R (started at zero) with Adam on (1/2) mean |X_L R - y|² over
    all tokens (full batch, `train.fit`); returns the loss every `record_every` steps (and before the first)."""
    readout = nn.Parameter(torch.zeros(stack.spec.d_model, y.shape[-1], dtype=x.dtype))
    return fit([*stack.parameters(), readout], lambda: 0.5 * (stack(x)[-1] @ readout - y).pow(2).sum(-1).mean(),
               steps, lr, record_every)
