"""Part II checks (`claims.part2`) on hand-made `plateaus` results with known answers, and a real smoke run of
the experiment read back through its typed reader."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from skiplessons import dynamics as D
from skiplessons import results
from skiplessons.claims import FAILS, HOLDS, IMPRECISE, PARTLY, SMALL, UNRESOLVED, part2
from skiplessons.experiments import load_or_run
from skiplessons.experiments.configs import CAPTURE, PLATEAUS, as_dict
from skiplessons.experiments.part2 import PlateauResult
from fakes import stored_config

KAPPAS = [0.003, 0.01, 0.03]


def _result(plain_slow, skip_slow, start=((0.01, 0.012, 0.009), (1.0, 0.98, 1.02)), attracting="nowhere",
            ghost_slow=((50, 60, 70), (5, 6, 7))):
    """A `plateaus`-shaped result: slow times (kappa, runs) per student, start rows, ghost curve at alpha 0 and 1."""
    n = len(plain_slow[0])
    arrays = {"arch": np.array(["plain", "skip"]), "kappa": np.array(KAPPAS),
              "slow": np.array([plain_slow, skip_slow], dtype=float),
              "hit": np.array([[100.0] * n, [np.inf] * n]), "start_len": np.array(start, dtype=float),
              "curvature": np.array([-0.015, 0.002] if attracting == "nowhere" else [0.01, 0.02]),
              "ghost_alpha": np.array([0.0, 1.0]), "ghost_speed": np.array([0.0, 0.1]),
              "ghost_slow": np.array(ghost_slow, dtype=float)}
    summary = {"plateau": 0.004, "attracting": attracting, "threshold": {"plain": 3e-4, "skip": 2e-3}}
    return PlateauResult(results.Result("plateaus", "default", stored_config("plateaus", kappa=0.01), summary, arrays, {}))


LONG = [[30, 34, 50], [40, 45, 60], [80, 90, 100]]


@pytest.mark.parametrize("plain, attracting, verdict, attractor", [
    (LONG, "|z| < 1", HOLDS, "shown"), (LONG, "nowhere", HOLDS, "reversed"),
    ([[0, 0, 0], [1, 2, 3], [9, 9, 9]], "nowhere", FAILS, "reversed"),
    ([[0, 0, 0], [1, 2, 30], [9, 9, 9]], "|z| < 1", PARTLY, "shown")])
def test_plateau_length(plain, attracting, verdict, attractor):
    """Primary: time on a plateau at the headline κ above the minimum; the attractor is a secondary (exact)."""
    v = part2.plateau_length(_result(plain, LONG, attracting=attracting))
    assert v.verdict == verdict
    assert {s.name: s.outcome for s in v.secondary}["Milnor-like attractor"] == attractor
    q25, q50, q75 = np.percentile(plain[1], [25, 50, 75])
    assert f"κ = 0.01: {q50:.0f} (IQR {q25:.0f}–{q75:.0f})" in v.numbers
    assert f"attracting {attracting}" in v.numbers


@pytest.mark.parametrize("skip, verdict, other", [
    ([[1, 2, 3], [2, 3, 4], [5, 6, 7]], HOLDS, "shown"),
    ([[1, 2, 3], [2, 3, 4], [200, 210, 220]], HOLDS, "reversed"),        # reversed at another κ: a secondary
    ([[1, 2, 3], [50, 44, 51], [5, 6, 7]], PARTLY, "shown")])             # the headline κ inside its interval
def test_ghost_plateaus_judges_the_headline_kappa(skip, verdict, other):
    v = part2.ghost_plateaus(_result(LONG, skip))
    assert v.verdict == verdict and "κ = 0.01" in v.primary
    second = {s.name: s.outcome for s in v.secondary}
    assert second["shorter at κ = 0.03"] == other
    assert second["start away"] == "shown" and second["plateau fades with α"] == "shown"


def test_ghost_plateaus_none_shown():
    r = _result(LONG, [[200, 210, 220]] * 3, start=((1.0, 0.98, 1.02), (0.01, 0.012, 0.009)),
                ghost_slow=((5, 6, 7), (50, 60, 70)))
    assert part2.ghost_plateaus(r).verdict == FAILS
    r = _result(LONG, LONG, start=((1.0, 0.98, 1.02), (1.0, 0.98, 1.02)), ghost_slow=((5, 6, 7), (5, 6, 7)))
    assert part2.ghost_plateaus(r).verdict == SMALL          # the same times: the difference is exactly zero


def test_reader_rejects_unmeasured_kappa_and_missing_students():
    r = _result(LONG, LONG)
    with pytest.raises(ValueError, match="kappa=0.5 was not measured"):
        r.slow(0.5)
    r.arrays["arch"] = np.array(["plain", "hyper"])
    with pytest.raises(ValueError, match="needs plain and skip runs"):
        part2.ghost_plateaus(r)


def test_escape_time_law():
    eps = np.array([1e-2, 1e-3, 1e-4, 1e-5])
    exact = 7.0 + 12.0 * np.log(1 / eps)
    v = part2.escape_time_law(eps, exact, resolution=1.0)
    assert v.verdict == HOLDS and "slope 12.00" in v.numbers and v.comparison.se == pytest.approx(0, abs=1e-9)
    # quantized times have no spread about the fit: the recording step's bound is what keeps the interval honest
    bound = 0.5 * np.abs(np.log(1 / eps) - np.log(1 / eps).mean()).sum() / np.var(np.log(1 / eps)) / len(eps)
    assert v.comparison.bound == pytest.approx(bound)
    assert part2.escape_time_law(eps, exact, resolution=400.0).verdict == IMPRECISE     # too coarse to tell
    assert "more runs cannot resolve it" in part2.escape_time_law(eps, exact, resolution=400.0).why
    assert part2.escape_time_law(eps, exact[::-1], resolution=1.0).verdict == FAILS
    assert part2.escape_time_law(eps, [10.0, 30.0, 12.0, 31.0], resolution=1.0).verdict.startswith(UNRESOLVED)
    with pytest.raises(ValueError, match="distance and plateau_time"):
        part2.escape_time_law([1e-2, 1e-3], [1.0, 2.0], resolution=1.0)
    with pytest.raises(ValueError, match="resolution"):
        part2.escape_time_law(eps, exact, resolution=0.0)


def test_plateaus_smoke_run_is_read_back(tmp_path, monkeypatch):
    """A real smoke run, stored in tmp_path: its numbers recomputed by hand from the same flows."""
    monkeypatch.setenv("SKIPLESSONS_RESULTS", str(tmp_path))
    r = load_or_run("plateaus", "smoke")
    cfg = r.stored.config
    teacher = D.Teacher(np.array(cfg["teacher_K"]), np.array(cfg["teacher_v"]))
    theta0 = D.small_init(cfg["n_init"], cfg["init_scale"], seed=cfg["seeds"][0])
    # thresholds: relative to each student's own loss at zero weights (both optima are zero)
    for arch, a in (("plain", 0.0), ("skip", 1.0)):
        l0 = D.expected_loss(np.zeros(6), teacher, a).item()
        assert r.thresholds[arch] == pytest.approx(cfg["threshold_factor"] * l0, rel=1e-12)
    # start rows by hand: a_i = sqrt(2/pi) J_i (+ e_i with the skip)
    J = theta0.numpy()[:, :4].reshape(-1, 2, 2)
    for arch, a in (("plain", 0.0), ("skip", 1.0)):
        rows = np.sqrt(2 / np.pi) * J + a * np.eye(2)
        np.testing.assert_allclose(r.start_len()[arch], np.linalg.norm(rows, axis=-1).min(-1), rtol=1e-12)
    plain = D.gradient_flow(theta0, teacher, 0.0, t_max=cfg["t_max"], n_eval=cfg["n_eval"])
    dt = cfg["t_max"] / (cfg["n_eval"] - 1)       # separate and batched integrations may differ by an interval
    np.testing.assert_allclose(r.slow()["plain"], D.slow_time(plain.t, plain.loss, cfg["kappa"],
                                                              r.thresholds["plain"]), atol=2 * dt)
    sample = r.sample("plain")
    shown = sample.loss.shape[1]
    np.testing.assert_allclose(sample.loss, plain.loss[:, :shown], rtol=1e-3, atol=1e-8)
    np.testing.assert_allclose(sample.theta[0], theta0[:shown].numpy(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="arch='hyper' is not a student"):
        r.sample("hyper")
    assert r.plateau == pytest.approx(D.overlap_critical_point(teacher)[0], rel=1e-9)
    np.testing.assert_allclose(r.curvature, D.overlap_line(teacher).eigenvalues, rtol=1e-9)
    g = r.ghost()
    assert g["speed"][0] < 1e-7 < g["speed"][-1] and g["slow"].shape == (len(cfg["ghost_alphas"]),
                                                                         cfg["ghost_n_init"])
    # the default teacher's line is a saddle everywhere: plateaus, but no Milnor-like attractor
    v = part2.plateau_length(r)
    assert r.attracting == "nowhere" and {s.name: s.outcome for s in v.secondary}["Milnor-like attractor"] == "reversed"
    json.loads(next(tmp_path.glob("plateaus-smoke-*.json")).read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def test_line_attracts_counts_definite_curvatures():
    assert part2.line_attracts([[0.1, 0.2]]).verdict == HOLDS
    assert part2.line_attracts([[-0.2, -0.1], [-0.1, 0.3]]).verdict == HOLDS         # some teacher's line attracts
    assert part2.line_attracts([[0.0, 0.3], [-0.1, 0.3]]).verdict == IMPRECISE       # undecided at second order
    v = part2.line_attracts([[-0.1, 0.3], [-0.2, 0.05]])
    assert v.verdict == FAILS and "2 teachers: M definite for 0, semidefinite (a zero eigenvalue) for 0" in v.numbers
    with pytest.raises(ValueError, match="eigenvalues must be finite"):
        part2.line_attracts([[np.nan, 1.0]])


def test_scanned_two_input_teachers_have_no_definite_curvature():
    """The computation chapter II.1 shows, at a small size: no scanned 2-input teacher's line attracts to second
    order; the symmetric teachers (equal norms, output weights of equal size) have a zero eigenvalue."""
    teachers = D.teacher_grid([0.5, 2.0], 2, [-1.0, 1.0, 2.0])
    eig = [D.overlap_line(t).eigenvalues for t in teachers]
    v = part2.line_attracts(eig)
    assert v.verdict == IMPRECISE and "18 teachers: M definite for 0, semidefinite (a zero eigenvalue) for 8" in v.numbers
    symmetric = [np.isclose(*np.linalg.norm(t.K, axis=1)) and abs(t.v[1]) == 1.0 for t in teachers]
    assert [D.curvature_kind(e) == "undecided" for e in eig] == symmetric


def test_overlap_on_plateau():
    assert part2.overlap_on_plateau([1e-4, 2e-4, 5e-4], [0.3, 0.2, 0.25]).verdict == HOLDS
    assert part2.overlap_on_plateau([0.3, 0.2, 0.25], [1e-4, 2e-4, 5e-4]).verdict == FAILS
    assert part2.overlap_on_plateau([1e-3, 1e-1, 1e-2], [1e-2, 1e-3, 1e-1]).verdict.startswith(UNRESOLVED)
    with pytest.raises(ValueError, match="gap_on_plateau and gap_at_end"):
        part2.overlap_on_plateau([0.0, 1.0], [1.0, 1.0])


# ---- capture by the overlap line ----------------------------------------------------------------------------

RADII, STAYS = [0.1, 0.3], [50.0, 200.0]


def _stays(durations, to_end=None, z_in=None, z_out=None):
    """Stay arrays (R, B) for one student from durations (R, B)."""
    dur = np.asarray(durations, dtype=float)
    to_end = np.zeros_like(dur, dtype=bool) if to_end is None else np.asarray(to_end)
    z_in = np.full_like(dur, 0.2) if z_in is None else np.asarray(z_in, dtype=float)
    z_out = np.full_like(dur, 0.21) if z_out is None else np.asarray(z_out, dtype=float)
    return dur, z_in, z_out, to_end


def _stay_result(reader, per_arch: dict, t_max=1000.0, extra=None, summary=None):
    arrays = {"arch": np.array(list(per_arch))}
    for k, field in enumerate(("duration", "z_in", "z_out", "to_end")):
        arrays[f"stay_{field}"] = np.stack([v[k] for v in per_arch.values()])
    arrays |= extra or {}
    config = replace(PLATEAUS["default"], radii=tuple(RADII), min_stays=tuple(STAYS), t_max=t_max, kappa=0.01)
    return reader(results.Result("plateaus", "default", as_dict(config), summary or {}, arrays, {}))


def test_capture_plain_vs_skip_per_definition():
    plain = _stays([[0] * 10 + [100] * 10, [0] * 5 + [300] * 15])
    none = _stays([[0] * 20, [0] * 20])
    r = _stay_result(PlateauResult, {"plain": plain, "skip": none})
    by = {k: c.outcome for k, c in part2.plain_vs_skip_by_definition(r).items()}
    assert by == {"r = 0.1, stay ≥ 50": "shown", "r = 0.1, stay ≥ 200": "inside", "r = 0.3, stay ≥ 50": "shown",
                  "r = 0.3, stay ≥ 200": "shown"}
    v = part2.capture_plain_vs_skip(r)
    assert v.verdict == HOLDS and "r = 0.3, stay ≥ 50: 75.0% vs 0.0%" in v.numbers
    assert part2.capture_plain_vs_skip(_stay_result(PlateauResult, {"plain": none, "skip": plain})).verdict == FAILS
    with pytest.raises(ValueError, match="radius=0.2 was not measured"):
        r.stay("plain", 0.2)
    with pytest.raises(ValueError, match="arch='hyper'"):
        r.stay("hyper", 0.1)


def _cap_result(dist: dict, radius=1.0, elim=None, t_max=100.0):
    """A `capture`-shaped result from {student: (T, B) distances to the line}; losses 1 at the start and 0.1 at
    the end, distances to elimination from `elim` ({student: (B,)}, default 1)."""
    from skiplessons.experiments.part2 import CaptureResult
    names = list(dist)
    T, B = np.asarray(next(iter(dist.values()))).shape
    elim = elim or {}
    arrays = {"arch": np.array(names), "t": np.linspace(0, t_max, T), "curvature": np.array([0.0, 6e-4]),
              "dist": np.stack([np.asarray(dist[k], dtype=float) for k in names]),
              "initial_loss": np.ones((len(names), B)), "final_loss": np.full((len(names), B), 0.1),
              "final_elim": np.stack([np.asarray(elim.get(k, np.ones(B)), dtype=float) for k in names]),
              "final_z": np.zeros((len(names), B))}
    summary = {"radius": radius, "plateau": 1e-3, "attracting": "undecided"}
    config = as_dict(replace(CAPTURE["default"], t_max=t_max, n_show=2))
    return CaptureResult(results.Result("capture", "default", config, summary, arrays, {}))


def _closing(inside: int, B: int = 20, T: int = 11):
    """(T, B) distances: the first `inside` runs close in on the line (to 0.5 at the end), the others move away."""
    t = np.linspace(0, 1, T)[:, None]
    return np.concatenate([np.repeat(3 - 2.5 * t, inside, axis=1), np.repeat(3 + t, B - inside, axis=1)], axis=1)


def test_line_captures_at_the_capture_radius():
    v = part2.line_captures(_cap_result({"plain": _closing(10)}))
    assert v.verdict == HOLDS and "50.0% at t = 100" in v.numbers and "r = 1" in v.primary
    assert "limit between 50.0% and 50.0%" in v.numbers
    assert part2.line_captures(_cap_result({"plain": _closing(0)})).verdict == SMALL


def test_capture_limit_brackets_runs_still_approaching():
    d = _closing(10)
    d[:, 15] = np.linspace(6, 2, len(d))                   # outside the radius at the end but still approaching
    assert _cap_result({"plain": d}).limit("plain") == (0.5, 0.55)


def test_capture_comparisons_null_and_gap():
    from skiplessons.claims.part2 import READOUT, SAME_TARGET
    gap = {"plain": _closing(10), "skip": _closing(0), SAME_TARGET: _closing(0), READOUT: _closing(0)}
    near = {"skip": np.ones(20), READOUT: np.full(20, 1e-3)}
    v = part2.capture_comparisons(_cap_result(gap, elim=near))
    assert v.verdict == HOLDS and "(a) same target" in v.primary
    assert part2.escapes(v).startswith("the overlap attractor") and "elimination" in part2.escapes(v)
    null = {k: _closing(10) for k in gap}
    v = part2.capture_comparisons(_cap_result(null))
    assert v.verdict == SMALL and part2.escapes(v) == "neither, by these comparisons"
    with pytest.raises(ValueError, match="has no students"):
        part2.capture_comparisons(_cap_result({"plain": _closing(3)}))


def test_capture_smoke_run_is_read_back(tmp_path, monkeypatch):
    """A real smoke run: each student's distances recomputed by hand from its own integration of the same starts
    (the skip student on the plain target, the readout student from a zero readout on the skip target)."""
    from skiplessons.experiments.part2 import CAPTURE_STUDENTS
    monkeypatch.setenv("SKIPLESSONS_RESULTS", str(tmp_path))
    r = load_or_run("capture", "smoke")
    cfg = r.stored.config
    teacher = D.Teacher(np.array(cfg["teacher_K"]), np.array(cfg["teacher_v"]))
    assert teacher.d == 2 and r.attracting == "undecided" and r.curvature[-1] > 0
    assert r.students() == ["plain", "skip", "skip, plain target", "plain + readout, skip target"]
    line = D.overlap_line(teacher)
    assert r.radius == pytest.approx(D.capture_radius(teacher, line))
    theta0 = D.small_init(cfg["n_init"], cfg["init_scale"], n=2, d=2, seed=cfg["seed"])
    for arch, (alpha, target, readout) in CAPTURE_STUDENTS.items():
        start = torch.cat([theta0, torch.zeros(len(theta0), 2, dtype=theta0.dtype)], 1) if readout else theta0
        flow = D.gradient_flow(start, D.Teacher(teacher.K, teacher.v, alpha=target), alpha, t_max=cfg["t_max"],
                               n_eval=cfg["n_eval"], readout=readout)
        dist, _ = D.line_distance(flow.theta[..., :6], line)
        np.testing.assert_allclose(r.distance(arch), dist, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(r.final_loss(arch), flow.loss[-1], rtol=1e-4, atol=1e-9)
