"""Singular points of the small nets of Part I, and the number of zero Fisher eigenvalues each one has.

Introduced in Part I (chapters I.1-I.4). The constructors put a `shallow.TwoLayerNet` or `shallow.ShallowNet`
exactly on a singular set and stamp the returned copy with `net.singularity = (kind, units)`:
`eliminate_incoming` (J_a = 0), `eliminate_outgoing` (K[:, a] = 0, or w_a = 0), `kill_relu` (a ReLU dead on
every input), `make_overlap` (J_a = J_b), `make_dependent` (J_c = alpha J_a + beta J_b, in a linear net). Each
docstring derives the number of zero eigenvalues of the Fisher information there, for the plain net and with
skips; `predicted_zeros` evaluates those formulas (checked against `fisher.fisher_zeros` in the tests).
The symmetries (`rescale_unit`, `swap_units`, `flip_unit`) move a net without changing its function.

Counting convention. A zero eigenvalue is *exact* when some curve through the point leaves the function
unchanged (true non-identifiability: a symmetry or a redundant parameter) and *first-order* when the function
does change along every curve in that direction, but only at second (or higher) order.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from .shallow import ShallowNet, TwoLayerNet

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

    def describe(self, counted: int) -> str:
        """A table cell of chapters I.2-I.3: `counted` zeros with this derivation's split, "4 (3 exact,
        1 first-order)", or "0"."""
        parts = [f"{self.exact} exact"] * bool(self.exact) + [f"{self.first_order} first-order"] * bool(self.first_order)
        return f"{counted} ({', '.join(parts)})" if counted else "0"


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
