"""The exact Hessian and Gauss-Newton matrix of one deep ReLU net, assembled layer pair by layer pair (III.2).

`curvature.dense_hessian` builds a P x P Hessian from P Hessian-vector products, each a double pass over the
whole batch: for the paper's depth-30 width-16 nets (P = 8,714) on 5,000 samples that is about half an hour of
one CPU core per Hessian. A ReLU net allows a cheaper exact route. Write layer k's pre-activation as
z_k = u_k W_k + b_k (u_k its input, x or a hidden state; the readout is layer D with z_D the logits), and
delta_k[c] = d logit_c / d z_k per sample (one backward pass per class, `torch.func`). Then, per sample,

- the output Jacobian is d logit_c / d W_k[i, j] = u_k[i] delta_k[c, j] (bias: u = 1), so the Gauss-Newton
  block of layers (k, m) is sum_n (u_k[i] u_m[a]) (sum_c dt_k[c, j] dt_m[c, o]) / N with dt = A^T delta and
  A A^T the softmax's Hessian in the logits (`curvature.functional.output_hessian_factor`): one matrix product
  over the samples per pair of layers;
- the rest of the Hessian, sum_c r_c d^2 logit_c (r = softmax - one-hot, the residuals), has no block within a
  layer (the net is linear in each layer's weights at fixed ReLU states), and between layers k < m it is
  sum_n g_m[o] T_mk[a, j] u_k[i] / N, with g_m = sum_c r_c delta_m[c] and T_mk = d u_m / d z_k (the
  identity pushed up the linearized net from layer k).

ReLU's second derivative is zero almost everywhere, so this is the Hessian exactly (tested against
`curvature.dense_hessian` for every architecture), in float64, for about a hundredth of the work at paper size
(`bench/dense_paper.py`). The skip connections are those of `models.forward`, reproduced here with a
perturbation of every pre-activation (checked against the model's own output at every call).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.func import vjp, vmap

from .curvature.functional import output_hessian_factor
from .models import MLP, forward

#: samples per pass; memory per pass is about width^2 * depth * chunk * 8 bytes (some 60 MB at paper size)
CHUNK = 1000


def _check(model):
    if not isinstance(model, MLP):
        raise TypeError(f"model must be a skiplessons.models.MLP (e.g. DeepMLPs.member(m)), got {type(model).__name__}")
    if model.spec.act != "relu" or model.spec.bn_layer is not None:
        raise ValueError(f"the layered assembly knows ReLU nets without batch normalization; got act="
                         f"{model.spec.act!r}, bn_layer={model.spec.bn_layer!r}")


def _layers(p: dict) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(W, b) of every layer in forward order: input layer, hidden layers, readout."""
    return [(p["W_in"], p["b_in"]), *zip(list(p["W"]), list(p["b"])), (p["W_out"], p["b_out"])]


def _forward(layers, x, a, c, eps):
    """`models.forward` with `eps[k]` added to layer k's pre-activation (k < D, the hidden layers): the logits and
    every layer's input u_0 = x, u_1 = h_1, ..., u_D = h_D."""
    h = torch.relu(x @ layers[0][0] + layers[0][1] + eps[0])
    inputs, total = [x, h], h
    for k, (W, b) in enumerate(layers[1:-1], start=1):
        h = torch.relu(h @ W + b + eps[k]) + a * h + c * (total / k)
        total = total + h
        inputs.append(h)
    return h @ layers[-1][0] + layers[-1][1], inputs


def _index(model: MLP) -> list[np.ndarray]:
    """Per layer, the positions in `curvature.flat_fn(model)`'s vector of its (fan_in + 1, n) weights and bias
    (the bias is the last row)."""
    offsets, start = {}, 0
    for name, v in model.named_parameters():
        offsets[name] = np.arange(start, start + v.numel()).reshape(v.shape)
        start += v.numel()
    return [np.vstack([w, b[None]]) for w, b in _layers(offsets)]


def _chunk_terms(layers, x, y, a, c):
    """For one chunk of samples: inputs with a column of ones (N, fan_in + 1), dt = A^T delta and g = r . delta
    per layer, and the function T(k) -> [d u_m / d z_k for m > k] as (N, fan_in_m, n_k)."""
    depth = len(layers) - 1
    zeros = [torch.zeros(x.shape[0], W.shape[1], dtype=x.dtype) for W, _ in layers[:-1]]
    logits, inputs = _forward(layers, x, a, c, zeros)
    _, pull = vjp(lambda *e: _forward(layers, x, a, c, e)[0], *zeros)
    n_cls = logits.shape[1]
    basis = torch.eye(n_cls, dtype=x.dtype).unsqueeze(1).expand(n_cls, *logits.shape)
    delta = [d.permute(1, 0, 2) for d in vmap(pull)(basis)] + [torch.eye(n_cls, dtype=x.dtype).expand(len(x), -1, -1)]
    factor = output_hessian_factor(logits, "ce")                 # A A^T = diag(p) - p p^T per sample
    resid = torch.softmax(logits, 1) - torch.nn.functional.one_hot(y, n_cls).to(x.dtype)
    dt = [torch.einsum("nck,ncj->nkj", factor, d) for d in delta]
    g = [torch.einsum("nc,ncj->nj", resid, d) for d in delta]
    ones = torch.ones(len(x), 1, dtype=x.dtype)
    u = [torch.cat([v, ones], 1) for v in inputs]
    active = [(v @ W + b > 0).to(x.dtype) for v, (W, b) in zip(inputs, layers[:-1])]

    def transfer(k):
        """d u_m / d z_k for every m > k, (N, fan_in_m, n_k): the identity pushed up the linearized net (the
        tangent of `_forward`'s recursion, its skips included)."""
        t = torch.diag_embed(active[k])                            # (N, j, a): d h_{k+1}[a] / d z_k[j]
        total, out = t, {k + 1: t}
        for m in range(k + 1, depth):
            t = active[m].unsqueeze(1) * (t @ layers[m][0]) + a * t + c * (total / m)
            total = total + t
            out[m + 1] = t
        return {m: v.transpose(1, 2) for m, v in out.items()}
    return logits, u, dt, g, transfer


def assemble(model: MLP, x: torch.Tensor, y: torch.Tensor, chunk: int = CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean cross-entropy Hessian and Gauss-Newton matrix of `model` on (x, y), both (P, P) float64 on the
    CPU, in the parameter order of `curvature.flat_fn(model)`. Chapter III.2; see the module doc."""
    return _assemble(model, x, y, chunk, hessian=True)


def gauss_newton(model: MLP, x: torch.Tensor, y: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """The Gauss-Newton matrix alone (`assemble`'s second matrix, without the work of the Hessian's rest)."""
    return _assemble(model, x, y, chunk, hessian=False)[1]


@torch.no_grad()
def _assemble(model: MLP, x: torch.Tensor, y: torch.Tensor, chunk: int, hessian: bool):
    _check(model)
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk={chunk!r} must be an integer >= 1 (samples per pass)")
    p = {k: v.detach().to("cpu", torch.float64) for k, v in model.named_parameters()}
    layers, (a, c) = _layers(p), model.member.skip
    x, y = x.to("cpu", torch.float64), y.to("cpu", torch.long)
    idx = _index(model)                              # built layer by layer (contiguous blocks), reordered at the end
    ends = np.cumsum([0] + [i.size for i in idx])
    span = [slice(ends[k], ends[k + 1]) for k in range(len(idx))]
    ggn = torch.zeros(ends[-1], ends[-1], dtype=torch.float64)
    hess = torch.zeros_like(ggn) if hessian else None
    for start in range(0, len(x), chunk):
        xs, ys = x[start:start + chunk], y[start:start + chunk]
        logits, u, dt, g, transfer = _chunk_terms(layers, xs, ys, a, c)
        torch.testing.assert_close(logits, forward(p, xs, "relu", a, c), rtol=1e-10, atol=1e-10)
        for k in range(len(layers)):
            for m in range(k, len(layers)):
                uu = (u[k].unsqueeze(2) * u[m].unsqueeze(1)).flatten(1)                  # (N, i a)
                dd = torch.einsum("ncj,nco->njo", dt[k], dt[m]).flatten(1)              # (N, j o)
                block = (uu.T @ dd).reshape(u[k].shape[1], u[m].shape[1], dt[k].shape[2], dt[m].shape[2])
                ggn[span[k], span[m]] += block.permute(0, 2, 1, 3).reshape(idx[k].size, idx[m].size) / len(x)
        for k in range(len(layers) - 1 if hessian else 0):
            for m, t in transfer(k).items():                                            # t: (N, a, j)
                gu = (g[m].unsqueeze(2) * u[k].unsqueeze(1)).flatten(1)                 # (N, o i)
                block = (gu.T @ t.flatten(1)).reshape(g[m].shape[1], u[k].shape[1], t.shape[1], t.shape[2])
                rows = slice(span[m].start, span[m].stop - idx[m].shape[1])             # not layer m's bias
                hess[rows, span[k]] += block.permute(2, 0, 1, 3).reshape(-1, idx[k].size) / len(x)
    ggn = torch.triu(ggn) + torch.triu(ggn, 1).T                 # the blocks above the diagonal, mirrored
    order = torch.as_tensor(np.argsort(np.concatenate([i.ravel() for i in idx])))   # flat position -> layer order
    if not hessian:
        return None, ggn[order][:, order]
    hess += hess.T.clone()
    hess += ggn
    return tuple(m[order][:, order] for m in (hess, ggn))
