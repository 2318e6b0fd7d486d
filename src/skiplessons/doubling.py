"""A plain ReLU net of width 2n that computes a residual ReLU net of width n (chapter 0's exercise 3, built).

Chapter IV.1's control for "is it just the start?" from the other side: a plain net, with no skip in its
architecture, started at a residual net's function and conditioning. Split the plain net's hidden layer into two
halves g_l = [u_l, s_l], both >= 0, and let h_l = u_l + s_l. The weights

    first layer   [W_in, 0], bias [b_in, 0]                 u_1 = relu(x W_in + b_in) = h_1,  s_1 = 0
    hidden layer  [[W_l, I], [W_l, I]], bias [b_l, 0]        u_{l+1} = relu(h_l W_l + b_l),  s_{l+1} = relu(h_l) = h_l
    readout       [W_out; W_out], bias b_out                 y = h_D W_out + b_out

give h_{l+1} = relu(h_l W_l + b_l) + h_l: the residual net's layer, because relu(h) = h on the non-negative
h. The plain net's hidden state is g_l, the residual net's is h_l = g_l P with P = [I; I] (`stream`): in those
coordinates its Jacobian dh_D / dh_1 is the residual net's exactly (`manipulation.measure(..., stream=P)`); in its
own units the readout sees only the n-dimensional image h, so its Jacobian dg_D / dg_1 has rank <= n.
"""
from __future__ import annotations

import torch

from .models import DeepMLPs, Member, NetSpec, init_weights

#: the carrier units' offset c: strictly positive, so that no carrier sits at its ReLU's kink (torch takes
#: relu'(0) = 0, so with c = 0 a zero component of h would stop the Jacobian where the skip passes it on); 1 is
#: the scale of h at initialization
CARRIER = 1.0


def stream(width: int, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, c): P = [I; I], (2 width, width), and the offset c, (width,): the residual state h = g P - c of a
    doubled net's hidden state g = [u, s] (`manipulation.measure`'s `stream`)."""
    eye = torch.eye(width, dtype=dtype)
    return torch.cat([eye, eye]), torch.full((width,), CARRIER, dtype=dtype)


def doubled_weights(spec: NetSpec, member: Member, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """The weights of a plain ReLU net of width 2 x `spec.width` that computes the residual net `member` of
    `spec` (its own draw, `models.init_weights`), by the construction of the module docstring."""
    if member.arch != "residual" or member.skip != (1.0, 0.0):
        raise ValueError(f"member must be a residual net with the full skip (arch='residual', alpha=1), got "
                         f"arch={member.arch!r}, alpha={member.alpha!r}")
    if spec.act != "relu" or spec.bn_layer is not None:
        raise ValueError(f"spec must be a ReLU net without batch normalization (relu(h) = h carries the skip), got "
                         f"act={spec.act!r}, bn_layer={spec.bn_layer!r}")
    w = init_weights(spec, member, torch.float64)
    n, layers = spec.width, w["W"].shape[0]
    eye = torch.eye(n, dtype=torch.float64).expand(layers, n, n)
    hidden = torch.cat([w["W"], eye], dim=-1)                           # (layers, n, 2n): [W_l, I]
    doubled = {"W_in": torch.cat([w["W_in"], torch.zeros_like(w["W_in"])], dim=-1),
               "b_in": torch.cat([w["b_in"], torch.full((n,), CARRIER, dtype=torch.float64)]),
               "W": torch.cat([hidden, hidden], dim=-2),                # [[W_l, I], [W_l, I]]
               "b": torch.cat([w["b"] - CARRIER * w["W"].sum(-2), torch.zeros_like(w["b"])], dim=-1),
               "W_out": torch.cat([w["W_out"], w["W_out"]], dim=-2),
               "b_out": w["b_out"] - CARRIER * w["W_out"].sum(-2)}
    return {k: v.to(dtype) for k, v in doubled.items()}


def width_doubled(spec: NetSpec, members, dtype=torch.float32, device=None) -> DeepMLPs:
    """A batch of plain nets of width 2 x `spec.width`, net i started at the residual net `members[i]` of `spec`
    (`doubled_weights`). Trained like any `DeepMLPs`: nothing keeps the carrier half on the identity."""
    members = list(members)
    weights = [doubled_weights(spec, m, dtype) for m in members]
    wide = NetSpec(spec.d_in, spec.n_out, depth=spec.depth, width=2 * spec.width)
    net = DeepMLPs(wide, [Member("plain", m.seed) for m in members], dtype=dtype, device=device)
    with torch.no_grad():
        for name, value in net.named_parameters():
            value.copy_(torch.stack([w[name] for w in weights]))
    return net
