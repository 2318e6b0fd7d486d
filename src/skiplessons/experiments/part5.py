"""Part V experiments: the local learning coefficient on models with a known answer and on Part III's deep
nets during training (chapter V.1), the rival accounts measured on deep nets (V.2), and rank collapse in
attention stacks (chapter V.3). Sizes: `configs`.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import attention as at
from .. import llc
from .. import rivals as rv
from ..env import one_thread
from ..train import train
from . import experiment
from .configs import LLC_DEEP, LLC_TOY, RANK_COLLAPSE, RIVALS, SHATTERED_DEPTH
from .parts import checkpoint_steps, labels, load_data, nets
from .views import ResultView


class LLCToyResult(ResultView):
    """The calibration: λ̂ per chain of each case (a known model at one n), next to its finite-n target, its λ,
    the sampler's step and diagnostics; and the step-size sweep."""

    default_by = "case"

    def models(self) -> list[str]:
        """The cases, "model @ n = ...", in the order they ran."""
        return list(self.summary["models"])

    def _row(self, model: str) -> dict:
        if model not in self.summary["models"]:
            raise ValueError(f"model={model!r} is not in result {self.name!r}; choose one of {self.models()}")
        return self.summary["models"][model]

    def chains(self, model: str) -> np.ndarray:
        """λ̂ of every chain of case `model`."""
        return np.asarray(self.arrays["llc"])[self.labels() == model]

    def target(self, model: str) -> float:
        """The exact value λ̂ estimates at this n and localization (closed form, quadrature or MALA)."""
        return float(self._row(model)["target"])

    def target_error(self, model: str) -> float:
        """The standard error of the target (0 for closed forms and quadrature; over chains for MALA)."""
        return float(self._row(model)["target_se"])

    def lam(self, model: str) -> float:
        """The learning coefficient λ of the case's model (the n -> infinity limit of the target)."""
        return float(self._row(model)["lam"])

    def formula(self, model: str) -> str:
        return str(self._row(model)["formula"])

    def n_of(self, model: str) -> int:
        return int(self._row(model)["n"])

    def diagnostics(self, model: str) -> llc.Diagnostics:
        """The chains' stability and equilibration checks (`llc.Diagnostics`)."""
        r = self._row(model)
        return llc.Diagnostics(r["stiffness"], r["burn_in"], r["burn_in_needed"], r["rhat"], r["drift_z"])

    def row(self, model: str) -> dict:
        """Everything stored about a case (target method, step size, largest curvature met, ...)."""
        return dict(self._row(model))

    def sweep(self) -> dict[str, dict]:
        """{model: {"kappa": [...], "mean": [...], "se": [...], "target": float}} λ̂ against the step's κ
        (mean None where the chains diverged)."""
        return dict(self.summary["sweep"])

    @property
    def n(self) -> int:
        """The book's n: the first of the calibration's sample sizes."""
        return int(self.config.ns[0])


def _calibrate(model, n, config, kappa, seed, h_max):
    """One case: the step of the stability rule from `h_max`, the largest curvature the posterior meets, SGLD
    chains, and their diagnostics (the smallest curvature is 0 for a singular model)."""
    gamma, chains, steps, burn_in = config.localization, config.chains, config.steps, config.burn_in
    h_min = min(model.curvatures) if model.curvatures else 0.0
    step = float(llc.stable_step(h_max, n, gamma, kappa))
    settings = llc.SGLDSettings(step_size=step, localization=gamma, steps=steps, burn_in=burn_in)
    est = llc.sample_llc(model.loss, model.w_star, n, settings, chains=chains, seed=seed)
    diag = llc.diagnose(est.trace[burn_in:], float(llc.stiffness(step, h_max, n, gamma)), burn_in,
                        float(llc.burn_in_needed(step, gamma, h_min, n)))
    return est, step, diag


def run_llc_toy(config, ctx):
    values, names, summary = [], [], {}
    with one_thread():
        for i, n in enumerate(config.ns):
            for k, (name, model) in enumerate(llc.CALIBRATION.items()):
                mala, target, target_se, how = None, None, 0.0, "closed form"
                if model.curvatures is None:
                    mala = llc.mala_expectation(model.loss, model.w_star, n, config.localization,
                                                config.target_chains, config.target_steps, config.target_burn_in,
                                                seed=config.seed + 100 * i + k)
                    if model.d <= 2:
                        target, how = model.target(n, config.localization), "quadrature"
                    else:
                        target, how = float(mala.value.mean()), "MALA"
                        target_se = float(mala.value.std(ddof=1) / np.sqrt(len(mala.value)))
                else:
                    target = model.target(n, config.localization)
                h_max = max(model.curvatures) if model.curvatures else mala.top_curvature
                est, step, diag = _calibrate(model, n, config, config.kappa, config.seed + 100 * i + k, h_max)
                case = f"{name} @ n = {n:,}"
                values.append(est.value)
                names += [case] * config.chains
                summary[case] = {"model": name, "n": n, "target": target, "target_se": target_se, "how": how,
                                 "lam": model.lam, "multiplicity": model.multiplicity, "formula": model.formula,
                                 "d": model.d, "step_size": step, "top_curvature": h_max,
                                 "mala_acceptance": None if mala is None else mala.acceptance,
                                 "stiffness": diag.stiffness, "burn_in": diag.burn_in,
                                 "burn_in_needed": diag.burn_in_needed, "rhat": diag.rhat, "drift_z": diag.drift_z}
        sweep = {}
        for name in config.sweep_models:
            case = summary[f"{name} @ n = {config.ns[0]:,}"]
            model, rows = llc.CALIBRATION[name], {"kappa": list(config.sweep), "mean": [], "se": []}
            for kappa in config.sweep:
                try:
                    est = _calibrate(model, config.ns[0], config, kappa, config.seed, case["top_curvature"])[0]
                    mean, se = float(est.value.mean()), float(est.value.std(ddof=1) / np.sqrt(config.chains))
                except FloatingPointError:
                    mean = se = None
                rows["mean"].append(mean if mean is None or np.isfinite(mean) else None)
                rows["se"].append(se if se is None or np.isfinite(se) else None)
            sweep[name] = rows | {"target": case["target"]}
    return {"models": summary, "sweep": sweep}, {"llc": np.concatenate(values), "case": np.array(names)}


experiment("llc_toy", LLC_TOY, LLCToyResult,
           "the SGLD learning-coefficient estimator calibrated on models with known λ, up to the nets' curvature",
           "11_learning_coefficient")(run_llc_toy)


class LLCDeepResult(ResultView):
    """λ̂ of every net at the checkpoints of training (the nets and checkpoints of `degeneracy`), with each net's
    step from the stability rule and its chains' diagnostics."""

    @property
    def checkpoints(self) -> np.ndarray:
        return np.asarray(self.arrays["ckpt_step"])

    @property
    def regular_value(self) -> float:
        """d/2: the learning coefficient of a regular minimum with the nets' parameter count."""
        return self.n_params / 2

    def _per_net(self, key: str, step: int | None, by: str | None) -> dict[str, np.ndarray]:
        values = np.asarray(self.arrays[key], dtype=float)
        return self.split(values.T if step is None else values[step], by)

    def llc(self, step: int | None = -1, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: λ̂ per net (mean over its chains)} at checkpoint `step` (position; None: (nets, checkpoints)),
        measurable or not: read `measurable` before using a value."""
        return self._per_net("ckpt_llc", step, by)

    def llc_error(self, step: int = -1, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: the chains' own standard error of each λ̂} at checkpoint `step`."""
        return self._per_net("ckpt_llc_error", step, by)

    def top_curvature(self, step: int = -1, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: each net's largest |Hessian eigenvalue|, which set its step}."""
        return self._per_net("ckpt_top", step, by)

    def diagnostics(self, step: int = -1) -> list[llc.Diagnostics]:
        """Each net's `llc.Diagnostics` at checkpoint `step`, in the nets' order."""
        keys = ("ckpt_stiffness", "ckpt_burn_in", "ckpt_burn_in_needed", "ckpt_rhat", "ckpt_drift")
        cols = [np.asarray(self.arrays[k], dtype=float)[step] for k in keys]
        return [llc.Diagnostics(s, int(b), need, r, z) for s, b, need, r, z in zip(*cols)]

    def measurable(self, step: int = -1, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: whether each net's λ̂ passed the stability and equilibration checks}."""
        return self.split(np.array([d.measurable for d in self.diagnostics(step)]), by)

    def step_size(self, step: int = -1, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: each net's SGLD step from the stability rule}."""
        return self._per_net("ckpt_step_size", step, by)

    def trace(self, step: int = -1, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (nets, SGLD steps)} the first chain's nβ (L(w_t) - L(w*)) at checkpoint `step`."""
        return self.split(np.asarray(self.arrays["ckpt_trace"], dtype=float)[step].T, by)


def run_llc_deep(config, ctx):
    d = load_data(config)
    net = nets(config, d, ctx.device)
    x, y = d.x_train.to(ctx.device), d.y_train.to(ctx.device)
    n, gamma = len(x), config.localization
    settings = llc.SGLDSettings(step_size=1.0, localization=gamma, steps=config.sgld_steps, burn_in=config.burn_in)
    wanted = checkpoint_steps(config.steps, config.checkpoints)
    found = {k: [] for k in ("ckpt_step", "ckpt_llc", "ckpt_llc_error", "ckpt_trace", "ckpt_top", "ckpt_step_size",
                             "ckpt_stiffness", "ckpt_burn_in", "ckpt_burn_in_needed", "ckpt_rhat", "ckpt_drift")}

    def measure(step, net):
        top = llc.nets_top_curvature(net, x[:config.curvature_samples], y[:config.curvature_samples])
        eps = llc.stable_step(top, n, gamma, config.kappa)
        runs = [llc.nets_llc(net, x, y, settings, config.sgld_batch, seed=1000 * step + 2 * c, step_sizes=eps)
                for c in range(config.chains)]
        kept = np.stack([r.trace[config.burn_in:] for r in runs], -1)           # (draws, nets, chains)
        diags = [llc.diagnose(kept[:, m], s, config.burn_in, need) for m, (s, need) in
                 enumerate(zip(llc.stiffness(eps, top, n, gamma), llc.burn_in_needed(eps, gamma, 0.0, n)))]
        values = np.mean([r.value for r in runs], 0)
        errors = np.sqrt(np.sum([r.error**2 for r in runs], 0)) / config.chains
        for key, value in (("ckpt_step", step), ("ckpt_llc", values), ("ckpt_llc_error", errors),
                           ("ckpt_trace", runs[0].trace), ("ckpt_top", top), ("ckpt_step_size", eps),
                           ("ckpt_stiffness", [g.stiffness for g in diags]),
                           ("ckpt_burn_in", [g.burn_in for g in diags]),
                           ("ckpt_burn_in_needed", [g.burn_in_needed for g in diags]),
                           ("ckpt_rhat", [g.rhat for g in diags]), ("ckpt_drift", [g.drift_z for g in diags])):
            found[key].append(value)

    with one_thread():
        hist = train(net, d, config.steps, lr=config.lr, batch_size=config.batch_size,
                     record_every=config.record_every, progress=ctx.progress, callback=measure, callback_at=wanted)
    arrays = {**hist.arrays(), **{k: np.asarray(v) for k, v in found.items()}, **labels(net)}
    return {"data": d.name, "n_classes": d.n_classes, "n_params": net.n_params(), "n_train": n}, arrays


experiment("llc_deep", LLC_DEEP, LLCDeepResult,
           "the local learning coefficient of plain, residual and hyper-residual nets during training",
           "11_learning_coefficient", replicated=True)(run_llc_deep)


class RankCollapseResult(ResultView):
    """The distance from rank one, res(X_l), of each random stack after every layer, by variant."""

    default_by = "variant"

    @property
    def depths(self) -> np.ndarray:
        """The layers 0 .. depth at which res was measured (0: the input tokens)."""
        return np.arange(np.asarray(self.arrays["residual"]).shape[1])

    def residual(self, by: str | None = None) -> dict[str, np.ndarray]:
        """{variant: (seeds, depth + 1)} res(X_l) averaged over the sequences."""
        return self.split(np.asarray(self.arrays["residual"], dtype=float), by)

    def final(self, key: str = "residual", by: str | None = None) -> dict[str, np.ndarray]:
        """{variant: (seeds,)} res after the last layer."""
        if key != "residual":
            raise ValueError(f"key={key!r}: result {self.name!r} stores only 'residual'")
        return {g: v[:, -1] for g, v in self.residual(by).items()}

    def variant(self, skip: bool, mlp: bool, norm: bool) -> str:
        """The label of a variant by its switches."""
        return at.StackSpec(skip=skip, mlp=mlp, norm=norm).label

    def trained_loss(self) -> dict[str, np.ndarray]:
        """{variant: (seeds, records)} the training loss of the briefly trained stacks."""
        return self.split(np.asarray(self.arrays["trained_loss"], dtype=float), "trained_variant")

    def trained_residual(self, stage: str = "trained") -> dict[str, np.ndarray]:
        """{variant: (seeds, train_depth + 1)} res(X_l) of the trained stacks' layers on the task's inputs, before
        ("init") or after ("trained") training."""
        if stage not in ("init", "trained"):
            raise ValueError(f"stage={stage!r} is not valid; choose one of init, trained")
        return self.split(np.asarray(self.arrays[f"trained_residual_{stage}"], dtype=float), "trained_variant")

    @property
    def floor(self) -> float:
        """The lowest loss a stack whose outputs are rank one in every sequence can reach on the task."""
        return float(self.summary["floor"])

    @property
    def train_steps(self) -> np.ndarray:
        return np.asarray(self.arrays["trained_step"])


def run_rank_collapse(config, ctx):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(config.sequences, config.tokens, config.d_model, generator=g, dtype=torch.float64)
    rows, names, seeds = [], [], []
    with one_thread():
        for skip, mlp, norm in config.variants:
            spec = at.StackSpec(config.d_model, config.heads, config.depth, skip=skip, mlp=mlp, norm=norm)
            for seed in config.seeds:
                rows.append(at.residual_by_depth(spec, x, seed).numpy())
                names.append(spec.label)
                seeds.append(seed)
        x_task, y_task = at.token_task(config.train_sequences, config.tokens, config.d_model)
        trained = {"trained_loss": [], "trained_residual_init": [], "trained_residual_trained": [],
                   "trained_variant": []}
        for skip in (False, True):
            spec = at.StackSpec(config.d_model, config.heads, config.train_depth, skip=skip, norm=True)
            for seed in config.train_seeds:
                trained["trained_residual_init"].append(at.residual_by_depth(spec, x_task, seed).numpy())
                stack = at.AttentionStack(spec, seed)
                trained["trained_loss"].append(at.train_stack(stack, x_task, y_task, config.train_steps,
                                                              config.train_lr, config.train_record))
                with torch.no_grad():
                    layers = stack(x_task)
                trained["trained_residual_trained"].append(
                    np.array([float(at.rank_one_residual(h).mean()) for h in layers]))
                trained["trained_variant"].append(spec.label)
    steps = np.unique(np.r_[np.arange(0, config.train_steps, config.train_record), config.train_steps])
    arrays = {"residual": np.stack(rows), "variant": np.array(names), "seed": np.array(seeds),
              "trained_step": steps, **{k: np.asarray(v) for k, v in trained.items()}}
    return {"floor": at.rank_one_floor(y_task)}, arrays


experiment("rank_collapse", RANK_COLLAPSE, RankCollapseResult,
           "distance from rank one of token representations in random attention stacks, with and without skips",
           "13_transformers", replicated=True)(run_rank_collapse)


STAGES = ("init", "trained")


class RivalsResult(ResultView):
    """Shattered-gradient, lesion and path-length measures of every net, at the start and end of training."""

    def _stage(self, stage: str) -> str:
        if stage not in STAGES:
            raise ValueError(f"stage={stage!r} is not valid; choose one of {', '.join(STAGES)}")
        return stage

    def similarity(self, stage: str = "trained", by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (nets, layers)} input-gradient cosine similarity of nearby inputs, per hidden layer."""
        return self.split(np.asarray(self.arrays[f"similarity_{self._stage(stage)}"], dtype=float), by)

    def lesion(self, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (nets, depth - 1)} training accuracy of the trained nets with hidden layer 2 .. depth removed."""
        return self.split(np.asarray(self.arrays["lesion_acc"], dtype=float), by)

    def intact(self, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (nets,)} training accuracy of the trained nets on the same probe inputs, nothing removed."""
        return self.split(np.asarray(self.arrays["intact_acc"], dtype=float), by)

    def lesion_drop(self, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (nets,)} the mean over layers of the accuracy lost by removing that layer."""
        intact = self.intact(by)
        return {g: intact[g] - v.mean(-1) for g, v in self.lesion(by).items()}

    def path_gradient(self, stage: str = "trained") -> np.ndarray:
        """(residual nets, depth) the norm of the gradient carried by paths through k = 0 .. depth - 1 branches."""
        return np.asarray(self.arrays[f"paths_{self._stage(stage)}"], dtype=float)

    @property
    def chance(self) -> float:
        return 1.0 / self.n_classes


def run_rivals(config, ctx):
    d = load_data(config)
    net = nets(config, d, ctx.device)
    x, y = d.x_train[:config.probe].to(ctx.device), d.y_train[:config.probe].to(ctx.device)
    residual = [m for m, member in enumerate(net.members) if member.arch == "residual"]
    arrays = {}

    def measure(stage):
        arrays[f"similarity_{stage}"] = rv.gradient_similarity(net, x, config.distance).cpu().numpy()
        arrays[f"paths_{stage}"] = np.array([rv.gradient_by_path_length(net, m, x) for m in residual])

    with one_thread():
        measure("init")
        hist = train(net, d, config.steps, lr=config.lr, batch_size=config.batch_size,
                     record_every=config.record_every, progress=ctx.progress)
        measure("trained")
        arrays["lesion_acc"] = rv.lesion_accuracy(net, x, y)
        with torch.no_grad():
            arrays["intact_acc"] = (net(x).argmax(-1) == y).double().mean(-1).cpu().numpy()
    arrays.update(hist.arrays(), **labels(net))
    return {"data": d.name, "n_classes": d.n_classes, "n_params": net.n_params()}, arrays


experiment("rivals", RIVALS, RivalsResult,
           "shattered gradients, layer lesions and gradient path lengths of plain, residual and hyper nets",
           "12_rival_explanations", replicated=True)(run_rivals)


class ShatteredDepthResult(ResultView):
    """Input-gradient similarity at initialization against depth, per net and input distance."""

    @property
    def depths(self) -> np.ndarray:
        return np.asarray(self.config.depths)

    @property
    def distances(self) -> tuple:
        return tuple(self.config.distances)

    def similarity(self, distance: float, by: str | None = None) -> dict[str, np.ndarray]:
        """{group: (nets, depths)} the similarity of the input gradients of pairs `distance` apart."""
        if distance not in self.distances:
            raise ValueError(f"distance={distance!r} was not measured; choose one of {self.distances}")
        values = np.asarray(self.arrays["similarity"], dtype=float)[self.distances.index(distance)]
        return self.split(values, by)


def run_shattered_depth(config, ctx):
    d = load_data(config)
    net = nets(config, d, ctx.device, depth=max(config.depths))
    x = d.x_train[:config.probe].to(ctx.device)
    read = np.asarray(config.depths) - 1
    with one_thread():
        sim = [rv.gradient_similarity(net, x, distance).cpu().numpy()[:, read] for distance in config.distances]
    return ({"data": d.name, "input_norm": float(x.norm(dim=-1).mean())},
            {"similarity": np.stack(sim), **labels(net)})


experiment("shattered_depth", SHATTERED_DEPTH, ShatteredDepthResult,
           "input-gradient similarity of plain and residual nets at initialization against depth, at two distances",
           "12_rival_explanations", replicated=True)(run_shattered_depth)

