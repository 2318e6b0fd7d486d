"""The house style's colours: one per architecture on every page (issue 27: IV.1 had swapped them)."""
import pytest

from skiplessons.plots.style import ARCH_COLORS, OTHER_COLORS, colors_for


def test_architectures_keep_their_colour_whatever_the_order():
    conditions = ["plain", "residual", "residual, malicious", "residual, malicious (plain draw)", "hyper"]
    colors = colors_for(conditions)
    assert colors_for(conditions[::-1])["plain"] == ARCH_COLORS["plain"]
    assert {a: colors[a] for a in ARCH_COLORS} == ARCH_COLORS
    others = [colors[c] for c in conditions if c not in ARCH_COLORS]
    assert others == list(OTHER_COLORS[:2]) and not set(others) & set(ARCH_COLORS.values())


def test_many_groups_reuse_the_other_colours_and_no_groups_is_an_error():
    groups = [f"condition {i}" for i in range(len(OTHER_COLORS) + 2)]
    assert list(colors_for(groups).values())[-2:] == list(OTHER_COLORS[:2])
    with pytest.raises(ValueError, match="groups must name at least one group"):
        colors_for([])
