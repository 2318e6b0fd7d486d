"""The bias regularizer: a penalty that keeps ReLU units from being eliminated (chapter IV.2, our construction).

The paper reports that "a bias regularizer" plus one batch-normalization layer recovers much of the benefit of
skip connections in plain nets, but not the regularizer's form. Ours penalizes every hidden unit whose mean
pre-activation over a probe batch falls below a margin mu > 0:

    R(theta) = lambda * mean over layers l and units i of  relu(mu - m_li)^2,   m_li = mean_n z_nli,

with z_nli the pre-activation (what enters the ReLU) of unit i of hidden layer l on probe sample n.

Why it keeps units from being eliminated:
  - a ReLU unit is eliminated (dead on the data) when z_nli <= 0 for every n; then m_li <= 0 < mu and the unit
    is penalized. A unit that satisfies the constraint, m_li >= mu > 0, is active on at least one probe sample,
    so it cannot be dead there;
  - the penalty acts on z, not on relu(z), so its gradient reaches a dead unit's incoming weights and bias even
    though the loss's gradient does not (it is zero through a dead ReLU): dR/db_li = -2 lambda relu(mu - m_li) /
    (L n), which pushes the bias up -- hence the name -- and dR/dW_jli the same times mean_n h_nj;
  - the penalty is exactly zero once every unit clears the margin, so it does not pull on healthy nets.
It does not prevent the other singularities (overlap, linear dependence); chapter IV.2 measures whether it
helps anyway.
"""
from __future__ import annotations

import torch

from .models import DeepMLPs, MLP


def check_probe(x_probe) -> torch.Tensor:
    if not isinstance(x_probe, torch.Tensor) or x_probe.dim() != 2 or x_probe.shape[0] < 1:
        raise ValueError(f"x_probe must be a tensor of shape (N, d_in) with N >= 1, got "
                         f"{getattr(x_probe, 'shape', type(x_probe).__name__)}")
    return x_probe


def check_net(net):
    """Return `net` if it is a `DeepMLPs` batch or one `MLP`, else raise a ValueError naming its type."""
    if not isinstance(net, (DeepMLPs, MLP)):
        raise ValueError(f"net must be a DeepMLPs or an MLP, got {type(net).__name__}")
    return net


def mean_preactivations(net, x_probe: torch.Tensor) -> torch.Tensor:
    """m_li = mean over the probe batch of each hidden unit's pre-activation: (L, M, n) for `DeepMLPs`,
    (L, n) for one `MLP`. Chapter IV.2."""
    check_net(net)
    p0 = next(net.parameters())
    _, preacts = net(check_probe(x_probe).to(p0.device, p0.dtype), return_preacts=True)
    return torch.stack([z.mean(-2) for z in preacts])


def hinge_penalty(means: torch.Tensor, margin: float) -> torch.Tensor:
    """mean over layers (axis 0) and units (last axis) of relu(margin - means)^2: shape (M,) or ()."""
    return torch.relu(margin - means).pow(2).mean(dim=(0, -1))


class BiasRegularizer:
    """R(theta) = strength * mean_{l,i} relu(margin - m_li)^2 on a fixed probe batch (see the module docstring).

    Call it with the batch of nets being trained: `reg(net)` -> (M,) penalties, zero for the members not in
    `members` (a boolean mask or list of indices; default all), so regularized and unregularized nets can train
    in one batch (`train(..., regularizer=reg)`). With one `MLP` it returns a 0-d tensor. Chapter IV.2.
    """

    def __init__(self, x_probe: torch.Tensor, strength: float = 1.0, margin: float = 0.1, members=None):
        if not float(strength) >= 0:
            raise ValueError(f"strength={strength!r} must be >= 0")
        if not float(margin) > 0:
            raise ValueError(f"margin={margin!r} must be > 0 (a unit is safe when its mean pre-activation "
                             "exceeds it)")
        self.x_probe = check_probe(x_probe)
        self.strength, self.margin = float(strength), float(margin)
        self.members = members
        self._placed = None                 # (device, dtype, M), probe and mask there: see `_on`

    def _mask(self, net) -> torch.Tensor:
        M = len(net)
        p0 = next(net.parameters())
        if self.members is None:
            return torch.ones(M, dtype=p0.dtype, device=p0.device)
        sel = torch.as_tensor(self.members)
        if sel.dtype == torch.bool:
            if sel.shape != (M,):
                raise ValueError(f"members, as a mask, must have one entry per net ({M}), got {tuple(sel.shape)}")
            return sel.to(p0.device, p0.dtype)
        if sel.numel() and (sel.min() < 0 or sel.max() >= M):
            raise ValueError(f"members must be indices in 0 .. {M - 1}, got {self.members!r}")
        mask = torch.zeros(M, dtype=p0.dtype, device=p0.device)
        mask[sel.long().to(p0.device)] = 1.0
        return mask

    def _on(self, net):
        """The probe batch and the member mask on the nets' device, made once: a copy at every step would cost
        a host-to-device transfer each time, and a step captured as a CUDA graph (train.STEP_MODES) holds none."""
        p0 = next(net.parameters())
        key = (p0.device, p0.dtype, len(net) if isinstance(net, DeepMLPs) else None)
        if self._placed is None or self._placed[0] != key:
            mask = None if isinstance(net, MLP) else self._mask(net)
            self._placed = (key, self.x_probe.to(p0.device, p0.dtype), mask)
        return self._placed[1:]

    def __call__(self, net) -> torch.Tensor:
        probe, mask = self._on(check_net(net))
        penalty = self.strength * hinge_penalty(mean_preactivations(net, probe), self.margin)
        return penalty if mask is None else penalty * mask
