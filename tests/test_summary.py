"""The book's bottom line (`claims.summary`) is written from verdicts: every claim of a part lands in the group of
its verdict, with the size of its primary comparison and the reason when it is open."""
from __future__ import annotations

import pytest

from skiplessons import stats
from skiplessons.claims import Claim, judge, summary


def _claims():
    return [Claim("(This book.) Plain nets train worse (depth 30): the headline.", "III"),
            Claim("Plain nets are more degenerate; under every normalization.", "III"),
            Claim("Something about <tags> & ampersands.", "III"), Claim("A Part I claim.", "I")]


def test_short_drops_remarks_and_stops_at_a_colon():
    assert [summary.short(c) for c in _claims()] == ["Plain nets train worse", "Plain nets are more degenerate",
                                                    "Something about <tags> & ampersands", "A Part I claim"]


def test_bottom_line_groups_by_verdict_with_sizes():
    shown = judge("accuracy, residual − plain", stats.welch([0.9, 0.91, 0.92], [0.5, 0.52, 0.51]), "x")
    vague = judge("fraction, plain − residual", stats.welch([0.3, 0.9, 0.5], [0.4, 0.8, 0.45], delta=0.01), "x")
    text = summary.bottom_line("III", _claims(), [shown, vague, None, shown])
    assert text.startswith("**Part III (deep networks).** *Holds:* Plain nets train worse (accuracy, residual − plain: +0.4")
    assert "*Open, too imprecise at this size:* Plain nets are more degenerate (fraction, plain − residual:" in text
    assert "runs a side would resolve" in text and "*Not yet tested:* Something about" in text
    assert "A Part I claim" not in text
    page = summary.bottom_line("III", _claims(), [shown, vague, None, shown], as_html=True)
    assert page.startswith("<p><strong>Part III") and "&lt;tags&gt; &amp; ampersands" in page
    assert summary.bottom_line("II", _claims(), [shown] * 4).endswith("No claim of this part is in the ledger yet.")
    with pytest.raises(ValueError, match="part='VI'"):
        summary.bottom_line("VI", _claims(), [shown] * 4)
    with pytest.raises(ValueError, match="pair up"):
        summary.bottom_line("III", _claims(), [shown])
