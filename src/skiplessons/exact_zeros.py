"""Exact zero eigenvalues of a deep net's Hessian and Gauss-Newton matrix, counted and explained (chapter III.2).

A dense float64 spectrum of a trained net splits into eigenvalues at round-off level and the rest, with a
wide gap between them: `zero_gap` finds that gap (the widest jump of log|lambda| below `ROUNDOFF_CEILING` *
max|lambda|) and counts the eigenvalues beneath it, so no tolerance decides what "zero" is. `attribute`
then explains the count by the singularities of Part I, each a set of explicit flat directions v in
parameter space, built from the net's weights and its units' states on the batch:

- "softmax shift" (every net): adding u.h + s to every logit changes no softmax: W_out += u 1^T, b_out += s 1,
  n_D + 1 directions (chapter I.1; the reason the Gauss-Newton rank is at most N*(C-1)).
- "collapse": when every output of hidden layer l is robustly zero (dead units, and nothing through a skip),
  nothing before it reaches the output: every parameter of layers 1..l is flat. A net whose logits do not
  depend on the input is *collapsed*, a failed run rather than a degenerate solution.
- "dead units": a ReLU unit with pre-activation <= 0 on every input has fan_in + 1 flat incoming weights and
  bias (chapter I.2), with or without a skip.
- "eliminated outputs": a layer output h_j that is robustly zero (its unit dead, nothing through the skip)
  makes its fan_out outgoing weights flat: chapter I.2's outgoing elimination. A skip usually keeps h_j alive
  although its unit is dead.
- "restricted elimination": a weight W[i, j] whose input u_i is zero on every sample where the receiving unit j
  is active (z_j > 0): moving it changes z_j only where j is off, so it is flat on this batch, although neither
  unit is dead (chapter I.2's elimination, restricted to the data). A skip keeps the input u_i non-zero almost
  everywhere, which is why skip nets have almost none.
- "constant outputs" (Gauss-Newton only): an output constant over the inputs but not zero (downstream of a
  collapse: relu(b)) makes its outgoing weights redundant with the next bias (W_next[j] += v, b_next -= h_j v);
  since the constant itself moves with the parameters, this is exact for the function, not for the loss's
  curvature.
- "rescaling" (Gauss-Newton only): relu(a z) = a relu(z) for a > 0, so scaling a live unit's incoming weights
  and bias by a and its outgoing weights by 1/a leaves the function unchanged (chapter I.1): one direction per
  live unit of a plain net. A skip that adds h_j to the unit's output breaks the per-unit symmetry, but
  scaling coordinate j of the *whole residual stream* (column j of every incoming matrix and bias by a, row j
  of every outgoing matrix by 1/a) still commutes with the skips: one direction per stream coordinate.
- "co-active units" (Gauss-Newton only; plain layers): units of a layer that are active on exactly the same
  samples act there as one linear map, so any invertible mix M of k such units (incoming W M, outgoing
  M^-1 W_next) leaves every output on the batch unchanged to first order: k^2 - k directions beyond the
  rescalings. Units on for every input (linear units) are one such group; narrow plain layers have others.

The first five leave the loss unchanged along a straight line in parameter space, exactly, so they are zeros of
the Hessian too. Rescalings and mixes act multiplicatively: they are zeros of the Gauss-Newton matrix (J v = 0)
but of the Hessian only at a critical point (H v = -(generator)^T grad). Each cause's count is the number of
*new* independent directions it adds (the rank of the union grows cause by cause, so overlaps are not counted
twice); what the measured count exceeds the union by is "unexplained".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .layered_curvature import assemble
from .models import MLP

#: eigenvalues below this * max|lambda| are candidates for exact zeros (float64 eigensolvers leave ~1e-13)
ROUNDOFF_CEILING = 1e-7
EPS = float(np.finfo(np.float64).eps)
#: the causes, in the order they are credited
CAUSES = ("softmax shift", "collapse", "dead units", "eliminated outputs", "restricted elimination",
          "constant outputs", "rescaling", "co-active units")
#: the causes that are exact zeros of the Hessian as well (linear flat directions)
HESSIAN_CAUSES = CAUSES[:5]
MATRICES = ("hessian", "ggn")


@dataclass(frozen=True)
class ZeroGap:
    """The exact zeros of a spectrum: `count` eigenvalues below the widest gap in log|lambda|; `below` and
    `above` are |lambda| / max|lambda| on either side of the gap, `decades` = log10(above / below)."""

    count: int
    decades: float
    below: float
    above: float


def zero_gap(eigs) -> ZeroGap:
    """Count the exact zeros of a dense spectrum by the widest gap in log10 |lambda| / max|lambda| whose lower
    side lies below `ROUNDOFF_CEILING` (none there: count 0, decades nan). Values below machine epsilon are
    one cluster (their spread is round-off).
    Chapter III.2."""
    eigs = np.asarray(eigs, dtype=np.float64).ravel()
    if eigs.size < 2 or not np.isfinite(eigs).all():
        raise ValueError(f"eigs must be at least two finite eigenvalues, got shape {eigs.shape}")
    r = np.sort(np.abs(eigs)) / np.abs(eigs).max()
    logs = np.log10(np.maximum(r, EPS))     # below machine epsilon every value is the same zero
    candidates = np.flatnonzero(r[:-1] <= ROUNDOFF_CEILING)
    if not candidates.size:
        return ZeroGap(0, float("nan"), float("nan"), float(r[0]))
    jumps = logs[candidates + 1] - logs[candidates]
    i = int(candidates[np.argmax(jumps)])
    return ZeroGap(i + 1, float(logs[i + 1] - logs[i]), float(r[i]), float(r[i + 1]))


@dataclass(frozen=True)
class UnitStates:
    """Per hidden layer l (lists of (n,) bool arrays): `dead` (pre-activation <= 0 on every input), `zero` (output h_l,j robustly 0: dead, and nothing nonzero through the skips),
    `constant` (h_l,j constant over the inputs), and `value` (the constant, where constant)."""

    dead: list
    zero: list
    constant: list
    value: list

    def collapsed_at(self) -> int:
        """The deepest hidden layer (1-based) whose every output is robustly zero, 0 if none."""
        layers = [l + 1 for l, z in enumerate(self.zero) if z.all()]
        return layers[-1] if layers else 0

    @property
    def collapsed(self) -> bool:
        """Whether the net's output no longer depends on its input (some layer is constant as a whole)."""
        return any(c.all() for c in self.constant)


def _check_mlp(model):
    if not isinstance(model, MLP):
        raise TypeError(f"model must be a skiplessons.models.MLP (e.g. DeepMLPs.member(m)), got {type(model).__name__}")
    if model.spec.act != "relu":
        raise ValueError(f"model.spec.act={model.spec.act!r}: the attribution knows ReLU nets only")
    if model.spec.bn_layer is not None:
        raise ValueError("model has a batch-norm layer; the attribution knows nets without one (bn_layer=None)")


@torch.no_grad()
def unit_states(model: MLP, x: torch.Tensor) -> UnitStates:
    """Which units are dead, always on, robustly zero or constant on the inputs `x` (see `UnitStates`)."""
    _check_mlp(model)
    a, c = model.member.skip
    _, hidden, pre = model(x.to(model.W_in.dtype), return_hidden=True, return_preacts=True)
    dead, zero, const, value = [], [], [], []
    for l, (h, z) in enumerate(zip(hidden, pre)):
        d = (z <= 0).all(0).cpu().numpy()
        branch_const = d | (l > 0 and bool(const[-1].all()))
        zr, cs = d.copy(), branch_const.copy()
        if l > 0 and a:
            zr &= zero[-1]
            cs &= const[-1]
        if l > 0 and c:
            zr &= np.logical_and.reduce(zero)
            cs &= np.logical_and.reduce(const)
        dead.append(d)
        zero.append(zr)
        const.append(cs)
        value.append(np.where(cs, h.mean(0).cpu().numpy(), 0.0))
    return UnitStates(dead, zero, const, value)


class _Layout:
    """Offsets of an MLP's parameters in the flat vector of `curvature.flat_fn` (named_parameters order)."""

    def __init__(self, model: MLP):
        self.p = {k: v.detach().double().cpu().numpy() for k, v in model.named_parameters()}
        self.offset, start = {}, 0
        for k, v in self.p.items():
            self.offset[k] = start
            start += v.size
        self.size, self.depth = start, model.spec.depth

    def vector(self) -> np.ndarray:
        return np.zeros(self.size)

    def index(self, name: str, *idx) -> int:
        return self.offset[name] + int(np.ravel_multi_index(idx, self.p[name].shape))

    def incoming(self, l: int):
        """(weight name, bias name, weight prefix) of hidden layer l (0-based): weights (fan_in, n)."""
        return ("W_in", "b_in", ()) if l == 0 else ("W", "b", (l - 1,))

    def outgoing(self, l: int):
        """(weight name, bias name, prefix) of what hidden layer l feeds: the next layer, or the readout."""
        return ("W_out", "b_out", ()) if l == self.depth - 1 else ("W", "b", (l,))

    def weights(self, name, prefix):
        return self.p[name][prefix] if prefix else self.p[name]

    def layer_indices(self, l: int) -> list[int]:
        """Every parameter index of hidden layer l (its incoming weights and bias)."""
        w, b, pre = self.incoming(l)
        fan_in, n = self.weights(w, pre).shape
        return [self.index(w, *pre, i, j) for i in range(fan_in) for j in range(n)] + \
               [self.index(b, *pre, j) for j in range(n)]


@torch.no_grad()
def activity(model: MLP, x: torch.Tensor) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per hidden layer: which of its inputs are non-zero (N, fan_in) and which of its units are active (N, n),
    on every sample of `x`."""
    _check_mlp(model)
    _, hidden, pre = model(x.to(model.W_in.dtype), return_hidden=True, return_preacts=True)
    inputs = [(x.to(z.dtype) if l == 0 else hidden[l - 1]) != 0 for l, z in enumerate(pre)]
    return [u.cpu().numpy() for u in inputs], [(z > 0).cpu().numpy() for z in pre]


def restricted_weights(model: MLP, x: torch.Tensor) -> list[np.ndarray]:
    """Per hidden layer, a (fan_in, n) bool array: incoming weight W[i, j] whose input u_i is zero on every sample
    of `x` where unit j is active (its pre-activation > 0), for units j active on some sample (a dead unit's
    weights are counted as "dead units")."""
    inputs, active = activity(model, x)
    return [~((u.T.astype(float) @ a.astype(float)) > 0) & a.any(0) for u, a in zip(inputs, active)]


def coactive_pairs(active: np.ndarray) -> list[tuple[int, int]]:
    """Every ordered pair (p, q), p != q, of units active on some sample and on exactly the same samples, from
    their (N, n) activity on the batch."""
    groups = {}
    for j in np.flatnonzero(active.any(0)):
        groups.setdefault(active[:, j].tobytes(), []).append(int(j))
    return [(p, q) for g in groups.values() for p in g for q in g if p != q]


def flat_directions(model: MLP, x: torch.Tensor) -> dict[str, np.ndarray]:
    """{cause: (k, P) array} of explicit flat directions of each cause in `CAUSES` (see the module doc), in the
    parameter order of `curvature.flat_fn(model)`. Chapter III.2."""
    s = unit_states(model, x)
    patterns = activity(model, x)[1]
    lay = _Layout(model)
    plain = model.member.skip == (0.0, 0.0)
    out = {k: [] for k in CAUSES}

    def unit(*pairs):
        v = lay.vector()
        for i, val in pairs:
            v[i] += val
        return v

    for l, restricted in enumerate(restricted_weights(model, x)):
        w, _, pre = lay.incoming(l)
        out["restricted elimination"] += [unit((lay.index(w, *pre, i, j), 1.0)) for i, j in zip(*np.nonzero(restricted))]

    n_last, n_out = lay.p["W_out"].shape
    for k in range(n_last):                                  # W_out[k, :] += 1
        out["softmax shift"].append(unit(*[(lay.index("W_out", k, c), 1.0) for c in range(n_out)]))
    out["softmax shift"].append(unit(*[(lay.index("b_out", c), 1.0) for c in range(n_out)]))

    top = s.collapsed_at()
    for l in range(top):
        out["collapse"] += [unit((i, 1.0)) for i in lay.layer_indices(l)]

    for l in range(lay.depth):
        w, b, pre = lay.incoming(l)
        W = lay.weights(w, pre)
        for j in np.flatnonzero(s.dead[l]):
            out["dead units"] += [unit((lay.index(w, *pre, i, j), 1.0)) for i in range(W.shape[0])]
            out["dead units"].append(unit((lay.index(b, *pre, j), 1.0)))
        wo, bo, pro = lay.outgoing(l)
        fan_out = lay.weights(wo, pro).shape[1]
        for j in np.flatnonzero(s.constant[l]):
            cj = float(s.value[l][j])
            cause = "eliminated outputs" if s.zero[l][j] else "constant outputs"
            out[cause] += [unit((lay.index(wo, *pro, j, k), 1.0), (lay.index(bo, *pro, k), -cj))
                           for k in range(fan_out)]
        if not plain:
            continue
        Wo, Bi = lay.weights(wo, pro), lay.weights(b, pre)
        live = np.flatnonzero(~s.dead[l])
        for j in live:                                       # generator of (a w_in, a b, w_out / a)
            pairs = [(lay.index(w, *pre, i, j), W[i, j]) for i in range(W.shape[0])]
            pairs += [(lay.index(b, *pre, j), Bi[j])]
            pairs += [(lay.index(wo, *pro, j, k), -Wo[j, k]) for k in range(fan_out)]
            out["rescaling"].append(unit(*pairs))
        for p, q in coactive_pairs(patterns[l]):   # generator of incoming W (I + t E_pq), outgoing (I - t E_pq) W_next
            pairs = [(lay.index(w, *pre, i, q), W[i, p]) for i in range(W.shape[0])]
            pairs += [(lay.index(b, *pre, q), Bi[p])]
            pairs += [(lay.index(wo, *pro, p, k), -Wo[q, k]) for k in range(fan_out)]
            out["co-active units"].append(unit(*pairs))
    if not plain:                                            # diagonal rescaling of the residual stream
        for j in range(n_last):
            v = lay.vector()
            for l in range(lay.depth):
                w, b, pre = lay.incoming(l)
                v[[lay.index(w, *pre, i, j) for i in range(lay.weights(w, pre).shape[0])]] += lay.weights(w, pre)[:, j]
                v[lay.index(b, *pre, j)] += lay.weights(b, pre)[j]
                wo, _, pro = lay.outgoing(l)
                Wo = lay.weights(wo, pro)
                v[[lay.index(wo, *pro, j, k) for k in range(Wo.shape[1])]] -= Wo[j]
            out["rescaling"].append(v)
    return {k: np.array(v).reshape(-1, lay.size) for k, v in out.items()}


def _rank(rows: np.ndarray) -> int:
    """Rank of the rows: the distinct coordinates of the single-entry rows (most causes' directions are
    coordinate vectors), plus the rank of the other rows with those coordinates removed (an SVD)."""
    if not len(rows):
        return 0
    nonzero = rows != 0
    single = nonzero.sum(1) == 1
    cols = np.unique(np.argmax(nonzero[single], 1))
    rest = rows[~single]
    rest[:, cols] = 0
    rest = rest[(rest != 0).any(1)]
    if not len(rest):
        return len(cols)
    s = np.linalg.svd(rest, compute_uv=False)
    return len(cols) + int((s > s[0] * max(rest.shape) * 1e-12).sum())


@dataclass(frozen=True)
class Attribution:
    """The exact zeros of one matrix of one net: `measured` (by `zero_gap`), the new directions each cause
    adds (`counts`, in `CAUSES` order, only the causes that apply to `matrix`), `unexplained` = measured minus
    their total, the gap, and whether the net is `collapsed`."""

    matrix: str
    measured: int
    counts: dict
    gap: ZeroGap
    collapsed: bool

    @property
    def explained(self) -> int:
        return int(sum(self.counts.values()))

    @property
    def unexplained(self) -> int:
        return self.measured - self.explained


def credit(directions: dict[str, np.ndarray], matrix: str = "ggn") -> dict[str, int]:
    """{cause: new independent directions} adding the causes of `matrix` one by one (ranks of the union)."""
    if matrix not in MATRICES:
        raise ValueError(f"matrix={matrix!r} is not valid; choose one of {', '.join(MATRICES)}")
    causes = HESSIAN_CAUSES if matrix == "hessian" else CAUSES
    counts, rows, rank = {}, np.zeros((0, next(iter(directions.values())).shape[1])), 0
    for cause in causes:
        rows = np.vstack([rows, directions[cause]])
        new = _rank(rows)
        counts[cause], rank = new - rank, new
    return counts


def exact_spectra(model: MLP, x: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """Dense float64 eigenvalues of the mean cross-entropy Hessian and Gauss-Newton matrix of one net on (x, y):
    {"hessian": (P,), "ggn": (P,)}, ascending, by `eigvalsh` of the matrices `layered_curvature.assemble` builds
    (the paper's depth-30 width-16 nets, P = 8,714, included)."""
    return {k: torch.linalg.eigvalsh(m).numpy() for k, m in zip(MATRICES, assemble(model, x, y))}


def attribute(model: MLP, x: torch.Tensor, eigs: dict[str, np.ndarray]) -> dict[str, Attribution]:
    """{matrix: Attribution} of the exact zeros of each spectrum in `eigs` (from `exact_spectra`) to the causes
    of the module doc, on the inputs x the spectra were measured on. Chapter III.2."""
    directions = flat_directions(model, x)
    collapsed = unit_states(model, x).collapsed
    # the Hessian's causes are the first of `CAUSES`, credited in the same order: one pass serves both
    counts = credit(directions, "ggn" if "ggn" in eigs else "hessian")
    out = {}
    for matrix, values in eigs.items():
        gap = zero_gap(values)
        causes = HESSIAN_CAUSES if matrix == "hessian" else CAUSES
        out[matrix] = Attribution(matrix, gap.count, {c: counts[c] for c in causes}, gap, collapsed)
    return out
