"""Deep fully-connected nets — plain, residual and hyper-residual — many of them in one batched module.

Introduced in chapter 0 (the headline) and used throughout Parts III and IV.

The forward map of one net with depth D (hidden layers) and width n is

    h_1     = phi(x W_in + b_in)
    h_{l+1} = phi(h_l W_l + b_l) + a * h_l + c * mean(h_1, ..., h_l)      (l = 1 .. D-1)
    y       = h_D W_out + b_out

with the skip coefficients (a, c) fixed by the architecture and the skip strength alpha:

    plain     (a, c) = (0, 0)
    residual  (a, c) = (alpha, 0)   -- x_{l+1} = f(W x_l + b) + x_l at alpha = 1, as in the paper
    hyper     (a, c) = (3 alpha / 4, alpha / 4)
                                    -- skips from *all* lower layers: a convex mix of the previous layer and
                                       the mean of all lower layers (our choice of the exact form; the paper's
                                       is not known)
    hyper_mean (a, c) = (0, alpha)  -- the pure mean of all lower layers, the first form we tried

A forking path, disclosed: we first ran the pure-mean form; our depth-30 nets with it trained no faster than
plain ones, and only then did we settle on the 3/4 : 1/4 mix (which also keeps activations bounded). The
pure-mean form stays available as `hyper_mean` (not one of the book's three `ARCHS`) so that chapter IV.2 can
show it next to the others.

Initialization (our choice, stated in the book): biases zero; W_in and W_out He/Glorot-scaled; hidden weights
N(0, g^2 s / n) with g^2 = 2 for ReLU, (5/3)^2 for tanh and 1 for linear, and the branch scale s = `branch_scale(alpha)` chosen
so that the activation scale is preserved layer to layer: plain nets (s = 1) get He initialization, residual
branches at alpha = 1 get s = 1/D^2, a small branch in the spirit of Fixup (Zhang et al. 2019, which also scales
residual branches down with depth) (tested: RMS activation at depth 30 within a factor 4 of the first layer for
every arch and alpha).
`init="orthogonal"` uses scaled orthogonal matrices instead; `init="identity"` adds the identity to the hidden
weights and a residual-sized (s = 1/D^2) random part (a residual-like start for plain nets: Part IV).

Two malicious initializations of residual nets (Part IV, our constructions), both subtracting the skip a * I
from every hidden weight matrix, so that the skip is cancelled inside the branch's linear part:

`init="malicious"` (the main control) subtracts it from the residual net's *own* draw (same seed, branch scale
s = 1/D^2): V = W_res - a I. The branch's pre-activation is h W_res - a h + b, about -a h: for ReLU (h >= 0)
almost every branch unit whose input is on starts switched off (an elimination singularity of the branch), yet
h_{l+1} = relu(h V + b) + a h stays close to a h, so at a = 1 the activation scale at initialization is kept
(tested for ReLU at depth 30, width 64: growth within a factor 2 of the plain nets'); for a < 1 it shrinks like
a power of a. In linear nets it computes h W_res + b per layer, a plain net with residual-sized (tiny) weights,
whose signal vanishes with depth.

`init="malicious_plain"` (the second row, with a blow-up) draws exactly the plain net's weights of the same
seed (s = 1) and subtracts a I, so the branch's linear part is W_plain - a I. What this makes equal, exactly:
  - linear nets: h W_plain - a h + b + a h = h W_plain + b, so the residual net computes the plain net's
    function (every hidden layer equal);
  - ReLU nets (h >= 0): relu(z - h) + h = max(z, h) with z = h W_plain + b, against the plain layer's
    relu(z) = max(z, 0). A unit's value agrees wherever z >= h or h = 0, and its derivative wherever z > h;
    elsewhere the residual unit passes h on instead of staying silent. No choice of branch weights can do
    better: the residual layer's output is >= h, so it cannot reproduce a plain unit that switches off.
    For the same reason its activations can only grow from layer to layer, by orders of magnitude over 30
    layers (chapter IV.1 measures it): the scale bound above does not cover this init.

One batch-normalization layer (Part IV): `NetSpec(bn_layer=l)` normalizes hidden layer l's pre-activation
(l = 1 is the first hidden layer) over the batch it is given, z = g * (u - mean(u)) / sqrt(var(u) + eps) + b with
u = h W (no bias before the normalization, which would be redundant), a learned gain g (init 1) and the layer's
own bias b. There are no running averages: the statistics are always those of the current batch (training,
evaluation and Hessian alike).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from . import checks

#: the book's three architectures
ARCHS = ("plain", "residual", "hyper")
#: skip forms besides the three, shown for comparison only (see the forking path above)
VARIANTS = ("hyper_mean",)
ACTIVATIONS = ("relu", "tanh", "linear")
#: squared gains of the hidden weights (He for ReLU, torch's 5/3 for tanh)
GAIN2 = {"relu": 2.0, "tanh": (5.0 / 3.0) ** 2, "linear": 1.0}
INITS = ("default", "orthogonal", "identity", "malicious", "malicious_plain")
#: the initializations that subtract the skip from the branch weights (residual nets only)
MALICIOUS = ("malicious", "malicious_plain")
#: variance epsilon of the batch-normalization layer (torch's default)
BN_EPS = 1e-5


def activation(act: str):
    """The elementwise nonlinearity named `act` (one of `ACTIVATIONS`)."""
    return {"relu": torch.relu, "tanh": torch.tanh, "linear": lambda z: z}[act]


def _choice(value, valid, name):
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {', '.join(map(str, valid))}")
    return value


@dataclass(frozen=True)
class NetSpec:
    """Shape shared by every net in a batch: input size, classes, depth (hidden layers), width, activation,
    and the hidden layer (1 .. depth) that is batch-normalized, if any."""

    d_in: int
    n_out: int
    depth: int = 30
    width: int = 64
    act: str = "relu"
    bn_layer: int | None = None

    def __post_init__(self):
        for name in ("d_in", "n_out", "depth", "width"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}={v!r} must be an integer >= 1")
        _choice(self.act, ACTIVATIONS, "act")
        bn = self.bn_layer
        if bn is not None and (not isinstance(bn, int) or isinstance(bn, bool) or not 1 <= bn <= self.depth):
            raise ValueError(f"bn_layer={bn!r} must be None or a hidden layer 1 .. depth={self.depth}")


@dataclass(frozen=True)
class Member:
    """One net of a batch: its architecture, seed, skip strength alpha and initialization."""

    arch: str
    seed: int = 0
    alpha: float = 1.0
    init: str = "default"

    def __post_init__(self):
        _choice(self.arch, ARCHS + VARIANTS, "arch")
        _choice(self.init, INITS, "init")
        if not 0.0 <= float(self.alpha) <= 1.0:
            raise ValueError(f"alpha={self.alpha!r} must lie in [0, 1] (0 = plain, 1 = residual)")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r} must be a non-negative integer")
        if self.init in MALICIOUS and self.arch != "residual":
            raise ValueError(f"init={self.init!r} needs arch='residual' (got arch={self.arch!r}): it subtracts the "
                             "residual skip from the branch weights")

    @property
    def skip(self) -> tuple[float, float]:
        """The skip coefficients (a, c) of the forward map."""
        alpha = float(self.alpha)
        return {"plain": (0.0, 0.0), "residual": (alpha, 0.0), "hyper": (0.75 * alpha, 0.25 * alpha),
                "hyper_mean": (0.0, alpha)}[self.arch]

    @property
    def label(self) -> str:
        extra = "" if self.arch == "plain" or self.alpha == 1 else f" a={self.alpha:g}"
        extra += "" if self.init == "default" else f" {self.init}"
        return f"{self.arch}{extra} s{self.seed}"


def branch_scale(alpha: float, act: str, depth: int) -> float:
    """Variance factor s of the hidden weights that keeps E|h_{l+1}|^2 = E|h_l|^2 at initialization.

    With skip strength alpha, E|h_{l+1}|^2 / E|h_l|^2 = s + alpha^2 + 2 alpha r sqrt(s / pi), where the last
    (cross) term is there only for ReLU, whose outputs are non-negative (r ~ 0.8 is the mean-to-RMS ratio of
    a unit's input across the layer). Solving for sqrt(s) gives the root below; at alpha = 1 no positive s
    preserves the scale, so s is floored at 1/depth^2 (a residual net then starts near the identity and its
    activations grow by a factor ~ e^(0.5) at most)."""
    r = 0.8 / math.sqrt(math.pi) if act == "relu" else 0.0
    t = -alpha * r + math.sqrt(alpha**2 * r**2 + max(1.0 - alpha**2, 0.0))
    return max(t * t, 1.0 / depth**2)


def init_weights(spec: NetSpec, member: Member, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """Draw one net's weights from its own generator (seeded by `member.seed`), so that a net's
    initialization is the same whether it is trained alone or in a batch."""
    g = torch.Generator().manual_seed(member.seed)
    n, D = spec.width, spec.depth
    gain2 = GAIN2[spec.act]
    # the identity init is a residual net's start without its skips: identity plus a residual-sized branch;
    # "malicious" starts from the residual net's own draw, "malicious_plain" from the plain net's (s = 1)
    skip = {"identity": 1.0, "malicious_plain": 0.0}.get(member.init, sum(member.skip))
    s = branch_scale(skip, spec.act, D)

    def gauss(*shape, var):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * var**0.5

    W = gauss(max(D - 1, 0), n, n, var=gain2 * s / n)
    if member.init == "orthogonal" and D > 1:
        Q, R = torch.linalg.qr(torch.randn(D - 1, n, n, generator=g, dtype=torch.float64))
        W = Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1)).unsqueeze(-2) * (gain2 * s) ** 0.5
    elif member.init == "identity" and D > 1:
        W = W + torch.eye(n, dtype=torch.float64)
    elif member.init in MALICIOUS and D > 1:
        W = W - member.skip[0] * torch.eye(n, dtype=torch.float64)
    params = {
        "W_in": gauss(spec.d_in, n, var=gain2 / spec.d_in),
        "b_in": torch.zeros(n, dtype=torch.float64),
        "W": W,
        "b": torch.zeros(max(D - 1, 0), n, dtype=torch.float64),
        "W_out": gauss(n, spec.n_out, var=1.0 / n),
        "b_out": torch.zeros(spec.n_out, dtype=torch.float64),
    }
    if spec.bn_layer is not None:
        params["bn_gain"] = torch.ones(n, dtype=torch.float64)
    return {k: v.to(dtype) for k, v in params.items()}


def _batch_norm(u, gain, bias):
    """Normalize u over its sample axis (-2) with the batch's own statistics, then scale and shift."""
    mean = u.mean(-2, keepdim=True)
    var = u.var(-2, unbiased=False, keepdim=True)
    return (u - mean) * torch.rsqrt(var + BN_EPS) * gain.unsqueeze(-2) + bias.unsqueeze(-2)


def forward(params, x, act: str, a, c, return_hidden: bool = False, bn_layer: int | None = None,
            return_preacts: bool = False):
    """The forward map above, for one net (2-D weights) or a batch of M nets (weights with a leading M axis).

    `x` is (N, d_in) shared by all nets, or (M, N, d_in); `a`, `c` are floats or (M,) tensors; `bn_layer`
    (1-based hidden layer, with `params["bn_gain"]`) adds the batch-normalization layer. Returns the outputs,
    then the hidden activations h_1 .. h_D if `return_hidden`, then the pre-activations z_1 .. z_D (what enters
    phi) if `return_preacts`."""
    phi = activation(act)
    W_in = params["W_in"]
    if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3) or x.shape[-1] != W_in.shape[-2] \
            or x.dtype != W_in.dtype or x.shape[-2] == 0:
        got = f"{x.dtype} of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a {W_in.dtype} tensor of shape (N >= 1, d_in={W_in.shape[-2]}) (or (M, N, "
                         f"d_in)), got {got}")
    batched = W_in.dim() == 3
    if batched:
        a = torch.as_tensor(a, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        c = torch.as_tensor(c, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        if x.dim() == 2:
            x = x.expand(params["W_in"].shape[0], *x.shape)

    def preact(h, W, b, layer):
        if layer == bn_layer:
            return _batch_norm(torch.bmm(h, W) if batched else h @ W, params["bn_gain"], b)
        return torch.baddbmm(b.unsqueeze(1), h, W) if batched else h @ W + b

    z = preact(x, params["W_in"], params["b_in"], 1)
    h = phi(z)
    hidden, preacts = [h], [z]
    total = h
    # the layers' weights as separate tensors: the gradient of `unbind` is one stack, where indexing layer by
    # layer would add a full-size zero-padded gradient per layer (O(depth^2) memory traffic per step)
    Ws, bs = params["W"].unbind(-3), params["b"].unbind(-2)
    for l in range(len(Ws)):
        z = preact(h, Ws[l], bs[l], l + 2)
        if batched:    # phi(z) + a h + c total / (l+1), in two fused kernels
            h = torch.addcmul(torch.addcmul(phi(z), a, h), c / (l + 1), total)
        else:
            h = phi(z) + a * h + c * (total / (l + 1))
        total = total + h
        hidden.append(h)
        preacts.append(z)
    if batched:
        y = torch.baddbmm(params["b_out"].unsqueeze(1), h, params["W_out"])
    else:
        y = h @ params["W_out"] + params["b_out"]
    out = (y,) + ((hidden,) if return_hidden else ()) + ((preacts,) if return_preacts else ())
    return out if len(out) > 1 else y


@torch.no_grad()
def hidden_rms(net, x: torch.Tensor) -> torch.Tensor:
    """Root-mean-square activation of every hidden layer h_1 .. h_D on inputs `x`: shape (M, D) for a
    `DeepMLPs` batch, (D,) for one `MLP`. Part IV shows it at initialization for every condition (the activation
    scale a control must not change)."""
    if not isinstance(net, (DeepMLPs, MLP)):
        raise TypeError(f"net must be a DeepMLPs or an MLP, got {type(net).__name__}")
    checks.samples(x, "x", width=net.spec.d_in)
    p0 = next(net.parameters())
    _, hidden = net(x.to(p0.device, p0.dtype), return_hidden=True)
    return torch.stack([h.pow(2).mean((-2, -1)).sqrt() for h in hidden], dim=-1)


class MLP(nn.Module):
    """One deep net as an ordinary module (parameters W_in, b_in, W, b, W_out, b_out, and bn_gain when the
    spec has a batch-normalization layer).

    The un-batched reference: what a user would write by hand, used to check batched training and as
    the input of `curvature.flat_fn` in Part III."""

    def __init__(self, spec: NetSpec, member: Member, dtype=torch.float32, params=None):
        super().__init__()
        self.spec, self.member = spec, member
        params = init_weights(spec, member, dtype) if params is None else params
        for k, v in params.items():
            self.register_parameter(k, nn.Parameter(v.detach().clone()))

    def forward(self, x, return_hidden: bool = False, return_preacts: bool = False):
        a, c = self.member.skip
        return forward(dict(self.named_parameters()), x, self.spec.act, a, c, return_hidden, self.spec.bn_layer,
                       return_preacts)


class DeepMLPs(nn.Module):
    """M deep nets of one shape but any mix of architectures, seeds, alphas and inits, computed together
    with batched matrix products (weights stacked along a leading axis). Output: logits (M, N, n_out)."""

    def __init__(self, spec: NetSpec, members, dtype=torch.float32, device=None):
        super().__init__()
        members = list(members)
        if not members:
            raise ValueError("members must name at least one net")
        self.spec, self.members = spec, members
        weights = [init_weights(spec, m, dtype) for m in members]
        for k in weights[0]:
            self.register_parameter(k, nn.Parameter(torch.stack([w[k] for w in weights]).to(device)))
        skips = torch.tensor([m.skip for m in members], dtype=dtype, device=device)
        self.register_buffer("a", skips[:, 0].contiguous())
        self.register_buffer("c", skips[:, 1].contiguous())

    def __len__(self):
        return len(self.members)

    def forward(self, x, return_hidden: bool = False, return_preacts: bool = False):
        params = {k: v for k, v in self.named_parameters()}
        return forward(params, x, self.spec.act, self.a, self.c, return_hidden, self.spec.bn_layer, return_preacts)

    def member(self, m: int) -> MLP:
        """Net `m` as a stand-alone `MLP` with a copy of its current weights."""
        params = {k: v[m].detach() for k, v in self.named_parameters()}
        return MLP(self.spec, self.members[m], params=params)

    def n_params(self) -> int:
        """Parameters of one net."""
        return sum(p[0].numel() for p in self.parameters())
