"""Part V experiments and checks: the readers of `llc_toy`, `llc_deep` and `rank_collapse`, and the verdict rules of
`claims.part5` on constructed results (each rule shown to hold, and to fail)."""
from __future__ import annotations

import numpy as np
import pytest

from skiplessons import claims, results
from skiplessons.claims import part5
from skiplessons.experiments import config_for, registry
from skiplessons.experiments.beyond import LLCDeepResult, LLCToyResult, RankCollapseResult, run_rank_collapse
from skiplessons.experiments.configs import DEGENERACY, LLC_DEEP
from skiplessons.experiments import RunContext
import torch


def test_registered_with_chapters():
    reg = registry()
    for name, chapter in (("llc_toy", "11_learning_coefficient"), ("llc_deep", "11_learning_coefficient"),
                          ("rank_collapse", "13_transformers")):
        assert reg[name].chapter == chapter


def test_llc_deep_shares_the_degeneracy_nets():
    """Same data, nets, training and checkpoints as `degeneracy`, so the two compare net by net."""
    for scale in ("smoke", "default", "paper"):
        a, b = LLC_DEEP[scale], DEGENERACY[scale]
        for field in ("data", "n_samples", "depth", "width", "archs", "seeds", "steps", "lr", "batch_size",
                      "checkpoints", "record_every"):
            assert getattr(a, field) == getattr(b, field), (scale, field)


def toy(values: dict[str, list[float]], targets: dict[str, float]) -> LLCToyResult:
    names = np.array([m for m, v in values.items() for _ in v])
    summary = {"models": {m: {"target": t, "lam": t, "multiplicity": 1, "formula": m, "d": 1}
                          for m, t in targets.items()}}
    return LLCToyResult(results.Result("llc_toy", "default", {"n": 1000}, summary,
                                       {"llc": np.concatenate(list(values.values())), "model": names}, {}))


def test_estimator_recovers_rule():
    rng = np.random.default_rng(0)
    a = part5.LLC_PRIMARY
    good = toy({a: list(0.5 + 0.01 * rng.standard_normal(50))}, {a: 0.5})
    assert part5.estimator_recovers(good).verdict == claims.HOLDS
    other = toy({a: list(0.5 + 0.01 * rng.standard_normal(50)), "b": list(0.8 + 0.01 * rng.standard_normal(50))},
                {a: 0.5, "b": 0.5})
    v = part5.estimator_recovers(other)                     # the secondary model is off its target: reported
    assert v.verdict == claims.HOLDS and v.secondary[0].outcome == "shown"
    bad = toy({a: list(0.8 + 0.01 * rng.standard_normal(50)), "b": list(0.5 + 0.01 * rng.standard_normal(50))},
              {a: 0.5, "b": 0.5})
    assert part5.estimator_recovers(bad).verdict == claims.FAILS
    vague = toy({a: list(0.5 + 0.5 * rng.standard_normal(4))}, {a: 0.5})
    assert part5.estimator_recovers(vague).verdict == claims.IMPRECISE
    with pytest.raises(ValueError, match="model='c'"):
        bad.target("c")


def deep(llc_by_arch: dict[str, list[float]], chain_error: float = 0.0) -> LLCDeepResult:
    arch = np.array([a for a, v in llc_by_arch.items() for _ in v])
    seed = np.array([s for v in llc_by_arch.values() for s in range(len(v))])
    final = np.concatenate([np.asarray(v, float) for v in llc_by_arch.values()])
    arrays = {"ckpt_step": np.array([0, 10]), "ckpt_llc": np.stack([final * 0, final]),
              "ckpt_llc_error": np.full((2, len(final)), chain_error), "arch": arch, "seed": seed}
    return LLCDeepResult(results.Result("llc_deep", "default", {}, {"n_params": 100}, arrays, {}))


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
    result = RankCollapseResult(results.Result("rank_collapse", "smoke", {}, summary, arrays, {}))
    assert list(result.depths) == list(range(config.depth + 1))
    assert result.variant(skip=True, mlp=False, norm=True) in result.groups()
    assert part5.skips_prevent_collapse(result).verdict == claims.HOLDS


def rivals_result(similarity_last: dict[str, list[float]], lesion_drop: dict[str, list[float]]):
    from skiplessons.experiments.beyond import RivalsResult

    arch = np.array([a for a, v in similarity_last.items() for _ in v])
    sim = np.concatenate([np.asarray(v, float) for v in similarity_last.values()])
    drop = np.concatenate([np.asarray(lesion_drop[a], float) for a in similarity_last])
    arrays = {"similarity_init": np.stack([np.ones_like(sim), sim], 1), "similarity_trained": np.stack([sim, sim], 1),
              "intact_acc": np.full(len(sim), 0.9), "lesion_acc": np.stack([0.9 - drop, 0.9 - drop], 1),
              "arch": arch, "seed": np.arange(len(sim))}
    return RivalsResult(results.Result("rivals", "default", {"distance": 0.25}, {"n_classes": 10}, arrays, {}))


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
    from skiplessons.experiments.deep import DegeneracyResult

    llc = deep({"plain": [10, 11, 12], "residual": [20, 21, 22], "hyper": [30, 31, 29]})
    deg_final = np.array([0.9, 0.89, 0.88, 0.7, 0.69, 0.68, 0.5, 0.52, 0.49])
    arrays = {"ckpt_step": np.array([0, 10]), "ckpt_degenerate": np.stack([deg_final, deg_final])[..., None],
              "arch": llc.labels(), "seed": llc.labels("seed")}
    counts = DegeneracyResult(results.Result("degeneracy", "default", {}, {"tols": [1e-3]}, arrays, {}))
    assert part5.llc_agrees_with_counts(llc, counts, tol=1e-3).verdict == claims.HOLDS
    arrays_up = dict(arrays, ckpt_degenerate=np.stack([deg_final, deg_final[::-1]])[..., None])
    reversed_counts = DegeneracyResult(results.Result("degeneracy", "default", {}, {"tols": [1e-3]}, arrays_up, {}))
    assert part5.llc_agrees_with_counts(llc, reversed_counts, tol=1e-3).verdict == claims.FAILS
    other = DegeneracyResult(results.Result("degeneracy", "default", {}, {"tols": [1e-3]},
                                            dict(arrays, seed=arrays["seed"][::-1]), {}))
    with pytest.raises(ValueError, match="same nets"):
        part5.llc_agrees_with_counts(llc, other, tol=1e-3)


def test_training_keeps_collapse_rule_on_a_smoke_run():
    config = config_for("rank_collapse", "smoke")
    summary, arrays = run_rank_collapse(config, RunContext(torch.device("cpu")))
    result = RankCollapseResult(results.Result("rank_collapse", "smoke", {}, summary, arrays, {}))
    losses = result.trained_loss()
    assert set(losses) == {"attention, pre-LN, no skips", "attention, pre-LN, skips"}
    assert all(v.shape == (len(config.train_seeds), len(result.train_steps)) for v in losses.values())
    assert part5.training_keeps_collapse(result).verdict == claims.HOLDS
    # the rule fails when the skip-less stacks beat the floor
    arrays = dict(arrays, trained_loss=np.where(arrays["trained_variant"][:, None] == "attention, pre-LN, no skips",
                                                 0.5 * summary["floor"], arrays["trained_loss"]))
    beaten = RankCollapseResult(results.Result("rank_collapse", "smoke", {}, summary, arrays, {}))
    assert part5.training_keeps_collapse(beaten).verdict == claims.PARTLY


def test_part_five_rows_are_asserted_in_their_chapters():
    """Each Part V ledger row names a chapter that calls the same check (so the page and the ledger agree), and is
    marked as the book's claim rather than the paper's."""
    import nbformat
    from pathlib import Path

    book = Path(__file__).resolve().parents[1] / "book"
    rows = [c for c in claims.CLAIMS if c.part == "V"]
    assert len(rows) == 6
    for claim in rows:
        source = "\n".join(c.source for c in nbformat.read(book / f"{claim.doc}.ipynb", 4).cells
                           if c.cell_type == "code")
        assert f"part5.{claim.assess.__name__}(" in source, (claim.doc, claim.assess.__name__)
        assert claim.claim.startswith("(This book, not the paper")
