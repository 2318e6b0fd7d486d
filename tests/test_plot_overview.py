"""The overview figure of a Part IV result (chapters IV.1, IV.2 show their paper-scale runs with it)."""
import matplotlib
import numpy as np

from skiplessons.experiments import stored
from skiplessons.plots.part4 import overview

matplotlib.use("Agg")


def test_overview_draws_the_final_means_of_each_condition():
    res = stored("remedies", "paper")
    fig = overview(res)
    deg = res.degenerate()
    assert [p.get_height() for p in fig.axes[1].patches] == [np.mean(deg[c]) for c in deg]
    assert len(fig.axes[0].get_legend().get_texts()) == len(res.groups())


def test_overview_by_skip_strength_draws_the_means_against_alpha():
    res = stored("skip_strength", "paper")
    fig = overview(res, by_alpha=True)
    acc = res.sweep("acc")
    line = fig.axes[0].lines[-1]
    assert np.allclose(line.get_xdata(), sorted(acc)) and np.allclose(line.get_ydata(), [np.mean(acc[a]) for a in sorted(acc)])
