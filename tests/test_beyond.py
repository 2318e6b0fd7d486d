"""Part V experiments and checks: the readers of `llc_toy`, `llc_deep` and `rank_collapse`, and the verdict rules of
`claims.part5` on constructed results (each rule shown to hold, and to fail)."""
from __future__ import annotations

import numpy as np
import pytest

from skiplessons import claims, results
from skiplessons.claims import part5
from skiplessons.experiments import config_for, registry
from skiplessons.experiments.part5 import LLCDeepResult, LLCToyResult, RankCollapseResult, run_rank_collapse
from skiplessons.experiments.configs import DEGENERACY, LLC_DEEP
from skiplessons.experiments import RunContext
import torch
from fakes import stored_config


def test_registered_with_chapters():
    reg = registry()
    for name, chapter in (("llc_toy", "11_learning_coefficient"), ("llc_deep", "11_learning_coefficient"),
                          ("rank_collapse", "13_transformers"), ("shattered_depth", "12_rival_explanations")):
        assert reg[name].chapter == chapter


def test_llc_deep_shares_the_degeneracy_nets():
    """Same data, nets, training and checkpoints as `degeneracy`, so the two compare net by net."""
    for scale in ("smoke", "default", "paper"):
        a, b = LLC_DEEP[scale], DEGENERACY[scale]
        for field in ("data", "n_samples", "depth", "width", "archs", "seeds", "steps", "lr", "batch_size",
                      "checkpoints", "record_every"):
            assert getattr(a, field) == getattr(b, field), (scale, field)


def toy(values: dict[str, list[float]], targets: dict[str, float], unmeasurable=()) -> LLCToyResult:
    names = np.array([m for m, v in values.items() for _ in v])
    ok = {"stiffness": 0.1, "burn_in": 500, "burn_in_needed": 100, "rhat": 1.0, "drift_z": 0.0}
    summary = {"models": {m: {"target": t, "target_se": 0.0, "lam": t, "multiplicity": 1, "formula": m, "d": 1,
                              "n": 4000, **ok, **({"burn_in_needed": 1e5} if m in unmeasurable else {})}
                          for m, t in targets.items()}, "sweep": {}}
    return LLCToyResult(results.Result("llc_toy", "default", stored_config("llc_toy", ns=(4000, 100_000)), summary,
                                       {"llc": np.concatenate(list(values.values())), "case": names}, {}))


def test_estimator_recovers_rule():
    rng = np.random.default_rng(0)
    a = f"{part5.LLC_PRIMARY} @ n = 4,000"
    good = toy({a: list(0.5 + 0.01 * rng.standard_normal(50))}, {a: 0.5})
    assert part5.estimator_recovers(good).verdict == claims.HOLDS
    other = toy({a: list(0.5 + 0.01 * rng.standard_normal(50)), "b": list(0.8 + 0.01 * rng.standard_normal(50))},
                {a: 0.5, "b": 0.5})
    v = part5.estimator_recovers(other)                     # the secondary case is off its target: reported
    assert v.verdict == claims.HOLDS and v.secondary[0].outcome == "shown"
    skipped = toy({a: list(0.5 + 0.01 * rng.standard_normal(50)), "b": list(0.8 + 0.01 * rng.standard_normal(50))},
                  {a: 0.5, "b": 0.5}, unmeasurable=("b",))
    v = part5.estimator_recovers(skipped)                   # a case that cannot equilibrate is not judged
    assert not v.secondary and "not measurable here: b (burn-in 500 < 1e+05" in v.numbers
    bad = toy({a: list(0.8 + 0.01 * rng.standard_normal(50)), "b": list(0.5 + 0.01 * rng.standard_normal(50))},
              {a: 0.5, "b": 0.5})
    assert part5.estimator_recovers(bad).verdict == claims.FAILS
    vague = toy({a: list(0.5 + 0.5 * rng.standard_normal(4))}, {a: 0.5})
    assert part5.estimator_recovers(vague).verdict == claims.IMPRECISE
    assert part5.estimator_recovers(toy({a: [0.5, 0.5]}, {a: 0.5}, unmeasurable=(a,))).verdict == claims.UNTESTED
    with pytest.raises(ValueError, match="model='c'"):
        bad.target("c")
    assert part5.llc_tolerance(0.01) == part5.LLC_ABS_TOL and part5.llc_tolerance(2.0) == pytest.approx(0.1)


def deep(llc_by_arch: dict[str, list[float]], chain_error: float = 0.0, unmeasurable: int = 0) -> LLCDeepResult:
    """A made-up `llc_deep` result; the first `unmeasurable` nets' chains did not equilibrate."""
    arch = np.array([a for a, v in llc_by_arch.items() for _ in v])
    seed = np.array([s for v in llc_by_arch.values() for s in range(len(v))])
    final = np.concatenate([np.asarray(v, float) for v in llc_by_arch.values()])
    need = np.where(np.arange(len(final)) < unmeasurable, 1e5, 50.0)
    per_net = lambda v: np.full((2, len(final)), v)                               # noqa: E731
    arrays = {"ckpt_step": np.array([0, 10]), "ckpt_llc": np.stack([final * 0, final]),
              "ckpt_llc_error": per_net(chain_error), "ckpt_stiffness": per_net(0.1), "ckpt_burn_in": per_net(100),
              "ckpt_burn_in_needed": np.stack([need, need]), "ckpt_rhat": per_net(1.0), "ckpt_drift": per_net(0.0),
              "arch": arch, "seed": seed}
    return LLCDeepResult(results.Result("llc_deep", "default", stored_config("llc_deep"), {"n_params": 100}, arrays, {}))


def test_plain_llc_lower_rule():
    assert part5.plain_llc_lower(deep({"plain": [10, 11, 12], "residual": [20, 21, 22], "hyper": [30, 31, 29]})
                                 ).verdict == claims.HOLDS
    assert part5.plain_llc_lower(deep({"plain": [10, 11, 12], "residual": [20, 21, 22], "hyper": [5, 15, 11]})
                                 ).verdict == claims.HOLDS          # the primary is residual − plain
    assert part5.plain_llc_lower(deep({"plain": [10, 11, 12], "residual": [5, 15, 11], "hyper": [30, 31, 29]})
                                 ).verdict == claims.PARTLY
    assert part5.plain_llc_lower(deep({"plain": [30, 31, 32], "residual": [20, 21, 22], "hyper": [5, 15, 31]})
                                 ).verdict == claims.FAILS
    assert part5.plain_llc_lower(deep({"plain": [10, 20, 30], "residual": [12, 22, 28]})).verdict == claims.IMPRECISE
    assert part5.plain_llc_lower(deep({"plain": [10], "residual": [12]})).verdict == claims.UNTESTED
    # the chains' own errors count too: a gap that is clear over seeds is not with noisy chains
    noisy = deep({"plain": [10, 11, 12], "residual": [20, 21, 22]}, chain_error=20.0)
    assert part5.plain_llc_lower(noisy).verdict == claims.IMPRECISE
    # only nets whose chains are stable and equilibrated count: two of three plain nets unmeasurable leave one
    few = deep({"plain": [10, 11, 12], "residual": [20, 21, 22]}, unmeasurable=2)
    v = part5.plain_llc_lower(few)
    assert v.verdict == claims.UNTESTED and "plain 1 of 3, residual 3 of 3" in v.numbers
    assert part5.plain_llc_lower(deep({"plain": [10, 11, 12], "residual": [20, 21, 22]}, unmeasurable=6)
                                 ).verdict == claims.UNTESTED


def collapse(no_skip_final: float, skip_final: list[float]) -> RankCollapseResult:
    rows, names = [], []
    for label, finals in (("attention, pre-LN, no skips", [no_skip_final] * len(skip_final)),
                          ("attention, pre-LN, skips", skip_final)):
        for f in finals:
            rows.append([0.9, f])
            names.append(label)
    arrays = {"residual": np.array(rows), "variant": np.array(names), "seed": np.arange(len(names))}
    return RankCollapseResult(results.Result("rank_collapse", "default", {}, {}, arrays, {}))


def test_skips_prevent_collapse_rule():
    assert part5.skips_prevent_collapse(collapse(1e-16, [0.3, 0.32, 0.35])).verdict == claims.HOLDS
    v = part5.skips_prevent_collapse(collapse(1e-3, [0.3, 0.32, 0.35]))
    assert v.verdict == claims.HOLDS and "every stack without skips below 1e-10: no" in v.numbers
    assert part5.skips_prevent_collapse(collapse(1e-3, [1e-3, 2e-3, 1e-3])).verdict == claims.SMALL
    assert part5.skips_prevent_collapse(collapse(1e-1, [1e-3, 2e-3, 1e-3])).verdict == claims.FAILS


def test_rank_collapse_smoke_run_holds():
    config = config_for("rank_collapse", "smoke")
    summary, arrays = run_rank_collapse(config, RunContext(torch.device("cpu")))
    result = RankCollapseResult(results.Result("rank_collapse", "smoke", stored_config("rank_collapse", "smoke"), summary, arrays, {}))
    assert list(result.depths) == list(range(config.depth + 1))
    assert result.variant(skip=True, mlp=False, norm=True) in result.groups()
    assert part5.skips_prevent_collapse(result).verdict == claims.HOLDS


def rivals_result(similarity_last: dict[str, list[float]], lesion_drop: dict[str, list[float]]):
    from skiplessons.experiments.part5 import RivalsResult

    arch = np.array([a for a, v in similarity_last.items() for _ in v])
    sim = np.concatenate([np.asarray(v, float) for v in similarity_last.values()])
    drop = np.concatenate([np.asarray(lesion_drop[a], float) for a in similarity_last])
    arrays = {"similarity_init": np.stack([np.ones_like(sim), sim], 1), "similarity_trained": np.stack([sim, sim], 1),
              "intact_acc": np.full(len(sim), 0.9), "lesion_acc": np.stack([0.9 - drop, 0.9 - drop], 1),
              "arch": arch, "seed": np.arange(len(sim))}
    return RivalsResult(results.Result("rivals", "default", stored_config("rivals", distance=0.25), {"n_classes": 10}, arrays, {}))


def test_rival_rules():
    good = rivals_result({"plain": [0.8, 0.82, 0.79], "residual": [0.97, 0.96, 0.98]},
                         {"plain": [0.3, 0.35, 0.32], "residual": [0.01, 0.02, 0.0]})
    assert part5.gradients_less_shattered(good).verdict == claims.HOLDS
    assert part5.lesions_hurt_plain_more(good).verdict == claims.HOLDS
    assert good.lesion_drop()["plain"] == pytest.approx([0.3, 0.35, 0.32])
    assert good.chance == pytest.approx(0.1)
    bad = rivals_result({"plain": [0.97, 0.96, 0.98], "residual": [0.8, 0.82, 0.79]},
                        {"plain": [0.01, 0.02, 0.0], "residual": [0.3, 0.35, 0.32]})
    assert part5.gradients_less_shattered(bad).verdict == claims.FAILS
    assert part5.lesions_hurt_plain_more(bad).verdict == claims.FAILS
    with pytest.raises(ValueError, match="stage='middle'"):
        good.similarity("middle")


def test_llc_agreement_rule_and_same_nets():
    from skiplessons.experiments.part3 import DegeneracyResult

    llc = deep({"plain": [10, 11, 12], "residual": [20, 21, 22], "hyper": [30, 31, 29]})
    deg_final = np.array([0.9, 0.89, 0.88, 0.7, 0.69, 0.68, 0.5, 0.52, 0.49])
    arrays = {"ckpt_step": np.array([0, 10]), "ckpt_degenerate": np.stack([deg_final, deg_final])[..., None],
              "arch": llc.labels(), "seed": llc.labels("seed")}
    counts = DegeneracyResult(results.Result("degeneracy", "default", stored_config("degeneracy"), {"tols": [1e-3]}, arrays, {}))
    assert part5.llc_agrees_with_counts(llc, counts, tol=1e-3).verdict == claims.HOLDS
    arrays_up = dict(arrays, ckpt_degenerate=np.stack([deg_final, deg_final[::-1]])[..., None])
    reversed_counts = DegeneracyResult(results.Result("degeneracy", "default", stored_config("degeneracy"), {"tols": [1e-3]}, arrays_up, {}))
    assert part5.llc_agrees_with_counts(llc, reversed_counts, tol=1e-3).verdict == claims.FAILS
    other = DegeneracyResult(results.Result("degeneracy", "default", stored_config("degeneracy"), {"tols": [1e-3]},
                                            dict(arrays, seed=arrays["seed"][::-1]), {}))
    with pytest.raises(ValueError, match="same nets"):
        part5.llc_agrees_with_counts(llc, other, tol=1e-3)
    unmeasured = deep({"plain": [10, 11, 12], "residual": [20, 21, 22], "hyper": [30, 31, 29]}, unmeasurable=6)
    assert part5.llc_agrees_with_counts(unmeasured, counts, tol=1e-3).verdict == claims.UNTESTED


def stacks(rates: dict[str, list[float]], depth: int = 8) -> RankCollapseResult:
    """Random stacks whose log10 distance from rank one changes by `rate` per layer, one row per seed."""
    rows, names = [], []
    for label, per_seed in rates.items():
        for r in per_seed:
            rows.append(0.9 * 10.0 ** (r * np.arange(depth + 1)))
            names.append(label)
    arrays = {"residual": np.array(rows), "variant": np.array(names), "seed": np.arange(len(names))}
    return RankCollapseResult(results.Result("rank_collapse", "default", {}, {}, arrays, {}))


def test_slowing_and_stopping_rules():
    """Skips alone slow the collapse (a decay per layer that is clearly not zero); pre-LN stops it (a change
    per layer within ±δ of zero). Each rule on a null and an alternative."""
    decays = stacks({"attention, skips": [-0.1, -0.11, -0.09], "attention + MLP, pre-LN, skips": [0.0, 0.001, -0.001]})
    assert part5.skips_alone_slow_collapse(decays).verdict == claims.HOLDS
    assert part5.pre_ln_stops_collapse(decays).verdict == claims.HOLDS
    flat = stacks({"attention, skips": [0.0, 0.001, -0.001], "attention + MLP, pre-LN, skips": [-0.1, -0.11, -0.09]})
    assert part5.skips_alone_slow_collapse(flat).verdict == claims.SMALL
    assert part5.pre_ln_stops_collapse(flat).verdict == claims.FAILS
    assert part5.collapse_rates(decays)["attention, skips"] == pytest.approx([-0.1, -0.11, -0.09])


def depth_curves(fall: dict[str, list[float]]):
    from skiplessons.experiments.part5 import ShatteredDepthResult

    depths = np.array([2, 4, 8, 16])
    rows = [[1.0 - f * k / 3 for k in range(4)] for v in fall.values() for f in v]
    arrays = {"similarity": np.stack([np.array(rows)] * 2), "arch": np.array([a for a, v in fall.items() for _ in v]),
              "seed": np.arange(len(rows))}
    return ShatteredDepthResult(results.Result("shattered_depth", "default",
                                               stored_config("shattered_depth", depths=tuple(int(d) for d in depths),
                                                             distances=(0.25, 3.0)), {}, arrays, {}))


def test_shattering_depth_rule():
    holds = part5.shattering_grows_with_depth(depth_curves({"plain": [0.6, 0.62, 0.58], "residual": [0.0, 0.01, 0.0]}))
    assert holds.verdict == claims.HOLDS and "fits better" in holds.numbers
    null = part5.shattering_grows_with_depth(depth_curves({"plain": [0.1, 0.11, 0.09], "residual": [0.1, 0.09, 0.11]}))
    assert null.verdict == claims.SMALL
    with pytest.raises(ValueError, match="distance=1.0"):
        depth_curves({"plain": [0.1], "residual": [0.1]}).similarity(1.0)


def test_shattered_depth_smoke_run():
    from skiplessons.experiments.part5 import ShatteredDepthResult, run_shattered_depth

    config = config_for("shattered_depth", "smoke")
    summary, arrays = run_shattered_depth(config, RunContext(torch.device("cpu")))
    result = ShatteredDepthResult(results.Result("shattered_depth", "smoke", config.__dict__, summary, arrays, {}))
    sim = result.similarity(3.0)
    assert set(sim) == {"plain", "residual"} and sim["plain"].shape == (len(config.seeds), len(config.depths))
    assert ((sim["plain"] <= 1 + 1e-9) & (sim["plain"] >= -1 - 1e-9)).all()


def test_training_keeps_collapse_rule_on_a_smoke_run():
    config = config_for("rank_collapse", "smoke")
    summary, arrays = run_rank_collapse(config, RunContext(torch.device("cpu")))
    result = RankCollapseResult(results.Result("rank_collapse", "smoke", stored_config("rank_collapse", "smoke"), summary, arrays, {}))
    losses = result.trained_loss()
    assert set(losses) == {"attention, pre-LN, no skips", "attention, pre-LN, skips"}
    assert all(v.shape == (len(config.train_seeds), len(result.train_steps)) for v in losses.values())
    assert part5.training_keeps_collapse(result).verdict == claims.HOLDS
    # the rule fails when the skip-less stacks beat the floor
    arrays = dict(arrays, trained_loss=np.where(arrays["trained_variant"][:, None] == "attention, pre-LN, no skips",
                                                 0.5 * summary["floor"], arrays["trained_loss"]))
    beaten = RankCollapseResult(results.Result("rank_collapse", "smoke", stored_config("rank_collapse", "smoke"), summary, arrays, {}))
    assert part5.training_keeps_collapse(beaten).verdict == claims.PARTLY


def test_part_five_rows_are_asserted_in_their_chapters():
    """Each Part V ledger row names a chapter that calls the same check (so the page and the ledger agree), and is
    marked as the book's claim rather than the paper's."""
    import nbformat
    from pathlib import Path

    book = Path(__file__).resolve().parents[1] / "book"
    rows = [c for c in claims.CLAIMS if c.part == "V"]
    assert len(rows) == 9
    for claim in rows:
        source = "\n".join(c.source for c in nbformat.read(book / f"{claim.doc}.ipynb", 4).cells
                           if c.cell_type == "code")
        assert f"part5.{claim.assess.__name__}(" in source, (claim.doc, claim.assess.__name__)
        assert claim.claim.startswith("(This book, not the paper")
