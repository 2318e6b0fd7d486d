"""Command line: `python -m skiplessons list` and `python -m skiplessons run NAME --scale S [--seeds ...]`.

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
    return p


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


def _run(args) -> None:
    from . import experiments
    from .env import check_scale, current_scale
    from .experiments.configs import as_dict

    scale = check_scale(args.scale.strip().lower(), "--scale") if args.scale is not None else None
    overrides = {"seeds": args.seeds, "data": args.data, "data_dir": args.data_dir}
    overrides = {k: v for k, v in overrides.items() if v is not None}
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
        _list() if args.command == "list" else _run(args)
        return 0
    except KeyboardInterrupt:
        _say("interrupted; checkpoints are kept: run the same command again to resume")
        return 130
    except (ValueError, OSError, ImportError, FloatingPointError) as e:
        _say(str(e).splitlines()[0] if str(e) else type(e).__name__)
        return 2


if __name__ == "__main__":
    sys.exit(main())
