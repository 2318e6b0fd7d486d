"""Named experiments: a config per scale -> a stored result (chapter 0; every chapter that trains).

An experiment is a function `run(config) -> (summary, arrays)` registered with its sizes for the three
scales in one place. `load_or_run(name)` returns the stored result whose config matches, or runs the
experiment and stores it with its provenance. `python -m skiplessons list | run NAME` drives them from a shell.
"""
from __future__ import annotations

import copy
import importlib
import inspect
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import results as _results
from ..env import check_scale, device, scale as _scale

#: modules that register experiments, imported on first use of the registry
MODULES = ("training", "controls", "toy", "deep")


@dataclass(frozen=True)
class Experiment:
    name: str
    run: Callable
    sizes: dict
    description: str
    chapter: str


_REGISTRY: dict[str, Experiment] = {}


def experiment(name: str, sizes: dict, description: str, chapter: str):
    """Register `run(config) -> (summary, arrays)` under `name`, with a config dict for each scale."""
    missing = {"smoke", "default", "paper"} - set(sizes)
    if missing:
        raise ValueError(f"experiment {name!r}: sizes lacks the scales {sorted(missing)}")

    def register(run):
        _REGISTRY[name] = Experiment(name, run, sizes, description, chapter)
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


def config_for(name: str, scale: str | None = None, **overrides) -> dict:
    """The config of experiment `name` at `scale` (default: the session's scale), with `overrides` applied."""
    exp = get(name)
    scale = check_scale(scale or _scale())
    config = copy.deepcopy(exp.sizes[scale])
    unknown = set(overrides) - set(config)
    if unknown:
        raise ValueError(f"experiment {name!r} has no setting {', '.join(sorted(unknown))}; "
                         f"its settings are {', '.join(sorted(config))}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    for k, v in overrides.items():
        _check_setting(k, v, config[k])
    config.update(overrides)
    return config


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
                           or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        raise ValueError(f"seeds={value!r} must be distinct non-negative integers (at least one)")
    if key == "data" and value not in CLASSIFICATION:
        raise ValueError(f"data={value!r} is not a classification set these experiments train on; "
                         f"choose one of {', '.join(CLASSIFICATION)}")


@dataclass(frozen=True)
class Checkpoints:
    """Where one run of an experiment keeps its training checkpoints: a folder per result key, beside the
    results (`checkpoints/NAME-SCALE-HASH/`), removed once the result is stored.

    `load_or_run` hands one to every experiment whose `run` accepts a `checkpoints` keyword; the experiment
    passes `checkpoints.path("train")` (one name per training call) as `train(..., checkpoint=...)`, so a run
    killed mid-way resumes from its last checkpoint when started again with the same config."""

    folder: Path

    def path(self, part: str) -> Path:
        """The checkpoint file of the training call named `part` (created folders included)."""
        if not part.isidentifier():
            raise ValueError(f"part={part!r} must be a name of letters, digits and underscores")
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{part}.pt"


def load_or_run(name: str, scale: str | None = None, force: bool = False, folder=None,
                **overrides) -> _results.Result:
    """The stored result of `name` at `scale` with exactly this config, else run it now and store it.

    Results are keyed by name, scale and config hash (`skiplessons.results`), so other settings never replace
    a stored result. `force` recomputes the same config from scratch (its checkpoints discarded). The results
    folder is checked for writability before any compute; an experiment that accepts `checkpoints` resumes
    from them (`Checkpoints`)."""
    scale = check_scale(scale or _scale())
    config = config_for(name, scale, **overrides)
    exp = get(name)
    if not force:
        found = _results.load(name, scale, config, folder=folder)
        if found is not None:
            return found
    out = _results.check_writable(folder)
    ckpt = Checkpoints(out / "checkpoints" / _results.key(name, scale, config))
    if force:
        shutil.rmtree(ckpt.folder, ignore_errors=True)
    if device().type == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    resumable = "checkpoints" in inspect.signature(exp.run).parameters
    summary, arrays = exp.run(copy.deepcopy(config), checkpoints=ckpt) if resumable else exp.run(copy.deepcopy(config))
    wall = time.perf_counter() - t0
    prov = _results.provenance(device_name(), wall, config.get("seeds", []))
    result = _results.save(name, scale, config, summary, arrays, prov, folder=out)
    shutil.rmtree(ckpt.folder, ignore_errors=True)
    return result


def stored(name: str, scale: str = "paper", folder=None) -> _results.Result | None:
    """A stored result of `name` at `scale`, or None: the one with the registered config if stored, else the
    one shipped with the package (the committed paper-scale run), else the newest with any config."""
    found = _results.load(name, check_scale(scale), config_for(name, scale), folder=folder)
    if found is not None:
        return found
    every = [r for r in _results.stored(folder) if r.name == name and r.scale == scale]
    shipped = _results.shipped_dir()
    return max(every, key=lambda r: (Path(r.source).parent == shipped, r.provenance.get("date", "")), default=None)


def stored_or_say(name: str, scale: str = "paper") -> _results.Result | None:
    """`stored(name, scale)`, or None after printing what is missing and the command that makes it (for the
    chapters: a missing result is a message, never a crash)."""
    found = stored(name, scale)
    if found is None:
        print(f"no stored {scale}-scale result of {name} in {_results.results_dir()} or in the package: make it "
              f"with `python -m skiplessons run {name} --scale {scale}`" + (" (a GPU helps)" if scale == "paper" else ""))
    return found


def provenance_line(result: _results.Result) -> str:
    """One line saying where a stored result came from: data, nets, wall time, device, peak memory, date,
    commit (printed under every stored paper-scale result in the chapters)."""
    from ..ledger import duration

    p, s = result.provenance, result.summary
    nets = f"{len(result.arrays['arch'])} nets" if "arch" in result.arrays else "nets"
    size = f" of {s['n_params']:,} parameters" if "n_params" in s else ""
    memory = (f", peak memory {p['peak_memory_bytes'] / 2**30:.1f} GiB ({p['peak_memory_of']})"
              if "peak_memory_bytes" in p else "")
    return (f"{result.name} at {result.scale} scale: data {s.get('data', result.config.get('data'))}, {nets}{size}; "
            f"{duration(p['wall_time_s'])} on {p['device']}{memory}; {p['date']}, commit {p['commit'][:12]}")


def device_name() -> str:
    import platform

    import torch

    dev = device()
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
