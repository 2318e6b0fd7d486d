"""Named experiments: a config per scale -> a stored, typed result (chapter 0; every chapter that trains).

An experiment is a function `run(config, ctx) -> (summary, arrays)` registered with its configs for the three
scales (frozen dataclasses from `configs`) and the typed reader of its result (a `views.ResultView`
subclass defined next to it). `load_or_run(name)` returns the stored result whose config matches, or runs the
experiment and stores it with its provenance; either way the caller gets the typed reader.
`python -m skiplessons list | run NAME` drives them from a shell. `stored(name, scale)` returns only the result of
the registered config; `reproduce` says what a stored result is and prints the command that makes it again.
"""
from __future__ import annotations

import dataclasses
import importlib
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .. import locks as _locks
from .. import results as _results
from ..env import check_scale, current_device, current_progress, current_scale
from ..files import LOCK_TIMEOUT, wait_for
from .configs import SCALES, as_dict
from .views import ResultView

#: modules that register experiments (one per part of the book), imported on first use of the registry; Part III
#: and IV come first because that is the order the experiments have always been listed in
MODULES = ("part3", "part4", "part1", "part2", "part5")


@dataclass(frozen=True)
class Checkpoints:
    """Where one run of an experiment keeps its training checkpoints: a folder per result key, beside the
    results (`checkpoints/NAME-SCALE-HASH/`), removed once the result is stored.

    An experiment passes `ctx.checkpoints.path("train")` (one name per training call) as
    `train(..., checkpoint=...)`, so a run killed mid-way resumes from its last checkpoint when started again
    with the same config."""

    folder: Path

    def path(self, part: str) -> Path:
        """The checkpoint file of the training call named `part` (created folders included)."""
        if not part.isidentifier():
            raise ValueError(f"part={part!r} must be a name of letters, digits and underscores")
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{part}.pt"


@dataclass(frozen=True)
class RunContext:
    """What a run needs besides its config, passed explicitly: the torch device, whether to show progress, and
    where to checkpoint (None: no checkpoints, e.g. a run outside `load_or_run`)."""

    device: torch.device
    progress: bool = False
    checkpoints: Checkpoints | None = None

    def checkpoint(self, part: str = "train") -> Path | None:
        """The checkpoint path for `train(..., checkpoint=...)` of the training call `part`, or None."""
        return self.checkpoints.path(part) if self.checkpoints is not None else None


@dataclass(frozen=True)
class Experiment:
    name: str
    run: Callable
    configs: dict
    reader: type
    description: str
    chapter: str
    replicated: bool = False       #: its claims are judged again on fresh seeds (`replication`)


_REGISTRY: dict[str, Experiment] = {}


def experiment(name: str, configs: dict, reader: type, description: str, chapter: str, replicated: bool = False):
    """Register `run(config, ctx) -> (summary, arrays)` under `name`, with a config for each scale and the
    typed reader of its result; `replicated`: it trains from seeds, and `make replicate` judges its claims again
    on fresh ones."""
    missing = set(SCALES) - set(configs)
    if missing:
        raise ValueError(f"experiment {name!r}: configs lacks the scales {sorted(missing)}")
    if not issubclass(reader, ResultView):
        raise ValueError(f"experiment {name!r}: reader must be a ResultView subclass, got {reader!r}")

    def register(run):
        _REGISTRY[name] = Experiment(name, run, configs, reader, description, chapter, replicated)
        return run

    return register


def registry() -> dict[str, Experiment]:
    """All experiments by name."""
    for module in MODULES:
        importlib.import_module(f"{__name__}.{module}")
    return dict(_REGISTRY)


def get(name: str) -> Experiment:
    reg = registry()
    if name not in reg:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(sorted(reg))}")
    return reg[name]


def config_for(name: str, scale: str | None = None, **overrides):
    """The config (a frozen dataclass) of experiment `name` at `scale` (default: the session's scale), with the
    `overrides` that are not None applied; lists become tuples."""
    exp = get(name)
    config = exp.configs[check_scale(scale or current_scale())]
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"experiment {name!r} has no setting {', '.join(sorted(unknown))}; "
                         f"its settings are {', '.join(sorted(fields))}")
    changes = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items() if v is not None}
    if not str(changes.get("data", getattr(config, "data", ""))).startswith("cifar"):
        changes.pop("data_dir", None)           # only CIFAR is read from a folder: not part of the others' key
    for k, v in changes.items():
        _check_setting(k, v, getattr(config, k))
    return dataclasses.replace(config, **changes)


def _check_setting(key: str, value, registered) -> None:
    """Refuse an override of the wrong type, duplicate or negative seeds, and data sets the experiments cannot
    train on (a ValueError naming the setting and the valid values)."""
    from ..data import CLASSIFICATION

    kind = float if isinstance(registered, float) else type(registered)
    ok = isinstance(value, (int, float) if kind is float else kind) and not (
        isinstance(value, bool) and not isinstance(registered, bool))
    if not ok:
        raise ValueError(f"{key}={value!r} must be a {kind.__name__} like {registered!r}")
    if key == "seeds" and (not value or len(set(value)) != len(value)
                           or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in value)):
        raise ValueError(f"seeds={list(value)!r} must be distinct integers in [0, 2**32) (at least one)")
    if key == "data" and value not in CLASSIFICATION:
        raise ValueError(f"data={value!r} is not a classification set these experiments train on; "
                         f"choose one of {', '.join(CLASSIFICATION)}")


def load_or_run(name: str, scale: str | None = None, force: bool = False, progress: bool | None = None,
                folder=None, wait: float = LOCK_TIMEOUT, **overrides) -> ResultView:
    """The stored result of `name` at `scale` with exactly this config, else run it now and store it.

    Results are keyed by name, scale and config hash (`skiplessons.results`), so other settings never replace
    a stored result; `folder` (default `results.results_dir()`) is where new ones go. `force` recomputes the
    same config from scratch (its checkpoints discarded). The folder is checked for writability before any
    compute, and the run gets `ctx.checkpoints` there, so a killed run resumes when started again.
    `progress` shows progress bars (default: the session's, `env.current_progress`: on at `paper` only); the
    device is the session's (`env.setup`). A run owns its checkpoint folder until its result is stored: a second
    process asking for the same config meanwhile prints that it waits (at most `wait` seconds, then a
    TimeoutError) and then reads that result."""
    exp = get(name)
    scale = check_scale(scale or current_scale())
    config = config_for(name, scale, **overrides)
    plain = as_dict(config)
    if not force:
        found = _results.load(name, scale, plain, folder=folder)
        if found is not None:
            return exp.reader(found)
    out = _results.check_writable(folder)
    stem = _results.key(name, scale, plain)
    with wait_for(_locks.file_lock(out, f"{stem}.run"), f"another run of {stem} to finish", wait):
        found = None if force else _results.load(name, scale, plain, folder=folder)
        result = found if found is not None else _run(exp, config, scale, force, progress, out)
    return exp.reader(result)


def _run(exp: Experiment, config, scale: str, force: bool, progress: bool | None, out: Path) -> _results.Result:
    """Run `exp` with `config` now, checkpointing in `out`, and store its result there (`load_or_run`)."""
    plain = as_dict(config)
    ckpt = Checkpoints(out / "checkpoints" / _results.key(exp.name, scale, plain))
    if force:
        shutil.rmtree(ckpt.folder, ignore_errors=True)
    device = current_device()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    ctx = RunContext(device=device, progress=current_progress() if progress is None else bool(progress),
                     checkpoints=ckpt)
    t0 = time.perf_counter()
    summary, arrays = exp.run(config, ctx)
    wall = time.perf_counter() - t0
    prov = _results.provenance(device_name(device), wall, config_seeds(config))
    result = _results.save(exp.name, scale, plain, summary, arrays, prov, folder=out)
    shutil.rmtree(ckpt.folder, ignore_errors=True)
    return result


def config_seeds(config) -> list:
    return list(getattr(config, "seeds", ()))


def stored(name: str, scale: str = "paper", folder=None, **overrides) -> ResultView | None:
    """The stored result of the registered config of `name` at `scale` (with `overrides`, as `config_for`) in
    the writable folder, then the committed ones shipped with the package, or None; it never computes and never
    returns a result of another config (`reproduce.stored_or_say` shows one of those only with a statement of
    how it differs)."""
    found = _results.load(name, check_scale(scale), as_dict(config_for(name, scale, **overrides)), folder=folder)
    return get(name).reader(found) if found is not None else None


def device_name(device: torch.device) -> str:
    """The device for provenance: the GPU's name, or the CPU and its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


from .reproduce import stored_or_say  # noqa: E402  (it reads the registry above)
