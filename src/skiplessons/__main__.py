"""Command line: `python -m skiplessons list`, `run NAME --scale S [--seeds ...] [--shard i/n]`, `merge NAME` (the
shards of a run), `sweep NAME... --shards N --executor local|slurm` (README, "Running the grid on a cluster") and
`replicate` (every replicated claim's experiment at `default` on fresh seeds).

Every user error (a bad argument, missing or invalid data, an unwritable results folder) ends in one line
`skiplessons: error: ...` and exit status 2, before any compute; Ctrl-C ends in one line and status 130.
"""
from __future__ import annotations

import argparse
import json
import sys


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (no usage block) in the same form as ours."""

    def error(self, message):
        _say(message)
        sys.exit(2)


def _say(message: str) -> None:
    print(f"skiplessons: error: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m skiplessons", description="Run the book's experiments.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the named experiments and every stored result with its provenance")
    r = sub.add_parser("run", help="run one experiment and store its result with provenance")
    r.add_argument("name", help="experiment name (see `list`)")
    _settings(r)
    r.add_argument("--force", action="store_true", help="recompute even if a result with this config is stored")
    r.add_argument("--shard", default=None, help="i/n: run only the i-th of n chunks of the seeds (see `merge`)")
    m = sub.add_parser("merge", help="merge the stored shards of a run into its result")
    m.add_argument("name", help="experiment name (see `list`)")
    _settings(m)
    m.add_argument("--from", dest="sources", nargs="+", default=[], help="more folders holding shards")
    s = sub.add_parser("sweep", help="run experiments x grid points x shards as submitit jobs, then merge")
    s.add_argument("names", nargs="+", help="experiment names (see `list`)")
    _settings(s)
    s.add_argument("--shards", type=int, required=True, help="shards of the seeds per grid point")
    s.add_argument("--set", dest="grid", action="append", default=[], help="SETTING=V1,V2: a grid axis")
    s.add_argument("--executor", default="local", help="local (processes here) | slurm (a job array)")
    s.add_argument("--parallel", type=int, default=2, help="jobs at once (local processes, or the array's)")
    s.add_argument("--minutes", type=int, default=60, help="time limit per job; past it a job is requeued")
    s.add_argument("--partition", default=None, help="SLURM partition (default: the cluster's)")
    s.add_argument("--gpus", type=int, default=0, help="SLURM GPUs per job")
    s.add_argument("--cpus", type=int, default=1, help="SLURM CPUs per job")
    s.add_argument("--scratch", default=None, help="local folder where jobs compute (default: the node's temp)")
    s.add_argument("--logs", default=None, help="submitit's folder (default: sweep-logs/ in the results folder)")
    sub.add_parser("replicate", help="run every replicated claim's experiment at `default` on fresh seeds (the "
                   "ledger's second verdict)")
    return p


def _settings(p) -> None:
    """The options that choose a config: scale, seeds, data set."""
    p.add_argument("--scale", default=None, help="smoke | default | paper (default: $SKIPLESSONS_SCALE or default)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds to train (overrides the scale's)")
    p.add_argument("--data", default=None, help="data set: mnist1d | digits | cifar10 | cifar100")
    p.add_argument("--data-dir", default=None, help="folder holding (or receiving) the CIFAR files")


def _replicate() -> None:
    from .experiments.replication import REPLICATED, replicate, replication_seeds

    for name in REPLICATED:
        print(f"replicating {name} at default on seeds {replication_seeds(name)}", flush=True)
        result = replicate(name)
        print(f"  stored {result.stored.key} ({result.provenance['wall_time_s']:.0f} s)", flush=True)


def _list() -> None:
    from . import experiments, results
    from .report import duration

    for name, exp in sorted(experiments.registry().items()):
        print(f"{name:24s} {exp.description}  [chapter {exp.chapter}]")
    found = results.stored()
    print(f"\n{len(found)} stored results (in {results.results_dir()} and the package's {results.SHIPPED}/):")
    for r in found:
        p = r.provenance
        print(f"  {r.key:42s} data {r.summary.get('data', r.config.get('data', '-'))}, "
              f"{duration(p['wall_time_s'])} on {p['device']}, {p['date']}, commit {p['commit'][:12]}  ({r.source})")


def run_settings(args) -> tuple[str | None, dict]:
    """The scale (None: from SKIPLESSONS_SCALE) and the config overrides a parsed `run`, `merge` or `sweep` command
    line sets (the config settings of `experiments.reproduce.CLI_FLAGS`), so that a printed command resolves to
    one config."""
    from .env import check_scale
    from .experiments.reproduce import CLI_FLAGS

    scale = check_scale(args.scale.strip().lower(), "--scale") if args.scale is not None else None
    return scale, {k: getattr(args, k) for k in CLI_FLAGS if getattr(args, k) is not None}


def _run(args) -> None:
    from . import experiments
    from .experiments import shards
    from .experiments.configs import as_dict

    scale, overrides = run_settings(args)
    exp = experiments.get(args.name)
    config = experiments.config_for(args.name, scale, **overrides)
    shard = shards.parse(args.shard) if args.shard is not None else None
    print(f"running {exp.name} at scale {scale or 'from SKIPLESSONS_SCALE'}"
          f"{f', shard {shard[0]}/{shard[1]}' if shard else ''}: {json.dumps(as_dict(config))}", flush=True)
    result = (shards.run_shard(args.name, scale, *shard, force=args.force, **overrides) if shard else
              experiments.load_or_run(args.name, scale, force=args.force, **overrides))
    prov = result.provenance
    print(f"stored {result.stored.key}: {prov['wall_time_s']} s on {prov['device']} "
          f"(commit {prov['commit'][:12]}) in {result.stored.source}")
    print(json.dumps(result.summary, indent=1, sort_keys=True))


def _merge(args) -> None:
    from .experiments import shards

    scale, overrides = run_settings(args)
    merged = shards.merge(args.name, scale, sources=args.sources, **overrides)
    parts = merged.provenance["shards"]
    print(f"merged {len(parts)} shards into {merged.stored.key} ({merged.stored.source}): "
          f"{merged.provenance['wall_time_s']} s of compute on {merged.provenance['device']}")


def _sweep(args) -> None:
    from . import sweep

    scale, overrides = run_settings(args)
    job = sweep.JobSettings(minutes=args.minutes, parallel=args.parallel, partition=args.partition,
                            gpus=args.gpus, cpus=args.cpus)
    sweep.sweep(args.names, scale, args.shards, args.grid, executor=args.executor,
                scratch=args.scratch, logs=args.logs, job=job, say=lambda line: print(line, flush=True), **overrides)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        {"list": lambda _: _list(), "replicate": lambda _: _replicate(), "run": _run, "merge": _merge,
         "sweep": _sweep}[args.command](args)
        return 0
    except KeyboardInterrupt:
        _say("interrupted; checkpoints are kept: run the same command again to resume")
        return 130
    except (ValueError, OSError, ImportError, FloatingPointError) as e:
        _say(str(e).splitlines()[0] if str(e) else type(e).__name__)
        return 2


if __name__ == "__main__":
    sys.exit(main())
