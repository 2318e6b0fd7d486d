"""Singular points of small nets, their zero Fisher eigenvalues (theory and numerics), and layer measures.

Introduced in Part I (chapters I.1-I.4); the layer measures are used on deep nets in Part III.

Three parts:

1. **Constructors** put a `shallow.TwoLayerNet` or `shallow.ShallowNet` exactly on a singular set and stamp
   the returned copy with `net.singularity = (kind, units)`: `eliminate_incoming` (J_a = 0),
   `eliminate_outgoing` (K[:, a] = 0, or w_a = 0), `kill_relu` (a ReLU dead on every input), `make_overlap`
   (J_a = J_b), `make_dependent` (J_c = alpha J_a + beta J_b, in a linear net). Each docstring derives the
   number of zero eigenvalues of the Fisher information there, for the plain net and with skips;
   `predicted_zeros` evaluates those formulas.
2. **Numerics**: `fisher_zeros` counts the zero eigenvalues of the exact float64 Fisher (= Gauss-Newton for the
   squared loss, = J^T J / N with J the output Jacobian, so its null space is the set of parameter directions
   that leave every output unchanged to first order). `flat_directions` gives the directions along which the
   function is *exactly* unchanged (straight lines), `function_change` measures a finite move.
3. **Layer measures** for any net's activations (`elimination_fraction`, `overlap_fraction`, `rank_deficit`,
   `effective_rank`, `layer_measures`), vectorised over layers and over leading batch axes.

Counting convention. A zero eigenvalue is *exact* when some curve through the point leaves the function
unchanged (true non-identifiability: a symmetry or a redundant parameter) and *first-order* when the function
does change along every curve in that direction, but only at second (or higher) order.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from .curvature import dense_fisher, flat_fn
from .env import one_thread
from .shallow import ShallowNet, TwoLayerNet, activation, param_index

#: eigenvalue lambda counts as zero when lambda <= ZERO_RTOL * max lambda (float64 Fisher; see `fisher_zeros`)
ZERO_RTOL = 1e-12
#: a unit is eliminated when its std over the inputs is <= ELIMINATION_RTOL * the layer's RMS activation
ELIMINATION_RTOL = 1e-2
#: two units overlap when |cosine| of their (centred) activations or incoming weights is >= OVERLAP_THRESHOLD
OVERLAP_THRESHOLD = 0.99
#: a singular value counts towards the numerical rank when it is > RANK_RTOL * the largest one
RANK_RTOL = 1e-3

KINDS = ("generic", "incoming", "outgoing", "dead", "overlap", "dependence")
SMOOTH = ("tanh", "erf")


@dataclass(frozen=True)
class Counts:
    """Predicted zero eigenvalues of the Fisher: `exact` (flat along a curve) and `first_order` ones."""

    exact: int
    first_order: int

    @property
    def total(self) -> int:
        return self.exact + self.first_order


@dataclass(frozen=True)
class ZeroCount:
    """Zero eigenvalues of a Fisher matrix and how cleanly they separate from the rest.

    `largest_zero` and `smallest_nonzero` are relative to the largest eigenvalue (nan when absent); their
    ratio `gap` is the spectral gap that makes the count trustworthy. `null_space` holds the eigenvectors of
    the zero eigenvalues as columns (P, count)."""

    count: int
    largest_zero: float
    smallest_nonzero: float
    eigenvalues: np.ndarray
    null_space: np.ndarray

    @property
    def gap(self) -> float:
        if not self.count:
            return math.inf
        return self.smallest_nonzero / self.largest_zero if self.largest_zero > 0 else math.inf


# ---------------------------------------------------------------------------------------------- constructors

def _check_net(net, types=(TwoLayerNet, ShallowNet)):
    if not isinstance(net, types):
        names = " or ".join(t.__name__ for t in types)
        raise ValueError(f"net must be a skiplessons.shallow {names}, got {type(net).__name__}")
    return net


def _check_unit(net, unit, name="unit"):
    if not isinstance(unit, int) or isinstance(unit, bool) or not 0 <= unit < net.n:
        raise ValueError(f"{name}={unit!r} must be an integer unit index in 0 .. {net.n - 1}")
    return unit


def _stamped(net, kind, **units):
    out = copy.deepcopy(net)
    out.singularity = (kind, units)
    return out


def eliminate_incoming(net, a: int = 0):
    """A copy of `net` with the incoming weights of hidden unit `a` (layer 1) set to zero: J_a = 0.

    Chapter I.2. The unit's branch is then the constant phi(b_a) (0 without biases, as phi(0) = 0 for tanh
    and erf). Derivation for `TwoLayerNet`, smooth activations, n units, skips s1 (into layer 1) and s2 (past K),
    biases beta in {0, 1}:

    * K[:, a] (n directions). Without s1, h1_a is constant, so K[:, a] h1_a is a constant shift of layer 2's
      pre-activation: zero when there are no biases, else absorbed by b2 -> n exact. With s1, h1_a = phi(b_a) + x_a
      varies with the input, so K[:, a] is identifiable -> 0.
    * b_a (with biases). It only moves the constant part of h1_a, absorbed by b2 (and by the output bias c when
      s2 carries h1 to the output) -> 1 exact, skips or not.
    * J_a (n directions). Moving J_a adds phi'(b_a) (dJ_a . x) to h1_a, a linear function of x that no other
      parameter can produce -- except with s1 and without s2 along dJ_a = e_a: h1_a ~ (1 + phi'(b_a) t) x_a is a
      rescaled x_a that 1 / (1 + ...) on K[:, a] undoes to first order (not beyond: phi(t x_a) is not linear in
      x_a) -> 1 first-order. With s2 the unit also reaches the output past K and nothing can undo it -> 0.

    Total: exact n [not s1] + beta, first-order [s1 and not s2]. Plain n (+1 with biases); residual 0 (1 with
    biases: the constant unit's bias); skip into the unit only: 1 first-order.

    `ShallowNet` (y = sum_i w_i h_i): plain, w_a multiplies h_a = 0 -> 1 exact. With the skip h_a = x_a, w_a
    is identifiable, but J_a = e_a rescales x_a, undone by w_a to first order -> 1 first-order.
    """
    _check_net(net)
    _check_unit(net, a, "a")
    out = _stamped(net, "incoming", a=a)
    with torch.no_grad():
        out.J[a] = 0
    return out


def eliminate_outgoing(net, a: int = 0):
    """A copy of `net` with the outgoing weights of hidden unit `a` set to zero: K[:, a] = 0 (or w_a = 0).

    Chapter I.2. Derivation for `TwoLayerNet` (smooth, skips s1, s2, biases beta): without s2, h1_a reaches
    the output only through K[:, a] = 0, so J_a (n) and b_a (beta) do not matter at all -> n + beta exact
    (straight lines), with or without s1. With s2, h1_a = phi(J_a x + b_a) [+ x_a] also reaches the output
    through C[:, a] (the skip carries it past K), so J_a and b_a are identifiable -> 0. Plain n (+1), residual 0,
    skip into the unit only: still n (+1) -- the skip must carry the unit's output past the zero weights.

    `ShallowNet`: w_a = 0 makes J_a irrelevant -> n exact, with or without the skip (the skip feeds the unit
    but nothing carries its output past w_a).
    """
    _check_net(net)
    _check_unit(net, a, "a")
    out = _stamped(net, "outgoing", a=a)
    with torch.no_grad():
        if isinstance(out, ShallowNet):
            out.w[a] = 0
        else:
            out.K[:, a] = 0
    return out


def kill_relu(net, x: torch.Tensor, a: int = 0, margin: float = 1.0):
    """A copy of `net` whose ReLU unit `a` of layer 1 is dead on every input in `x`: b_a = -max_x J_a . x - margin.

    Chapter I.2. Needs a `TwoLayerNet` with ReLU in layer 1 and biases. Derivation (skips s1, s2; layer 2 ReLU
    or smooth): the unit's pre-activation is negative on every input, and stays so under small moves, so

    * J_a and b_a (n + 1) get zero gradient and are exactly flat nearby -- with or without skips: a skip
      adds x_a after the ReLU and cannot revive the branch's gradient;
    * K[:, a] (n) multiplies h1_a = 0 without s1 -> n exact; with s1, h1_a = x_a keeps the outgoing path alive -> 0;
    * every other ReLU unit keeps its rescaling symmetry (incoming weights and bias times c > 0, outgoing
      weights divided by c): the other n - 1 layer-1 units when neither skip is there (s1 adds the unscaled x_i
      to h1_i, s2 carries h1_i to the output unscaled), and the n layer-2 units when they are ReLU and s2 is
      absent; with ReLU in both layers, s2 and not s1, the n stream-channel rescalings (see `predicted_zeros`).

    Total exact: (n + 1) + n [not s1] + (n - 1) [not s1, not s2] + n [layer 2 ReLU, not s2]
    + n [layer 2 ReLU, not s1, s2]. For ReLU then tanh:
    plain 3n, residual n + 1 (n = 5: 15 and 6). Assumes no other unit is dead or active on every input.
    """
    _check_net(net, (TwoLayerNet,))
    _check_unit(net, a, "a")
    if net.activation[0] != "relu" or not net.bias:
        raise ValueError(f"kill_relu needs a TwoLayerNet with activation 'relu' in layer 1 and bias=True, "
                         f"got activation={net.activation}, bias={net.bias}")
    if not margin > 0:
        raise ValueError(f"margin={margin!r} must be > 0")
    out = _stamped(net, "dead", a=a)
    with torch.no_grad():
        out.b1[a] = -(x.to(out.J.dtype) @ out.J[a]).max() - margin
    return out


def make_overlap(net, a: int = 0, b: int = 1):
    """A copy of `net` in which unit b copies unit a's incoming weights (and bias): J_b = J_a.

    Chapter I.3. Derivation for `TwoLayerNet` (smooth, skips s1, s2, biases or not): without s1, h1_a = h1_b
    for every input, so only K[:, a] + K[:, b] matters: moving K[:, a] by +d and K[:, b] by -d leaves the function
    unchanged -> n exact. Moving the incoming weights apart changes layer 2 by phi' (K[:, a] dJ_a . x +
    K[:, b] dJ_b . x); since the outgoing vectors K[:, a], K[:, b] in R^n are not parallel, this vanishes only for
    dJ_a = dJ_b = 0 -> no first-order directions. With s1, h1_a = phi(.) + x_a differs from h1_b = phi(.) + x_b
    -> 0. (s2 alone does not help: n.)

    `ShallowNet`: the outgoing "vectors" are the scalars w_a, w_b, always parallel. Plain: w_a - w_b is exact (1),
    and dJ_a = w_b u, dJ_b = -w_a u cancels at first order for every u in R^n -> n first-order; the function
    changes at second order, by (t^2 / 2) w_a w_b (w_a + w_b) phi''(J_a . x) (u . x)^2. With the skip, w_a - w_b
    multiplies x_a - x_b (identifiable) but the n first-order directions stay.
    """
    _check_net(net)
    _check_unit(net, a, "a")
    _check_unit(net, b, "b")
    if a == b:
        raise ValueError(f"a and b must be two different units, got a = b = {a}")
    out = _stamped(net, "overlap", a=a, b=b)
    with torch.no_grad():
        out.J[b] = out.J[a]
        if getattr(out, "bias", False):
            out.b1[b] = out.b1[a]
    return out


def make_dependent(net, a: int = 0, b: int = 1, c: int = 2, coef: tuple[float, float] = (0.6, -0.8)):
    """A copy of `net` with J_c = alpha J_a + beta J_b, so that in a linear net h1_c = alpha h1_a + beta h1_b.

    Chapter I.4. Derivation for a linear `TwoLayerNet` without biases (n inputs and units, p outputs): the
    function is the p x n matrix M = C K' J' with J' = J (+ I with s1) and K' = K (+ I with s2). At a generic
    point the symmetries J' -> A J', K' -> B K' A^-1, C -> C B^-1 (A, B invertible) give 2 n^2 exact zero
    eigenvalues, and the tangent map (dC, dK, dJ) -> dM reaches all p n directions. When J' has rank n - 1
    (row c a combination of rows a and b, no s1), the directions dC = u w^T K'^-1 with w = (alpha, beta, -1)
    at (a, b, c) leave M unchanged exactly (w^T J' = 0); those with u in the range of C are already symmetries,
    the other p - n are new -> 2 n^2 + max(p - n, 0) exact. With s1 the unit activities (I + J) x are generically
    independent -> 2 n^2, the same as the generic point. Count relative to the generic point of the same net.
    """
    _check_net(net, (TwoLayerNet,))
    for name, u in (("a", a), ("b", b), ("c", c)):
        _check_unit(net, u, name)
    if len({a, b, c}) != 3:
        raise ValueError(f"a, b, c must be three different units, got {(a, b, c)}")
    alpha, beta = (float(v) for v in coef)
    out = _stamped(net, "dependence", a=a, b=b, c=c, coef=(alpha, beta))
    with torch.no_grad():
        out.J[c] = alpha * out.J[a] + beta * out.J[b]
        if out.bias:
            out.b1[c] = alpha * out.b1[a] + beta * out.b1[b]
    return out


def at_singularity(net, kind: str, x: torch.Tensor | None = None, **units):
    """A copy of `net` on the singular set `kind` (one of KINDS; "generic" returns an unchanged copy).

    `x` is needed for "dead" (the inputs on which the unit must be dead). Chapter I.2.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not valid; choose one of {', '.join(KINDS)}")
    if kind == "dead":
        if x is None:
            raise ValueError("kind='dead' needs the inputs x on which the ReLU must be dead")
        return kill_relu(net, x, **units)
    build = {"generic": lambda n, **u: _stamped(_check_net(n), "generic"), "incoming": eliminate_incoming,
             "outgoing": eliminate_outgoing, "overlap": make_overlap, "dependence": make_dependent}[kind]
    return build(net, **units)


# ---------------------------------------------------------------------------------------------- symmetries

def rescale_unit(net, unit: int, c: float):
    """A copy of a `TwoLayerNet` with layer-1 `unit`'s incoming weights and bias times c and K[:, unit] / c.

    For a ReLU unit in a net without skips this is a symmetry (relu(c z) = c relu(z) for c > 0): the function
    does not change at all. A skip breaks it: x_a (s1) or the unit's output past K (s2) is not rescaled.
    Chapter I.1.
    """
    _check_net(net, (TwoLayerNet,))
    _check_unit(net, unit)
    if not c > 0:
        raise ValueError(f"c={c!r} must be > 0")
    out = copy.deepcopy(net)
    with torch.no_grad():
        out.J[unit] *= c
        if out.bias:
            out.b1[unit] *= c
        out.K[:, unit] /= c
    return out


def swap_units(net, a: int = 0, b: int = 1):
    """A copy of `net` with layer-1 units a and b exchanged (rows of J and b1, columns of K, or entries of w).

    Without a skip into layer 1 this is a symmetry; with it, unit a still receives x_a after the swap, so the
    function changes. The overlap J_a = J_b is the set this swap leaves fixed. Chapter I.3.
    """
    _check_net(net)
    _check_unit(net, a, "a")
    _check_unit(net, b, "b")
    out = copy.deepcopy(net)
    idx = torch.arange(net.n)
    idx[a], idx[b] = b, a
    with torch.no_grad():
        out.J.copy_(out.J[idx])
        if isinstance(out, ShallowNet):
            out.w.copy_(out.w[idx])
        else:
            out.K.copy_(out.K[:, idx])
            if out.bias:
                out.b1.copy_(out.b1[idx])
    return out


def flip_unit(net, unit: int = 0):
    """A copy of a bias-free net with layer-1 `unit`'s incoming and outgoing weights negated.

    For an odd activation (tanh, erf) without skips this is a symmetry, but a discrete one: it moves the net to
    an isolated copy and creates no flat direction. Chapter I.1.
    """
    _check_net(net)
    _check_unit(net, unit)
    if getattr(net, "bias", False):
        raise ValueError("flip_unit is for nets with bias=False (with biases, negate b1 too)")
    out = copy.deepcopy(net)
    with torch.no_grad():
        out.J[unit] *= -1
        if isinstance(out, ShallowNet):
            out.w[unit] *= -1
        else:
            out.K[:, unit] *= -1
    return out


# ------------------------------------------------------------------------------------------------- theory

def predicted_zeros(net) -> Counts:
    """The derived number of zero Fisher eigenvalues at `net` (its `singularity` stamp, else "generic").

    Chapters I.2-I.4. The derivations are in the constructors' docstrings; the formulas (n units, p outputs,
    skips s1, s2, beta = 1 with biases, [.] = 1 when true):

    ===========  ============================  =====================================================
    kind         TwoLayerNet                   assumptions
    ===========  ============================  =====================================================
    generic      0 (smooth); ReLU rescalings   ReLU: n [relu1, not s1, not s2] + n [relu2, not s2]
                                               + n [relu1, relu2, not s1, s2] (channel rescalings)
                 2 n^2 (linear)                linear: symmetries of the factorisation, no biases
    incoming     n [not s1] + beta exact,      smooth activations
                 [s1, not s2] first-order
    outgoing     (n + beta) [not s2]           smooth
    overlap      n [not s1]                    smooth
    dead         (n+1) + n [not s1]            ReLU layer 1, biases; layer 2 ReLU or smooth
                 + (n-1) [not s1, not s2]
                 + n [relu2, not s2]
                 + n [relu2, not s1, s2]
    dependence   2 n^2 + max(p - n, 0) [not s1]  linear, no biases
    ===========  ============================  =====================================================

    `ShallowNet` (smooth): generic 0; incoming 1 exact (plain) or 1 first-order (skip); outgoing n exact;
    overlap 1 exact + n first-order (plain) or n first-order (skip). A generic smooth net has no zero
    eigenvalue: its only symmetries are discrete (permutations, sign flips phi(-u) = -phi(u)).
    ReLU rescalings: a ReLU unit's incoming weights and bias times c > 0 and its outgoing weights over c
    leave the function unchanged, unless a skip adds something unscaled to the unit's output (s1 adds x) or
    carries it past its outgoing weights (s2). With s2 but not s1 and ReLU in both layers a subtler symmetry
    remains: rescale the whole stream coordinate i (h1_i and h2_i, via J_i, b1_i, row K_i except K_ii, b2_i)
    by c and undo it on K[:, i] (other rows) and C[:, i] -- one per channel, as in a deep residual ReLU net
    whose first layer has no skip. The ReLU counts assume every unit other than a dead one is active on a
    varied part of the inputs (not dead, not always on) -- ReLU after ReLU often violates that by chance.
    Raises ValueError for a combination that is not derived here.
    """
    kind, _ = getattr(net, "singularity", ("generic", {}))
    if isinstance(_check_net(net), ShallowNet):
        return _shallow_counts(net, kind)
    n, p, beta = net.n, net.p, int(net.bias)
    s1, s2 = net.skips
    act1, act2 = net.activation
    smooth = act1 in SMOOTH and act2 in SMOOTH
    linear = act1 == act2 == "linear"

    def unsupported():
        raise ValueError(f"zero counts are derived for kind={kind!r} only with {_ASSUME[kind]}; this net has "
                         f"activation={net.activation}, bias={net.bias}")

    if kind == "generic":
        if linear:
            return Counts(2 * n * n, 0) if not beta else unsupported()
        if not all(a in SMOOTH + ("relu",) for a in (act1, act2)):
            unsupported()
        relu1, relu2 = act1 == "relu", act2 == "relu"
        return Counts(n * (relu1 and not s1 and not s2) + n * (relu2 and not s2)
                      + n * (relu1 and relu2 and not s1 and s2), 0)
    if kind == "dependence":
        if not linear or beta:
            unsupported()
        return Counts(2 * n * n + max(p - n, 0) * (not s1), 0)
    if kind == "dead":
        if act1 != "relu" or act2 not in SMOOTH + ("relu",) or not beta:
            unsupported()
        relu2 = act2 == "relu"
        return Counts((n + 1) + n * (not s1) + (n - 1) * (not s1 and not s2) + n * (relu2 and not s2)
                      + n * (relu2 and not s1 and s2), 0)
    if not smooth:
        unsupported()
    if kind == "incoming":
        return Counts(n * (not s1) + beta, int(s1 and not s2))
    if kind == "outgoing":
        return Counts((n + beta) * (not s2), 0)
    return Counts(n * (not s1), 0)                                    # overlap


_ASSUME = {"generic": "smooth or ReLU activations (or a linear net without biases)",
           "incoming": "smooth activations (tanh, erf)", "outgoing": "smooth activations (tanh, erf)",
           "overlap": "smooth activations (tanh, erf)", "dead": "ReLU in layer 1 and biases",
           "dependence": "a linear net without biases"}


def _shallow_counts(net, kind) -> Counts:
    if net.activation not in SMOOTH or kind not in ("generic", "incoming", "outgoing", "overlap"):
        raise ValueError(f"ShallowNet zero counts are derived for smooth activations {SMOOTH} and kinds generic, "
                         f"incoming, outgoing, overlap; got activation={net.activation!r}, kind={kind!r}")
    skip = net.arch == "residual"
    return {"generic": Counts(0, 0), "incoming": Counts(0, 1) if skip else Counts(1, 0),
            "outgoing": Counts(net.n, 0), "overlap": Counts(0, net.n) if skip else Counts(1, net.n)}[kind]


# ----------------------------------------------------------------------------------------------- numerics

def fisher_eigh(net, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors (columns) of the float64 Fisher J^T J / N of `net` on `x`.

    Uses `curvature.dense_fisher` with the squared loss (unit-variance Gaussian outputs), on one thread
    (`one_thread`). Chapter I.1.
    """
    theta, f = flat_fn(net)
    theta = theta.double()
    with one_thread():
        fisher = dense_fisher(f, theta, x.double())
        evals, evecs = torch.linalg.eigh(fisher)
    return evals.numpy(), evecs.numpy()


def fisher_zeros(net, x: torch.Tensor, rtol: float = ZERO_RTOL) -> ZeroCount:
    """Count the Fisher's zero eigenvalues: lambda <= rtol * max lambda, with rtol = 1e-12 by default.

    Why 1e-12: in float64 the eigenvalues that are zero in exact arithmetic come out below ~1e-15 of the
    largest (measured over the tests' nets), while the smallest genuine eigenvalue of our small nets on a few
    hundred Gaussian inputs is above ~1e-9 of it; check `gap` (smallest nonzero / largest zero) before
    trusting a count. Enough inputs
    are needed: N * p must exceed the parameter count, or the rank bound alone creates zeros. Chapter I.1.
    """
    if not rtol > 0:
        raise ValueError(f"rtol={rtol!r} must be > 0")
    n_out = net(x[:1].double()).shape[1]
    n_params = sum(q.numel() for q in net.parameters())
    if x.shape[0] * n_out < n_params:
        raise ValueError(f"x has {x.shape[0]} samples x {n_out} outputs < {n_params} parameters: the Fisher "
                         f"would have zero eigenvalues from too little data alone; pass more samples")
    evals, evecs = fisher_eigh(net, x)
    top = np.abs(evals).max()
    rel = evals / top
    zero = rel <= rtol
    count = int(zero.sum())
    return ZeroCount(count=count, largest_zero=float(rel[zero].max()) if count else math.nan,
                     smallest_nonzero=float(rel[~zero].min()) if count < len(rel) else math.nan,
                     eigenvalues=evals, null_space=evecs[:, zero])


def flat_directions(net) -> torch.Tensor:
    """The straight-line exactly flat directions of `net`'s singular point, as rows of a (k, P) tensor.

    Moving theta by any t times a combination of these rows leaves the function unchanged on every input
    (for "dead": as long as the unit stays dead). Curved flat directions (ReLU rescalings, the GL symmetries of
    linear nets, the bias of a constant unit) are not included, so k can be less than `predicted_zeros`'s
    exact count. Rows are orthonormal. Chapter I.2.
    """
    kind, u = getattr(net, "singularity", ("generic", {}))
    theta, _ = flat_fn(net)
    rows = []

    def unit_rows(name, index):
        for i in param_index(net, name, index):
            row = torch.zeros_like(theta)
            row[i] = 1
            rows.append(row)

    if isinstance(net, ShallowNet):
        skip = net.arch == "residual"
        if kind == "incoming" and not skip:
            unit_rows("w", [u["a"]])
        elif kind == "outgoing":
            unit_rows("J", u["a"])
        elif kind == "overlap" and not skip:
            rows.append(_pair_row(theta, param_index(net, "w", [u["a"]]), param_index(net, "w", [u["b"]])))
    else:
        s1, s2 = net.skips
        if kind == "incoming" and not s1:
            const = activation(net.activation[0])(net.b1[u["a"]] if net.bias else torch.zeros(()))
            for i, k in enumerate(param_index(net, "K", (slice(None), u["a"]))):
                row = torch.zeros_like(theta)
                row[k] = 1
                if net.bias:
                    row[param_index(net, "b2", [i])] = -const.detach()
                rows.append(row)
        elif kind == "outgoing" and not s2:
            unit_rows("J", u["a"])
            if net.bias:
                unit_rows("b1", [u["a"]])
        elif kind == "dead":
            unit_rows("J", u["a"])
            unit_rows("b1", [u["a"]])
            if not s1:
                unit_rows("K", (slice(None), u["a"]))
        elif kind == "overlap" and not s1:
            for ka, kb in zip(param_index(net, "K", (slice(None), u["a"])),
                              param_index(net, "K", (slice(None), u["b"]))):
                rows.append(_pair_row(theta, ka, kb))
        elif kind == "dependence" and not s1:
            rows.extend(_dependence_rows(net, theta, u))
    if not rows:
        return theta.new_zeros(0, theta.numel())
    q, _ = torch.linalg.qr(torch.stack(rows).T)
    return q.T


def _pair_row(theta, i, j):
    row = torch.zeros_like(theta)
    row[i], row[j] = 1, -1
    return row


def _dependence_rows(net, theta, u):
    """dC = v w^T K'^-1 with w^T J = 0 and v orthogonal to the range of C (see `make_dependent`)."""
    w = torch.zeros(net.n, dtype=theta.dtype)
    (alpha, beta), a, b, c = u["coef"], u["a"], u["b"], u["c"]
    w[a], w[b], w[c] = alpha, beta, -1.0
    k_eff = net.K.detach() + (torch.eye(net.n, dtype=theta.dtype) if net.skips[1] else 0)
    row_dir = torch.linalg.solve(k_eff.T, w)                        # w^T K'^-1
    q, _ = torch.linalg.qr(net.C.detach(), mode="complete")
    rows = []
    for v in q[:, net.n:].T:                                        # p - n directions outside range(C)
        row = torch.zeros_like(theta)
        row[param_index(net, "C")] = torch.outer(v, row_dir).reshape(-1)
        rows.append(row)
    return rows


def function_change(net, x: torch.Tensor, direction: torch.Tensor, t: float) -> float:
    """max over inputs and outputs of |f(theta + t d) - f(theta)|, d = `direction` (a P-vector). Chapter I.1."""
    theta, f = flat_fn(net)
    direction = torch.as_tensor(direction, dtype=theta.dtype).reshape(-1)
    if direction.numel() != theta.numel():
        raise ValueError(f"direction must have P = {theta.numel()} entries, got {direction.numel()}")
    x = x.to(theta.dtype)
    with torch.no_grad(), one_thread():
        return float((f(theta + t * direction, x) - f(theta, x)).abs().max())


def interpolate(start, end, s: float):
    """A copy of `end` with every parameter at (1 - s) * end + s * start: s = 0 is `end`, s = 1 is `start`.

    Used to approach a singular point (`end`) from a generic one (`start`) along a straight line. Chapter I.2.
    """
    if type(start) is not type(end):
        raise ValueError("start and end must be nets of the same class")
    out = copy.deepcopy(end)
    with torch.no_grad():
        for (name, p), q in zip(out.named_parameters(), start.parameters()):
            if p.shape != q.shape:
                raise ValueError(f"start and end differ in the shape of parameter {name}")
            p.copy_((1 - s) * p + s * q)
    return out


def loss_slice(net, x: torch.Tensor, y: torch.Tensor, direction: torch.Tensor, ts) -> np.ndarray:
    """The squared loss (1 / 2N) sum ||f(theta + t d) - y||^2 for each t in `ts` (a 1-D slice). Chapter I.2."""
    theta, f = flat_fn(net)
    d = torch.as_tensor(direction, dtype=theta.dtype).reshape(-1)
    x, y = x.to(theta.dtype), y.to(theta.dtype)
    with torch.no_grad(), one_thread():
        return np.array([float(((f(theta + t * d, x) - y) ** 2).sum() / (2 * x.shape[0])) for t in ts])


def loss_plane(net, x: torch.Tensor, y: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor, ts, ss) -> np.ndarray:
    """The squared loss at theta + t d1 + s d2 on the grid (rows: s in `ss`, columns: t in `ts`). Chapter I.3.

    One forward pass per grid point, all points in one batched call (`torch.func.vmap`)."""
    from torch.func import vmap

    theta, f = flat_fn(net)
    d1, d2 = (torch.as_tensor(d, dtype=theta.dtype).reshape(-1) for d in (d1, d2))
    for name, d in (("d1", d1), ("d2", d2)):
        if d.numel() != theta.numel():
            raise ValueError(f"{name} must have P = {theta.numel()} entries, got {d.numel()}")
    x, y = x.to(theta.dtype), y.to(theta.dtype)
    tt, sgrid = torch.meshgrid(torch.as_tensor(np.asarray(ts, dtype=float)),
                               torch.as_tensor(np.asarray(ss, dtype=float)), indexing="xy")
    thetas = theta + tt.reshape(-1, 1) * d1 + sgrid.reshape(-1, 1) * d2
    with torch.no_grad(), one_thread():
        losses = vmap(lambda th: ((f(th, x) - y) ** 2).sum() / (2 * x.shape[0]))(thetas)
    return losses.reshape(tt.shape).numpy()


# ----------------------------------------------------------------------------------------- layer measures

def _as_tensor(a, name):
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(a)
    if not isinstance(a, torch.Tensor):
        raise ValueError(f"{name} must be a tensor or array of shape (..., N, n) or a list of them, "
                         f"got {type(a).__name__}")
    if a.ndim < 2:
        raise ValueError(f"{name} must have shape (..., N, n) with samples N and units n, got {tuple(a.shape)}")
    return a.detach().to(torch.float64)


def _per_layer(fn, acts, name):
    """Apply `fn` (a tensor (..., N, n) -> tensor (...)) to one array or to each layer of a list."""
    if isinstance(acts, (list, tuple)):
        if not acts:
            raise ValueError(f"{name} is an empty list; pass at least one layer")
        return np.stack([fn(_as_tensor(a, name)).cpu().numpy() for a in acts])
    out = fn(_as_tensor(acts, name)).cpu().numpy()
    return float(out) if out.ndim == 0 else out


def elimination_fraction(acts, rtol: float = ELIMINATION_RTOL):
    """Fraction of a layer's units that are constant over the inputs (e.g. dead ReLUs, saturated tanh).

    Unit j is eliminated when std_n h_nj <= rtol * RMS of the layer's activations (over samples and units);
    rtol = 1e-2 by default, so a unit whose fluctuations are under 1% of the layer's typical magnitude
    counts. A layer of exact zeros is fully eliminated. `acts` is (..., N, n) (returns shape (...)) or a list of
    layers (returns (L, ...)); pass the units' outputs (the branch phi(W h + b)), not a residual stream that
    adds the skip. Introduced in chapter I.2; used per layer in Part III.
    """
    if not rtol > 0:
        raise ValueError(f"rtol={rtol!r} must be > 0")

    def fn(h):
        std = h.std(dim=-2, unbiased=False)
        rms = h.pow(2).mean(dim=(-2, -1)).sqrt()
        return (std <= rtol * rms.unsqueeze(-1)).double().mean(dim=-1)

    return _per_layer(fn, acts, "acts")


def _pair_fraction(cols, threshold, centre):
    """Fraction of unit pairs (columns of (..., N, n)) with |cosine| >= threshold; zero columns never count."""
    if centre:
        cols = cols - cols.mean(dim=-2, keepdim=True)
    norm = cols.norm(dim=-2, keepdim=True)
    scale = cols.abs().amax(dim=(-2, -1), keepdim=True)
    alive = norm > 1e-12 * scale
    unit = torch.where(alive, cols / torch.where(alive, norm, torch.ones_like(norm)), torch.zeros_like(cols))
    cos = (unit.transpose(-1, -2) @ unit).abs()
    n = cols.shape[-1]
    if n < 2:
        raise ValueError(f"overlap needs layers of at least 2 units, got n = {n}")
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=cols.device), diagonal=1)
    return (cos[..., upper] >= threshold).double().mean(dim=-1)


def overlap_fraction(acts=None, weights=None, threshold: float = OVERLAP_THRESHOLD):
    """Fraction of a layer's unit pairs that overlap: |cosine| >= threshold (0.99 by default).

    Give exactly one of `acts` ((..., N, n): cosine of the *centred* activations over the inputs, i.e. the
    correlation) or `weights` ((..., n, fan_in), one row of incoming weights per unit -- append the bias as a
    column if it should count -- uncentred cosine). |cosine| because phi(-u) = -phi(u) makes J_b = -J_a an
    overlap too for tanh. Constant units (zero norm) count as not overlapping (they are eliminated instead).
    Lists of layers give (L, ...). Introduced in chapter I.3; used per layer in Part III.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold={threshold!r} must lie in (0, 1]")
    if (acts is None) == (weights is None):
        raise ValueError("give exactly one of acts (..., N, n) or weights (..., n, fan_in)")
    if acts is not None:
        return _per_layer(lambda h: _pair_fraction(h, threshold, centre=True), acts, "acts")
    return _per_layer(lambda w: _pair_fraction(w.transpose(-1, -2), threshold, centre=False), weights, "weights")


def _centred_svdvals(h):
    n_samples, n = h.shape[-2:]
    if n_samples <= n:
        raise ValueError(f"acts has N = {n_samples} samples for n = {n} units; rank measures need N > n, or "
                         f"every layer looks rank-deficient from too little data alone")
    return torch.linalg.svdvals(h - h.mean(dim=-2, keepdim=True))


def rank_deficit(acts, rtol: float = RANK_RTOL):
    """Linear dependence of a layer: (n - max(r, 1)) / (n - 1), r the numerical rank of the centred activations.

    r counts singular values > rtol * the largest (rtol = 1e-3 by default). The measure is 0 for a layer of
    linearly independent units and 1 when every unit is a multiple of one unit plus a constant (r <= 1; an
    all-constant layer, r = 0, also gives 1). Needs N > n samples. `acts` (..., N, n) -> (...); lists -> (L, ...).
    Introduced in chapter I.4; used per layer in Part III.
    """
    if not rtol > 0:
        raise ValueError(f"rtol={rtol!r} must be > 0")

    def fn(h):
        s = _centred_svdvals(h)
        n = h.shape[-1]
        if n < 2:
            raise ValueError(f"rank_deficit needs layers of at least 2 units, got n = {n}")
        rank = (s > rtol * s[..., :1]).sum(dim=-1).clamp(min=1)
        return (n - rank).double() / (n - 1)

    return _per_layer(fn, acts, "acts")


def effective_rank(acts, kind: str = "participation"):
    """Effective number of dimensions the centred activations span (between 1 and n; 0 for a constant layer).

    "participation": (sum lambda)^2 / sum lambda^2 over the covariance eigenvalues lambda = s^2 / N;
    "entropy": exp of the entropy of p_i = s_i / sum s (Roy & Vetterli 2007). Unlike `rank_deficit` these need
    no threshold and fall smoothly as units become nearly dependent. Introduced in chapter I.4.
    """
    if kind not in ("participation", "entropy"):
        raise ValueError(f"kind={kind!r} is not valid; choose one of participation, entropy")

    def fn(h):
        s = _centred_svdvals(h)
        if kind == "participation":
            lam = s**2
            total = lam.sum(dim=-1)
            return torch.where(total > 0, total**2 / (lam**2).sum(dim=-1).clamp(min=1e-300), torch.zeros_like(total))
        total = s.sum(dim=-1, keepdim=True)
        p = s / total.clamp(min=1e-300)
        ent = -(p * torch.log(p.clamp(min=1e-300))).sum(dim=-1)
        return torch.where(total.squeeze(-1) > 0, ent.exp(), torch.zeros_like(ent))

    return _per_layer(fn, acts, "acts")


def layer_measures(acts, weights=None, elimination_rtol: float = ELIMINATION_RTOL,
                   overlap_threshold: float = OVERLAP_THRESHOLD, rank_rtol: float = RANK_RTOL) -> dict:
    """All singularity measures of each layer at once: a dict of arrays, one value per layer (and batch index).

    Keys: "elimination", "overlap" (activations), "rank_deficit", "effective_rank" (participation ratio),
    and "weight_overlap" when `weights` (incoming weights, (..., n, fan_in) per layer) are given. The
    thresholds are the module constants unless overridden. Cost: two batched SVDs of the centred (N, n)
    activations and one (n, n) Gram matrix per layer; 30 layers x 3 nets x 1,000 samples x 128 units took
    about 3 s on 2 busy CPU cores. Used per layer in Part III.
    """
    out = {"elimination": elimination_fraction(acts, elimination_rtol),
           "overlap": overlap_fraction(acts, threshold=overlap_threshold),
           "rank_deficit": rank_deficit(acts, rank_rtol),
           "effective_rank": effective_rank(acts)}
    if weights is not None:
        out["weight_overlap"] = overlap_fraction(weights=weights, threshold=overlap_threshold)
    return out


# ------------------------------------------------------------------------------------------ Part I sizes

#: the sizes of Part I's computations per scale (the only place they are set): inputs for each Fisher, unit
#: counts and seeds for the count tables, frames of sliders and players, loss-surface grid, deep linear nets
SIZES = {
    "smoke": dict(n_samples=120, units=(3,), seeds=1, frames=4, grid=9, depth=4, width=8, deep_samples=64),
    "default": dict(n_samples=200, units=(3, 5), seeds=2, frames=12, grid=41, depth=30, width=32,
                    deep_samples=500),
    "paper": dict(n_samples=400, units=(3, 4, 5, 6), seeds=5, frames=12, grid=61, depth=60, width=64,
                  deep_samples=2000),
}


def sizes(scale: str | None = None) -> dict:
    """Part I's sizes for `scale` (default: the scale read by `env.scale()`). Chapters I.1-I.4."""
    from .env import check_scale
    from .env import scale as current

    return dict(SIZES[check_scale(scale or current())])


def approach_spectra(start, end, x: torch.Tensor, fractions) -> np.ndarray:
    """Fisher eigenvalues (ascending, one row per fraction s) along `interpolate(start, end, s)`.

    s = 1 is the generic net `start`, s = 0 the singular net `end`; e.g. for `eliminate_incoming` the row for s
    is the net with J_a scaled by s. Cost: one dense Fisher per fraction. Chapters I.2, I.3.
    """
    return np.stack([fisher_eigh(interpolate(start, end, float(s)), x)[0] for s in fractions])
