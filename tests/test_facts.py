"""The derived facts of chapters I.1-II.2 (`claims.facts`): each constructor measures its deviation in units of
its tolerance, and `hold` fails a section when any one fact misses."""
from __future__ import annotations

import math

import numpy as np
import pytest

from skiplessons.claims import FAILS, HOLDS, UNRESOLVED, expect, facts
from skiplessons.claims.part2 import DELTA_CLOSED_FORM, closed_form_agrees
from skiplessons.singular_points import Counts


@pytest.mark.parametrize("fact,deviation", [
    (facts.small("change", -2e-11), 0.2),
    (facts.small("residual", 5e-8, facts.NULL_SPACE), 5.0),
    (facts.large("change", 0.5), 2e-3),
    (facts.large("change", 0.0), math.inf),
    (facts.near("slope", 2.1, 2, 0.2), 0.5),
    (facts.equal("zeros", 3, 4), 2.0),
    (facts.apart("ratio", 1.0, 1e-3), 0.1),
    (facts.apart("ratio", 1.0, 0.0), 0.0),
])
def test_each_fact_measures_its_deviation_in_units_of_its_tolerance(fact, deviation):
    assert fact.deviation == pytest.approx(deviation)


def test_one_missed_fact_fails_the_section_and_names_it():
    good = [facts.small("round-off", 1e-15), facts.equal("zeros", 4, 4), facts.near("slope", 1.95, 2, facts.SLOPE)]
    assert facts.hold("section", *good).verdict == HOLDS
    missed = facts.hold("section", *good, facts.large("visible change", 1e-5))
    assert missed.verdict == FAILS and "the farthest: visible change;" in missed.numbers
    with pytest.raises(AssertionError, match="visible change"):
        expect(missed)


def test_an_unmeasurable_fact_fails_unless_its_scale_is_smoke():
    rate = facts.near("rate", np.nan, 6, facts.SLOPE)            # too few frames to fit it
    assert facts.hold("section", rate).verdict == FAILS
    smoke = facts.hold("section", rate, scale="smoke")
    assert smoke.scale == "smoke"
    expect(smoke)                                                    # judged, not asserted, at smoke
    with pytest.raises(AssertionError):
        expect(facts.hold("section", rate, scale="default"))


def test_counted_gives_one_fact_per_net():
    found = {("plain", 3): (3, Counts(3, 0)), ("residual", 3): (1, Counts(0, 0))}
    made = facts.counted(found)
    assert [f.deviation for f in made] == [0.0, 2.0]
    assert facts.hold("table", *made).verdict == FAILS


def test_hold_rejects_what_is_not_a_fact():
    with pytest.raises(ValueError, match="facts must be one or more Fact"):
        facts.hold("section")
    with pytest.raises(ValueError, match="facts must be one or more Fact"):
        facts.hold("section", 1e-12)


def test_closed_form_agreement():
    assert closed_form_agrees(0.4177, 0.4165, 0.0009, 200_000).verdict == HOLDS
    off = 0.4177 * (1 + 3 * DELTA_CLOSED_FORM)
    assert closed_form_agrees(off, 0.4165, 0.0009, 200_000).verdict == FAILS
    assert closed_form_agrees(0.4177, 0.4165, 0.02, 200_000).verdict in (UNRESOLVED, "not resolved: too imprecise "
                                                                                   "at this size")
    with pytest.raises(ValueError, match="closed_form must be a positive loss"):
        closed_form_agrees(0.0, 0.4, 0.001, 200_000)
