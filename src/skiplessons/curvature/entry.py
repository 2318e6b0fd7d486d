"""One call for the Hessian spectrum of any model and loss: `spectrum(model, loss, (x, y))` (chapter III.2).

It picks and runs the right tool of this package -- the dense Hessian and `eigvalsh` for small nets,
`lanczos_eigs` for the largest eigenvalues, `slq` for a spectral density -- in float64 on a copy of the
model, and returns a `Spectrum` carrying the settings it used. A module holding M nets stacked on axis 0 (a
`models.DeepMLPs` batch) is measured in one go with `nets=`: one `Spectrum` per listed net, from the batch's
block-diagonal operator (`stacked_hvp`), the SLQ recurrences of all nets in lockstep.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from .dense import dense_hessian
from .functional import Loss, batch_loss, check_targets, flat_fn, loss_name, outputs
from .lanczos import lanczos_eigs, slq
from .operators import hvp_operator
from .settings import SpectrumSettings
from .stacked import stacked_flat_fn, stacked_hvp, stacked_slq
from .summaries import SpectralDensity


@dataclass(frozen=True)
class Spectrum:
    """A Hessian spectrum and how it was measured.

    `method`: what ran ("dense", "lanczos" or "slq"; "auto" resolved); `settings`: the `SpectrumSettings`
    used; `eigenvalues`: ascending float64, all P of them ("dense") or the `settings.n_eigs` largest in
    magnitude ("lanczos"), None from SLQ; `density`: a `SpectralDensity` (dense: one probe, weight 1/P per
    eigenvalue; SLQ: one row per probe), None from "lanczos"; `loss_value`: the loss at the parameters;
    `n_params`: P.
    """

    method: str
    settings: SpectrumSettings
    eigenvalues: np.ndarray | None
    density: SpectralDensity | None
    loss_value: float
    n_params: int


def _settings(settings, method, overrides) -> SpectrumSettings:
    if not isinstance(settings, SpectrumSettings):
        raise ValueError(f"settings must be a SpectrumSettings, got {type(settings).__name__}")
    names = {f.name for f in dataclasses.fields(SpectrumSettings)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"spectrum() has no setting {', '.join(unknown)}; its settings are {', '.join(sorted(names))}")
    return dataclasses.replace(settings, **overrides, **({} if method is None else {"method": method}))


def _data(data):
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor)):
        raise ValueError("data must be a pair (x, y): the inputs (a tensor, first axis over samples) and the "
                         "targets the loss compares the outputs with")
    return data


def _density(eigs: np.ndarray, n_samples, n_outputs, loss) -> SpectralDensity:
    """Exact eigenvalues as a one-probe density (weight 1/P each), with the rank bound's sizes for named losses."""
    p = eigs.size
    name = loss_name(loss)
    sizes = (n_samples, n_outputs) if name else (None, None)
    return SpectralDensity(eigs[None, :], np.full((1, p), 1.0 / p), p, *sizes, loss=name or "ce")


def _named(density: SpectralDensity, loss) -> SpectralDensity:
    """An SLQ density with the loss its rank bound needs (none for a callable loss)."""
    name = loss_name(loss)
    if name is None:
        return dataclasses.replace(density, n_samples=None, n_outputs=None)
    return dataclasses.replace(density, loss=name)


def _largest(op, settings: SpectrumSettings, p: int) -> np.ndarray:
    eigs = lanczos_eigs(op, k=min(settings.n_eigs, p - 1), which="LM", seed=settings.seed)
    return np.sort(np.asarray(eigs, dtype=np.float64))


def spectrum(model: torch.nn.Module, loss: Loss, data, method: str | None = None,
             settings: SpectrumSettings = SpectrumSettings(), nets=None, dtype: torch.dtype = torch.float64,
             **overrides):
    """The spectrum of the Hessian of the mean `loss` of `model` on `data` = (x, y). Chapter III.2.

    `loss`: "ce" (integer labels), "mse" (targets shaped like the outputs) or any callable
    (outputs, targets) -> scalar. `method` (overriding `settings.method`): "auto" (dense up to
    `settings.dense_max` parameters, else SLQ), "dense", "lanczos" or "slq"; `overrides` set other fields of
    `settings` (`n_probes=8`, ...). The model is copied and cast to `dtype`; it is not changed. Costs: dense,
    P Hessian-vector products and an O(P^3) eigendecomposition; SLQ, n_probes * n_steps products.

    `nets`: None for one net; for a module holding M nets on axis 0 (a `models.DeepMLPs`), the indices of
    the nets to measure (or "all"), and a list of one `Spectrum` per net is returned (named losses only).
    """
    settings = _settings(settings, method, overrides)
    x, y = _data(data)
    if nets is not None:
        return _stacked(model, loss, x, y, settings, nets, dtype)
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    theta, f = flat_fn(copy.deepcopy(model).to(dtype))
    out = outputs(f, theta, x)                 # any model: a ValueError naming x and its shape when it does not fit
    p, (n, c) = theta.numel(), out.shape
    x = x.to(dtype) if x.is_floating_point() else x
    chosen = settings.choose(p)
    if chosen == "dense":
        H = dense_hessian(f, theta, x, y, loss, max_params=max(p, settings.dense_max), chunk_size=64)
        eigs = torch.linalg.eigvalsh(H).cpu().numpy()
        with torch.no_grad():
            value = float(batch_loss(out, check_targets(out, y, loss), loss))
        return Spectrum(chosen, settings, eigs, _density(eigs, n, c, loss), value, p)
    op = hvp_operator(f, theta, x, y, loss)
    if chosen == "lanczos":
        return Spectrum(chosen, settings, _largest(op, settings, p), None, op.torch_apply.loss_value, p)
    density = slq(op, n_probes=settings.n_probes, n_steps=settings.n_steps, seed=settings.seed)
    return Spectrum(chosen, settings, None, _named(density, loss), op.torch_apply.loss_value, p)


def _stacked(model, loss, x, y, settings, nets, dtype) -> list[Spectrum]:
    """`spectrum` of each listed net of a stacked batch, from its block-diagonal operator."""
    if loss_name(loss) is None:
        raise ValueError("a stacked batch of nets (nets=...) takes a named loss: 'ce' or 'mse', not a callable")
    theta, f = stacked_flat_fn(model, rows=None if nets == "all" else nets, dtype=dtype)
    op = stacked_hvp(f, theta, x.to(dtype) if x.is_floating_point() else x, y, loss=loss)
    p, chosen = op.n_params, settings.choose(op.n_params)
    if chosen == "slq":
        densities = stacked_slq(op, n_probes=settings.n_probes, n_steps=settings.n_steps, seed=settings.seed)
        return [Spectrum(chosen, settings, None, _named(d, loss), float(v), p)
                for d, v in zip(densities, op.loss_values)]
    if chosen == "lanczos":
        return [Spectrum(chosen, settings, _largest(op.net(m), settings, p), None, float(v), p)
                for m, v in enumerate(op.loss_values)]
    eigs = torch.linalg.eigvalsh(op.dense()).cpu().numpy()
    return [Spectrum(chosen, settings, e, _density(e, op.n_samples, op.n_outputs, loss), float(v), p)
            for e, v in zip(eigs, op.loss_values)]
