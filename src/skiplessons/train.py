"""Train many deep nets at once — seeds and architectures in one batched computation (chapter 0, Part III).

Every net sees the same minibatches (the data order depends only on `data_seed`), and the nets' parameters
are independent, so the sum of the per-net losses has exactly the per-net gradients: training M nets together
is the same computation as training each alone, M times faster on small nets (bench/train_batched.py).

**The step hook.** Whatever measures nets during training hooks in here and never runs a loop of its own:
`train(..., callback=hook, callback_at=steps)` calls `hook(step, net)` after the optimizer update of each
step in `steps` (every step when `callback_at` is None), once the losses so far have been checked for NaN / inf,
and, when `steps` holds 0, once before the first step (not again when a run resumes from its checkpoint). The
hook may read the nets but must not change them. `degeneracy.train_tracked` (Hessian spectra and layer
measures) and the `llc_deep` experiment measure this way. `fit` is the one other loop, full-batch Adam for
the models that are not a batch of deep nets: no other module calls an optimizer step
(`tests/test_layers.py`).
"""
from __future__ import annotations

import functools
import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checks
from .data import Dataset
from .files import DamagedFile, load_tensors, remove_leftovers, save_tensors, set_aside
from .losses import per_net_loss

OPTIMIZERS = ("adam", "sgd")
#: what a non-finite loss does: stop the run with an error, or drop that net and train the others on
ON_NONFINITE = ("stop", "drop")
#: steps between checks of the losses for NaN / inf (and at every step where a callback runs)
CHECK_EVERY = 16
#: how a training step runs: "graph" replays one captured CUDA graph of the whole step (forward, backward and
#: optimizer, hundreds of small kernels launched at once), "eager" launches them one by one from Python, and
#: "auto" captures on CUDA devices and runs eagerly elsewhere (and falls back to eager if capture fails)
STEP_MODES = ("auto", "graph", "eager")
#: eager steps before the capture, on a side stream as CUDA graphs require (lazy state such as Adam's moments
#: must exist before it is captured)
GRAPH_WARMUP = 3
#: the curves a History records
CURVES = ("loss", "acc", "test_loss", "test_acc")


@dataclass
class History:
    """Curves recorded every `record_every` steps: arrays of shape (M nets, T records)."""

    step: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    acc: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)      #: net index -> first step with a non-finite loss

    def arrays(self) -> dict[str, np.ndarray]:
        """The curves as (M, T) arrays; a dropped net's records from its failing step on are NaN, and
        `failed_step` (M,) holds each net's failing step (-1: trained to the end)."""
        out = {"step": np.asarray(self.step)}
        for k in CURVES:
            out[k] = np.asarray(getattr(self, k)).T if getattr(self, k) else np.zeros((0, 0))
        if self.failed:
            for m, s in self.failed.items():
                for k in CURVES:
                    out[k][int(m), out["step"] >= s] = np.nan
            n = out["loss"].shape[0]
            out["failed_step"] = np.array([self.failed.get(m, -1) for m in range(n)])
        return out




@torch.no_grad()
def evaluate(net, x, y, chunk: int = 4096):
    """Per-net mean loss and accuracy (accuracy is NaN for regression) on (x, y)."""
    losses, correct = [], []
    for i in range(0, len(x), chunk):
        logits = net(x[i:i + chunk])
        losses.append(per_net_loss(logits, y[i:i + chunk]) * len(x[i:i + chunk]))
        if not y.is_floating_point():
            correct.append((logits.argmax(-1) == y[i:i + chunk]).sum(1))
    loss = torch.stack(losses).sum(0) / len(x)
    acc = torch.stack(correct).sum(0) / len(x) if correct else torch.full_like(loss, float("nan"))
    return loss.cpu().double().numpy(), acc.cpu().double().numpy()


def _batches(n: int, batch_size: int, data_seed: int, step: int) -> np.ndarray:
    """Indices of the minibatch at `step`: epochs of shuffled data, reproducible from any step."""
    per_epoch = max(n // batch_size, 1)
    epoch, k = divmod(step, per_epoch)
    return _epoch_order(n, data_seed, epoch)[k * batch_size:(k + 1) * batch_size].copy()


@functools.lru_cache(maxsize=2)
def _epoch_order(n: int, data_seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of one epoch (cached: drawing it anew every step cost ~1 ms at 100k samples)."""
    return np.random.default_rng([data_seed, epoch]).permutation(n)


def check_width(net, n_features: int, what: str = "data") -> None:
    """Raise the ValueError "`what` has N features but the nets expect d_in=M" unless `n_features` is the
    input width of `net` (anything with a `spec.d_in`: a `DeepMLPs` batch, one `MLP`)."""
    if n_features != net.spec.d_in:
        raise ValueError(f"{what} has {n_features} features but the nets expect d_in={net.spec.d_in}")


def train(net, data: Dataset, steps: int, lr: float = 1e-3, batch_size: int = 128, optimizer: str = "adam",
          record_every: int = 50, eval_size: int = 2000, data_seed: int = 0, regularizer=None,
          checkpoint=None, checkpoint_every: int = 500, checkpoint_seconds: float = 120.0,
          on_nonfinite: str = "stop", progress: bool = False, callback=None, callback_at=None,
          step_mode: str = "auto") -> History:
    """Train all nets of `net` (a `models.DeepMLPs`) on `data` for `steps` minibatch steps.

    Records loss and accuracy on a fixed subset of `eval_size` training points and on the test set every
    `record_every` steps (and at the end). `regularizer(net) -> (M,)` adds a penalty per net (Part IV).
    If `checkpoint` (a path) is given, the state is saved atomically every `checkpoint_every` steps or
    `checkpoint_seconds` of work, whichever comes first, and an interrupted run with the same settings resumes
    from it to the same numbers. A NaN or inf loss is found within `CHECK_EVERY` steps; with
    `on_nonfinite="stop"` it stops the run with an error that names the net and the first step where it
    happened; with `"drop"` it warns with the same words and trains the other nets on (they are independent,
    so their numbers do not change), recording the step in `History.failed`. `callback(step, net)` is the step
    hook (module docstring): after every step, or only after the steps in `callback_at` (a set of steps; 0:
    before the first step) when that is given; the losses are checked before each call. `step_mode` (one of `STEP_MODES`) says how a step runs: on a GPU the captured
    graph ("auto" or "graph") gives the same numbers as "eager" to float32 round-off, several times faster
    (bench/paper_step.py). A progress bar is shown when `progress` is true.
    """
    _check_settings(steps=steps, batch_size=batch_size, record_every=record_every, eval_size=eval_size,
                    checkpoint_every=checkpoint_every, lr=lr, checkpoint_seconds=checkpoint_seconds,
                    on_nonfinite=on_nonfinite, step_mode=step_mode, optimizer=optimizer)
    callback_at = None if callback_at is None else {int(s) for s in callback_at}
    _check_data(net, data)
    p0 = next(net.parameters())
    data = data.to(p0.device, p0.dtype)
    x, y = data.x_train, data.y_train
    on_cuda = p0.device.type == "cuda"
    if step_mode == "graph" and not on_cuda:
        raise ValueError(f"step_mode='graph' needs the nets on a CUDA device, not {p0.device}; "
                         f"choose one of {', '.join(STEP_MODES)}")
    opt = _optimizer(list(net.parameters()), optimizer, lr, on_cuda)

    hist, start = History(), 0
    fingerprint = _fingerprint(net, data, steps, lr, batch_size, optimizer, record_every, eval_size, data_seed)
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        hist, start = resume(checkpoint, fingerprint, net, opt, steps)
    record = functools.partial(_record, hist, net, x[:eval_size], y[:eval_size], data)
    if start == 0:
        record(0)
        if callback is not None and callback_at is not None and 0 in callback_at:
            callback(0, net)

    # one static index buffer: the step reads its minibatch from it, so a captured graph can be replayed
    batch = torch.from_numpy(_batches(len(x), batch_size, data_seed, 0)).to(x.device)
    run = _Stepper(functools.partial(_step, net, opt, x, y, batch, regularizer),
                   graph=on_cuda and step_mode != "eager", fallback=step_mode == "auto", start=start)
    pending = []                    # (step, losses) not yet checked for NaN / inf
    last_save = time.monotonic()
    for t in tqdm(range(start, steps), initial=start, total=steps, disable=not progress, desc="training",
                  leave=False):
        batch.copy_(torch.from_numpy(_batches(len(x), batch_size, data_seed, t)))
        pending.append((t, run(t)))
        due = (t + 1) % record_every == 0 or t + 1 == steps
        save = checkpoint is not None and ((t + 1) % checkpoint_every == 0 or t + 1 == steps
                                           or time.monotonic() - last_save > checkpoint_seconds)
        call = callback is not None and (callback_at is None or t + 1 in callback_at)
        if call or due or save or len(pending) >= CHECK_EVERY:
            _check_finite(pending, hist, net, lr, on_nonfinite)
        if call:
            callback(t + 1, net)
        if due:
            record(t + 1)
        if save:
            save_tensors({"fingerprint": fingerprint, "step": t + 1, "net": net.state_dict(),
                          "opt": opt.state_dict(), "history": _history_tensors(hist)}, checkpoint)
            last_save = time.monotonic()
    return hist


def _check_settings(*, optimizer, on_nonfinite, step_mode, lr, checkpoint_seconds, **counts) -> None:
    """One ValueError naming the first setting of `train` that is out of range."""
    for name, v in counts.items():
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} must be an integer >= 1")
    if not lr > 0:
        raise ValueError(f"lr={lr!r} must be > 0")
    if not checkpoint_seconds > 0:
        raise ValueError(f"checkpoint_seconds={checkpoint_seconds!r} must be > 0")
    for name, v, valid in (("on_nonfinite", on_nonfinite, ON_NONFINITE), ("step_mode", step_mode, STEP_MODES),
                           ("optimizer", optimizer, OPTIMIZERS)):
        if v not in valid:
            raise ValueError(f"{name}={v!r} is not valid; choose one of {', '.join(valid)}")


def _check_data(net, data: Dataset) -> None:
    """The data fit the nets: their input width, and integer labels within the nets' classes."""
    check_width(net, data.d_in)
    for name in ("y_train", "y_test"):
        y = getattr(data, name)
        if not y.is_floating_point():
            checks.labels(y, f"data.{name}", len(y), net.spec.n_out)


def _optimizer(params, optimizer: str, lr: float, on_cuda: bool) -> torch.optim.Optimizer:
    """Adam or SGD with momentum 0.9. On CUDA, Adam is torch's capturable one (its step count lives on the
    device) in both step modes, so that they differ only in how the kernels are launched: its numbers and the
    non-capturable Adam's drift apart by more than round-off (float64, 3 steps: 7e-6 relative on an H200)."""
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, capturable=on_cuda)
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def _record(hist: History, net, x_eval, y_eval, data: Dataset, t: int) -> None:
    """Append step `t`'s loss and accuracy on the training subset and on the test set to `hist`."""
    loss, acc = evaluate(net, x_eval, y_eval)
    test_loss, test_acc = evaluate(net, data.x_test, data.y_test)
    hist.step.append(t)
    hist.loss.append(loss), hist.acc.append(acc)
    hist.test_loss.append(test_loss), hist.test_acc.append(test_acc)


def _check_finite(pending: list, hist: History, net, lr: float, on_nonfinite: str) -> None:
    """Stop at (or drop the net of) the first non-finite loss among the `pending` (step, losses), then clear
    them. Checked in bulk: a check per step would make the GPU wait for the CPU at every step."""
    if not pending:
        return
    losses = torch.stack([l for _, l in pending])
    bad = ~torch.isfinite(losses)
    bad[:, list(hist.failed)] = False
    if bad.any():
        for i, m in bad.nonzero().tolist():
            if m in hist.failed:
                continue
            hist.failed[m] = pending[i][0]
            what = (f"the loss of net {m} ({net.members[m].label}) became {losses[i, m].item()} at step "
                    f"{pending[i][0]}; try a smaller learning rate (lr={lr})")
            if on_nonfinite == "stop":
                raise FloatingPointError(f"training stopped: {what}")
            warnings.warn(f"net dropped, the others train on: {what}", RuntimeWarning, stacklevel=3)
    pending.clear()


def _step(net, opt, x, y, batch, regularizer):
    """One optimizer step on the minibatch whose indices are in `batch`; returns the per-net losses (before the
    step)."""
    losses = per_net_loss(net(x[batch]), y[batch])
    if regularizer is not None:
        losses = losses + regularizer(net)
    opt.zero_grad(set_to_none=True)
    losses.sum().backward()
    opt.step()
    return losses.detach()


class _Stepper:
    """Runs the training `step` eagerly, or (`graph`) eagerly on a side stream for `GRAPH_WARMUP` steps after
    `start` and then as one captured CUDA graph replayed per step (`fallback`: eagerly if capture fails)."""

    def __init__(self, step, graph: bool, fallback: bool, start: int):
        self.step, self.use_graph, self.fallback, self.start = step, graph, fallback, start
        self.graph, self.out = None, None

    def __call__(self, t: int) -> torch.Tensor:
        if self.use_graph and self.graph is None and t - self.start >= GRAPH_WARMUP:
            self.graph, self.out = _capture(self.step, fallback=self.fallback)
            self.use_graph = self.graph is not None
        if self.graph is not None:
            self.graph.replay()
            return self.out.clone()          # the graph overwrites its output at the next replay
        if self.use_graph:
            return _on_side_stream(self.step)
        return self.step()


def fit(parameters, loss_fn, steps: int, lr: float, record_every: int) -> np.ndarray:
    """Full-batch Adam on `loss_fn() -> scalar tensor` over `parameters` for `steps` steps; the loss every
    `record_every` steps, before the first and after the last. For the models that are not a batch of deep
    nets (chapter V.3's attention stacks): with `train`, the library's only optimizer steps."""
    if not isinstance(steps, int) or steps < 1 or not isinstance(record_every, int) or record_every < 1:
        raise ValueError(f"steps={steps!r} and record_every={record_every!r} must be integers >= 1")
    opt = torch.optim.Adam(list(parameters), lr=lr)
    losses = []
    for t in range(steps + 1):
        loss = loss_fn()
        if t % record_every == 0 or t == steps:
            losses.append(float(loss.detach()))
        if t == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return np.asarray(losses)


def _history_tensors(hist: History) -> dict:
    """`hist` as tensors and plain containers, so that a checkpoint loads with `weights_only=True`."""
    out = {"step": [int(s) for s in hist.step], "failed": {int(m): int(s) for m, s in hist.failed.items()}}
    out.update({k: [torch.as_tensor(np.asarray(v)) for v in getattr(hist, k)] for k in CURVES})
    return out


def _history_from(h, n_nets: int, step: int) -> History:
    """The History stored by `_history_tensors`, checked: a DamagedFile says what is wrong with it."""
    ok = (isinstance(h, dict) and isinstance(h.get("step"), list) and isinstance(h.get("failed"), dict)
          and all(isinstance(s, int) and 0 <= s <= step for s in h["step"])
          and all(isinstance(m, int) and isinstance(s, int) and 0 <= m < n_nets for m, s in h["failed"].items())
          and all(isinstance(h.get(k), list) and len(h[k]) == len(h["step"])
                  and all(isinstance(v, torch.Tensor) and v.shape == (n_nets,) for v in h[k]) for k in CURVES))
    if not ok:
        raise DamagedFile("its training history is malformed")
    return History(step=list(h["step"]), failed=dict(h["failed"]),
                   **{k: [v.double().numpy() for v in h[k]] for k in CURVES})


def resume(checkpoint: Path, fingerprint: str, net, opt, steps: int) -> tuple[History, int]:
    """(History, step) from `checkpoint` when it holds a checkpoint of this very run (same `fingerprint`),
    loaded into `net` and `opt`; else (History(), 0). The file is read without pickle (`files.load_tensors`);
    one that is damaged or malformed is set aside with a warning naming it, and training starts afresh with
    `net` and `opt` as they were. Leftover temporary files of killed saves are removed first."""
    remove_leftovers(checkpoint)
    if not checkpoint.is_file():
        return History(), 0
    net_before = {k: v.clone() for k, v in net.state_dict().items()}
    opt_before = opt.state_dict()
    try:
        state = load_tensors(checkpoint)
        if not isinstance(state, dict) or not {"fingerprint", "step", "net", "opt", "history"} <= set(state):
            raise DamagedFile("it is not a training checkpoint (missing fields)")
        if state["fingerprint"] != fingerprint:
            return History(), 0                 # another run's (other settings): overwritten by this one
        if not isinstance(state["step"], int) or not 0 < state["step"] <= steps:
            raise DamagedFile(f"its step {state['step']!r} is not in [1, steps={steps}]")
        hist = _history_from(state["history"], len(net), state["step"])
        try:
            net.load_state_dict(state["net"])
            opt.load_state_dict(state["opt"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise DamagedFile(f"its parameters do not fit these nets ({str(e).splitlines()[0][:200]})") from None
    except DamagedFile as e:
        net.load_state_dict(net_before)
        opt.load_state_dict(opt_before)
        why = str(e) if str(checkpoint) in str(e) else f"checkpoint {checkpoint} is unusable: {e}"
        set_aside(checkpoint, why)
        return History(), 0
    return hist, state["step"]


def _on_side_stream(step):
    """Run `step` on a side CUDA stream, ordered with the current one (the warm-up CUDA graphs require)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        out = step()
    torch.cuda.current_stream().wait_stream(side)
    return out


def _capture(step, fallback: bool):
    """Capture `step` as a CUDA graph: (graph, its output tensor). Capture records kernels and runs none, so
    no training step is taken. If capture fails and `fallback`, warn and return (None, None): training goes on
    eagerly with the same numbers."""
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            out = step()
    except Exception as e:              # noqa: BLE001 -- any capture error means "run eagerly"
        if not fallback:
            raise
        warnings.warn(f"training runs eagerly: capturing the step as a CUDA graph failed ({e})",
                      RuntimeWarning, stacklevel=4)
        return None, None
    return graph, out


def _fingerprint(net, data, *settings) -> str:
    """A hash of everything that determines a run, so a checkpoint is only resumed by the same run."""
    desc = json.dumps([asdict(net.spec), [asdict(m) for m in net.members], data.name, list(data.x_train.shape),
                       str(next(net.parameters()).dtype), settings], sort_keys=True, default=str)
    return hashlib.sha256(desc.encode()).hexdigest()[:16]
