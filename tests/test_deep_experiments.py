"""Plumbing of the Part III experiments at `smoke` scale: registry, configs per scale, stored results, the CLI."""
from __future__ import annotations

import numpy as np
import pytest

from skiplessons import __main__ as cli
from skiplessons import experiments
from skiplessons.curvature import degenerate_fraction
from skiplessons.curvature import SpectralDensity
from skiplessons.experiments.configs import CIFAR100, takes_paper_data

NAMES = ("degeneracy", "depth_sweep", "training_digits")


@pytest.fixture()
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIPLESSONS_RESULTS", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_cli_keys_at_every_scale(name):
    exp = experiments.get(name)
    for scale in ("smoke", "default", "paper"):
        c = exp.configs[scale]
        assert all(hasattr(c, k) for k in ("data", "data_dir", "seeds")), (name, scale)
    assert takes_paper_data(exp.configs["paper"]) or name == "training_digits"


def test_default_sizes_avoid_the_rank_trap():
    """The Gauss-Newton rank bound N*(C-1) must be well above P wherever fractions are compared (the paper
    configs on MNIST-1D and their CIFAR-100 configuration)."""
    from skiplessons.models import DeepMLPs, Member, NetSpec

    for name, depth_key in (("degeneracy", "depth"), ("depth_sweep", "depths")):
        for scale, d_in, n_cls, overrides in (("default", 40, 10, {}), ("paper", 40, 10, {}),
                                              ("paper", 3072, 100, CIFAR100)):
            c = experiments.config_for(name, scale, **overrides)
            depth = max(np.atleast_1d(getattr(c, depth_key)))
            p = DeepMLPs(NetSpec(d_in, n_cls, depth=int(depth), width=c.width), [Member("plain")]).n_params()
            assert c.hessian_samples * (n_cls - 1) >= 3 * p, (name, scale, p)


def test_degeneracy_smoke(results):
    r = experiments.load_or_run("degeneracy", "smoke")
    a, c = r.arrays, r.stored.config
    n_nets, T = len(c["archs"]) * len(c["seeds"]), c["checkpoints"]
    assert a["ckpt_step"][0] == 0 and a["ckpt_step"][-1] == c["steps"] and len(a["ckpt_step"]) == T
    assert a["ckpt_degenerate"].shape == (T, n_nets, len(c["spectrum"]["tols"]))
    assert a["ckpt_elimination"].shape == (T, n_nets, c["depth"])
    assert ((0 <= a["ckpt_degenerate"]) & (a["ckpt_degenerate"] <= 1)).all()
    # the stored fractions are recomputable from the stored spectra
    m = 1
    d = SpectralDensity(a["ckpt_nodes"][-1, m], a["ckpt_weights"][-1, m], r.summary["n_params"])
    assert float(degenerate_fraction(d, c["spectrum"]["tols"][1])) == pytest.approx(a["ckpt_degenerate"][-1, m, 1])
    assert len(list(results.glob("degeneracy-smoke-*.json"))) == 1
    again = experiments.load_or_run("degeneracy", "smoke")         # cached: same arrays
    np.testing.assert_array_equal(again.arrays["ckpt_nodes"], a["ckpt_nodes"])


def test_depth_sweep_smoke(results):
    r = experiments.load_or_run("depth_sweep", "smoke")
    a, c = r.arrays, r.stored.config
    n_nets = len(c["archs"]) * len(c["seeds"])
    assert a["depth"].tolist() == c["depths"] and a["acc"].shape == (len(c["depths"]), n_nets)
    assert (np.diff(a["n_params"][:, 0]) > 0).all()                    # deeper nets have more parameters
    acc = r.at_depths("acc")
    assert set(acc) == set(c["archs"]) and acc["plain"].shape == (len(c["depths"]), len(c["seeds"]))
    np.testing.assert_array_equal(acc["plain"], a["acc"][:, a["arch"] == "plain"])


def test_training_digits_smoke_via_cli(results, monkeypatch, capsys):
    monkeypatch.setenv("SKIPLESSONS_SCALE", "smoke")
    assert cli.main(["run", "training_digits", "--scale", "smoke", "--seeds", "1"]) == 0
    assert experiments.stored("training_digits", "smoke") is None     # not the registered seeds: never substituted
    r = experiments.load_or_run("training_digits", "smoke", seeds=[1])   # the result the command stored
    assert r.summary["data"] == "digits" and r.arrays["seed"].tolist() == [1, 1, 1]
    assert f"stored {r.stored.key}: " in capsys.readouterr().out


def test_paper_scale_without_cifar_says_what_is_missing(results, tmp_path, monkeypatch, capsys):
    pytest.importorskip("numpy")
    monkeypatch.setenv("SKIPLESSONS_SCALE", "paper")
    try:
        import torchvision  # noqa: F401
        pytest.skip("torchvision is installed: it would try to download CIFAR")
    except ImportError:
        pass
    assert cli.main(["run", "degeneracy", "--scale", "paper", "--data", "cifar100",
                     "--data-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "cifar100" in err and "--data mnist1d" in err
