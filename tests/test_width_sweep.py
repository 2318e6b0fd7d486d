"""Experiment `width_sweep` and its claim (chapter III.2): the exact Gauss-Newton zeros of plain and residual nets
at each width, and whether plain nets' excess shrinks with width."""
import math

import numpy as np
import pytest

from skiplessons import results
from skiplessons.claims import part3
from skiplessons.experiments import load_or_run
from skiplessons.experiments.part3 import WidthSweepResult
from skiplessons.data import MNIST1D_FEATURES


@pytest.fixture(scope="module")
def sweep():
    return load_or_run("width_sweep", "smoke")


def test_each_width_measured_on_enough_samples(sweep):
    """P is the MLP's count, and N is the fewest samples with N(C-1) >= rank_margin x P: no zero is forced."""
    depth, c, margin = sweep.summary["depth"], sweep.summary["n_classes"], sweep.config.rank_margin
    for k, width in enumerate(sweep.widths):
        p = int(sweep.at_widths("n_params")["plain"][k, 0])
        assert p == (MNIST1D_FEATURES + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * c
        n = int(sweep.at_widths("hessian_samples")["plain"][k, 0])
        assert n == math.ceil(margin * p / (c - 1)) and n * (c - 1) >= margin * p > (n - 1) * (c - 1)


def test_plain_nets_keep_one_flat_direction_per_hidden_unit(sweep):
    """A ReLU unit's rescaling leaves a plain net's function unchanged: a Gauss-Newton null vector per hidden
    unit, so every plain net has at least depth x width exact zeros (a theorem the measured counts must obey)."""
    depth = sweep.summary["depth"]
    zeros, n_params = sweep.at_widths("zeros")["plain"], sweep.at_widths("n_params")["plain"]
    counts = np.rint(zeros * n_params)
    assert (counts >= depth * sweep.widths[:, None]).all(), counts
    assert ((0 <= sweep.at_widths("zeros")["residual"]) & (sweep.at_widths("zeros")["residual"] <= 1)).all()


def _view(plain, residual, widths=(4, 8, 16)):
    """A width-sweep result with exact-zero fractions (widths, seeds) per architecture."""
    plain, residual = np.asarray(plain, float), np.asarray(residual, float)
    zeros = np.concatenate([plain, residual], axis=1)
    arch = np.array(["plain"] * plain.shape[1] + ["residual"] * residual.shape[1])
    return WidthSweepResult(results.Result("width_sweep", "default", {}, {},
                                           {"zeros": zeros, "arch": arch, "width": np.asarray(widths)}, {}))


def test_the_claim_reads_the_change_of_the_gap():
    shrinking = _view([[0.40, 0.42, 0.41], [0.20, 0.22, 0.21], [0.05, 0.06, 0.05]],
                      [[0.10, 0.11, 0.10], [0.08, 0.09, 0.08], [0.05, 0.05, 0.06]])
    v = part3.width_gap_shrinks(shrinking)
    assert v.verdict == "holds" and "gap at width 4 − gap at width 16: +0.3" in v.numbers
    growing = _view([[0.11, 0.12, 0.11], [0.2, 0.21, 0.2], [0.40, 0.42, 0.41]],
                    [[0.10, 0.11, 0.10], [0.08, 0.09, 0.08], [0.05, 0.05, 0.06]])
    assert part3.width_gap_shrinks(growing).verdict == "does not hold at our settings"
    with pytest.raises(ValueError, match="residual"):
        part3.width_gap_shrinks(WidthSweepResult(results.Result(
            "width_sweep", "default", {}, {}, {"zeros": np.zeros((3, 2)), "arch": np.array(["plain", "plain"]),
                                               "width": np.array([4, 8, 16])}, {})))
