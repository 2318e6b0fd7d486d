"""Command line: `python -m skiplessons list`, `run NAME --scale S [--seeds ...] [--shard i/n]`, `merge NAME` (the
shards of a run), `sweep NAME... --shards N --executor local|slurm` (README, "Running the grid on a cluster") and
`replicate` (every replicated claim's experiment at `default` on fresh seeds).

Every user error (a bad argument, missing or invalid data, an unwritable results folder) ends in one line
`skiplessons: error: ...` and exit status 2, before any compute; Ctrl-C ends in one line and status 130, and
SIGTERM (a scheduler's stop) in one line and status 143, after the same cleanup (temporary files removed,
locks released); the line says whether checkpoints were kept.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that it unwinds through the same cleanup as Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _seed(text: str) -> int:
    """One --seeds value: an integer in [0, 2**32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; seeds are integers in [0, 2**32)") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text} is out of range; seeds are integers in [0, 2**32)")
    return value


def _seconds(text: str) -> float:
    """The --wait value: a number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number of seconds >= 0")
    return value


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
    r.add_argument("--wait", type=_seconds, default=None, metavar="SECONDS",
                   help="how long to wait for another run of the same config to finish (default 600)")
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
    p.add_argument("--seeds", type=_seed, nargs="+", default=None, help="seeds to train (overrides the scale's)")
    p.add_argument("--data", default=None, help="data set: mnist1d | digits | cifar10 | cifar100")
    p.add_argument("--data-dir", default=None, help="folder holding (or receiving) the CIFAR files")


def _replicate(kept: list) -> None:
    """Every replicated claim's experiment; `kept` receives the checkpoints folder, for an interrupt's message."""
    from . import results
    from .experiments.replication import replicate, replicated, replication_seeds

    kept.append(results.results_dir() / "checkpoints")
    for name in replicated():
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


def _run(args, kept: list) -> None:
    """Run (or read) one experiment; `kept` receives its checkpoint folder, for the message of an interrupt."""
    from . import experiments, results
    from .env import current_scale
    from .experiments import shards
    from .experiments.configs import as_dict

    scale, overrides = run_settings(args)
    exp = experiments.get(args.name)
    config = experiments.config_for(args.name, scale, **overrides)
    shard = shards.parse(args.shard) if args.shard is not None else None
    kept.append(results.results_dir() / "checkpoints" / ("" if shard else results.key(
        exp.name, scale or current_scale(), as_dict(config))))
    print(f"running {exp.name} at scale {scale or 'from SKIPLESSONS_SCALE'}"
          f"{f', shard {shard[0]}/{shard[1]}' if shard else ''}: {json.dumps(as_dict(config))}", flush=True)
    wait = {} if args.wait is None else {"wait": args.wait}
    progress = (scale or current_scale()) != "smoke"     # a terminal: bars except for the seconds-long smoke runs
    result = (shards.run_shard(args.name, scale, *shard, force=args.force, progress=progress, **overrides) if shard
              else experiments.load_or_run(args.name, scale, force=args.force, progress=progress, **overrides, **wait))
    prov = result.provenance
    print(f"stored {result.stored.key}: {prov['wall_time_s']} s on {prov['device']} "
          f"(commit {prov['commit'][:12]}) in {result.stored.source}")
    print(json.dumps(result.summary, indent=1, sort_keys=True))


def _what_was_kept(folders: list) -> str:
    """Which checkpoints an interrupted run left, in words."""
    found = [f for folder in folders for f in sorted(Path(folder).rglob("*.pt"))]
    if not folders:
        return "nothing was running"
    if not found:
        return "no checkpoint had been written yet: the same command starts again from the beginning"
    return f"checkpoints are kept in {found[0].parent}: run the same command again to resume"


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
    kept: list = []
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        {"list": lambda _: _list(), "replicate": lambda _: _replicate(kept), "run": lambda a: _run(a, kept),
         "merge": _merge, "sweep": _sweep}[args.command](args)
        return 0
    except KeyboardInterrupt as e:
        _say(f"{'terminated' if isinstance(e, Terminated) else 'interrupted'}; {_what_was_kept(kept)}")
        return 143 if isinstance(e, Terminated) else 130
    except (ValueError, OSError, ImportError, FloatingPointError) as e:
        _say(str(e).splitlines()[0] if str(e) else type(e).__name__)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
