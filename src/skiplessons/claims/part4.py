"""Part IV claims: is the benefit of skip connections just initialization? (experiments `init_controls`,
`remedies`; typed results of `experiments.controls`)."""
from __future__ import annotations

from ..degeneracy import HEADLINE_TOL
from ..report import mean_spread
from ..stats import exceeds
from .base import Verdict, parts_verdict
from .part3 import need, spread


def malicious_init(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Malicious initialization (experiment `init_controls`): residual nets initialized to start like plain nets
    must still end with a higher training accuracy than plain nets with the default initialization, by the
    margin rule."""
    acc, deg = result.final("acc"), result.degenerate(tol=tol)
    names = ["plain", "residual", "residual, malicious"]
    need(acc, names, result)
    verdict, said = parts_verdict({"malicious above plain": exceeds(acc["residual, malicious"], acc["plain"])})
    numbers = (f"final training accuracy: {spread(acc, names)}; final degenerate fraction (tol {tol:g}): "
               f"{spread(deg, names)}; by > 2 SE: {said}")
    return Verdict(numbers, verdict)


def residual_like_init(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Residual-like initialization (experiment `init_controls`): plain nets with the identity-plus-noise
    initialization against default plain nets, two parts. They *lose their curvature advantage during training*
    when their degenerate fraction rises from the first checkpoint to the last by more than the default plain
    nets' does (per-net rises compared); they *end without an accuracy advantage* when their final training
    accuracy is not above the default plain nets'. Each comparison by the margin rule."""
    acc = result.final("acc")
    start, end = result.degenerate(tol=tol, step=0), result.degenerate(tol=tol)
    ident = "plain, identity+noise"
    need(acc, ["plain", "residual", ident], result)
    above = exceeds(acc[ident], acc["plain"])
    parts = {"degeneracy gap to plain nets closes": exceeds(end[ident] - start[ident], end["plain"] - start["plain"]),
             "accuracy advantage gone": None if above is None else not above}
    verdict, said = parts_verdict(parts)
    numbers = (f"degenerate fraction (tol {tol:g}), identity+noise vs default plain nets: "
               f"{mean_spread(start[ident])} vs {mean_spread(start['plain'])} at the start, "
               f"{mean_spread(end[ident])} vs {mean_spread(end['plain'])} at the end (residual nets "
               f"{mean_spread(end['residual'])}); final training accuracy: "
               f"{spread(acc, [ident, 'plain', 'residual'])}; as claimed: {said}")
    return Verdict(numbers, verdict)


def remedies_recover(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Bias regularizer plus one batch-norm layer (experiment `remedies`): plain nets with both remedies against
    plain nets without, two parts: a lower final degenerate fraction and a higher final training accuracy, each
    by the margin rule. The experiment has no residual nets, so "much of the benefit" is judged as a clear gain on
    each measure, not as a share of what skip connections give (chapter IV.2 puts them side by side)."""
    acc, deg = result.final("acc"), result.degenerate(tol=tol)
    both = "plain + BN + bias reg."
    need(acc, ["plain", both], result)
    parts = {"less degenerate": exceeds(deg["plain"], deg[both]), "higher accuracy": exceeds(acc[both], acc["plain"])}
    verdict, said = parts_verdict(parts)
    numbers = (f"final training accuracy: {spread(acc)}; final degenerate fraction (tol {tol:g}): {spread(deg)}; "
               f"both remedies vs plain, by > 2 SE: {said}")
    return Verdict(numbers, verdict)
