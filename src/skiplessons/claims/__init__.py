"""The claims of the paper, each with the check in this book that tests it (chapters assert it, the ledger
tabulates it: one function per claim, so a page and the ledger cannot disagree).

The checks live in one module per part of the book (`part1` ... `part5`); the one comparison rule in `base.judge`
and `skiplessons.stats`. To add a claim: write its check `(typed result) -> Verdict` in its part's module, assert
it in the chapter with `expect(check(result))`, and add a `Claim` below naming the chapter, the experiment and
the check (`tests/test_claims.py` checks that the chapter calls the same function).
"""
from __future__ import annotations

from .base import (COLUMNS, EQUAL, FAILS, GREATER, HOLDS, IMPRECISE, PARTLY, SMALL, UNRESOLVED, UNTESTED, VERDICTS,
                   Claim, Secondary, Verdict, announce, check, expect, judge, ledger_row, verdict_cells)
from .part1 import dependence_zeros, elimination_zeros, overlap_zeros
from .part2 import capture_comparisons, ghost_plateaus, plateau_length
from .part3 import (degeneracy_accuracy, exact_near_zero_absolute, exact_near_zero_max, exact_near_zero_mean,
                    exact_zeros_ggn, exact_zeros_hessian, layer_singularities, more_degenerate_max, training_gap,
                    width_gap_shrinks)
from .part4 import (malicious_init, malicious_wide_init, malicious_wide_restated, remedies_recover,
                    residual_like_init)
from .part5 import (estimator_recovers, gradients_less_shattered, lesions_hurt_plain_more, plain_llc_lower,
                    pre_ln_stops_collapse, shattering_grows_with_depth, skips_alone_slow_collapse,
                    skips_prevent_collapse, training_keeps_collapse)

__all__ = ["CLAIMS", "COLUMNS", "EQUAL", "FAILS", "GREATER", "HOLDS", "IMPRECISE", "PARTLY", "SMALL", "UNRESOLVED",
           "UNTESTED", "VERDICTS", "Claim", "Secondary", "Verdict", "announce", "check", "expect", "judge", "ledger_row",
           "verdict_cells"]

#: The paper's claims, in the order of the book.
CLAIMS = (
    Claim("Elimination singularities (a unit's incoming or outgoing weights zero) make the Fisher information "
          "and the Hessian degenerate; skip connections remove these zero eigenvalues.", "I", doc="02_elimination",
          experiment="singular_counts", assess=elimination_zeros),
    Claim("Overlap singularities (two units with identical incoming weights) make the Fisher information "
          "degenerate; skip connections remove the degeneracy.", "I", doc="03_overlap",
          experiment="singular_counts", assess=overlap_zeros),
    Claim("Linear-dependence singularities (a unit's activity a linear combination of others') make the model "
          "non-identifiable; skip connections remove the zero eigenvalues they add (with more outputs than units; "
          "the singular set itself is moved away from small weights, not removed: chapter I.4).", "I",
          doc="04_linear_dependence", experiment="singular_counts", assess=dependence_zeros),
    Claim("In the two-hidden-unit teacher–student model, gradient descent slows down near the overlap and "
          "elimination sets: plateaus (whether the overlap line attracts is the next claim).", "II",
          doc="05_plateaus",
          experiment="plateaus", assess=plateau_length),
    Claim("Runs of the plain two-hidden-unit model are captured near the overlap line, a Milnor-like attractor, "
          "and runs of the skip model from the same starts are not: judged on the same target for both (the plain "
          "teacher), with each learning a teacher of its own architecture and plain units with a free linear "
          "readout on the skip target as secondary comparisons (where the line attracts: a teacher whose two "
          "units read the same input; on our teacher the line is a saddle everywhere).", "II",
          doc="05_plateaus", experiment="capture", assess=capture_comparisons),
    Claim("With skip connections only the ghosts of the singular sets remain: typical initializations start "
          "away from them and plateaus are shorter.", "II", doc="06_ghosts",
          experiment="plateaus", assess=ghost_plateaus),
    Claim("Deep plain networks reach a lower training accuracy than residual and hyper-residual networks.",
          "III", doc="00_headline", experiment="training", assess=training_gap),
    Claim("Deep plain networks are more degenerate: more Hessian eigenvalues near zero during training "
          "(relative to each net's own largest eigenvalue, the paper's kind of measure; depth-30 nets, SLQ with "
          "its error bound).", "III", doc="08_degeneracy", experiment="degeneracy", assess=more_degenerate_max),
    Claim("Plain networks have more near-zero Hessian eigenvalues relative to each net's own largest eigenvalue "
          "(exact spectra of small deep nets).", "III", doc="08_degeneracy", experiment="exact_zeros",
          assess=exact_near_zero_max),
    Claim("Plain networks have more near-zero Hessian eigenvalues relative to each net's mean |eigenvalue| "
          "(a scale set by the bulk, not by one outlier; exact spectra).", "III", doc="08_degeneracy",
          experiment="exact_zeros", assess=exact_near_zero_mean),
    Claim("Plain networks have more near-zero Hessian eigenvalues below one absolute threshold for every net "
          "(exact spectra).", "III", doc="08_degeneracy", experiment="exact_zeros", assess=exact_near_zero_absolute),
    Claim("Plain networks have more exactly zero Hessian eigenvalues (zeros counted below the spectral gap).",
          "III", doc="08_degeneracy", experiment="exact_zeros", assess=exact_zeros_hessian),
    Claim("Plain networks have more exactly zero Gauss-Newton (= Fisher) eigenvalues, the matrix the paper's "
          "argument is about.", "III", doc="08_degeneracy", experiment="exact_zeros", assess=exact_zeros_ggn),
    Claim("This book's prediction: plain networks' excess of exact Gauss-Newton zeros shrinks as they widen, as "
          "the ReLU rescalings that skips remove imply (one per hidden unit, a share ~1/width).", "III",
          doc="08_degeneracy", experiment="width_sweep", assess=width_gap_shrinks),
    Claim("Elimination, overlap and linear dependence are more frequent in the layers of plain networks.", "III",
          doc="08_degeneracy", experiment="degeneracy", assess=layer_singularities),
    Claim("Degeneracy and accuracy are related across networks: the more degenerate, the lower the accuracy.",
          "III", doc="08_degeneracy", experiment="degeneracy", assess=degeneracy_accuracy),
    Claim("Residual networks initialized to start like plain networks (malicious initialization) still "
          "benefit from their skip connections (main comparison: nets as wide as Part III's training nets; judged "
          "only if the malicious start passes its manipulation check, a Jacobian spectrum, activation scale and "
          "share of dead branch units at initialization like the plain nets').", "IV",
          doc="09_initialization", experiment="malicious_wide", assess=malicious_wide_init),
    Claim("(The claim above restated as what the book can test: no residual start with the full skip passes the "
          "manipulation check.) Residual networks started with the main malicious construction, whose distance "
          "from plain nets at initialization is measured and shown beside the result, end above plain networks "
          "(nets as wide as Part III's training nets).", "IV", doc="09_initialization",
          experiment="malicious_wide", assess=malicious_wide_restated),
    Claim("(Second evidence for the first claim above, with degeneracy tracked.) Maliciously started residual "
          "networks end above plain networks at the narrow width of Part III's degeneracy nets, judged only if "
          "the malicious start passes its manipulation check against plain nets.", "IV", doc="09_initialization",
          experiment="init_controls", assess=malicious_init),
    Claim("Plain networks given a residual-like initialization lose the advantage during training (judged only if "
          "the identity-plus-noise start passes its manipulation check against residual nets).", "IV",
          doc="09_initialization", experiment="init_controls", assess=residual_like_init),
    Claim("A bias regularizer plus a single batch-norm layer recovers much of the benefit of skip connections "
          "in plain networks (judged only if the remedies pass their manipulation check: fewer eliminated units "
          "than plain nets, over all layers and in the normalization layer).", "IV", doc="10_remedies",
          experiment="remedies", assess=remedies_recover),
    # Part V: the book's own claims, beyond the paper
    Claim("(This book, not the paper.) Our SGLD estimator of the local learning coefficient, with its step chosen "
          "by the stability rule from the largest curvature the chain meets, recovers its finite-n target (closed "
          "form, quadrature or a Metropolis-adjusted sampler) wherever its chains can equilibrate: quadratics up to "
          "curvature 1,000, a regular model, y = w²x, y = abx at and away from its elimination singularity, and "
          "reduced-rank regressions with Aoyagi and Watanabe's λ, at n = 4,000 and 100,000.", "V",
          doc="11_learning_coefficient", experiment="llc_toy", assess=estimator_recovers),
    Claim("(This book, not the paper.) Measured without an eigenvalue threshold, by the local learning "
          "coefficient of the nets whose chains are stable and equilibrated, deep plain nets are more degenerate "
          "than residual and hyper-residual nets.", "V",
          doc="11_learning_coefficient", experiment="llc_deep", assess=plain_llc_lower),
    Claim("(This book, not the paper; Balduzzi et al. 2017.) After training, the input gradients of nearby inputs "
          "are less shattered (more similar) in deep residual and hyper-residual nets than in plain nets.", "V",
          doc="12_rival_explanations", experiment="rivals", assess=gradients_less_shattered),
    Claim("(This book, not the paper; Balduzzi et al. 2017.) At initialization the similarity of nearby inputs' "
          "gradients falls more from depth 2 to depth 64 in plain nets than in residual nets.", "V",
          doc="12_rival_explanations", experiment="shattered_depth", assess=shattering_grows_with_depth),
    Claim("(This book, not the paper; Veit et al. 2016.) Removing a single layer from a trained net costs plain nets "
          "more accuracy than residual and hyper-residual nets.", "V", doc="12_rival_explanations",
          experiment="rivals", assess=lesions_hurt_plain_more),
    Claim("(This book, not the paper.) In random self-attention stacks without skips the tokens collapse to rank "
          "one within a few layers; with skips (and pre-layer-norm) they stay away from rank one at every depth "
          "measured.", "V", doc="13_transformers", experiment="rank_collapse", assess=skips_prevent_collapse),
    Claim("(This book, not the paper.) Skips without normalization only slow the collapse: the distance from rank "
          "one of random attention stacks with skips still falls layer after layer.", "V", doc="13_transformers",
          experiment="rank_collapse", assess=skips_alone_slow_collapse),
    Claim("(This book, not the paper.) Skips with pre-layer-norm in transformer layers (attention and MLP blocks) "
          "stop the collapse: the distance from rank one stays level in the deeper half of the stack.", "V",
          doc="13_transformers", experiment="rank_collapse", assess=pre_ln_stops_collapse),
    Claim("(This book, not the paper.) Brief training does not undo the collapse: attention stacks without skips stay "
          "above the loss floor of rank-one outputs on a task that needs distinct tokens; with skips they go below "
          "it.", "V", doc="13_transformers", experiment="rank_collapse", assess=training_keeps_collapse),
)
