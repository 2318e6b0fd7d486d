"""A stored result is exactly its config: what it is, whether it is the registered one, and the command that
makes it again (the chapters' paper-scale sections, the reproduction page).

`describe` is the one text every page prints under a stored result: its config, whether that is the registered
config of its experiment at its scale (else every field that differs), and the exact `python -m skiplessons
run` command whose config it is, or why no command of this version makes it. `stored_or_say` returns the
result of the registered config; another config's result only with that statement printed. `paper_status`
says, per registered experiment, whether its committed paper result is current, from older code, stale or missing.

A config hash cannot see the code: a committed result computed by older code with today's config is marked in
`OLDER_CODE` with what it lacks, and the tests compare that with a run of today's code.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from .. import results as _results
from . import config_for, get, registry, stored
from .configs import CIFAR100, as_dict, takes_paper_data
from .views import ResultView

#: the config settings `python -m skiplessons run` sets, by its flag (the CLI reads its overrides from these)
CLI_FLAGS = {"seeds": "--seeds", "data": "--data", "data_dir": "--data-dir"}
#: what `differences` reports for a field that one of the two configs lacks
ABSENT = "(absent)"
#: the committed-result states `paper_status` reports: the registered config by today's code, the registered
#: config by older code (`OLDER_CODE`), only other configs, none
CURRENT, OLDER, STALE, MISSING = "current", "older code", "stale", "missing"


@dataclass(frozen=True)
class OlderCode:
    """A committed paper result with today's config computed by older code: the commit its provenance names
    (a prefix) and the outputs (array or summary keys) that today's code stores and it lacks."""

    commit: str
    lacks: tuple


#: committed paper results whose config is the registered one but whose code is older, by experiment; the tests
#: check each against a run of today's code, so an entry goes when the result is run again
OLDER_CODE = {"degeneracy": OlderCode("d33bc1abc0be", ("ckpt_live_rank_deficit", "n_classes")),
              # stored each near-zero fraction's SLQ error as one number; today's code keeps the standard error and
              # the bound apart (the reader counts the old number as a bound)
              "depth_sweep": OlderCode("5b3e752b2d95", tuple(f"near_zero_{n}_{k}" for n in ("absolute", "max", "mean")
                                                             for k in ("bound", "se"))),
              # run before the manipulation check at initialization was measured (chapter IV.1)
              "init_controls": OlderCode("5b3e752b2d95", ("init_top", "init_band", "init_rank", "init_growth",
                                                           "init_dead", "init_sv")),
              # run before the remedies' start was measured (chapter IV.2; their check at the end is read as stored)
              "remedies": OlderCode("5b3e752b2d95", ("init_top", "init_band", "init_rank", "init_growth",
                                                      "init_dead", "init_sv"))}


def older_code(result: ResultView | _results.Result) -> OlderCode | None:
    """The `OLDER_CODE` entry that applies to `result` (a paper result from the commit it names), else None."""
    marker = OLDER_CODE.get(result.name)
    applies = marker is not None and result.scale == "paper" and str(
        result.provenance.get("commit", "")).startswith(marker.commit)
    return marker if applies else None


def registered(name: str, scale: str, **overrides) -> dict:
    """The registered config of `name` at `scale` (with `overrides`), as the plain dict that is hashed."""
    return as_dict(config_for(name, scale, **overrides))


def differences(config: dict, reference: dict) -> dict[str, tuple]:
    """{field: (value in `config`, value in `reference`)} for every field that differs (`ABSENT` where one of
    them lacks the field), in `reference`'s order then `config`'s extra fields; locations
    (`results.LOCATIONS`, outside the config hash) are not differences."""
    fields = [k for k in list(reference) + [k for k in config if k not in reference] if k not in _results.LOCATIONS]
    return {k: (config.get(k, ABSENT), reference.get(k, ABSENT)) for k in fields
            if config.get(k, ABSENT) != reference.get(k, ABSENT)}


def command(name: str, scale: str, config: dict) -> str | None:
    """The `python -m skiplessons run` command whose config is `config`: the registered config of `name` at
    `scale` with a flag for each setting that differs, or None when a differing setting has no flag (a field
    added or removed since, or one the command line does not set)."""
    diff = differences(config, registered(name, scale))
    if any(k not in CLI_FLAGS or ABSENT in v for k, v in diff.items()):
        return None
    words = ["python", "-m", "skiplessons", "run", name, "--scale", scale]
    for k, (value, _) in diff.items():
        words += [CLI_FLAGS[k], *map(str, value if isinstance(value, list) else [value])]
    return shlex.join(words)


def config_summary(config: dict) -> str:
    """A config on one line, `field=value` in its own order (values as JSON)."""
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in config.items())


def describe(result: ResultView) -> str:
    """What a stored result is: its config, whether it is the registered config of its experiment at its scale
    (else each differing field, stored against registered) and the command that reproduces it; printed under
    every stored result a page shows (`stored_or_say`)."""
    name, scale, config = result.name, result.scale, result.stored.config
    diff = differences(config, registered(name, scale))
    lines = [f"{name} at {scale} scale, config: {config_summary(config)}"]
    if diff:
        changes = "; ".join(f"{k} {json.dumps(s)} (registered: {json.dumps(r)})" for k, (s, r) in diff.items())
        lines.append(f"NOT the registered {scale} config of {name}: it differs in {changes}")
    else:
        lines.append(f"the registered {scale} config of {name}")
    old = older_code(result)
    if old is not None:
        lines.append(f"computed by older code (commit {old.commit}): it lacks {', '.join(old.lacks)}, which a run "
                     f"by this version's code also stores")
    cmd = command(name, scale, config)
    lines.append(f"reproduce: `{cmd}`" if cmd else
                 f"reproduce: no command of this version makes this config (it differs in "
                 f"{', '.join(k for k in diff if k not in CLI_FLAGS or ABSENT in diff[k])}, which the command "
                 f"line does not set); it was computed at commit {result.provenance.get('commit', 'unknown')[:12]}")
    return "\n".join(lines)


def stored_or_say(name: str, scale: str = "paper") -> ResultView | None:
    """The stored result of the registered config of `name` at `scale`, printed with `describe`. Where there is
    none, a result of another config (the committed one first, then the newest) is returned only after
    `describe` has printed how it differs; with none at all, None after a line naming the command that makes
    it (for the chapters: a missing result is a message, never a crash)."""
    found = stored(name, scale)
    found = other_config(name, scale) if found is None else found
    if found is None:
        print(f"no stored {scale}-scale result of {name} in {_results.shown_dir()} or in the package: make it "
              f"with `{command(name, scale, registered(name, scale))}`" + (" (a GPU helps)" * (scale == "paper")))
        return None
    print(describe(found))
    return found


def current_papers(folder=None) -> dict[str, ResultView]:
    """The committed results of the registered paper configs computed by today's code (`paper_status`'s
    CURRENT), by experiment name: what the ledger's paper-size column judges."""
    return {row["experiment"]: get(row["experiment"]).reader(row["result"])
            for row in paper_status(folder) if row["status"] == CURRENT}


def other_config(name: str, scale: str) -> ResultView | None:
    """A stored result of `name` at `scale` with any config (the committed one first, then the newest), or None."""
    every = [r for r in _results.stored() if r.name == name and r.scale == scale]
    shipped = _results.shipped_dir()
    found = max(every, key=lambda r: (Path(r.source).parent == shipped, r.provenance.get("date", "")), default=None)
    return get(name).reader(found) if found is not None else None


def paper_status(folder=None) -> list[dict]:
    """Per registered experiment (each has a paper size), its committed paper result (in `folder`, default the
    package's `paper_results/`): `status` CURRENT (its config is the registered one), OLDER (so is its config,
    but `OLDER_CODE` marks its code as older), STALE (only other configs are committed: `differences` from the
    newest) or MISSING; `result` (the registered config's, else the newest other one, else None), `command`
    (the registered config's) and `cifar_command` (its CIFAR-100 configuration, `configs.CIFAR100`, where it
    trains on the paper's data)."""
    folder = Path(folder) if folder else _results.shipped_dir()
    committed = [r for r in map(_results.read, sorted(folder.glob("*-paper-*.json"))) if r is not None]
    rows = []
    for name, exp in sorted(registry().items()):
        config = registered(name, "paper")
        key = _results.key(name, "paper", config)
        mine = sorted((r for r in committed if r.name == name and r.scale == "paper"),
                      key=lambda r: (r.key == key, r.provenance.get("date", "")))
        result = mine[-1] if mine else None
        status = (MISSING if result is None else STALE if result.key != key
                  else OLDER if older_code(result) else CURRENT)
        rows.append({"experiment": name, "chapter": exp.chapter, "status": status, "result": result,
                     "differences": differences(result.config, config) if status == STALE else {},
                     "command": command(name, "paper", config),
                     "cifar_command": (command(name, "paper", registered(name, "paper", **CIFAR100))
                                       if takes_paper_data(exp.configs["paper"]) else None)})
    return rows
