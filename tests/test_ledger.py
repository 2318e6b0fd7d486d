"""Tests of `skiplessons.ledger`: claim rows, verdict rules, and the generated tables (issue 8)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from markdown_it import MarkdownIt
from scipy import stats

from skiplessons import ledger, results
from skiplessons.__main__ import _parser
from skiplessons.experiments import registry
from skiplessons.ledger import CLAIMS, COLUMNS, Claim, Verdict
from test_notebooks import TOC, toc_entries

BOOK = Path(__file__).resolve().parents[1] / "book"


def _result(acc_by_arch: dict[str, list[float]], scale="default"):
    """A `results.Result` of the `training` experiment's shape: final accuracies as the last record."""
    arch = np.array([a for a, vals in acc_by_arch.items() for _ in vals])
    final = np.array([v for vals in acc_by_arch.values() for v in vals])
    acc = np.stack([np.zeros_like(final), final], axis=1)
    return results.Result("training", scale, {}, {}, {"acc": acc, "arch": arch}, {})


def _cells(table: str) -> list[list[str]]:
    """Parse a pipe table with markdown-it (an independent parser) into rows of cell texts."""
    tokens = MarkdownIt("commonmark").enable("table").parse(table)
    rows, row = [], None
    for i, tok in enumerate(tokens):
        if tok.type == "tr_open":
            row = []
        elif tok.type in ("th_open", "td_open"):
            row.append(tokens[i + 1].content)
        elif tok.type == "tr_close":
            rows.append(row)
    return rows


def test_verdict_rejects_unknown():
    with pytest.raises(ValueError, match="verdict='maybe'.*holds"):
        Verdict("1", "maybe")


def test_claim_rejects_inconsistent_specs():
    with pytest.raises(ValueError, match="label='sec-x' needs doc"):
        Claim("c", "I", label="sec-x")
    with pytest.raises(ValueError, match="experiment and assess"):
        Claim("c", "I", doc="d", experiment="training")


def test_where_links():
    assert Claim("c", "II").where() == "Part II (chapter not yet written)"
    assert Claim("c", "I", doc="01_x").where() == "{doc}`01_x`"
    assert Claim("c", "I", doc="01_x", label="sec-y").where() == "{ref}`sec-y`"


def test_untested_rows_never_load():
    def load(name):
        raise AssertionError(f"load({name!r}) must not be called")

    assess = ledger.training_gap
    for claim in (Claim("c", "I"), Claim("c", "I", experiment="exp", assess=assess),
                  Claim("c", "I", doc="d", experiment="missing", assess=assess)):
        row = ledger.ledger_row(claim, {"exp": None}, load)
        assert row["verdict"] == "not yet tested" and set(row) == set(COLUMNS)


def test_tested_row_reads_the_result():
    loaded = []

    def load(name):
        loaded.append(name)
        return _result({"plain": [0.5, 0.52, 0.51], "residual": [0.9, 0.91, 0.92]}, scale="default")

    claim = Claim("c", "III", doc="00_headline", experiment="training", assess=ledger.training_gap)
    row = ledger.ledger_row(claim, {"training": None}, load)
    assert loaded == ["training"]
    assert row["verdict"] == "holds" and row["scale"] == "default"
    assert "plain 0.510 ± 0.010 (n=3)" in row["measured"] and "residual 0.910" in row["measured"]


@pytest.mark.parametrize("seed", range(20))
def test_gap_verdict_matches_welch_t(seed):
    """The rule equals "Welch's t statistic (scipy) > z" for each better group."""
    rng = np.random.default_rng(seed)
    worse = rng.normal(0.5, 0.05, size=rng.integers(2, 8))
    better = {k: rng.normal(0.5 + rng.uniform(-0.05, 0.15), 0.05, size=rng.integers(2, 8)) for k in "ab"}
    wins = [stats.ttest_ind(v, worse, equal_var=False).statistic > 2.0 for v in better.values()]
    expected = "holds" if all(wins) else "partly holds" if any(wins) else "does not hold at our settings"
    assert ledger.gap_verdict(better, worse) == expected


def test_gap_verdict_bad_input():
    with pytest.raises(ValueError, match="better must name"):
        ledger.gap_verdict({}, [1.0, 2.0])
    with pytest.raises(ValueError, match="worse needs at least 2"):
        ledger.gap_verdict({"a": [1.0, 2.0]}, [1.0])
    with pytest.raises(ValueError, match=r"better\['a'\] needs at least 2 finite"):
        ledger.gap_verdict({"a": [1.0, np.nan]}, [1.0, 2.0])


def test_training_gap_verdicts():
    plain = [0.50, 0.52, 0.51]
    assert ledger.training_gap(_result({"plain": plain, "residual": [0.9, 0.92], "hyper": [0.8, 0.81]})).verdict == "holds"
    assert ledger.training_gap(_result({"plain": plain, "residual": [0.9, 0.92], "hyper": [0.5, 0.52]})).verdict == "partly holds"
    assert ledger.training_gap(_result({"plain": plain, "residual": [0.4, 0.42]})).verdict == "does not hold at our settings"
    with pytest.raises(ValueError, match="no plain nets"):
        ledger.training_gap(_result({"residual": [0.9, 0.92]}))


def test_markdown_table_roundtrips():
    rows = [{"a": "x | y", "b": 1.5}, {"a": "two\nlines"}]
    assert _cells(ledger.markdown_table(rows, ["a", "b"])) == [["a", "b"], ["x | y", "1.5"], ["two lines", ""]]
    with pytest.raises(ValueError, match="columns"):
        ledger.markdown_table(rows, [])


@pytest.mark.parametrize("seconds, text", [(0, "0.0 s"), (59.94, "59.9 s"), (150, "2.5 min"), (9000, "2.50 h")])
def test_duration(seconds, text):
    assert ledger.duration(seconds) == text


def test_duration_bad_input():
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="seconds="):
            ledger.duration(bad)


def test_provenance_rows_from_files(tmp_path):
    prov = {"commit": "0123456789abcdef", "skiplessons": "0.1.0", "torch": "2.13.0", "device": "NVIDIA H100",
            "wall_time_s": 312.0, "date": "2026-01-02T03:04:05+00:00", "seeds": [0, 1]}
    results.save("exp_a", "paper", {"data": "cifar100"}, {"data": "cifar100"}, {"x": np.arange(3)}, prov, tmp_path)
    results.save("exp_b", "smoke", {}, {}, {"x": np.arange(2)}, prov | {"seeds": []}, tmp_path)
    (tmp_path / "exp_c-paper.json").write_text("{not json")  # corrupt: left out
    with pytest.warns(UserWarning, match="exp_c-paper.json"):
        rows = ledger.provenance_rows(results.stored(tmp_path))
    assert [r["file"] for r in rows] == ["exp_a-paper.json", "exp_b-smoke.json"]
    assert rows[0]["device"] == "NVIDIA H100" and rows[0]["wall time"] == "5.2 min"
    assert rows[0]["date"] == "2026-01-02 03:04 UTC" and rows[0]["commit"] == "0123456789ab"
    assert rows[0]["data"] == "cifar100" and rows[0]["seeds"] == "0, 1" and rows[1]["seeds"] == "—"


def test_reproduce_rows_commands_parse():
    """Every command on the reproduction page is accepted by the CLI as a paper-scale run of that experiment."""
    rows = ledger.reproduce_rows(registry(), lambda name: None, pages=[])
    assert [r["experiment"] for r in rows] == sorted(registry())
    for row in rows:
        args = _parser().parse_args(shlex.split(row["command"].strip("`"))[3:])
        assert (args.command, args.name, args.scale) == ("run", row["experiment"], "paper")
        assert row["ran on"] == "not yet run at paper scale"


def test_reproduce_rows_use_stored_provenance():
    name = sorted(registry())[0]
    chapter = registry()[name].chapter
    stored = results.Result(name, "paper", {}, {}, {}, {"device": "NVIDIA H100", "wall_time_s": 30.0})
    row = ledger.reproduce_rows({name: registry()[name]}, lambda n: stored, pages=[chapter])[0]
    assert (row["ran on"], row["took"], row["chapter"]) == ("NVIDIA H100", "30.0 s", f"{{doc}}`{chapter}`")


def test_claims_cover_the_paper():
    assert {c.part for c in CLAIMS} == {"I", "II", "III", "IV"}
    assert len({c.claim for c in CLAIMS}) == len(CLAIMS)


@pytest.mark.parametrize("claim", [c for c in CLAIMS if c.doc], ids=lambda c: c.doc)
def test_claims_point_at_real_chapters_and_experiments(claim):
    source = next((BOOK / f"{claim.doc}{s}" for s in (".ipynb", ".md") if (BOOK / f"{claim.doc}{s}").exists()), None)
    assert source is not None, f"claim {claim.claim!r}: no book/{claim.doc}.ipynb or .md"
    assert f"book/{claim.doc}" in toc_entries(TOC), f"book/{claim.doc} is not in _toc.yml, so it cannot be linked"
    if claim.label:
        assert re.search(rf"\({re.escape(claim.label)}\)=", source.read_text()), f"no target ({claim.label})= in {source.name}"
    if claim.experiment:
        assert claim.experiment in registry(), f"experiment {claim.experiment!r} is not registered"
