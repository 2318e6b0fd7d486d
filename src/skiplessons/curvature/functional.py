"""Models as functions of one flat parameter vector, and batch checks (chapter I.1); the losses are
`skiplessons.losses`.

Every curvature routine works on `f(theta, x) -> outputs (N, C)` with `theta` a 1-D tensor of all P
parameters, so that Hessians, Jacobians and their products are plain matrices and vectors in R^P.
"""
from __future__ import annotations

from typing import Callable, Union

import torch
from torch.func import functional_call

from .. import checks
from ..losses import LOSSES, check_loss, loss_value  # noqa: F401  (re-exported: the one definition)


FlatFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: a loss: a name in `LOSSES` or any callable (outputs, targets) -> scalar tensor
Loss = Union[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]


def loss_name(loss: Loss) -> str | None:
    """The name of a named loss (checked against `LOSSES`), None for a callable one."""
    if callable(loss):
        return None
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not valid; choose one of {', '.join(LOSSES)} or pass a callable "
                         f"(outputs, targets) -> scalar loss")
    return loss


def batch_loss(out: torch.Tensor, y, loss: Loss) -> torch.Tensor:
    """The scalar loss of outputs `out` on targets `y`: `loss_value` for a named loss, else `loss(out, y)`."""
    if loss_name(loss) is not None:
        return loss_value(out, y, loss)
    value = loss(out, y)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise ValueError(f"loss(outputs, targets) must return a scalar tensor, got {type(value).__name__} "
                         f"of shape {tuple(getattr(value, 'shape', ()))}")
    return value.reshape(())


def flat_fn(model: torch.nn.Module) -> tuple[torch.Tensor, FlatFn]:
    """Return `(theta, f)`: the model's parameters as one detached 1-D tensor and `f(theta, x) = model(x)`.

    Works for any `nn.Module` through `torch.func.functional_call`; buffers are used as they are and the
    model's train/eval mode is kept (put batch-norm nets in eval mode first). Introduced in chapter I.1.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    named = dict(model.named_parameters())
    if not named:
        raise ValueError("model has no parameters; flat_fn needs at least one")
    names = list(named)
    shapes = [p.shape for p in named.values()]
    sizes = [p.numel() for p in named.values()]
    buffers = dict(model.named_buffers())
    theta = torch.cat([p.detach().reshape(-1) for p in named.values()])

    def f(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(theta, sizes)
        params = {n: t.view(s) for n, t, s in zip(names, parts, shapes)}
        return functional_call(model, (params, buffers), (x,))

    f.param_names = tuple(names)
    f.param_shapes = tuple(shapes)
    return theta, f


def check_theta(theta: torch.Tensor) -> torch.Tensor:
    """Raise a ValueError unless `theta` is a 1-D floating tensor."""
    if not isinstance(theta, torch.Tensor) or theta.ndim != 1 or not theta.is_floating_point() or not theta.numel():
        got = tuple(theta.shape) if isinstance(theta, torch.Tensor) else type(theta).__name__
        raise ValueError(f"theta must be a 1-D floating-point tensor of all parameters, got {got}")
    return checks.finite(theta, "theta")


def outputs(f: FlatFn, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`f(theta, x)` with `x` moved to theta's device and dtype, checked to be of shape (N, C)."""
    check_theta(theta)
    if not isinstance(x, torch.Tensor) or x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x must be a tensor whose first axis indexes N >= 1 samples, got {getattr(x, 'shape', x)}")
    checks.finite(x, "x")
    try:
        out = f(theta, as_inputs(x, theta))
    except RuntimeError as err:
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit the model: {err}") from err
    if out.ndim != 2 or out.shape[0] != x.shape[0]:
        raise ValueError(f"f(theta, x) must return outputs of shape (N, C) = ({x.shape[0]}, C), "
                         f"got {tuple(out.shape)}")
    return out


def as_inputs(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """`x` on theta's device, and in theta's dtype when `x` is floating point."""
    dtype = theta.dtype if x.is_floating_point() else x.dtype
    return x.to(device=theta.device, dtype=dtype)


def check_targets(out: torch.Tensor, y: torch.Tensor, loss: Loss) -> torch.Tensor:
    """Targets `y` on the outputs' device, checked against `out` (N, C) for a named `loss` (raise ValueError if
    not); a callable loss gets `y` as given, moved to the outputs' device (floating targets in their dtype)."""
    if loss_name(loss) is None:
        if not isinstance(y, torch.Tensor):
            return y
        return y.to(device=out.device, dtype=out.dtype if y.is_floating_point() else y.dtype)
    n, c = out.shape
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"y must be a tensor, got {type(y).__name__}")
    if loss == "mse":
        if tuple(y.shape) != (n, c):
            raise ValueError(f"for loss='mse', y must have the outputs' shape (N, C) = ({n}, {c}), got {tuple(y.shape)}")
        return checks.finite(y, "y").to(device=out.device, dtype=out.dtype)
    if tuple(y.shape) != (n,) or y.is_floating_point() or y.is_complex():
        raise ValueError(f"for loss='ce', y must be integer class labels of shape (N,) = ({n},), "
                         f"got {y.dtype} of shape {tuple(y.shape)}")
    if n and (int(y.min()) < 0 or int(y.max()) >= c):
        raise ValueError(f"for loss='ce', labels y must lie in [0, {c - 1}], got range [{int(y.min())}, {int(y.max())}]")
    return y.to(device=out.device, dtype=torch.long)


def output_hessian_factor(out: torch.Tensor, loss: str) -> torch.Tensor:
    """A (N, C, C) tensor A_n with A_n A_n^T = N * d^2 loss / d out_n^2 (the loss's Hessian in the outputs).

    mse: the identity. ce: diag(p) - p p^T = (diag(s) - p s^T)(diag(s) - s p^T) with p = softmax, s = sqrt(p).
    """
    n, c = out.shape
    if loss == "mse":
        return torch.eye(c, dtype=out.dtype, device=out.device).expand(n, c, c)
    p = torch.softmax(out, dim=1)
    s = p.sqrt()
    return torch.diag_embed(s) - p.unsqueeze(2) * s.unsqueeze(1)
