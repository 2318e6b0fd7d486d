"""Tests of `skiplessons.claims` (verdict rules, checks on hand-made results, one function per claim in chapter
and ledger), `skiplessons.stats` and the generated tables of `skiplessons.report`."""
from __future__ import annotations


import ast
import re
from pathlib import Path

import numpy as np
import pytest
from markdown_it import MarkdownIt

from skiplessons import report, results, stats
from skiplessons.claims import base, part1, part3
from skiplessons.experiments.part1 import CountsResult
from skiplessons.experiments.part3 import DegeneracyResult, TrainingResult
from skiplessons.experiments.part4 import ControlsResult
from skiplessons.experiments import load_or_run, registry
from skiplessons.claims import CLAIMS, COLUMNS, Claim, Verdict
from skiplessons.degeneracy import LAYER_KEYS
from test_notebooks import TOC, toc_entries
from fakes import stored_config

BOOK = Path(__file__).resolve().parents[1] / "book"


def _result(acc_by_arch: dict[str, list[float]], scale="default"):
    """A `results.Result` of the `training` experiment's shape: final accuracies as the last record."""
    arch = np.array([a for a, vals in acc_by_arch.items() for _ in vals])
    final = np.array([v for vals in acc_by_arch.values() for v in vals])
    acc = np.stack([np.zeros_like(final), final], axis=1)
    return TrainingResult(results.Result("training", scale, {}, {}, {"acc": acc, "arch": arch}, {}))


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

    assess = part3.training_gap
    for claim in (Claim("c", "I"), Claim("c", "I", experiment="exp", assess=assess),
                  Claim("c", "I", doc="d", experiment="missing", assess=assess)):
        row = base.ledger_row(claim, {"exp": None}, load)
        assert row["verdict"] == "not yet tested" and set(row) == set(COLUMNS)


def test_tested_row_reads_the_result():
    loaded = []

    def load(name):
        loaded.append(name)
        return _result({"plain": [0.5, 0.52, 0.51], "residual": [0.9, 0.91, 0.92]}, scale="default")

    claim = Claim("c", "III", doc="00_headline", experiment="training", assess=part3.training_gap)
    row = base.ledger_row(claim, {"training": None}, load)
    assert loaded == ["training"]
    assert row["verdict"] == "holds" and row["scale"] == "default"
    assert "plain 0.510 ± 0.010 (n=3)" in row["measured"] and "residual 0.910" in row["measured"]
    assert row["paper size"] == base.NO_PAPER                         # no paper loader: no paper verdict


def test_paper_size_column_judges_the_paper_result_with_the_same_check():
    claim = Claim("c", "III", doc="00_headline", experiment="training", assess=part3.training_gap)
    build = _result({"plain": [0.5, 0.52, 0.51], "residual": [0.9, 0.91, 0.92]}, scale="default")
    paper = _result({"plain": [0.9, 0.91, 0.92], "residual": [0.5, 0.52, 0.51]}, scale="paper")
    row = base.ledger_row(claim, {"training": None}, lambda name: build, None, {"training": paper}.get)
    assert row["verdict"] == "holds" and row["paper size"] == "does not hold at our settings"
    row = base.ledger_row(claim, {"training": None}, lambda name: build, None, {}.get)
    assert row["paper size"] == base.NO_PAPER


def test_current_papers_are_the_registered_configs_by_todays_code():
    from skiplessons.experiments.reproduce import CURRENT, current_papers, paper_status

    current = {r["experiment"] for r in paper_status() if r["status"] == CURRENT}
    found = current_papers()
    assert set(found) == current and all(v.scale == "paper" for v in found.values())


def test_training_gap_verdicts():
    plain = [0.50, 0.52, 0.51]
    assert part3.training_gap(_result({"plain": plain, "residual": [0.9, 0.92], "hyper": [0.8, 0.81]})).verdict == "holds"
    v = part3.training_gap(_result({"plain": plain, "residual": [0.9, 0.92], "hyper": [0.5, 0.52]}))
    assert v.verdict == "holds" and v.secondary[0].name == "hyper − plain"        # the primary is residual − plain
    assert part3.training_gap(_result({"plain": plain, "residual": [0.4, 0.42]})).verdict == "does not hold at our settings"
    v = part3.training_gap(_result({"plain": plain, "residual": [0.5, 0.525], "hyper": [0.9, 0.92]}))
    assert v.verdict == "partly holds"             # primary inside its interval, a secondary shown after Holm
    v = part3.training_gap(_result({"plain": [0.510, 0.511, 0.509], "residual": [0.509, 0.512, 0.511]}))
    assert v.verdict == "not resolved: no effect larger than δ" and "inside ±δ" in v.why
    v = part3.training_gap(_result({"plain": [0.3, 0.7], "residual": [0.4, 0.8]}))
    assert v.verdict == "not resolved: too imprecise at this size" and "runs a side would resolve" in v.why
    assert part3.training_gap(_result({"plain": [0.5], "residual": [0.9, 0.91]})).verdict == "not yet tested"
    with pytest.raises(ValueError, match=r"no nets \['plain'\]"):
        part3.training_gap(_result({"residual": [0.9, 0.92]}))


# ---- Part I and II assessments ------------------------------------------------------------------------------

def _counts_result(table: dict, linear_outputs=8):
    """A `singular_counts`-shaped result: table[(kind, arch)] = [(n, seed, zeros, generic_zeros, predicted)]."""
    rows = [(kind, arch, *r) for (kind, arch), rs in table.items() for r in rs]
    cols = list(zip(*rows))
    keys = ("kind", "arch", "n", "seed", "zeros", "generic_zeros", "predicted")
    arrays = {k: np.array(v) for k, v in zip(keys, cols)}
    return CountsResult(results.Result("singular_counts", "default", stored_config("singular_counts", linear_outputs=linear_outputs), {},
                                        arrays, {}))


def _paper_counts(changes=None):
    """The counts PAPER.md derives for n = 3, 5 (one seed each); `changes[(kind, arch)]` replaces one entry."""
    table = {}
    for n in (3, 5):
        for kind, plain, residual, generic in (("incoming", n, 0, (0, 0)), ("outgoing", n, 0, (0, 0)),
                                               ("overlap", n, 0, (0, 0)), ("dead", 3 * n, n + 1, (n, 0)),
                                               ("dependence", 2 * n * n + 8 - n, 2 * n * n, (2 * n * n,) * 2)):
            for arch, z, g in (("plain", plain, generic[0]), ("residual", residual, generic[1])):
                table.setdefault((kind, arch), []).append((n, 0, z, g, z))
    for key, entries in (changes or {}).items():
        table[key] = entries
    return _counts_result(table)


@pytest.mark.parametrize("plain, residual, outcome", [
    ([3, 5], [0, 0], "shown"), ([3, 5], [0, 5], "inside"), ([3, 5], [1, 2], "shown"), ([3, 5], [3, 5], "inside"),
    ([0, 5], [0, 0], "inside"), ([0, 0], [1, 1], "reversed"), ([3], [0], "shown")])
def test_skip_removes(plain, residual, outcome):
    assert part1.skip_removes(plain, residual).outcome == outcome


def test_skip_removes_bad_input():
    with pytest.raises(ValueError, match="one count per net pair"):
        part1.skip_removes([1, 2], [0])
    with pytest.raises(ValueError, match="one count per net pair"):
        part1.skip_removes([], [])


def test_part_one_assessments_at_the_derived_counts():
    r = _paper_counts()
    elim, over, dep = part1.elimination_zeros(r), part1.overlap_zeros(r), part1.dependence_zeros(r)
    assert elim.verdict == over.verdict == "holds"
    assert dep.verdict == "holds" and "gained at the set" in dep.primary
    assert "J_a = 0: 3 → 0 (n=3), 5 → 0 (n=5)" in elim.numbers
    assert "dead ReLU (ReLU then tanh, biases) 9 → 4 (n=3), 15 → 6 (n=5)" in elim.numbers
    assert "counted = derived in 12 of 12 nets" in elim.numbers
    assert "J_a = J_b: 3 → 0 (n=3), 5 → 0 (n=5)" in over.numbers
    assert "+5 → +0 (n=3), +3 → +0 (n=5)" in dep.numbers and "18 → 18 (n=3), 50 → 50 (n=5)" in dep.numbers


def test_part_one_assessments_judge_what_they_claim():
    # a residual net left with a zero at K[:, a] = 0 is counted and reported; the dead ReLU is not judged
    r = _paper_counts({("outgoing", "residual"): [(3, 0, 1, 0, 0), (5, 0, 0, 0, 0)],
                         ("dead", "residual"): [(3, 0, 9, 0, 4), (5, 0, 15, 0, 6)]})
    assert part1.elimination_zeros(r).verdict == "holds"
    assert "residual nets with zero eigenvalues left: 1 of 4" in part1.elimination_zeros(r).numbers
    assert "K[:, a] = 0: 3 → 1 (n=3), 5 → 0 (n=5)" in part1.elimination_zeros(r).numbers
    assert "counted = derived in 9 of 12 nets" in part1.elimination_zeros(r).numbers
    assert part1.elimination_zeros(_paper_counts({("dead", "residual"): [(3, 0, 9, 0, 4), (5, 0, 15, 0, 6)]})
                                   ).verdict == "holds"
    # seeds that disagree show as a range
    r = _paper_counts({("overlap", "plain"): [(3, 0, 3, 0, 3), (3, 1, 4, 0, 3), (5, 0, 5, 0, 5)],
                         ("overlap", "residual"): [(3, 0, 3, 0, 0), (3, 1, 4, 0, 0), (5, 0, 5, 0, 0)]})
    assert part1.overlap_zeros(r).verdict == "not resolved: no effect larger than δ"
    assert "3–4 → 3–4 (n=3)" in part1.overlap_zeros(r).numbers
    # linear dependence is judged on the zeros gained over the generic point, not on the 2n² symmetries
    r = _paper_counts({("dependence", "residual"): [(3, 0, 20, 18, 18), (5, 0, 50, 50, 50)]})
    assert part1.dependence_zeros(r).verdict == "holds"          # +5 → +2 and +3 → +0: fewer gains, every pair


def test_part_one_assessments_bad_results():
    r = _counts_result({("incoming", "plain"): [(3, 0, 3, 0, 3)], ("incoming", "residual"): [(3, 0, 0, 0, 0)]})
    with pytest.raises(ValueError, match="kind='overlap' is not in result 'singular_counts'; its points are incoming"):
        part1.overlap_zeros(r)
    r = _counts_result({("overlap", "plain"): [(3, 0, 3, 0, 3)], ("overlap", "residual"): [(5, 0, 0, 0, 0)]})
    with pytest.raises(ValueError, match="same widths and seeds"):
        part1.overlap_zeros(r)


@pytest.mark.parametrize("seed", range(5))
def test_quartiles_match_numpy(seed):
    values = np.random.default_rng(seed).exponential(size=np.random.default_rng(seed).integers(1, 40))
    np.testing.assert_allclose(stats.quartiles(values), np.percentile(values, [25, 50, 75]), rtol=1e-12)


def test_quartiles_with_runs_that_never_arrive():
    assert stats.quartiles([1, 2, 3, np.inf]) == (1.75, 2.5, np.inf)
    assert stats.quartiles([1, 2, 3, 4, np.inf]) == (2.0, 3.0, 4.0)       # exact ranks: no interpolation
    assert stats.quartiles([np.inf] * 3) == (np.inf,) * 3
    for bad in ([], [1.0, np.nan], [-1.0, 2.0]):
        with pytest.raises(ValueError, match="values must be"):
            stats.quartiles(bad)


def test_singular_counts_rejects_unknown_points():
    from skiplessons.experiments import config_for, get

    with pytest.raises(ValueError, match=r"kinds=\['collapse'\] are not valid; choose from incoming"):
        get("singular_counts").run(config_for("singular_counts", "smoke", kinds=["collapse"]), None)


def test_toy_experiments_run_and_are_assessed(tmp_path, monkeypatch):
    """A real smoke run of `singular_counts`, stored in tmp_path and assessed by the ledger (Part II's real
    run is tested in test_part2_claims.py)."""
    monkeypatch.setenv("SKIPLESSONS_RESULTS", str(tmp_path))
    counts = load_or_run("singular_counts", "smoke")
    assert len(list(tmp_path.glob("singular_counts-smoke-*.json"))) == 1
    by = {(k, a, n): z for k, a, n, z in zip(counts.arrays["kind"], counts.arrays["arch"], counts.arrays["n"],
                                             counts.arrays["zeros"])}
    n = counts.config.units[0]
    # the counts PAPER.md states, independent of the library's formulas
    assert [by["incoming", "plain", n], by["outgoing", "plain", n], by["overlap", "plain", n]] == [n] * 3
    assert [by["incoming", "residual", n], by["outgoing", "residual", n], by["overlap", "residual", n]] == [0] * 3
    assert (by["dead", "plain", n], by["dead", "residual", n]) == (3 * n, n + 1)
    p = counts.config.linear_outputs
    assert (by["dependence", "plain", n], by["dependence", "residual", n]) == (2 * n * n + p - n, 2 * n * n)
    rows = {c.assess.__name__: base.ledger_row(c, registry(), lambda name: load_or_run(name, "smoke"))
            for c in CLAIMS if c.experiment == "singular_counts"}
    assert {k: r["verdict"] for k, r in rows.items()} == dict.fromkeys(
        ("elimination_zeros", "overlap_zeros", "dependence_zeros"), "holds")
    assert rows["elimination_zeros"]["scale"] == "smoke"



# ---- Parts III and IV assessments ------------------------------------------------------------------------

TOLS = [0.1, 0.01, 0.001]


def _deep_result(groups: dict, key="arch", name="degeneracy", layers=None, rank_bound=0.0):
    """A `degeneracy`/`init_controls`/`remedies`-shaped result. groups[g] = (final accuracies, degenerate fractions
    at tol 1e-3 per run at the first and the last checkpoint: a pair of lists); `layers[measure][g]` = per-run
    mean per-layer values (4 layers, all equal)."""
    labels = np.array([g for g, (acc, _) in groups.items() for _ in acc])
    acc = np.concatenate([acc for acc, _ in groups.values()])
    deg = np.stack([np.concatenate([d[t] for _, d in groups.values()]) for t in (0, 1)])     # (2, M)
    arrays = {key: labels, "acc": np.stack([np.zeros_like(acc), acc], axis=1), "ckpt_step": np.array([0, 100]),
              "ckpt_degenerate": np.stack([np.full_like(deg, 0.5), np.full_like(deg, 0.7), deg], axis=-1)}
    for measure, by_group in (layers or {}).items():
        per_run = np.concatenate([by_group[g] for g in groups])
        arrays[f"ckpt_{measure}"] = np.stack([np.zeros_like(per_run), per_run])[:, :, None].repeat(4, axis=2)
    reader = ControlsResult if key == "condition" else DegeneracyResult
    return reader(results.Result(name, "default", {}, {"tols": TOLS, "rank_bound": rank_bound}, arrays, {}))


def test_deep_assessments_need_the_tolerance_and_the_groups():
    r = _deep_result({"plain": ([0.5, 0.6], ([0.9, 0.9], [0.9, 0.9]))})
    r.summary["tols"] = [0.1, 0.01, 0.002]
    with pytest.raises(ValueError, match="tol=0.001 was not measured"):
        part3.degeneracy_accuracy(r)
    r = _deep_result({"residual": ([0.5, 0.6], ([0.9, 0.9], [0.9, 0.9]))})
    with pytest.raises(ValueError, match=r"no nets \['plain'\]"):
        part3.layer_singularities(_deep_result({"residual": ([0.5] * 3, ([0.9] * 3, [0.9] * 3))},
                                               layers={k: {"residual": [0.1] * 3} for k in LAYER_KEYS}))


def test_layer_singularities():
    groups = {g: ([0.5] * 3, ([0.9] * 3, [0.9] * 3)) for g in ("plain", "residual", "hyper")}
    layers = {"elimination": {"plain": [0.3, 0.4, 0.35], "residual": [0.0] * 3, "hyper": [0.0] * 3},
              "overlap": {"plain": [0.0, 0.1, 0.0], "residual": [0.0] * 3, "hyper": [0.0] * 3},
              "rank_deficit": {"plain": [0.5, 0.45, 0.55], "residual": [0.0, 0.01, 0.0], "hyper": [0.0] * 3},
              "live_rank_deficit": {"plain": [0.2, 0.25, 0.22], "residual": [0.0, 0.01, 0.0], "hyper": [0.0] * 3},
              "branch_elimination": {"plain": [0.3, 0.4, 0.35], "residual": [0.6] * 3, "hyper": [0.5] * 3}}
    v = part3.layer_singularities(_deep_result(groups, layers=layers))
    # dead branch units (the primary) are *more* frequent with skips
    assert v.verdict == "does not hold at our settings", v.numbers
    layers["branch_elimination"]["plain"] = [0.6, 0.58, 0.61]          # primary inside; live rank deficit shown
    assert part3.layer_singularities(_deep_result(groups, layers=layers)).verdict == "partly holds"
    assert "eliminated outputs 0.35 vs 0.00 vs 0.00" in v.numbers
    layers["overlap"]["plain"] = [0.08, 0.09, 0.1]
    layers["branch_elimination"]["plain"] = [0.8, 0.85, 0.9]
    assert part3.layer_singularities(_deep_result(groups, layers=layers)).verdict == "holds"


@pytest.mark.parametrize("slope, noise, verdict", [(-1.0, 0.01, "holds"),
                                                   (-1.0, 2.0, "not resolved: too imprecise at this size"),
                                                   (1.0, 0.01, "does not hold at our settings")])
def test_degeneracy_accuracy(slope, noise, verdict):
    rng = np.random.default_rng(0)
    deg = rng.uniform(0.8, 0.95, size=9)
    acc = 0.5 + slope * (deg - 0.85) + noise * rng.normal(0, 0.05, size=9)
    groups = {g: (acc[i::3], (deg[i::3], deg[i::3])) for i, g in enumerate(("plain", "residual", "hyper"))}
    r = _deep_result(groups)
    v = part3.degeneracy_accuracy(r)
    order = np.concatenate([np.arange(9)[i::3] for i in range(3)])
    assert v.verdict == verdict
    assert v.numbers.startswith(f"r = {np.corrcoef(deg[order], acc[order])[0, 1]:+.2f}") and "n = 9 nets" in v.numbers


def test_every_tested_claim_gets_a_row_at_smoke(tmp_path, monkeypatch):
    """Each claim's assessment accepts the real (smoke) result of its experiment."""
    monkeypatch.setenv("SKIPLESSONS_RESULTS", str(tmp_path))
    for claim in CLAIMS:
        if claim.experiment in ("degeneracy", "init_controls", "remedies", "malicious_wide"):
            row = base.ledger_row(claim, registry(), lambda name: load_or_run(name, "smoke"))
            assert row["scale"] == "smoke" and row["verdict"] in base.VERDICTS and row["measured"] != "—"


def test_markdown_table_roundtrips():
    rows = [{"a": "x | y", "b": 1.5}, {"a": "two\nlines"}]
    assert _cells(report.markdown_table(rows, ["a", "b"])) == [["a", "b"], ["x | y", "1.5"], ["two lines", ""]]
    assert _cells(report.markdown_table([{"max|λ|": 2}], ["max|λ|"])) == [["max|λ|"], ["2"]]
    with pytest.raises(ValueError, match="columns"):
        report.markdown_table(rows, [])


@pytest.mark.parametrize("seconds, text", [(0, "0.0 s"), (59.94, "59.9 s"), (150, "2.5 min"), (9000, "2.50 h")])
def test_duration(seconds, text):
    assert report.duration(seconds) == text


def test_duration_bad_input():
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="seconds="):
            report.duration(bad)


def test_provenance_rows_from_files(tmp_path):
    prov = {"commit": "0123456789abcdef", "skiplessons": "0.1.0", "torch": "2.13.0", "device": "NVIDIA H100",
            "wall_time_s": 312.0, "date": "2026-01-02T03:04:05+00:00", "seeds": [0, 1]}
    results.save("exp_a", "paper", {"data": "cifar100"}, {"data": "cifar100"}, {"x": np.arange(3)}, prov, tmp_path)
    results.save("exp_b", "smoke", {}, {"data": "mnist1d"}, {"x": np.arange(2)}, prov | {"seeds": []}, tmp_path)
    (tmp_path / "exp_c-paper-0123456789abcdef.json").write_text("{not json")  # corrupt: left out
    with pytest.warns(UserWarning, match="exp_c-paper-0123456789abcdef.json"):
        rows = report.provenance_rows(r for r in results.stored(tmp_path) if r.name.startswith("exp_"))
    assert [r["file"] for r in rows] == [results.key("exp_a", "paper", {"data": "cifar100"}) + ".json",
                                         results.key("exp_b", "smoke", {}) + ".json"]
    assert rows[0]["device"] == "NVIDIA H100" and rows[0]["wall time"] == "5.2 min"
    assert rows[0]["date"] == "2026-01-02 03:04 UTC" and rows[0]["commit"] == "0123456789ab"
    assert rows[0]["data"] == "cifar100" and rows[0]["seeds"] == "0, 1" and rows[1]["seeds"] == "—"
    assert rows[0]["peak memory"] == "not recorded"          # results stored before peak memory was recorded
    results.save("exp_d", "paper", {}, {"data": "mnist1d"}, {"x": np.arange(2)}, prov | {"peak_memory_bytes": 3 * 2**29}, tmp_path)
    assert report.provenance_rows([results.load("exp_d", "paper", folder=tmp_path)])[0]["peak memory"] == "1.5 GiB"


def test_claims_cover_the_paper():
    assert {"I", "II", "III", "IV"} <= {c.part for c in CLAIMS}
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


def _code(path: Path) -> str:
    """The Python of a notebook's code cells (IPython magics dropped)."""
    import nbformat

    if path.suffix != ".ipynb":
        return ""
    cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    def plain(line: str) -> str:
        stripped = line.lstrip()
        return line[:len(line) - len(stripped)] + "pass" if stripped.startswith(("%", "!")) else line

    return "\n".join(plain(line) for c in cells for line in c.splitlines())


def _asserted_checks(code: str) -> set[str]:
    """Names of the functions whose verdict the code passes to `expect`: `expect(check(r))`, or a name bound to
    such a call -- by assignment (`v = check(r)`, `vs = {"a": check(r)}`) or as a loop variable over such a
    container (`for k, v in vs.items(): expect(v)`) -- followed through any chain of names."""
    tree = ast.parse(code)

    def called(node) -> set[str]:
        return {getattr(n.func, "attr", getattr(n.func, "id", None)) for n in ast.walk(node) if isinstance(n, ast.Call)}

    def names(node) -> set[str]:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}

    binds: dict[str, set] = {}                              # name -> (calls, names) its value came from
    for node in ast.walk(tree):
        pairs = ([(t, node.value) for t in node.targets] if isinstance(node, ast.Assign) else
                 [(node.target, node.iter)] if isinstance(node, (ast.For, ast.comprehension)) else [])
        for target, value in pairs:
            for name in names(target):
                entry = binds.setdefault(name, [set(), set()])
                entry[0] |= called(value)
                entry[1] |= names(value) - {name}

    def resolve(name: str, seen: set) -> set[str]:
        if name in seen or name not in binds:
            return set()
        seen.add(name)
        calls, refs = binds[name]
        return calls | {c for r in refs for c in resolve(r, seen)}

    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "expect":
            for arg in node.args[:1]:
                found |= called(arg) | {c for n in names(arg) for c in resolve(n, set())}
    return found


@pytest.mark.parametrize("claim", [c for c in CLAIMS if c.doc and c.assess], ids=lambda c: c.assess.__name__)
def test_chapter_and_ledger_judge_a_claim_with_the_same_function(claim):
    """The chapter that tests a claim passes the very check the ledger tabulates to `expect`."""
    name = claim.assess.__name__
    code = _code(BOOK / f"{claim.doc}.ipynb")
    assert name in _asserted_checks(code), f"book/{claim.doc}.ipynb does not assert {name}() with claims.expect"


def test_asserted_checks_are_found():
    code = ("v = claims.part1.f(r)\nw = a if x else g(r)\nclaims.expect(v)\nexpect(h(r), HOLDS)\nexpect(w)\nk(r)\n"
            "vs = {'a': m(r), 'b': n(r)}\nfor key, u in vs.items():\n    expect(u)\n")
    assert _asserted_checks(code) == {"f", "g", "h", "m", "n", "items"}


def test_expect_asserts_the_verdict():
    v = Verdict("x = 1", "partly holds")
    assert base.expect(v, "holds", "partly holds") is None      # nothing to display when a cell ends in it
    with pytest.raises(AssertionError, match="expected holds, measured 'partly holds': x = 1"):
        base.expect(v)
    with pytest.raises(ValueError, match="allowed"):
        base.expect(v, "maybe")
    small = Verdict("x", "not resolved: no effect larger than δ")
    base.expect(small, base.UNRESOLVED)
    with pytest.raises(AssertionError):
        base.expect(small, "holds")


def test_a_verdict_knows_its_scale_and_expect_skips_smoke():
    """`check` stamps the typed result's scale on the verdict (and on each verdict of a mapping); `expect`
    asserts real scales and passes a `smoke` verdict unasserted, whatever it says."""
    class View:
        def __init__(self, scale):
            self.scale = scale

    @base.check
    def one(result, gap: float) -> Verdict:
        return base.judge("gap", stats.exact(gap, 3), "gap")

    @base.check
    def many(result) -> dict:
        return {"a": one.__wrapped__(result, -1.0)}

    failing = one(View("default"), -1.0)
    assert failing.scale == "default" and failing.verdict == base.FAILS
    with pytest.raises(AssertionError):
        base.expect(failing)
    smoke = one(View("smoke"), -1.0)
    assert smoke.scale == "smoke"
    base.expect(smoke)
    assert many(View("smoke"))["a"].scale == "smoke"
    assert one.__wrapped__(View("paper"), 1.0).scale is None      # undecorated: no scale
    assert base.judge("gap", stats.exact(-1.0, 3), "gap", scale="smoke").scale == "smoke"
    with pytest.raises(ValueError, match="allowed"):
        base.expect(smoke, "maybe")                                # bad arguments are refused at every scale


# ---- replication on fresh seeds ------------------------------------------------------------------------------

def test_replication_seeds_are_disjoint_and_only_the_seeds_change():
    from dataclasses import asdict

    from skiplessons.experiments import config_for
    from skiplessons.experiments.replication import OFFSET, replicated, replication, replication_seeds, seed_fields

    assert {c.experiment for c in CLAIMS if c.part in ("III", "IV") and c.experiment} <= set(replicated())
    for name in replicated():
        config = config_for(name, "default")
        fresh = replication_seeds(name)
        assert set(fresh) == set(seed_fields(config)) and fresh
        for field, seeds in fresh.items():
            assert len(seeds) == len(getattr(config, field)) and not set(seeds) & set(getattr(config, field))
            assert min(seeds) >= OFFSET
        again = config_for(name, "default", **fresh)
        assert {k: v for k, v in asdict(again).items() if k not in fresh} == \
            {k: v for k, v in asdict(config).items() if k not in fresh}
    with pytest.raises(ValueError, match="no seeds"):
        replication_seeds("capture")
    with pytest.raises(ValueError, match="not replicated"):
        replication("singular_counts")


def test_replication_column():
    claim = Claim("c", "III", doc="00_headline", experiment="training", assess=part3.training_gap)
    good = _result({"plain": [0.5, 0.52, 0.51], "residual": [0.9, 0.91, 0.92]})
    flat = _result({"plain": [0.5, 0.52, 0.51], "residual": [0.5, 0.53, 0.49]})
    row = base.ledger_row(claim, {"training": None}, lambda name: good, lambda name: good)
    assert row["replicated"] == "replicated"
    row = base.ledger_row(claim, {"training": None}, lambda name: good, lambda name: flat)
    assert row["replicated"].startswith("not replicated (not resolved")
    row = base.ledger_row(claim, {"training": None}, lambda name: flat, lambda name: good)
    assert row["replicated"] == "holds on fresh seeds"
    assert base.ledger_row(claim, {"training": None}, lambda name: good, lambda name: None)["replicated"] == \
        base.NOT_RUN
    assert base.ledger_row(claim, {"training": None}, lambda name: good)["replicated"] == \
        base.NOT_REPLICATED_BY_DESIGN


def test_exact_zeros_accuracy_pools_within_architectures():
    """The paper-size check's pooled r is the Pearson r of the architecture-centred values, by numpy."""
    from skiplessons.experiments import stored

    r = stored("exact_zeros", "paper")
    zeros, acc = r.measured("ggn"), r.final("acc")
    a = np.concatenate([zeros[g] - zeros[g].mean() for g in zeros])
    b = np.concatenate([acc[g] - acc[g].mean() for g in zeros])
    v = part3.exact_zeros_accuracy(r, "ggn")
    assert f"pooled within-architecture r = {np.corrcoef(a, b)[0, 1]:+.2f}" in v.numbers
    assert v.scale == "paper" and len(v.secondary) == len(zeros)
