"""Rival accounts of why skip connections help, measured on the book's deep nets (chapter V.2).

- Shattered gradients (Balduzzi et al. 2017): in deep plain ReLU nets the gradient with respect to the input
  decorrelates between nearby inputs, like white noise; in residual nets it stays correlated.
  `gradient_similarity` measures, for each hidden layer h_l, the cosine similarity of the input gradients of a
  fixed random read-out of h_l at pairs of nearby inputs.
- Residual nets as ensembles of shallow paths (Veit et al. 2016): removing one layer from a trained residual
  net barely hurts, removing one from a plain net destroys it. `lesioned_forward` runs a batch of
  `models.DeepMLPs` with hidden layer l replaced by the identity, h_{l+1} = h_l; `path_lengths` counts the paths
  of each length through a residual stack.

Balduzzi et al. derive depth laws for the shattering at initialization: the correlation of the gradients at
nearby inputs decays exponentially with depth in plain ReLU nets (as 2^-L in their model) and sublinearly, as a
power law, in residual nets. `depth_law_fits` fits both laws to a measured curve, so a chapter can say which one
describes it. The similarity at hidden layer l of a depth-L net at initialization is that of a depth-l net (the
layers above l do not enter), so one deep net gives the whole curve against depth.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .models import activation


def gradient_similarity(net, x: torch.Tensor, distance: float, seed: int = 0) -> torch.Tensor:
    """(nets, layers): mean over the inputs x (N, d) of cos(∇_x r·h_l(x), ∇_x r·h_l(x + distance·u)), u a random
    unit direction per input and r a fixed random read-out of layer l, for every net of `net` (a DeepMLPs)."""
    if not distance > 0:
        raise ValueError(f"distance={distance!r} must be > 0")
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(x.shape, generator=g, dtype=x.dtype)
    u = u / u.norm(dim=-1, keepdim=True)
    M = len(net)
    pair = torch.cat([x, x + distance * u]).to(next(net.parameters()).device)
    pair = pair.expand(M, *pair.shape).clone().requires_grad_(True)
    _, hidden = net(pair, return_hidden=True)
    out = []
    for h in hidden:
        readout = torch.randn(h.shape[-1], generator=g, dtype=h.dtype).to(h.device)
        (grad,) = torch.autograd.grad((h @ readout).sum(), pair, retain_graph=True)
        a, b = grad[:, : len(x)], grad[:, len(x):]
        cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-30)
        out.append(cos.mean(-1))
    return torch.stack(out, -1).detach()


def lesioned_forward(net, x: torch.Tensor, layer: int) -> torch.Tensor:
    """The logits (M, N, C) of every net of `net` (a DeepMLPs without batch norm) with hidden layer `layer`
    (2 .. depth; layer 1 maps the input and cannot be skipped) replaced by the identity, h_layer = h_{layer-1}."""
    depth = net.spec.depth
    if not isinstance(layer, int) or not 2 <= layer <= depth:
        raise ValueError(f"layer={layer!r} must be a hidden layer in 2 .. depth={depth}")
    if net.spec.bn_layer is not None:
        raise ValueError("lesioned_forward does not handle nets with a batch-normalization layer")
    phi = activation(net.spec.act)
    a, c = net.a.view(-1, 1, 1), net.c.view(-1, 1, 1)
    x = x.expand(len(net), *x.shape)
    h = phi(torch.baddbmm(net.b_in.unsqueeze(1), x, net.W_in))
    total = h
    for l in range(depth - 1):
        if l + 2 == layer:
            new = h
        else:
            new = phi(torch.baddbmm(net.b[:, l].unsqueeze(1), h, net.W[:, l])) + a * h + c * (total / (l + 1))
        h, total = new, total + new
    return torch.baddbmm(net.b_out.unsqueeze(1), h, net.W_out)


@torch.no_grad()
def lesion_accuracy(net, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """(nets, depth - 1): accuracy on (x, y) with each hidden layer 2 .. depth removed in turn."""
    rows = [(lesioned_forward(net, x, l).argmax(-1) == y).double().mean(-1) for l in range(2, net.spec.depth + 1)]
    return torch.stack(rows, -1).cpu().numpy()


def path_lengths(blocks: int) -> np.ndarray:
    """The number of paths through `blocks` residual blocks that pass through k branches, k = 0 .. blocks:
    C(blocks, k), 2^blocks paths in all (Veit et al.: most of them have length near blocks / 2)."""
    if not isinstance(blocks, int) or blocks < 0:
        raise ValueError(f"blocks={blocks!r} must be an integer >= 0")
    return np.array([math.comb(blocks, k) for k in range(blocks + 1)], dtype=float)


def gradient_by_path_length(net, member: int, x: torch.Tensor, seed: int = 0) -> np.ndarray:
    """(depth,) the mean over inputs of the norm of each path-length part of `path_gradient_vectors`."""
    return path_gradient_vectors(net, member, x, seed).norm(dim=-1).mean(-1).numpy()


def path_gradient_vectors(net, member: int, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """How much of the gradient flows through paths of each length in residual net `member` of `net`
    (a DeepMLPs), for a random read-out r of the logits: the sum over all paths through exactly k
    of the depth - 1 residual branches of their contribution to ∂(r·y)/∂h_1, k = 0 .. depth - 1: shape (depth, N,
    width), one vector per k and input. Exact: ∂/∂h_l = (I + W_l D_l) ∂/∂h_{l+1} (D_l = diag φ'(z_l)) is expanded by
    the number of W_l D_l factors, which sum to the full gradient."""
    m = net.members[member]
    if m.skip != (1.0, 0.0) or net.spec.bn_layer is not None:
        raise ValueError(f"member {member} ({m.label}) must be a residual net with alpha = 1 and no batch norm: "
                         "only then is each layer I + W D")
    params = {k: v[member].detach() for k, v in net.named_parameters()}
    act = activation(net.spec.act)
    slopes = []
    with torch.no_grad():
        h = act(x @ params["W_in"] + params["b_in"])
        for l in range(net.spec.depth - 1):
            z = h @ params["W"][l] + params["b"][l]
            slopes.append(_slope(net.spec.act, z))
            h = act(z) + h
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(params["W_out"].shape[1], generator=g, dtype=x.dtype)
    top = (params["W_out"] @ r).expand(len(x), -1)                     # ∂(r·y)/∂h_D for every input
    K = net.spec.depth
    v = torch.zeros(K, *top.shape, dtype=x.dtype)
    v[0] = top
    for l in reversed(range(K - 1)):
        through = (v[:-1] * slopes[l]) @ params["W"][l].T               # one more branch on the path
        v = v.clone()
        v[1:] = v[1:] + through
    return v


def _slope(act: str, z: torch.Tensor) -> torch.Tensor:
    """φ'(z) of the activations of `models`."""
    z = z.detach()
    if act == "relu":
        return (z > 0).to(z.dtype)
    if act == "tanh":
        return 1 - torch.tanh(z) ** 2
    return torch.ones_like(z)


#: the two depth laws of Balduzzi et al. (2017), as straight lines in log similarity: against depth L
#: (exponential decay) and against log L (a power law)
LAWS = ("exponential", "power law")


def depth_law_fits(depths, similarity) -> dict[str, dict[str, float]]:
    """Least-squares fits of log c(L) = a + b L ("exponential") and log c(L) = a + b log L ("power law") to one
    curve of similarities c > 0 against depths L: {law: {"rate": b, "intercept": a, "rss": residual sum of
    squares}}, with b the decay rate per layer (exponential) or the power (power law)."""
    L, c = np.asarray(depths, dtype=float), np.asarray(similarity, dtype=float)
    if L.shape != c.shape or L.size < 3 or (L < 1).any() or (c <= 0).any():
        raise ValueError(f"depths and similarity must be equal-length curves of >= 3 points with depths >= 1 and "
                         f"similarities > 0 (log scale); got {L.tolist()} and {c.tolist()}")
    out = {}
    for law, x in zip(LAWS, (L, np.log(L))):
        coef, rss, *_ = np.polyfit(x, np.log(c), 1, full=True)
        out[law] = {"rate": float(coef[0]), "intercept": float(coef[1]), "rss": float(rss[0]) if len(rss) else 0.0}
    return out

