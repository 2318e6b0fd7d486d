"""Named experiments: a config per scale -> a stored, typed result (chapter 0; every chapter that trains).

An experiment is a function `run(config, ctx) -> (summary, arrays)` registered with its configs for the three
scales (frozen dataclasses from `configs`) and the typed reader of its result (a `views.ResultView`
subclass defined next to it). `load_or_run(name)` returns the stored result whose config matches, or runs the
experiment and stores it with its provenance; either way the caller gets the typed reader.
`python -m skiplessons list | run NAME` drives them from a shell.
"""
from __future__ import annotations

import dataclasses
import importlib
import platform
import time
from dataclasses import dataclass
from typing import Callable

import torch

from .. import results as _results
from ..env import check_scale, current_device, current_scale
from .configs import SCALES, as_dict
from .views import ResultView

#: modules that register experiments, imported on first use of the registry
MODULES = ("training", "controls", "toy", "deep", "beyond")


@dataclass(frozen=True)
class RunContext:
    """What a run needs besides its config, passed explicitly: the torch device and whether to show progress."""

    device: torch.device
    progress: bool = False


@dataclass(frozen=True)
class Experiment:
    name: str
    run: Callable
    configs: dict
    reader: type
    description: str
    chapter: str


_REGISTRY: dict[str, Experiment] = {}


def experiment(name: str, configs: dict, reader: type, description: str, chapter: str):
    """Register `run(config, ctx) -> (summary, arrays)` under `name`, with a config for each scale and the
    typed reader of its result."""
    missing = set(SCALES) - set(configs)
    if missing:
        raise ValueError(f"experiment {name!r}: configs lacks the scales {sorted(missing)}")
    if not issubclass(reader, ResultView):
        raise ValueError(f"experiment {name!r}: reader must be a ResultView subclass, got {reader!r}")

    def register(run):
        _REGISTRY[name] = Experiment(name, run, configs, reader, description, chapter)
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
    return dataclasses.replace(config, **changes)


def load_or_run(name: str, scale: str | None = None, force: bool = False, progress: bool | None = None,
                **overrides) -> ResultView:
    """The stored result of `name` at `scale` if its config matches, else run it now and store it.

    `progress` (default: on except at `smoke`) shows progress bars; the device is the session's
    (`env.setup`)."""
    exp = get(name)
    scale = check_scale(scale or current_scale())
    config = config_for(name, scale, **overrides)
    if not force:
        found = _results.load(name, scale, as_dict(config))
        if found is not None:
            return exp.reader(found)
    device = current_device()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    ctx = RunContext(device=device, progress=scale != "smoke" if progress is None else bool(progress))
    t0 = time.perf_counter()
    summary, arrays = exp.run(config, ctx)
    wall = time.perf_counter() - t0
    prov = _results.provenance(device_name(device), wall, config_seeds(config))
    return exp.reader(_results.save(name, scale, as_dict(config), summary, arrays, prov))


def config_seeds(config) -> list:
    return list(getattr(config, "seeds", ()))


def stored(name: str, scale: str = "paper") -> ResultView | None:
    """A stored result of `name` at `scale` whatever its config (e.g. the committed paper-scale run), or None."""
    exp = get(name)
    found = _results.load(name, check_scale(scale))
    return exp.reader(found) if found is not None else None


def device_name(device: torch.device) -> str:
    """The device for provenance: the GPU's name, or the CPU and its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
