"""The small teaching nets of Part I: a two-hidden-layer net with optional skips, and a one-output shallow net.

Introduced in chapter I.1. Both are ordinary `nn.Module`s, so `curvature.flat_fn(net)` turns them into
`f(theta, x)`; the parameter names mirror the maths.

`TwoLayerNet` (inputs, both hidden layers of width n, p outputs):

    h1 = phi1(J x + b1)  [+ x]       skip 1, feeds unit a of layer 1 the input x_a
    h2 = phi2(K h1 + b2) [+ h1]      skip 2, carries h1 past the outgoing weights K
    y  = C h2 + c

The unit under study sits in layer 1: its incoming weights are the row J[a], its outgoing weights the column
K[:, a], and it has paths on both sides. `arch` picks the skips: "plain" (none), "residual" (both), "first"
(skip 1 only), "second" (skip 2 only).

`ShallowNet` (one output, the model of Amari et al. 2006): y = sum_i w_i h_i with h_i = phi(J_i . x)
[+ x_i]. Its outgoing "vectors" w_i are scalars, which gives it degeneracies of its own (chapter I.3).
"""
from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = ("tanh", "erf", "relu", "linear")
#: which skips (layer 1, layer 2) each arch of `TwoLayerNet` has
SKIPS = {"plain": (False, False), "residual": (True, True), "first": (True, False), "second": (False, True)}
SHALLOW_ARCHS = ("plain", "residual")


def activation(name: str):
    """The elementwise function called `name`: tanh, erf(u / sqrt 2), relu or the identity."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={name!r} is not valid; choose one of {', '.join(ACTIVATIONS)}")
    return {"tanh": torch.tanh, "erf": lambda u: torch.erf(u / math.sqrt(2.0)), "relu": torch.relu,
            "linear": lambda u: u}[name]


def _positive_int(value, name, least=1):
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"{name}={value!r} must be an integer >= {least}")
    return value


def _choice(value, valid, name):
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {', '.join(map(str, valid))}")
    return value


def _activations(act) -> tuple[str, str]:
    pair = (act, act) if isinstance(act, str) else tuple(act)
    if len(pair) != 2:
        raise ValueError(f"activation={act!r} must be one name or a pair (layer 1, layer 2) of names")
    for name in pair:
        _choice(name, ACTIVATIONS, "activation")
    return pair


class TwoLayerNet(nn.Module):
    """h1 = phi1(J x + b1) [+ x], h2 = phi2(K h1 + b2) [+ h1], y = C h2 + c (see the module docstring).

    Weights are drawn from `seed`: J, K ~ N(0, scale^2 / n), C ~ N(0, 1 / n), biases (when `bias`) ~
    N(0, (scale / 2)^2). `activation` is one name or a pair (layer 1, layer 2). Float64 by default: counting
    zero eigenvalues needs it. Introduced in chapter I.1.
    """

    def __init__(self, n: int = 4, p: int = 3, activation: str | tuple[str, str] = "tanh", arch: str = "plain",
                 bias: bool = False, scale: float = 1.0, seed: int = 0, dtype=torch.float64):
        super().__init__()
        self.n, self.p = _positive_int(n, "n", 2), _positive_int(p, "p")
        self.activation = _activations(activation)
        self.arch = _choice(arch, tuple(SKIPS), "arch")
        self.skips = SKIPS[arch]
        self.bias = bool(bias)
        if not scale > 0:
            raise ValueError(f"scale={scale!r} must be > 0")
        g = torch.Generator().manual_seed(_positive_int(seed, "seed", 0))

        def gauss(*shape, std):
            return nn.Parameter((torch.randn(*shape, generator=g, dtype=torch.float64) * std).to(dtype))

        self.J = gauss(n, n, std=scale / math.sqrt(n))
        if bias:
            self.b1 = gauss(n, std=scale / 2)
        self.K = gauss(n, n, std=scale / math.sqrt(n))
        if bias:
            self.b2 = gauss(n, std=scale / 2)
        self.C = gauss(p, n, std=1 / math.sqrt(n))
        if bias:
            self.c = gauss(p, std=scale / 2)

    def hidden(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two hidden layers (h1, h2), each (N, n), skips included."""
        phi1, phi2 = (activation(a) for a in self.activation)
        z1 = x @ self.J.T + (self.b1 if self.bias else 0)
        h1 = phi1(z1) + (x if self.skips[0] else 0)
        z2 = h1 @ self.K.T + (self.b2 if self.bias else 0)
        h2 = phi2(z2) + (h1 if self.skips[1] else 0)
        return h1, h2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.n:
            raise ValueError(f"x must have shape (N, n) = (N, {self.n}), got {tuple(x.shape)}")
        h2 = self.hidden(x)[1]
        return h2 @ self.C.T + (self.c if self.bias else 0)


class ShallowNet(nn.Module):
    """One output: y = sum_i w_i h_i, h_i = phi(J_i . x) [+ x_i] (arch "plain" or "residual"), no biases.

    n inputs and n hidden units (the skip needs equal widths); J ~ N(0, scale^2 / n), w ~ N(0, 1 / n).
    Introduced in chapter I.1 as the contrast to `TwoLayerNet`.
    """

    def __init__(self, n: int = 4, activation: str = "tanh", arch: str = "plain", scale: float = 1.0,
                 seed: int = 0, dtype=torch.float64):
        super().__init__()
        self.n = _positive_int(n, "n", 2)
        self.activation = _choice(activation, ACTIVATIONS, "activation")
        self.arch = _choice(arch, SHALLOW_ARCHS, "arch")
        if not scale > 0:
            raise ValueError(f"scale={scale!r} must be > 0")
        g = torch.Generator().manual_seed(_positive_int(seed, "seed", 0))
        self.J = nn.Parameter((torch.randn(n, n, generator=g, dtype=torch.float64) * scale / math.sqrt(n)).to(dtype))
        self.w = nn.Parameter((torch.randn(n, generator=g, dtype=torch.float64) / math.sqrt(n)).to(dtype))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layer h, (N, n), skip included."""
        return activation(self.activation)(x @ self.J.T) + (x if self.arch == "residual" else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.n:
            raise ValueError(f"x must have shape (N, n) = (N, {self.n}), got {tuple(x.shape)}")
        return (self.hidden(x) @ self.w).unsqueeze(1)


def gaussian_inputs(n_samples: int, n: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """`n_samples` inputs x ~ N(0, I_n), drawn from their own generator. Chapter I.1."""
    g = torch.Generator().manual_seed(_positive_int(seed, "seed", 0))
    return torch.randn(_positive_int(n_samples, "n_samples"), _positive_int(n, "n"), generator=g,
                       dtype=torch.float64).to(dtype)


def param_index(net: nn.Module, name: str, index=...) -> torch.Tensor:
    """Positions in the flat parameter vector of `curvature.flat_fn(net)` of `getattr(net, name)[index]`.

    E.g. `param_index(net, "K", (slice(None), a))` are the coordinates of the column K[:, a]. Chapter I.1.
    """
    offsets, start = {}, 0
    for k, p in net.named_parameters():
        offsets[k] = (start, p.shape)
        start += p.numel()
    if name not in offsets:
        raise ValueError(f"name={name!r} is not a parameter of this net; choose one of {', '.join(offsets)}")
    start, shape = offsets[name]
    return torch.arange(start, start + math.prod(shape)).view(shape)[index].reshape(-1)
