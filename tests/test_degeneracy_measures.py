"""Part III's measures read from results: near-zero fractions per normalization recomputed from stored spectra
(against numpy on the stored nodes), SLQ error bars against dense spectra, the ordering verdicts on built
numbers, and the exact-zeros experiment's accessors at `smoke` scale."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from skiplessons import claims, data, degeneracy as dg, models, train
from skiplessons.claims import part3
from skiplessons.curvature import NORMALIZATIONS, SpectrumSettings, flat_fn, hvp_operator, near_zero_fraction, slq
from skiplessons.experiments import load_or_run, stored


@pytest.fixture()
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIPLESSONS_RESULTS", str(tmp_path))
    return tmp_path


def test_slq_error_bars_cover_the_dense_fractions_on_small_nets():
    """SLQ at the `default` sizes (6 probes x 40 steps) on trained depth-6 nets: for every normalization the
    dense near-zero fraction lies within twice the stated error (probe spread and quadrature resolution)."""
    d = data.mnist1d(n_samples=600, seed=3)
    net = models.DeepMLPs(models.NetSpec(40, 10, depth=6, width=6), [models.Member("plain", 1),
                                                                     models.Member("residual", 1)])
    train.train(net, d, steps=200, lr=3e-3, batch_size=64, progress=False)
    x, y = d.x_train[:300].double(), d.y_train[:300]
    for m in range(2):
        model = net.member(m).double()
        exact = dg.hessian_spectrum(model, x, y, SpectrumSettings(method="dense"))
        theta, f = flat_fn(model)
        approx = slq(hvp_operator(f, theta, x, y, loss="ce"), n_probes=6, n_steps=40, seed=0)
        for norm in NORMALIZATIONS:
            for t in dg.SWEEP[norm][::4]:
                a, e = near_zero_fraction(approx, t, norm), near_zero_fraction(exact, t, norm)
                assert abs(a.fraction - e.fraction) <= 2 * a.error + a.resolution + 1e-9, (m, norm, t)


@pytest.mark.parametrize("plain, other, outcome", [
    ([0.9, 0.92, 0.91], [0.80, 0.81, 0.79], "shown"),
    ([0.80, 0.81, 0.79], [0.9, 0.92, 0.91], "reversed"),
    ([0.80, 0.81, 0.79], [0.80, 0.82, 0.79], "inside")])
def test_plain_above(plain, other, outcome):
    values = {"plain": np.array(plain), "residual": np.array(other), "hyper": np.array(other)}
    name, primary, second = part3.plain_above(values)
    assert name == "plain − residual" and primary.outcome == outcome and list(second) == ["plain − hyper"]
    # a measurement bound as large as the gap leaves it inside, and more runs cannot resolve it
    errors = {g: (0.0, 0.2) for g in values}
    _, bounded, _ = part3.plain_above(values, errors)
    assert bounded.outcome == "inside" and bounded.runs_needed is None
    with pytest.raises(ValueError, match="plain"):
        part3.plain_above({"residual": np.array(other)})


def test_paper_result_is_reread_under_every_normalization():
    """The committed paper-scale spectra: the accessor's fractions equal numpy on the stored nodes/weights."""
    paper = stored("degeneracy", "paper")
    nodes, weights = paper.arrays["ckpt_nodes"][-1, 0], paper.arrays["ckpt_weights"][-1, 0]
    scales = {"max": np.abs(nodes).max(), "mean": (weights * np.abs(nodes)).sum(1).mean(), "absolute": 1.0}
    for norm in NORMALIZATIONS:
        t = dg.NEAR_ZERO[norm]
        expected = (weights * (np.abs(nodes) <= t * scales[norm])).sum(1).mean()
        assert paper.near_zero(norm)[paper.groups()[0]][0] == pytest.approx(expected)
        assert paper.sweep(norm)[paper.groups()[0]].shape == (10, len(dg.SWEEP[norm]))
    assert not any(v.any() for v in paper.collapsed().values())
    v = part3.near_zero_gap(paper, "absolute")
    assert v.verdict == claims.IMPRECISE and "SLQ error" in v.numbers


def test_exact_zeros_smoke(results):
    r = load_or_run("exact_zeros", "smoke")
    n = len(r)
    assert n == len(r.config.archs) * len(r.config.seeds)
    for matrix in ("hessian", "ggn"):
        att = r.attribution(matrix)
        measured = r.measured(matrix)
        for g in r.groups():
            total = sum(att[g][c] for c in att[g])
            np.testing.assert_allclose(total, measured[g] * r.n_params)
    assert all((v == 0).all() for v in r.negative("ggn").values())
    e = r.slq_error("max")
    assert e["error"].shape == e["se"].shape == e["bound"].shape == (n,)
    assert part3.exact_zero_gap(r).verdict in claims.VERDICTS
    for matrix in ("hessian", "ggn"):                 # chapter III.2's attribution table: a row per architecture
        table, share = part3.attribution_table(r, matrix)
        assert len(table.splitlines()) == 2 + len(r.groups()) and set(share) == set(r.groups())
        assert all(0 <= s <= 1 for s in share.values()) and ("functional dimension" in table) == (matrix == "ggn")
    table, usable = part3.slq_table(r)                # and its SLQ table: a row per normalization and size
    assert len(usable) == len(NORMALIZATIONS) * len(r.slq_sizes) == len(table.splitlines()) - 2
    with pytest.raises(ValueError, match="matrix"):
        r.measured("fisher")
    # both stages, the functional dimension as P minus the Gauss-Newton zeros, every SLQ size
    for at in ("init", "end"):
        fdim, zeros = r.functional_dimension(at=at), r.measured("ggn", at=at)
        for g in r.groups():
            np.testing.assert_allclose(fdim[g], r.n_params * (1 - zeros[g]))
        for size in r.slq_sizes:
            assert r.slq_error("max", at=at, size=size)["error"].shape == (n,)
    assert len(r.slq_sizes) == 1 + len(r.config.slq_sizes)
    with pytest.raises(ValueError, match="at="):
        r.measured("hessian", at="middle")
    with pytest.raises(ValueError, match="size="):
        r.density(0, method="slq", size=(3, 7))


def test_depth_sweep_stores_near_zero_fractions_per_normalization(results):
    r = load_or_run("depth_sweep", "smoke")
    for norm in NORMALIZATIONS:
        values, errors = r.near_zero(norm), r.near_zero_error(norm)
        for g, v in values.items():
            assert v.shape == (len(r.depths), len(r.labels()) // len(values)) and ((0 <= v) & (v <= 1)).all()
            se, bound = errors[g]
            assert se.shape == bound.shape == (len(r.depths),) and (bound > 0).all() and (se >= 0).all()


def test_old_depth_sweep_results_say_what_is_missing():
    """A sweep stored before the per-normalization fractions existed gives a clear error, not a number; the
    committed paper-scale sweep (run again since) has them."""
    import dataclasses

    res = stored("depth_sweep", "paper")
    assert np.all((res.near_zero("max")["plain"] >= 0) & (res.near_zero("max")["plain"] <= 1))
    old_arrays = {k: v for k, v in res.arrays.items() if not k.startswith("near_zero")}
    old = type(res)(dataclasses.replace(res.stored, arrays=old_arrays))
    with pytest.raises(ValueError, match="run it again"):
        old.near_zero("max")


def test_figures_of_the_paper_result():
    """The chapter's figure functions on the committed paper-scale result: one panel per normalization, one per
    stored layer measure (the live rank deficit is not stored there, so it is left out, and asking for it
    says so)."""
    import matplotlib
    matplotlib.use("Agg")
    from skiplessons import plots

    paper = stored("degeneracy", "paper")
    fig = plots.part3.sweep(paper)
    assert len(fig.axes) == len(NORMALIZATIONS)
    assert all(len(ax.lines) >= len(paper.groups()) for ax in fig.axes)
    assert len(plots.part3.layers(paper).axes) == 3
    assert len(plots.part3.spectra(paper, {g: 0 for g in paper.groups()[:2]}).axes) == 2
    with pytest.raises(ValueError, match="live_rank_deficit"):
        paper.layer("live_rank_deficit")
