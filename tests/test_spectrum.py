"""`curvature.spectrum`, the one call for a Hessian spectrum: against dense autograd Hessians (float64) of a
small MLP under both named losses and a callable one, SLQ and Lanczos against the dense path, a stacked batch
of nets against its nets one by one, its refusals, and the README's example."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.func import functional_call

from skiplessons import models
from skiplessons.curvature import SpectrumSettings, spectrum

ROOT = Path(__file__).resolve().parents[1]


def mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))     # P = 43


def batch(loss: str, n: int = 30, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    y = torch.randint(0, 3, (n,), generator=gen) if loss == "ce" else torch.randn(n, 3, generator=gen)
    return x, y


def autograd_eigs(model, loss, x, y) -> np.ndarray:
    """Independent: `torch.autograd.functional.hessian` of the loss in the model's parameters, in float64."""
    model = model.double()
    names, shapes = zip(*[(n, p.shape) for n, p in model.named_parameters()])
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    x = x.double()
    y = y.double() if y.is_floating_point() else y

    def value(t):
        params = {n: p.view(s) for n, p, s in zip(names, torch.split(t, [s.numel() for s in shapes]), shapes)}
        out = functional_call(model, params, (x,))
        if loss == "ce":
            return torch.nn.functional.cross_entropy(out, y)
        return 0.5 * (out - y).pow(2).sum() / len(x)

    return np.linalg.eigvalsh(torch.autograd.functional.hessian(value, theta).numpy())


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_dense_spectrum_is_the_autograd_hessians(loss):
    model = mlp()
    x, y = batch(loss)
    s = spectrum(model, loss, (x, y))
    eigs = autograd_eigs(mlp(), loss, x, y)
    assert s.method == "dense" and s.n_params == 43 == eigs.size
    np.testing.assert_allclose(s.eigenvalues, eigs, atol=1e-10 * np.abs(eigs).max())
    np.testing.assert_array_equal(s.density.nodes[0], s.eigenvalues)
    assert s.density.loss == loss and s.density.n_samples == 30 and s.density.n_outputs == 3
    assert next(model.parameters()).dtype == torch.float32               # the caller's model is not changed


def test_a_callable_loss_gives_the_named_losses_spectrum():
    x, y = batch("mse")
    named = spectrum(mlp(), "mse", (x, y))
    own = spectrum(mlp(), lambda out, t: 0.5 * ((out - t) ** 2).sum() / len(out), (x, y))
    np.testing.assert_allclose(own.eigenvalues, named.eigenvalues, atol=1e-12)
    assert own.loss_value == pytest.approx(named.loss_value, rel=1e-12)
    assert own.density.n_samples is None                  # no rank bound is claimed for a loss it does not know


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_slq_and_lanczos_agree_with_the_dense_spectrum(loss):
    x, y = batch(loss)
    dense = spectrum(mlp(), loss, (x, y), "dense")
    top = np.abs(dense.eigenvalues).max()
    # with as many Lanczos steps as parameters, each probe's quadrature nodes are the eigenvalues themselves
    slq = spectrum(mlp(), loss, (x, y), "slq", n_probes=3, n_steps=43, seed=5)
    assert slq.method == "slq" and slq.eigenvalues is None and slq.density.nodes.shape == (3, 43)
    for nodes in slq.density.nodes:
        np.testing.assert_allclose(np.sort(nodes), dense.eigenvalues, atol=1e-8 * top)
    assert slq.loss_value == pytest.approx(dense.loss_value, rel=1e-12)
    assert slq.settings == SpectrumSettings(method="slq", n_probes=3, n_steps=43, seed=5)
    largest = spectrum(mlp(), loss, (x, y), "lanczos", n_eigs=4)
    by_size = dense.eigenvalues[np.argsort(-np.abs(dense.eigenvalues))[:4]]
    np.testing.assert_allclose(largest.eigenvalues, np.sort(by_size), rtol=1e-6)
    assert largest.density is None


def test_auto_picks_dense_up_to_dense_max_then_slq():
    x, y = batch("ce")
    assert spectrum(mlp(), "ce", (x, y)).method == "dense"
    assert spectrum(mlp(), "ce", (x, y), dense_max=42, n_probes=1, n_steps=5).method == "slq"


@pytest.mark.parametrize("method", ["dense", "slq", "lanczos"])
def test_a_stacked_batch_is_its_nets_one_by_one(method):
    spec = models.NetSpec(4, 3, depth=3, width=3)
    torch.manual_seed(0)
    net = models.DeepMLPs(spec, [models.Member("plain", 0), models.Member("residual", 1), models.Member("hyper", 2)])
    x, y = batch("ce")
    sizes = {"n_probes": 2, "n_steps": 12, "n_eigs": 3}
    together = spectrum(net, "ce", (x, y), method, nets=[0, 2], **sizes)
    for m, s in zip([0, 2], together):
        alone = spectrum(net.member(m), "ce", (x, y), method, **sizes)
        assert s.method == alone.method == method and s.n_params == alone.n_params
        assert s.loss_value == pytest.approx(alone.loss_value, rel=1e-12)
        if method == "slq":
            np.testing.assert_allclose(s.density.nodes, alone.density.nodes, atol=1e-9)
            np.testing.assert_allclose(s.density.weights, alone.density.weights, atol=1e-9)
        else:
            np.testing.assert_allclose(s.eigenvalues, alone.eigenvalues, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("call, match", [
    (lambda x, y: spectrum(mlp(), "ce", (x, y), "eig"), r"method='eig' is not valid; choose one of auto, dense, lanczos, slq"),
    (lambda x, y: spectrum(mlp(), "hinge", (x, y)), r"loss='hinge' is not valid; choose one of mse, ce or pass a callable"),
    (lambda x, y: spectrum(mlp(), "ce", (x, y), n_probs=3), r"spectrum\(\) has no setting n_probs; its settings are"),
    (lambda x, y: spectrum(mlp(), "ce", x), r"data must be a pair \(x, y\)"),
    (lambda x, y: spectrum("net", "ce", (x, y)), r"model must be a torch.nn.Module, got str"),
    (lambda x, y: spectrum(mlp(), "ce", (x[:, :3], y)), r"x of shape \(30, 3\) does not fit the model"),
    (lambda x, y: spectrum(mlp(), lambda o, t: o.sum(1), (x, y)), r"must return a scalar tensor"),
    (lambda x, y: spectrum(mlp(), "ce", (x, y), settings={"method": "dense"}), r"settings must be a SpectrumSettings"),
])
def test_bad_input_is_one_clear_error(call, match):
    x, y = batch("ce")
    with pytest.raises(ValueError, match=match):
        call(x, y)


def test_a_stacked_batch_takes_a_named_loss_only():
    net = models.DeepMLPs(models.NetSpec(4, 3, depth=2, width=3), [models.Member("plain", 0)])
    x, y = batch("ce")
    with pytest.raises(ValueError, match="a stacked batch of nets .* takes a named loss"):
        spectrum(net, torch.nn.functional.cross_entropy, (x, y), nets="all")


def test_the_readme_example_runs(capsys):
    text = (ROOT / "README.md").read_text()
    section = text.split("## The spectrum of your own model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 6
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("dense [") and "Fraction(" not in out
