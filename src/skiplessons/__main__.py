"""Command line: `python -m skiplessons list` and `python -m skiplessons run NAME --scale S [--seeds ...]`."""
from __future__ import annotations

import argparse
import json
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m skiplessons", description="Run the book's experiments.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the named experiments and their scales")
    r = sub.add_parser("run", help="run one experiment and store its result with provenance")
    r.add_argument("name", help="experiment name (see `list`)")
    r.add_argument("--scale", default=None, help="smoke | default | paper (default: $SKIPLESSONS_SCALE or default)")
    r.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds to train (overrides the scale's)")
    r.add_argument("--data", default=None, help="data set: mnist1d | digits | cifar10 | cifar100")
    r.add_argument("--data-dir", default=None, help="folder holding (or receiving) the CIFAR files")
    r.add_argument("--force", action="store_true", help="recompute even if a matching result is stored")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        from . import experiments
        from .experiments.configs import as_dict
        from .env import check_scale

        if args.command == "list":
            for name, exp in sorted(experiments.registry().items()):
                print(f"{name:24s} {exp.description}  [chapter {exp.chapter}]")
            return 0
        scale = check_scale(args.scale, "--scale") if args.scale is not None else None
        overrides = {"seeds": args.seeds, "data": args.data, "data_dir": args.data_dir}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        exp = experiments.get(args.name)
        config = experiments.config_for(args.name, scale, **overrides)
        print(f"running {exp.name} at scale {scale or 'from SKIPLESSONS_SCALE'}: {json.dumps(as_dict(config))}", flush=True)
        result = experiments.load_or_run(args.name, scale, force=args.force, **overrides)
        prov = result.provenance
        print(f"stored {result.name}-{result.scale}: {prov['wall_time_s']} s on {prov['device']} "
              f"(commit {prov['commit'][:12]})")
        print(json.dumps(result.summary, indent=1, sort_keys=True))
        return 0
    except (ValueError, FileNotFoundError, ImportError, FloatingPointError) as e:
        print(f"skiplessons: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
