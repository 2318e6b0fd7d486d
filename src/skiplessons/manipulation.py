"""Manipulation checks of Part IV's controls: what a net at initialization is, measured directly.

A control ("a residual net started like a plain net", "a plain net started like a residual net") earns its
verdict only if it holds fixed what it claims to. Three measurements at initialization say what a start is:

- the input-output Jacobian of the hidden stack, J = dh_D / dh_1 for one input (width x width), through its
  singular values: the top value (how much the stack stretches), the share in [0.5, 2] (directions passed on
  at about their size: a near-identity stack has all of them, a deep plain ReLU stack few), and the numerical
  rank (values above `RANK_TOL` times the top: directions not lost);
- the activation scale per hidden layer (`models.hidden_rms`), summarized as the growth RMS(h_D) / RMS(h_1);
- the fraction of dead branch units: units of hidden layers 2 .. D whose pre-activation is <= 0 on every input
  of the batch (a switched-off branch unit passes nothing; in a residual net the skip then carries h on).

`measure(net, x)` returns them per net; the verdict on whether a control is like its reference nets is a
claim of agreement per property, judged in `claims.part4` against the reference nets' own seed spread.

A net with a batch-normalization layer couples the inputs of a batch, so its per-input Jacobian is undefined;
`measure` takes it with the statistics frozen at the measured batch (`freeze_batch_norm`: the layer as the affine
map it is for that batch, the remedies of chapter IV.2). A net whose hidden state is a linear image of a smaller
one (`doubling.width_doubled`) is measured in that smaller state's coordinates with `stream=`.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from .models import BN_EPS, DeepMLPs, hidden_rms

#: singular values in this band count as "passed on at about their size"
BAND = (0.5, 2.0)
#: a singular value counts towards the numerical rank when it exceeds this fraction of the top one
RANK_TOL = 1e-3
#: the per-net properties `measure` returns, in table order, with what each is
PROPERTIES = {"top": "top singular value", "band": "share in [0.5, 2]", "rank": "numerical rank / width",
              "growth": "activation growth", "dead": "dead branch units"}


def jacobian_singular_values(net: DeepMLPs, x: torch.Tensor, stream=None) -> np.ndarray:
    """(nets, inputs, width) singular values of dh_D / dh_1 of every net of `net` at every input row of `x`, in
    descending order. One backward pass per output unit: inputs are independent (no batch normalization), so
    the gradient of the summed unit j over the batch is row j of each input's Jacobian. With `stream` = (P, c),
    a (width, k) matrix and a (k,) offset, the Jacobian is that of s_D = h_D P - c with respect to s_1 = h_1 P - c
    (entering the hidden state as s_1 pinv(P)): (nets, inputs, k) values."""
    _check_net(net)
    if net.spec.bn_layer is not None:
        raise ValueError("net must have no batch-normalization layer: it couples the inputs of a batch, so a "
                         "per-input Jacobian is not defined (freeze it at a batch first: freeze_batch_norm)")
    p0 = next(net.parameters())
    with torch.enable_grad():
        _, hidden = net(x.to(p0.device, p0.dtype), return_hidden=True)
        first, last = hidden[0], hidden[-1]
        rows = [torch.autograd.grad(last[..., j].sum(), first, retain_graph=True)[0]
                for j in range(last.shape[-1])]
    jac = torch.stack(rows, dim=-2).detach().double()            # (nets, inputs, out unit, in unit)
    if stream is not None:
        P = _stream(stream, last.shape[-1])[0].to(jac.device)
        jac = P.T @ jac @ torch.linalg.pinv(P).T
    return torch.linalg.svdvals(jac).cpu().numpy()


def _check_net(net) -> None:
    if not isinstance(net, DeepMLPs):
        raise TypeError(f"net must be a DeepMLPs batch, got {type(net).__name__}")


def _stream(stream, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, c) as float64 tensors, checked: P (width, k <= width), c (k,)."""
    P, c = (torch.as_tensor(a, dtype=torch.float64) for a in stream)
    if P.dim() != 2 or P.shape[0] != width or not 1 <= P.shape[1] <= width or c.shape != P.shape[1:]:
        raise ValueError(f"stream must be (P, c): a (width={width}, k <= width) matrix and a (k,) offset, got "
                         f"shapes {tuple(P.shape)} and {tuple(c.shape)}")
    return P, c


@torch.no_grad()
def freeze_batch_norm(net: DeepMLPs, x: torch.Tensor) -> DeepMLPs:
    """The nets of `net` with the batch-normalization layer replaced by the affine map it is on the batch `x`:
    z = u g / sqrt(var + eps) + (b - mean g / sqrt(var + eps)), folded into that layer's weights and bias, with
    the mean and variance of u = h W over `x`. The result has no BN layer and computes `net`'s outputs and hidden
    layers on `x` exactly; on it the inputs are independent, so its per-input Jacobian is `net`'s with the batch
    statistics frozen. A net without a BN layer is returned as it is."""
    _check_net(net)
    layer = net.spec.bn_layer
    if layer is None:
        return net
    p0 = next(net.parameters())
    x = x.to(p0.device, p0.dtype)
    _, hidden = net(x, return_hidden=True)
    h = x.expand(len(net), *x.shape) if layer == 1 else hidden[layer - 2]
    W = net.W_in if layer == 1 else net.W[:, layer - 2]
    b = net.b_in if layer == 1 else net.b[:, layer - 2]
    u = torch.bmm(h, W)
    scale = net.bn_gain * torch.rsqrt(u.var(-2, unbiased=False) + BN_EPS)       # (nets, width)
    frozen = DeepMLPs(replace(net.spec, bn_layer=None), net.members, dtype=p0.dtype, device=p0.device)
    for name, value in frozen.named_parameters():
        value.copy_(getattr(net, name))
    (frozen.W_in if layer == 1 else frozen.W[:, layer - 2]).copy_(W * scale.unsqueeze(-2))
    (frozen.b_in if layer == 1 else frozen.b[:, layer - 2]).copy_(b - u.mean(-2) * scale)
    return frozen


@torch.no_grad()
def dead_branch_fraction(net: DeepMLPs, x: torch.Tensor) -> np.ndarray:
    """(nets,) fraction of the units of hidden layers 2 .. D whose pre-activation is <= 0 on every row of `x`
    (0 for a net of depth 1)."""
    p0 = next(net.parameters())
    _, preacts = net(x.to(p0.device, p0.dtype), return_preacts=True)
    if len(preacts) < 2:
        return np.zeros(len(net))
    z = torch.stack(preacts[1:], dim=1)                          # (nets, layers, inputs, units)
    return (z <= 0).all(dim=2).double().mean(dim=(1, 2)).cpu().numpy()


def summarize(singular_values: np.ndarray) -> dict[str, np.ndarray]:
    """Per net, from (nets, inputs, width) singular values: the median over inputs of the top value, of the
    share in `BAND` and of the share above `RANK_TOL` x top (the numerical rank over the width)."""
    sv = np.asarray(singular_values, dtype=float)
    if sv.ndim != 3 or not sv.size:
        raise ValueError(f"singular_values must be a non-empty (nets, inputs, width) array, got shape {sv.shape}")
    top = sv.max(axis=-1)
    band = ((sv >= BAND[0]) & (sv <= BAND[1])).mean(axis=-1)
    rank = (sv > RANK_TOL * top[..., None]).mean(axis=-1)
    return {"top": np.median(top, axis=1), "band": np.median(band, axis=1), "rank": np.median(rank, axis=1)}


def measure(net: DeepMLPs, x: torch.Tensor, stream=None) -> dict[str, np.ndarray]:
    """{property: one value per net} for every property in `PROPERTIES`, at the nets' current weights, on the
    input batch `x` (the Jacobian summaries of `summarize`, the activation growth and the dead branch
    fraction), plus "sv", the (nets, inputs, width) spectra themselves. A BN layer is frozen at `x`
    (`freeze_batch_norm`). With `stream` (see `jacobian_singular_values`) the spectra and the growth are those of
    s = h P; the dead units are the net's own."""
    net = freeze_batch_norm(net, x)
    sv = jacobian_singular_values(net, x, stream)
    if stream is None:
        rms = hidden_rms(net, x).cpu().numpy()
    else:
        with torch.no_grad():
            p0 = next(net.parameters())
            _, hidden = net(x.to(p0.device, p0.dtype), return_hidden=True)
            P, c = (a.to(p0.device, p0.dtype) for a in _stream(stream, net.spec.width))
            rms = torch.stack([(h @ P - c).pow(2).mean((-2, -1)).sqrt() for h in (hidden[0], hidden[-1])],
                              -1).cpu().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(rms[:, 0] > 0, rms[:, -1] / rms[:, 0], 0.0)
    return {**summarize(sv), "growth": growth, "dead": dead_branch_fraction(net, x), "sv": sv}
