"""Command line: `python -m skiplessons list`, `python -m skiplessons run NAME --scale S [--seeds ...]` and
`python -m skiplessons replicate` (every replicated claim's experiment at `default` on fresh seeds).

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
    r.add_argument("--scale", default=None, help="smoke | default | paper (default: $SKIPLESSONS_SCALE or default)")
    r.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds to train (overrides the scale's)")
    r.add_argument("--data", default=None, help="data set: mnist1d | digits | cifar10 | cifar100")
    r.add_argument("--data-dir", default=None, help="folder holding (or receiving) the CIFAR files")
    r.add_argument("--force", action="store_true", help="recompute even if a result with this config is stored")
    sub.add_parser("replicate", help="run every replicated claim's experiment at `default` on fresh seeds (the "
                   "ledger's second verdict)")
    return p


def _replicate() -> None:
    from .claims import CLAIMS
    from .experiments.replication import replicate, replication_seeds

    for name in dict.fromkeys(c.experiment for c in CLAIMS if c.replicate):
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
    """The scale (None: from SKIPLESSONS_SCALE) and the config overrides a parsed `run` command line sets (the
    config settings of `experiments.reproduce.CLI_FLAGS`), so that a printed command resolves to one config."""
    from .env import check_scale
    from .experiments.reproduce import CLI_FLAGS

    scale = check_scale(args.scale.strip().lower(), "--scale") if args.scale is not None else None
    return scale, {k: getattr(args, k) for k in CLI_FLAGS if getattr(args, k) is not None}


def _run(args) -> None:
    from . import experiments
    from .env import current_scale
    from .experiments.configs import as_dict

    scale, overrides = run_settings(args)
    exp = experiments.get(args.name)
    config = experiments.config_for(args.name, scale, **overrides)
    print(f"running {exp.name} at scale {scale or 'from SKIPLESSONS_SCALE'}: {json.dumps(as_dict(config))}",
          flush=True)
    progress = (scale or current_scale()) != "smoke"     # a terminal: bars except for the seconds-long smoke runs
    result = experiments.load_or_run(args.name, scale, force=args.force, progress=progress, **overrides)
    prov = result.provenance
    print(f"stored {result.stored.key}: {prov['wall_time_s']} s on {prov['device']} "
          f"(commit {prov['commit'][:12]}) in {result.stored.source}")
    print(json.dumps(result.summary, indent=1, sort_keys=True))


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        {"list": _list, "replicate": _replicate}.get(args.command, lambda: _run(args))()
        return 0
    except KeyboardInterrupt:
        _say("interrupted; checkpoints are kept: run the same command again to resume")
        return 130
    except (ValueError, OSError, ImportError, FloatingPointError) as e:
        _say(str(e).splitlines()[0] if str(e) else type(e).__name__)
        return 2


if __name__ == "__main__":
    sys.exit(main())
