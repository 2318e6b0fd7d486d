"""Experiments `plateaus` and `capture` (Part II): the teacher-student gradient flow of the toy model.

Both are cheap and deterministic; they exist as experiments so that the claims read their numbers from a stored
result like every other claim. `plateaus` integrates the teacher-student gradient flow of chapter II.2 for plain
and skip students from the same initializations (`dynamics`); `capture` follows plain and skip students from the
same starts to the attracting segment of the overlap line. Sizes: `configs.PLATEAUS`, `configs.CAPTURE`.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import dynamics as D
from ..stats import quartiles
from . import experiment
from .configs import CAPTURE, PLATEAUS
from .views import ResultView

# ------------------------------------------------------------------------------------------------ plateaus

FLOW_ARCHS = {"plain": 0.0, "skip": 1.0}
STAY_FIELDS = ("duration", "z_in", "z_out", "to_end")


def measure_stays(t, theta, line: D.OverlapLine, radii) -> dict[str, np.ndarray]:
    """Each run's longest stay near the overlap line `line` at every radius in `radii`: arrays ``stay_<field>``
    (R, B) for the fields of `dynamics.Stay`, from a recorded flow ``theta`` (T, B, P) at times `t`."""
    dist, z = D.line_distance(theta, line)
    stays = [D.longest_stay(t, dist, z, r) for r in radii]
    return {f"stay_{k}": np.stack([getattr(st, k) for st in stays]) for k in STAY_FIELDS}


class StudentReader(ResultView):
    """Students of the two-unit model run from the same starts, read per student ("plain", "skip", ...), with the
    plain net's overlap line (plateau value, curvature) and the end of the integration."""

    def students(self) -> list[str]:
        """The students of the result, in the order they were run."""
        return list(np.asarray(self.arrays["arch"]).astype(str))

    def _index(self, arch: str) -> int:
        archs = self.students()
        if arch not in archs:
            raise ValueError(f"arch={arch!r} is not a student of result {self.name!r}; its students are {archs}")
        return archs.index(arch)

    @property
    def t_max(self) -> float:
        """The end of the integration (a stay that reaches it is censored: the run had not left)."""
        return float(self.config.t_max)

    @property
    def plateau(self) -> float:
        """The plain net's plateau value: the loss on its overlap line (the best one-unit fit)."""
        return float(self.summary["plateau"])

    @property
    def attracting(self) -> str:
        """Where the plain net's overlap line attracts to second order (`dynamics.curvature_kind`)."""
        return str(self.summary["attracting"])

    @property
    def curvature(self) -> np.ndarray:
        """Eigenvalues of the overlap line's curvature matrix M (`dynamics.OverlapLine`), ascending."""
        return np.asarray(self.arrays["curvature"], dtype=float)


class StayReader(StudentReader):
    """Read capture by the overlap line: a run is *captured* at (radius, min_stay) when its longest stay within
    `radius` of the line lasts at least `min_stay` (`dynamics.longest_stay`); per student ("plain", "skip")."""

    @property
    def radii(self) -> list[float]:
        """The radii around the line at which stays were measured (`configs.CAPTURE_RADII`)."""
        return [float(r) for r in self.config.radii]

    @property
    def min_stays(self) -> list[float]:
        """The minimum stays that define capture (`configs.CAPTURE_STAYS`)."""
        return [float(m) for m in self.config.min_stays]

    def stay(self, arch: str, radius: float) -> D.Stay:
        """The longest stays of student `arch`'s runs within `radius` of the line."""
        i = self._index(arch)
        if not any(np.isclose(radius, r) for r in self.radii):
            raise ValueError(f"radius={radius!r} was not measured in result {self.name!r}; its radii are "
                             f"{', '.join(f'{r:g}' for r in self.radii)}")
        j = int(np.argmin(np.abs(np.asarray(self.radii) - radius)))
        return D.Stay(**{k: np.asarray(self.arrays[f"stay_{k}"])[i, j] for k in STAY_FIELDS})

    def captured(self, arch: str, radius: float, min_stay: float) -> np.ndarray:
        """One boolean per run of student `arch`: captured at (`radius`, `min_stay`)."""
        return self.stay(arch, radius).captured(min_stay)

    def fractions(self, arch: str) -> dict[tuple[float, float], float]:
        """{(radius, min_stay): fraction of student `arch`'s runs captured}, over every definition measured."""
        return {(r, m): float(self.captured(arch, r, m).mean()) for r in self.radii for m in self.min_stays}


class PlateauResult(StayReader):
    """Plain and skip students from the same starts, read per student ("plain", "skip"), one number per start:
    time on a plateau at each rate threshold kappa (`slow`), time to the student's own loss threshold (`hit`,
    inf if never), the shorter effective row at the start (`start_len`); plus the plain net's overlap line
    (plateau value, curvature eigenvalues) and the ghost curve over the skip strength alpha (`ghost`)."""

    def _per_arch(self, key: str) -> dict[str, np.ndarray]:
        archs = self.students()
        if {"plain", "skip"} - set(archs):
            raise ValueError(f"result {self.name!r} needs plain and skip runs; its students are {archs}")
        return {arch: np.asarray(self.arrays[key], dtype=float)[archs.index(arch)] for arch in FLOW_ARCHS}

    @property
    def kappas(self) -> list[float]:
        """The rate thresholds of the plateau detector (`dynamics.slow_time`), ascending."""
        return [float(k) for k in self.arrays["kappa"]]

    @property
    def kappa(self) -> float:
        """The headline rate threshold, the one quoted in the prose (the others show the dependence on it)."""
        return float(self.config.kappa)

    def slow(self, kappa: float | None = None) -> dict[str, np.ndarray]:
        """{student: (starts,)} time with |d log L/dt| < `kappa` (default: the headline one) before the
        student's own threshold."""
        kappa = self.kappa if kappa is None else float(kappa)
        if not any(np.isclose(kappa, k) for k in self.kappas):
            raise ValueError(f"kappa={kappa!r} was not measured in result {self.name!r}; its kappas are "
                             f"{', '.join(f'{k:g}' for k in self.kappas)}")
        i = int(np.argmin(np.abs(np.asarray(self.kappas) - kappa)))
        return {arch: v[i] for arch, v in self._per_arch("slow").items()}

    def hit(self) -> dict[str, np.ndarray]:
        """{student: (starts,)} first time the loss is at most its own threshold (inf if never)."""
        return self._per_arch("hit")

    def start_len(self) -> dict[str, np.ndarray]:
        """{student: (starts,)} length of the shorter effective row ``phi'(0) J_i + alpha e_i`` at the start."""
        return self._per_arch("start_len")

    @property
    def thresholds(self) -> dict[str, float]:
        """{student: its loss threshold}, `threshold_factor` times its own loss at zero weights (optimum 0)."""
        return {arch: float(self.summary["threshold"][arch]) for arch in FLOW_ARCHS}

    def sample(self, arch: str) -> D.Trajectory:
        """The recorded flow (times, parameters, losses) of the first `n_show` starts of student `arch`."""
        i = self._index(arch)
        return D.Trajectory(t=np.asarray(self.arrays["t"], dtype=float),
                            theta=np.asarray(self.arrays["sample_theta"], dtype=float)[i],
                            loss=np.asarray(self.arrays["sample_loss"], dtype=float)[i])

    def ghost(self) -> dict[str, np.ndarray]:
        """The ghost curve over skip strengths: "alpha" (A,), "speed" (A,) the slowest flow min |grad L| where
        the overlap line was, "slow" (A, starts) time on a plateau at the headline kappa from the same starts."""
        return {k: np.asarray(self.arrays[f"ghost_{k}"], dtype=float) for k in ("alpha", "speed", "slow")}


def _quartile_dict(values) -> dict:
    """Quartiles for the JSON summary; null where the quartile run never got there (JSON has no infinity)."""
    return {k: (q if np.isfinite(q) else None) for k, q in zip(("q25", "median", "q75"), quartiles(values))}


def run_plateaus(config, ctx):
    """As chapters II.1-II.2: `n_init` starts per seed from N(0, init_scale^2), both students from the same
    starts, each learning a teacher of its own architecture. Per run: time on a plateau (`dynamics.slow_time`)
    at each kappa, and the first time the loss is at most `threshold_factor` times the student's own loss at
    zero weights. The ghost curve: `ghost_n_init` of the starts at each alpha in `ghost_alphas`. The flows of the
    first `n_show` starts are kept for the chapters' figures."""
    teacher = D.Teacher(np.array(config.teacher_K), np.array(config.teacher_v))
    theta0 = torch.cat([D.small_init(config.n_init, config.init_scale, seed=s) for s in config.seeds])
    B, g = theta0.shape[0], config.ghost_n_init
    # one batched integration: every start for both students, plus the first `g` starts at the other alphas
    alphas = np.asarray(config.ghost_alphas, dtype=float)
    extra = [a for a in alphas if a not in FLOW_ARCHS.values()]
    starts = torch.cat([theta0] * len(FLOW_ARCHS) + [theta0[:g]] * len(extra))
    alpha_rows = np.concatenate([np.full(B, a) for a in FLOW_ARCHS.values()] + [np.full(g, a) for a in extra])
    run = D.gradient_flow(starts, teacher, alpha_rows, t_max=config.t_max, n_eval=config.n_eval)
    flows = [D.Trajectory(run.t, run.theta[:, i * B:(i + 1) * B], run.loss[:, i * B:(i + 1) * B])
             for i in range(len(FLOW_ARCHS))]
    line = D.overlap_line(teacher)
    zero = torch.zeros(D.n_params(teacher.n, teacher.d))
    thresholds = {arch: config.threshold_factor * D.expected_loss(zero, teacher, a).item()
                  for arch, a in FLOW_ARCHS.items()}
    hit = np.stack([D.time_to_threshold(f.t, f.loss, thresholds[arch]) for arch, f in zip(FLOW_ARCHS, flows)])
    slow = np.stack([np.stack([D.slow_time(f.t, f.loss, k, thresholds[arch]) for k in config.kappas])
                     for arch, f in zip(FLOW_ARCHS, flows)])                                   # (arch, kappa, B)
    rows = np.stack([D.effective_inputs(theta0, a).numpy() for a in FLOW_ARCHS.values()])       # (arch, B, 2, 2)
    start_len = np.linalg.norm(rows, axis=-1).min(axis=-1)
    # the ghost curve: the first `g` starts at every alpha, each run against its own threshold
    ghost_loss = {a: f.loss[:, :g] for a, f in zip(FLOW_ARCHS.values(), flows)}
    ghost_loss |= {a: run.loss[:, len(FLOW_ARCHS) * B + j * g:len(FLOW_ARCHS) * B + (j + 1) * g]
                   for j, a in enumerate(extra)}
    ghost_slow = np.stack([D.slow_time(run.t, ghost_loss[a], config.kappa, config.threshold_factor
                                       * D.expected_loss(zero, teacher, float(a)).item()) for a in alphas])
    z = np.linspace(-config.z_span, config.z_span, config.z_points)
    arrays = dict(arch=np.array(list(FLOW_ARCHS)), t=flows[0].t, kappa=np.asarray(config.kappas, dtype=float),
                  slow=slow, hit=hit, start_len=start_len, curvature=line.eigenvalues,
                  sample_theta=np.stack([f.theta[:, :config.n_show] for f in flows]),
                  sample_loss=np.stack([f.loss[:, :config.n_show] for f in flows]),
                  ghost_alpha=alphas, ghost_speed=D.ghost_speed(line, teacher, alphas, z), ghost_slow=ghost_slow)
    # stays near the plain net's overlap line, for both students (for the skip student: where the line was)
    per_arch = [measure_stays(f.t, f.theta, line, config.radii) for f in flows]
    arrays |= {k: np.stack([m[k] for m in per_arch]) for k in per_arch[0]}                  # (arch, R, B)
    summary = {"plateau": line.plateau, "attracting": line.attracting, "threshold": thresholds,
               "runs": int(theta0.shape[0])}
    for i, arch in enumerate(FLOW_ARCHS):
        k = config.kappas.index(config.kappa)
        summary[arch] = {"slow_time": _quartile_dict(slow[i, k]), "time_to_threshold": _quartile_dict(hit[i]),
                         "reached": float(np.isfinite(hit[i]).mean())}
    return summary, arrays


experiment("plateaus", PLATEAUS, PlateauResult, "two-unit teacher-student gradient flow: plateau times, "
           "plain vs skip, and the ghost over the skip strength", "06_ghosts")(run_plateaus)


# ------------------------------------------------------------------------------------------------ capture

#: the students of `capture`: (student's skip strength, its target's skip strength, free linear readout?) --
#: (b) each learning the teacher of its own architecture, (a) the skip student on the plain target, the same
#: target for both, and (c) plain units with a free linear readout on the skip target
CAPTURE_STUDENTS = {"plain": (0.0, 0.0, False), "skip": (1.0, 1.0, False), "skip, plain target": (1.0, 0.0, False),
                    "plain + readout, skip target": (0.0, 1.0, True)}


class CaptureResult(StudentReader):
    """The students of `CAPTURE_STUDENTS` from the same starts on the teacher whose overlap line attracts along
    the input it reads: each run's distance to the plain net's overlap line over time (for the other students,
    to where that line is), the fraction within `radius` (`dynamics.capture_radius`) at every recorded time and
    its limit bracket, the losses at the start and the end, and each run's distance to elimination at the end."""

    @property
    def t(self) -> np.ndarray:
        """The recorded times (T,)."""
        return np.asarray(self.arrays["t"], dtype=float)

    @property
    def radius(self) -> float:
        """The capture radius, half the distance from the line to the teacher (`dynamics.capture_radius`)."""
        return float(self.summary["radius"])

    def distance(self, arch: str = "plain") -> np.ndarray:
        """(times, runs) distance of student `arch`'s runs to the plain net's overlap line."""
        return np.asarray(self.arrays["dist"], dtype=float)[self._index(arch)]

    def inside(self, arch: str = "plain") -> np.ndarray:
        """(times, runs) booleans: within `radius` of the line."""
        return self.distance(arch) < self.radius

    def captured(self, arch: str = "plain") -> np.ndarray:
        """(runs,) booleans: within `radius` at the end of the integration."""
        return self.inside(arch)[-1]

    def limit(self, arch: str = "plain", tail: float = 0.1) -> tuple[float, float]:
        """The captured fraction's limit as t grows, bracketed from the last `tail` of the record: at least the
        runs inside at the end whose distance still shrank over the tail (they are closing in), at most those
        plus the runs outside that are still approaching the line (they may yet enter)."""
        dist = self.distance(arch)
        k = max(1, int(round(tail * (len(dist) - 1))))
        closing = dist[-1] < dist[-1 - k]
        inside = dist[-1] < self.radius
        return float((inside & closing).mean()), float((inside | closing).mean())

    def initial_loss(self, arch: str = "plain") -> np.ndarray:
        """Each run's loss at the start, (runs,), for student `arch` (its own target's)."""
        return np.asarray(self.arrays["initial_loss"], dtype=float)[self._index(arch)]

    def final_loss(self, arch: str = "plain") -> np.ndarray:
        """Each run's loss at the end of the integration, (runs,), for student `arch`."""
        return np.asarray(self.arrays["final_loss"], dtype=float)[self._index(arch)]

    def elimination(self, arch: str = "plain") -> np.ndarray:
        """Each run's distance to the elimination set at the end: min over units of min(|J_i|, |w_i|)."""
        return np.asarray(self.arrays["final_elim"], dtype=float)[self._index(arch)]

    def final_z(self, arch: str = "plain") -> np.ndarray:
        """Each run's ratio z of the nearest point of the line at the end (where along the line it is)."""
        return np.asarray(self.arrays["final_z"], dtype=float)[self._index(arch)]

    def sample_distance(self, arch: str = "plain") -> tuple[np.ndarray, np.ndarray]:
        """Times (T,) and the distances (T, n_show) of student `arch`'s first starts."""
        return self.t, self.distance(arch)[:, :int(self.config.n_show)]


def _elimination(theta, n: int, d: int) -> np.ndarray:
    J, w = D.split(torch.as_tensor(theta[..., :D.n_params(n, d)]), n, d)
    return torch.minimum(J.norm(dim=-1), w.abs()).min(dim=-1).values.numpy()


def run_capture(config, ctx):
    """As chapter II.1: `n_init` starts from N(0, init_scale^2); from the same starts the students of
    `CAPTURE_STUDENTS` (the readout starting at zero), integrated to `t_max`; per student and run, the distance to
    the plain net's overlap line at every recorded time, the loss at the start and the end, the distance to
    elimination and the ratio z of the nearest point of the line at the end."""
    teacher = D.Teacher(np.array(config.teacher_K), np.array(config.teacher_v))
    line = D.overlap_line(teacher)
    theta0 = D.small_init(config.n_init, config.init_scale, n=teacher.n, d=teacher.d, seed=config.seed)
    B, P = theta0.shape
    units = {k: v for k, v in CAPTURE_STUDENTS.items() if not v[2]}
    alphas, targets = (np.repeat([v[i] for v in units.values()], B) for i in (0, 1))
    run = D.gradient_flow(theta0.repeat(len(units), 1), D.Teacher(teacher.K, teacher.v, alpha=targets), alphas,
                          t_max=config.t_max, n_eval=config.n_eval)
    flows = {k: (run.theta[:, i * B:(i + 1) * B], run.loss[:, i * B:(i + 1) * B]) for i, k in enumerate(units)}
    for k, (a, a_t, _) in ((k, v) for k, v in CAPTURE_STUDENTS.items() if v[2]):
        ro = D.gradient_flow(torch.cat([theta0, torch.zeros(B, teacher.d, dtype=theta0.dtype)], dim=1),
                             D.Teacher(teacher.K, teacher.v, alpha=a_t), a, t_max=config.t_max, n_eval=config.n_eval,
                             readout=True)
        flows[k] = (ro.theta, ro.loss)
    names = list(CAPTURE_STUDENTS)
    arrays = dict(arch=np.array(names), t=run.t, curvature=line.eigenvalues,
                  dist=np.stack([D.line_distance(flows[k][0][..., :P], line)[0] for k in names]).astype(np.float32),
                  initial_loss=np.stack([flows[k][1][0] for k in names]),
                  final_loss=np.stack([flows[k][1][-1] for k in names]),
                  final_elim=np.stack([_elimination(flows[k][0][-1], teacher.n, teacher.d) for k in names]),
                  final_z=np.stack([D.line_distance(flows[k][0][-1, :, :P], line)[1] for k in names]))
    radius = D.capture_radius(teacher, line)
    summary = {"plateau": line.plateau, "attracting": line.attracting, "runs": int(config.n_init), "radius": radius,
               "captured": {k: float(np.mean(arrays["dist"][i, -1] < radius)) for i, k in enumerate(names)}}
    return summary, arrays


experiment("capture", CAPTURE, CaptureResult, "teacher-student gradient flow, plain and skip from the same starts: "
           "capture by the attracting segment of the overlap line", "05_plateaus")(run_capture)
