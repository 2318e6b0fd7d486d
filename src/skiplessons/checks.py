"""Checks of the numbers a public function is given, so that it refuses what it cannot measure instead of
returning a number computed from NaN (issue #31). Each raises one error naming the argument: a TypeError for
something that is not numbers at all, a ValueError for numbers of the wrong kind, shape, size or value.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch


def _kind(value) -> str:
    return f"{value.dtype} of shape {tuple(value.shape)}"


def real(value, name: str, what: str = "a tensor or array of numbers"):
    """`value` as a tensor or an ndarray of real numbers (bool, complex, strings and objects refused)."""
    if isinstance(value, (list, tuple)) or isinstance(value, numbers.Number):
        try:
            value = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be {what}, got {type(value).__name__} with non-numbers") from None
    if isinstance(value, torch.Tensor):
        ok = value.dtype != torch.bool and not value.is_complex()
    elif isinstance(value, np.ndarray):
        ok = value.dtype.kind in "iuf"
    else:
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    if not ok:
        raise ValueError(f"{name} must hold real numbers, got {_kind(value)}")
    return value


def finite(value, name: str, what: str = "a tensor or array of numbers"):
    """`value` (a tensor, an ndarray, a list or a number) unchanged, unless it holds NaN or inf or is not real
    numbers: then an error naming `name`, with how many values are bad."""
    value = real(value, name, what)
    bad = int((~torch.isfinite(value)).sum()) if isinstance(value, torch.Tensor) else int((~np.isfinite(value)).sum())
    if bad:
        raise ValueError(f"{name} must be finite: {bad} of {value.numel() if isinstance(value, torch.Tensor) else value.size} "
                         f"values are NaN or inf")
    return value


def samples(value, name: str, ndim: int | None = 2, min_ndim: int | None = None, width: int | None = None,
            floating: bool = True):
    """A non-empty tensor or ndarray of finite real numbers: exactly `ndim` axes (or at least `min_ndim`), the
    last of size `width` when given, and of a floating dtype when `floating` (the inputs of a net or measure).
    Returns it unchanged."""
    shape_rule = f"{ndim} axes" if ndim is not None else f"at least {min_ndim} axes"
    value = real(value, name, f"a tensor of {shape_rule}")
    if (ndim is not None and value.ndim != ndim) or (min_ndim is not None and value.ndim < min_ndim):
        raise ValueError(f"{name} must have {shape_rule}, got {_kind(value)}")
    if any(s == 0 for s in value.shape):
        raise ValueError(f"{name} is empty (shape {tuple(value.shape)}); it needs at least one value per axis")
    if width is not None and value.shape[-1] != width:
        raise ValueError(f"{name} has {value.shape[-1]} features in its last axis, expected {width}")
    is_float = value.is_floating_point() if isinstance(value, torch.Tensor) else value.dtype.kind == "f"
    if floating and not is_float:
        raise ValueError(f"{name} must be floating point, got {_kind(value)}")
    return finite(value, name)


def labels(y, name: str, n: int, n_classes: int):
    """Integer class labels (n,) in [0, n_classes): unchanged, else a ValueError naming `name`."""
    if not isinstance(y, torch.Tensor) or y.shape != (n,) or y.is_floating_point() or y.is_complex() \
            or y.dtype == torch.bool:
        got = _kind(y) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"{name} must be {n} integer class labels (a tensor of shape ({n},)), got {got}")
    if n and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"{name} must lie in [0, {n_classes - 1}], got range [{int(y.min())}, {int(y.max())}]")
    return y


def integer(value, name: str, low: int = 0, high: int | None = None) -> int:
    """`value` if it is an integer (not a bool) in [low, high), else a ValueError naming `name`."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low \
        and (high is None or value < high)
    if not ok:
        upper = "" if high is None else f" and < {high}"
        raise ValueError(f"{name}={value!r} must be an integer >= {low}{upper}")
    return int(value)


def parameters(net, name: str = "net") -> None:
    """Raise a ValueError naming `name` if any parameter of the module `net` is NaN or inf."""
    bad = [k for k, p in net.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise ValueError(f"{name} has NaN or inf in its parameters {', '.join(bad)}")
