"""Replication on fresh seeds: each deep-net claim's experiment run again at `default` on seeds disjoint from its
discovery seeds, so the ledger can show a second verdict beside the first.

The discovery seeds are the registered config's (every field named `seeds` or ending in `_seeds`); the
replication seeds are the same number of seeds shifted by `OFFSET`, so the two sets never overlap and the
replication config is as registered but for its seeds (its own config hash, stored beside the discovery result).
`replicate` runs it (`python -m skiplessons replicate`, `make replicate`); `replication` only reads it, so a page
never starts a replication by itself.
"""
from __future__ import annotations

import dataclasses

from . import config_for, load_or_run, registry, stored
from .views import ResultView

#: replication seeds are the discovery seeds shifted by this much (discovery seeds are small: 0 to 29)
OFFSET = 1000
def replicated() -> tuple[str, ...]:
    """The experiments whose claims are judged again on fresh seeds, in the registry's order: every one that
    trains deep nets (or random attention stacks) from seeds, as its registration says
    (`experiment(..., replicated=True)`); exact computations and one-seed dynamics are not replicated."""
    return tuple(name for name, e in registry().items() if e.replicated)


def seed_fields(config) -> dict[str, tuple]:
    """{field: seeds} of a config: every tuple field named `seeds` or ending in `_seeds`."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if (f.name == "seeds" or f.name.endswith("_seeds")) and isinstance(getattr(config, f.name), tuple)}


def replication_seeds(name: str, scale: str = "default") -> dict[str, tuple]:
    """{field: replication seeds} of experiment `name` at `scale`: its registered seeds shifted by `OFFSET`
    (a ValueError for an experiment without seeds, which cannot be replicated on fresh ones)."""
    fields = seed_fields(config_for(name, scale))
    if not fields:
        raise ValueError(f"experiment {name!r} has no seeds to replicate on")
    if any(s >= OFFSET for seeds in fields.values() for s in seeds):
        raise ValueError(f"experiment {name!r} has discovery seeds >= {OFFSET}; the replication seeds would overlap")
    return {k: tuple(s + OFFSET for s in v) for k, v in fields.items()}


def replication(name: str, scale: str = "default", folder=None) -> ResultView | None:
    """The stored replication of `name` at `scale`, or None when it has not been run (never computes)."""
    if name not in replicated():
        raise ValueError(f"experiment {name!r} is not replicated on fresh seeds; these are: {', '.join(replicated())}")
    return stored(name, scale, folder, **replication_seeds(name, scale))


def replicate(name: str, scale: str = "default", progress: bool | None = None) -> ResultView:
    """Run (or load) the replication of `name` at `scale` and store it."""
    return load_or_run(name, scale, progress=progress, **replication_seeds(name, scale))
