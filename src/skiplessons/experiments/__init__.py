"""Named experiments: a config per scale -> a stored result (chapter 0; every chapter that trains).

An experiment is a function `run(config) -> (summary, arrays)` registered with its sizes for the three
scales in one place. `load_or_run(name)` returns the stored result whose config matches, or runs the
experiment and stores it with its provenance. `python -m skiplessons list | run NAME` drives them from a shell.
"""
from __future__ import annotations

import copy
import importlib
import time
from dataclasses import dataclass
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
    config.update({k: v for k, v in overrides.items() if v is not None})
    return config


def load_or_run(name: str, scale: str | None = None, force: bool = False, **overrides) -> _results.Result:
    """The stored result of `name` at `scale` if its config matches, else run it now and store it."""
    scale = check_scale(scale or _scale())
    config = config_for(name, scale, **overrides)
    if not force:
        found = _results.load(name, scale, config)
        if found is not None:
            return found
    if device().type == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    summary, arrays = get(name).run(copy.deepcopy(config))
    wall = time.perf_counter() - t0
    prov = _results.provenance(device_name(), wall, config.get("seeds", []))
    return _results.save(name, scale, config, summary, arrays, prov)


def stored(name: str, scale: str = "paper") -> _results.Result | None:
    """A stored result of `name` at `scale` whatever its config (e.g. the committed paper-scale run), or None."""
    get(name)
    return _results.load(name, check_scale(scale))


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
