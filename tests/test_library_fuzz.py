"""Every public function that takes data or parameters refuses NaN, inf, empty, wrongly shaped and wrongly
typed inputs with one ValueError or TypeError naming the argument, never a raw torch/numpy/scipy error and
never a number computed from them (issue #31). Each case starts from a valid input that the function accepts
(checked too), and changes one thing."""
import re

import numpy as np
import pytest
import torch

from skiplessons import data, degeneracy as dg, dynamics as dy, fisher as fi, layer_measures as lm, models, stats
from skiplessons.curvature import (SpectrumSettings, spectrum, dense_hessian, degenerate_fraction, flat_fn, hvp_operator, lanczos_eigs, slq,
                                   stacked_flat_fn, stacked_hvp)
from skiplessons.shallow import TwoLayerNet, gaussian_inputs
from skiplessons.train import train

G = torch.Generator().manual_seed(0)
ACTS = torch.randn(3, 30, 5, generator=G, dtype=torch.float64)          # (layers..., N, n)
WEIGHTS = torch.randn(5, 7, generator=G, dtype=torch.float64)
SHALLOW = TwoLayerNet(3, 2, seed=1)
XS = gaussian_inputs(40, 3, seed=2)                                     # (40, 3) for the shallow net
YS = SHALLOW(XS).detach() + 0.1
DIR = torch.randn(sum(p.numel() for p in SHALLOW.parameters()), generator=G, dtype=torch.float64)
SPEC = models.NetSpec(6, 3, depth=2, width=4)
DEEP = models.DeepMLPs(SPEC, [models.Member("plain", 0), models.Member("residual", 1)])
XD = torch.randn(20, 6, generator=G)
YD = torch.arange(20) % 3
TEACHER = dy.default_teacher()
THETA = dy.small_init(3, 0.1, seed=0)                                    # (3, 6)
T = np.linspace(0.0, 10.0, 11)
LOSS = np.exp(-T)[:, None] * np.ones((1, 2)) + 0.01
SYM = np.diag(np.arange(1.0, 31.0))
SETTINGS = SpectrumSettings(method="dense", dense_max=2000)


def deep_theta_f():
    theta, f = flat_fn(DEEP.member(0).double())
    return theta, f


def dataset(x_train=None, y_train=None):
    return data.Dataset("toy", XD[:15] if x_train is None else x_train, YD[:15] if y_train is None else y_train,
                        XD[15:], YD[15:], 3)


#: (id, call(value), a valid value, the argument's name, variants that do not apply)
CASES = [
    ("elimination_fraction", lambda v: lm.elimination_fraction(v), ACTS, "acts", ()),
    ("elimination_fraction-list", lambda v: lm.elimination_fraction([ACTS[0], v]), ACTS[1], "acts", ()),
    ("overlap_fraction-acts", lambda v: lm.overlap_fraction(acts=v), ACTS, "acts", ()),
    ("overlap_fraction-weights", lambda v: lm.overlap_fraction(weights=v), WEIGHTS, "weights", ()),
    ("rank_deficit", lambda v: lm.rank_deficit(v), ACTS, "acts", ()),
    ("live_rank_deficit", lambda v: lm.live_rank_deficit(v), ACTS, "acts", ()),
    ("effective_rank", lambda v: lm.effective_rank(v), ACTS, "acts", ()),
    ("layer_measures", lambda v: lm.layer_measures(v), ACTS, "acts", ()),
    ("fisher_eigh", lambda v: fi.fisher_eigh(SHALLOW, v), XS, "x", ()),
    ("fisher_zeros", lambda v: fi.fisher_zeros(SHALLOW, v), XS, "x", ()),
    ("function_change-x", lambda v: fi.function_change(SHALLOW, v, DIR, 0.1), XS, "x", ()),
    ("function_change-direction", lambda v: fi.function_change(SHALLOW, XS, v, 0.1), DIR, "direction", ()),
    ("loss_slice-x", lambda v: fi.loss_slice(SHALLOW, v, YS, DIR, [0.0, 1.0]), XS, "x", ()),
    ("loss_slice-y", lambda v: fi.loss_slice(SHALLOW, XS, v, DIR, [0.0, 1.0]), YS, "y", ()),
    ("loss_slice-direction", lambda v: fi.loss_slice(SHALLOW, XS, YS, v, [0.0, 1.0]), DIR, "direction", ()),
    ("loss_slice-ts", lambda v: fi.loss_slice(SHALLOW, XS, YS, DIR, v), np.array([0.0, 1.0]), "ts", ("empty", "wrong-shape")),
    ("loss_plane-x", lambda v: fi.loss_plane(SHALLOW, v, YS, DIR, DIR, [0.0], [0.0]), XS, "x", ()),
    ("loss_plane-d2", lambda v: fi.loss_plane(SHALLOW, XS, YS, DIR, v, [0.0], [0.0]), DIR, "d2", ()),
    ("approach_spectra", lambda v: fi.approach_spectra(SHALLOW, SHALLOW, v, [1.0, 0.0]), XS, "x", ()),
    ("expected_loss", lambda v: dy.expected_loss(v, TEACHER), THETA, "theta", ()),
    ("loss_and_grad", lambda v: dy.loss_and_grad(v, TEACHER), THETA, "theta", ()),
    ("monte_carlo_loss", lambda v: dy.monte_carlo_loss(v, TEACHER, n_samples=100), THETA[0], "theta", ()),
    ("gradient_flow", lambda v: dy.gradient_flow(v, TEACHER, t_max=1.0, n_eval=3), THETA, "theta0", ()),
    ("online_sgd", lambda v: dy.online_sgd(v, TEACHER, n_steps=3, n_record=2), THETA, "theta0", ()),
    ("Teacher-K", lambda v: dy.Teacher(v, np.ones(len(v))), TEACHER.K, "K", ("empty",)),
    ("time_to_threshold-t", lambda v: dy.time_to_threshold(v, LOSS, 0.5), T, "t", ()),
    ("time_to_threshold-loss", lambda v: dy.time_to_threshold(T, v, 0.5), LOSS, "loss", ("inf",)),
    ("slow_time", lambda v: dy.slow_time(T, v, 0.1), LOSS, "loss", ()),
    ("slow_intervals", lambda v: dy.slow_intervals(T, v, 0.1), LOSS, "loss", ()),
    ("correlation-a", lambda v: stats.correlation(v, np.arange(6.0) ** 2, n_boot=50), np.arange(6.0), "a", ()),
    ("correlation-b", lambda v: stats.correlation(np.arange(6.0), v, n_boot=50), np.arange(6.0) ** 2, "b", ()),
    ("quartiles", lambda v: stats.quartiles(v), np.arange(6.0), "values", ("inf", "wrong-shape")),
    ("dense_hessian-x", lambda v: dense_hessian(deep_theta_f()[1], deep_theta_f()[0], v, YD, loss="ce"), XD.double(), "x", ()),
    ("dense_hessian-theta", lambda v: dense_hessian(deep_theta_f()[1], v, XD, YD, loss="ce"),
     deep_theta_f()[0].detach(), "theta", ()),
    ("hvp_operator-x", lambda v: hvp_operator(deep_theta_f()[1], deep_theta_f()[0], v, YD, loss="ce"),
     XD.double(), "x", ()),
    ("lanczos_eigs", lambda v: lanczos_eigs(v, k=2), SYM, "op", ()),
    ("slq", lambda v: slq(v, n_probes=1, n_steps=3), SYM, "op", ()),
    ("stacked_hvp-x", lambda v: stacked_hvp(*stacked_flat_fn(DEEP, dtype=torch.float64)[::-1], v, YD),
     XD.double(), "x", ()),
    ("degenerate_fraction", lambda v: degenerate_fraction(v), np.linspace(0.0, 1.0, 10), "eigenvalues", ()),
    ("measure", lambda v: dg.measure(DEEP, v, YD, SETTINGS), XD, "x", ()),
    ("hessian_spectrum", lambda v: dg.hessian_spectrum(DEEP.member(0), v, YD, SETTINGS), XD, "x", ()),
    ("layer_singularities", lambda v: dg.layer_singularities(DEEP, v), XD, "x", ()),
    ("spectrum-stacked", lambda v: spectrum(DEEP, "ce", (v, YD), "slq", nets="all", n_probes=1, n_steps=2),
     XD, "x", ()),
    ("DeepMLPs.forward", lambda v: DEEP(v), XD, "x", ("nan", "inf")),
    ("MLP.forward", lambda v: DEEP.member(0)(v), XD, "x", ("nan", "inf")),
    ("hidden_rms", lambda v: models.hidden_rms(DEEP, v), XD, "x", ("nan", "inf")),
    ("Dataset-x_train", lambda v: dataset(x_train=v), XD[:15], "x_train", ()),
    ("train-x_train", lambda v: train(DEEP, dataset(x_train=v), 2, batch_size=4), XD[:15], "x_train", ()),
]

VARIANTS = ("nan", "inf", "empty", "wrong-shape", "wrong-dtype")


def variant(valid, kind):
    """`valid` with one thing wrong: a NaN or inf entry, no rows, one axis too many, or complex numbers."""
    if kind in ("nan", "inf"):
        out = valid.clone() if isinstance(valid, torch.Tensor) else np.array(valid, dtype=float)
        out.reshape(-1)[len(out.reshape(-1)) // 2] = np.nan if kind == "nan" else np.inf
        return out
    if kind == "empty":
        return valid[:0]
    if kind == "wrong-shape":
        if valid.ndim >= 2:
            return valid.reshape(-1)
        return valid[:-1, None].repeat(1, 2) if isinstance(valid, torch.Tensor) else np.repeat(valid[:-1, None], 2, 1)
    return valid.to(torch.complex128) if isinstance(valid, torch.Tensor) else np.asarray(valid).astype(complex)


@pytest.mark.parametrize("name, call, valid, arg, skip", CASES, ids=[c[0] for c in CASES])
def test_the_valid_input_is_accepted(name, call, valid, arg, skip):
    call(valid)


@pytest.mark.parametrize("kind", VARIANTS)
@pytest.mark.parametrize("name, call, valid, arg, skip", CASES, ids=[c[0] for c in CASES])
def test_a_bad_input_is_one_error_naming_the_argument(name, call, valid, arg, skip, kind):
    if kind in skip:
        pytest.skip(f"{kind} is valid input here")
    with pytest.raises((ValueError, TypeError)) as err:
        call(variant(valid, kind))
    assert re.search(rf"(?<![A-Za-z_]){re.escape(arg)}(?![A-Za-z_])", str(err.value)), str(err.value)


@pytest.mark.parametrize("call, match", [
    (lambda: fi.fisher_eigh(_nan_net(), XS), "net has NaN or inf in its parameters"),
    (lambda: fi.fisher_zeros(_nan_net(), XS), "net has NaN or inf in its parameters"),
    (lambda: train(DEEP, data.Dataset("toy", XD[:15], YD[:15] + 3, XD[15:], YD[15:], 6), 2), "data.y_train must lie in"),
    (lambda: dataset(y_train=YD[:15] + 3), r"y_train must lie in \[0, 2\]"),
    (lambda: dataset(y_train=YD[:14]), "y_train must be 15 integer class labels"),
    (lambda: dg.measure(DEEP, XD, YD + 3, SETTINGS), r"labels y must lie in \[0, 2\]"),
    (lambda: DEEP(XD.double()), "x must be a torch.float32 tensor"),
    (lambda: DEEP(XD[:, :5]), r"x must be a torch.float32 tensor of shape \(N >= 1, d_in=6\)"),
    (lambda: stats.correlation(np.ones(6), np.arange(6.0)), "a is constant"),
    (lambda: stats.correlation(np.arange(6.0), np.arange(6.0), seed=-1), "seed=-1 must be an integer >= 0"),
    (lambda: stats.quartiles(["a", "b"]), "values must be numbers"),
    (lambda: dy.small_init(2, 0.1, seed=-1), "seed=-1 must be an integer >= 0"),
    (lambda: dy.slow_time(T, np.where(T > 5, np.inf, LOSS[:, 0]), 0.1), "loss must be positive and finite"),
    (lambda: data.mnist1d(200, train_split=0), "train_split=0 must leave both splits non-empty"),
    (lambda: data.mnist1d(200, train_split=1.0), "train_split=1.0 must leave both splits non-empty"),
    (lambda: data.mnist1d(200, seed=-1), r"seed=-1 must be an integer in \[0, 2\*\*32\)"),
    (lambda: data.mnist1d(20.5), "n_samples=20.5 must be an integer"),
    (lambda: data.teacher(n_train=0), "n_train=0 must be an integer >= 1"),
    (lambda: data.teacher(seed=-1), "seed=-1 must be an integer >= 0"),
    (lambda: data.digits(test_fraction=0.0), "test_fraction=0.0 must be a number in"),
    (lambda: SpectrumSettings(n_probes=0), "n_probes=0 must be an integer >= 1"),
    (lambda: SpectrumSettings(n_steps=-3), "n_steps=-3 must be an integer >= 1"),
    (lambda: SpectrumSettings(dense_max=-1), "dense_max=-1 must be an integer >= 0"),
    (lambda: SpectrumSettings(seed=-1), "seed=-1 must be an integer >= 0"),
    (lambda: SpectrumSettings(tols=(float("nan"),)), "tols="),
    (lambda: SpectrumSettings(neg_tol=float("inf")), "neg_tol=inf must be > 0"),
    (lambda: slq(SYM, n_probes=float("nan")), "n_probes=nan must be an integer >= 1"),
    (lambda: models.Member("plain", seed=-1), "seed=-1 must be a non-negative integer"),
], ids=lambda c: c if isinstance(c, str) else "")
def test_other_bad_values_are_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def _nan_net():
    net = TwoLayerNet(3, 2, seed=1)
    with torch.no_grad():
        next(net.parameters())[0, 0] = float("nan")
    return net


def test_settings_accept_a_list_of_tolerances():
    assert SpectrumSettings(tols=[1e-2, 1e-3]).tols == (1e-2, 1e-3)
