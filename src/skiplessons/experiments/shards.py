"""An experiment's seeds run as shards and merged into the result one run would have stored (README, "Running
the grid on a cluster"; `python -m skiplessons run NAME --shard i/n` and `merge NAME`).

Shard i/n of a config is the same experiment with `seeds` cut to the i-th of n contiguous chunks: an ordinary
stored result (with its own config hash) whose provenance says which shard of which full config it is. The nets
of a batch never interact (each draws its weights from its own generator, the data order depends only on
`data_seed`, every net gets the same SLQ probes), so a net's numbers do not depend on which nets share its
batch. `merge` checks the shards (one clear error for a missing, duplicated or foreign shard), puts their nets
back in the full run's order (groups such as architectures in turn, seeds in config order within each),
recomputes the summary and stores the result under the full config's key, with every shard's provenance:
on CPU it is bit-identical to the unsharded run (tests/test_shards.py).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .. import results as _results
from ..env import check_scale, current_scale
from . import config_for, get, load_or_run
from .configs import as_dict
from .views import ResultView

#: the provenance entry of a shard: {"index": i, "count": n, "of": the full config's key}
SHARD = "shard"
#: arrays every net shares (recording steps, checkpoint steps; a sweep's grid is its view's `grid_name`): equal in
#: every shard
SHARED = frozenset({"step", "ckpt_step"})
#: label arrays that name a net's group (its seed is the other label)
GROUP_LABELS = ("arch", "condition")

def parse(text: str) -> tuple[int, int]:
    """(i, n) from "i/n", shard i of n counted from 1; a ValueError names `--shard` otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(f"--shard={text!r} must be i/n with 1 <= i <= n, e.g. 2/5")
    return int(match[1]), int(match[2])


def chunk(seeds, index: int, count: int) -> tuple:
    """The seeds of shard `index` of `count` (from 1): contiguous chunks whose sizes differ by at most one."""
    seeds = tuple(seeds)
    if not 1 <= count <= len(seeds):
        raise ValueError(f"{count} shards of {len(seeds)} seeds {list(seeds)}: choose 1 to {len(seeds)} shards")
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count} does not exist; choose 1 to {count}")
    bounds = [len(seeds) * k // count for k in range(count + 1)]
    return seeds[bounds[index - 1]:bounds[index]]


def full_config(name: str, scale: str, **overrides):
    """The config to be sharded (the registered one with `overrides`); it must have a tuple of seeds."""
    config = config_for(name, scale, **overrides)
    if not isinstance(getattr(config, "seeds", None), tuple):
        raise ValueError(f"experiment {name!r} has no seeds to shard; shard one of the experiments with seeds")
    return config


def record(name: str, scale: str, config, index: int, count: int) -> dict:
    """The provenance entry of shard index/count of `config`."""
    return {"index": index, "count": count, "of": _results.key(name, scale, as_dict(config))}


def run_shard(name: str, scale: str | None, index: int, count: int, folder=None, force: bool = False,
              progress: bool | None = None, **overrides) -> ResultView:
    """Shard index/count of experiment `name` (`load_or_run` on its chunk of seeds), stored in `folder` with
    the shard in its provenance."""
    scale = check_scale(scale or current_scale())
    full = full_config(name, scale, **overrides)
    seeds = chunk(full.seeds, index, count)
    view = load_or_run(name, scale, force=force, progress=progress, folder=folder, **{**overrides, "seeds": seeds})
    entry = record(name, scale, full, index, count)
    return view if view.provenance.get(SHARD) == entry else tag(view, entry, folder)


def tag(view: ResultView, entry: dict, folder=None) -> ResultView:
    """`view` stored again in `folder` with the shard entry `entry` in its provenance (the same numbers)."""
    r = view.stored
    stored = _results.save(r.name, r.scale, r.config, r.summary, r.arrays, {**r.provenance, SHARD: entry},
                           folder=folder)
    return type(view)(stored)


def find(name: str, scale: str, of: str, folders) -> list[_results.Result]:
    """Every stored shard of the full config keyed `of` in `folders`; one copy of a shard stored in two folders
    with the same numbers (e.g. a task folder and the shared one)."""
    found: dict[str, _results.Result] = {}
    seen = set()
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir() or folder.resolve() in seen:
            continue
        seen.add(folder.resolve())
        for path in sorted(folder.glob(f"{name}-{scale}-*.json")):
            r = _results.read(path)
            if r is None or r.name != name or (r.provenance.get(SHARD) or {}).get("of") != of:
                continue
            if r.key in found and not same_numbers(found[r.key], r):
                raise ValueError(f"shard {describe(r)} is stored twice with different numbers: "
                                 f"{found[r.key].source} and {r.source}; delete one and merge again")
            found.setdefault(r.key, r)
    return list(found.values())


def same_numbers(a: _results.Result, b: _results.Result) -> bool:
    return (a.summary == b.summary and a.arrays.keys() == b.arrays.keys()
            and all(np.array_equal(a.arrays[k], b.arrays[k], equal_nan=a.arrays[k].dtype.kind in "fc")
                    for k in a.arrays))


def describe(r: _results.Result) -> str:
    entry = r.provenance.get(SHARD) or {}
    return f"{entry.get('index')}/{entry.get('count')} ({r.source})"


def check(shards: list[_results.Result], name: str, scale: str, full, sources: list) -> list[_results.Result]:
    """The shards ordered by their first seed, after refusing (one ValueError each) a shard of another config,
    a seed in two shards, and seeds no shard has."""
    target = as_dict(full)
    for r in shards:
        entry = r.provenance[SHARD]
        differ = sorted(k for k in set(target) | set(r.config) if k != "seeds" and r.config.get(k) != target.get(k))
        if differ:
            k = differ[0]
            raise ValueError(f"shard {describe(r)} is of another config: {k}={r.config.get(k)!r} there, "
                             f"{target.get(k)!r} in the config being merged")
        try:
            expected = chunk(full.seeds, int(entry["index"]), int(entry["count"]))
        except (ValueError, TypeError, KeyError):
            expected = None
        if expected is None or tuple(r.config["seeds"]) != expected:
            raise ValueError(f"shard {describe(r)} is of another config: its seeds {r.config['seeds']} are not "
                             f"that shard of seeds {list(full.seeds)}")
    owner: dict = {}            # in seed order (then the finer split first), not in the order of the files' hashes
    for r in sorted(shards, key=lambda r: (r.config["seeds"][0], -int(r.provenance[SHARD]["count"]))):
        for s in r.config["seeds"]:
            if s in owner:
                raise ValueError(f"seed {s} is in two shards: {describe(owner[s])} and {describe(r)}; keep the "
                                 f"shards of one split (delete the others) and merge again")
            owner[s] = r
    missing = [s for s in full.seeds if s not in owner]
    if missing:
        counts = {int(r.provenance[SHARD]["count"]) for r in shards}
        n = counts.pop() if len(counts) == 1 else None
        which = ([f"{i}/{n}" for i in range(1, n + 1) if set(chunk(full.seeds, i, n)) & set(missing)]
                 if n else [])
        where = ", ".join(str(s) for s in sources)
        raise ValueError(f"shards missing for seeds {missing} of {_results.key(name, scale, target)} in {where}"
                         + (f" (shard {', '.join(which)}): run `python -m skiplessons run {name} --scale {scale} "
                            f"--shard {which[0]}` with the same settings" if which else
                            f": run `python -m skiplessons run {name} --scale {scale} --shard i/n` for each i"))
    return sorted(shards, key=lambda r: list(full.seeds).index(r.config["seeds"][0]))


def order(shards: list[_results.Result], seeds: tuple, name: str) -> tuple[int, list[np.ndarray]]:
    """(nets of the merged result, each shard's nets' positions in it). A shard's nets must run group by
    group (e.g. architecture) with its seeds in order within each group, the full run's order."""
    groups, places = None, []
    for r in shards:
        chunk_seeds = list(r.config["seeds"])
        n = len(r.arrays["seed"])
        if n % len(chunk_seeds) or not np.array_equal(r.arrays["seed"], np.tile(chunk_seeds, n // len(chunk_seeds))):
            raise ValueError(f"the nets of {name} are not grouped by seed, so its shards cannot be merged "
                             f"({r.source})")
        labels = [np.asarray(r.arrays[k]).reshape(n // len(chunk_seeds), len(chunk_seeds))
                  for k in GROUP_LABELS if k in r.arrays]
        mine = [tuple(str(lab[g, 0]) for lab in labels) for g in range(n // len(chunk_seeds))]
        if any((lab != lab[:, :1]).any() for lab in labels) or (groups is not None and mine != groups):
            raise ValueError(f"the shards of {name} hold other groups of nets ({r.source}); they cannot be merged")
        groups = mine
        places.append(np.array([g * len(seeds) + seeds.index(s) for g in range(len(mine)) for s in chunk_seeds]))
    return len(groups) * len(seeds), places


def net_axis(view: type[ResultView], key: str) -> int | None:
    """The axis along which array `key` of a result read by `view` holds one entry per net (None: shared)."""
    if key in SHARED or key == view.grid_name:
        return None
    return 1 if key.startswith("ckpt_") or view.grid_name else 0


def merge_arrays(shards: list[_results.Result], total: int, places: list[np.ndarray], name: str,
                 view: type[ResultView]) -> dict:
    """The shards' arrays of experiment `name` (read by `view`, which says where its nets are) with their nets
    at `places` of `total`; shared arrays must agree. A shard without `failed_step` (no net failed) has -1 for
    each of its nets."""
    keys = set().union(*(r.arrays for r in shards))
    out = {}
    for key in sorted(keys):
        parts = [r.arrays.get(key) if key != "failed_step" or key in r.arrays
                 else np.full(len(r.arrays["seed"]), -1) for r in shards]
        if any(p is None for p in parts):
            raise ValueError(f"array {key!r} is missing from shard {describe(shards[parts.index(None)])}")
        axis = net_axis(view, key)
        if axis is None:
            if not all(np.array_equal(parts[0], p) for p in parts):
                raise ValueError(f"array {key!r} differs between the shards of {name}; they cannot be merged")
            out[key] = parts[0]
            continue
        for p, where, r in zip(parts, places, shards):
            if p.ndim <= axis or p.shape[axis] != len(where):
                raise ValueError(f"array {key!r} of shard {describe(r)} has no axis {axis} of {len(where)} nets")
        shape = list(parts[0].shape)
        shape[axis] = total
        merged = np.empty(shape, dtype=np.result_type(*parts))
        for p, where in zip(parts, places):
            index = [slice(None)] * len(shape)
            index[axis] = where
            merged[tuple(index)] = p
        out[key] = merged
    return out


def merge_summary(shards: list[_results.Result], places: list[np.ndarray]) -> dict:
    """The summary the full run would have written: every entry shared by the shards, and `failed` (nets whose
    loss turned non-finite) with each net's index in the merged result."""
    summary = {k: v for k, v in shards[0].summary.items() if k != "failed"}
    for r in shards[1:]:
        other = {k: v for k, v in r.summary.items() if k != "failed"}
        if other != summary:
            k = sorted(k for k in set(other) | set(summary) if other.get(k) != summary.get(k))[0]
            raise ValueError(f"summary entry {k!r} differs between the shards ({summary.get(k)!r} in "
                             f"{shards[0].source}, {other.get(k)!r} in {r.source}); they cannot be merged")
    failed = [{**f, "net": int(where[f["net"]])} for r, where in zip(shards, places) for f in r.summary.get("failed", [])]
    if failed:
        summary["failed"] = sorted(failed, key=lambda f: f["net"])
    return summary


def merge_provenance(shards: list[_results.Result], seeds) -> dict:
    """The merged result's provenance: the merge's own (software, date), the shards' devices, summed wall time
    and largest peak memory, and every shard's provenance with its file under `shards`."""
    devices = list(dict.fromkeys(r.provenance["device"] for r in shards))
    prov = _results.provenance("; ".join(devices), sum(r.provenance["wall_time_s"] for r in shards), seeds)
    peak = max(shards, key=lambda r: r.provenance["peak_memory_bytes"]).provenance
    prov.update(peak_memory_bytes=peak["peak_memory_bytes"], peak_memory_of=peak["peak_memory_of"],
                shards=[{**r.provenance, "file": Path(r.source).name} for r in shards])
    return prov


def merge(name: str, scale: str | None = None, folder=None, sources=(), **overrides) -> ResultView:
    """Merge the stored shards of experiment `name` (with `overrides`) found in `folder` (default: the results
    folder) and `sources` into the result `load_or_run` would store, stored in `folder` under the full key."""
    scale = check_scale(scale or current_scale())
    full = full_config(name, scale, **overrides)
    where = [Path(folder) if folder else _results.results_dir(), *map(Path, sources)]
    of = _results.key(name, scale, as_dict(full))
    shards = check(find(name, scale, of, where), name, scale, full, where)
    total, places = order(shards, tuple(full.seeds), name)
    arrays = merge_arrays(shards, total, places, name, get(name).reader)
    summary = merge_summary(shards, places)
    stored = _results.save(name, scale, as_dict(full), summary, arrays, merge_provenance(shards, full.seeds),
                           folder=folder)
    return get(name).reader(stored)

