"""Command line: `python -m skiplessons list`, `python -m skiplessons run NAME --scale S [--seeds ...]` and
`python -m skiplessons replicate` (every replicated claim's experiment at `default` on fresh seeds).

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
    r.add_argument("--scale", default=None, help="smoke | default | paper (default: $SKIPLESSONS_SCALE or default)")
    r.add_argument("--seeds", type=_seed, nargs="+", default=None, help="seeds to train (overrides the scale's)")
    r.add_argument("--data", default=None, help="data set: mnist1d | digits | cifar10 | cifar100")
    r.add_argument("--data-dir", default=None, help="folder holding (or receiving) the CIFAR files")
    r.add_argument("--force", action="store_true", help="recompute even if a result with this config is stored")
    r.add_argument("--wait", type=_seconds, default=None, metavar="SECONDS",
                   help="how long to wait for another run of the same config to finish (default 600)")
    sub.add_parser("replicate", help="run every replicated claim's experiment at `default` on fresh seeds (the "
                   "ledger's second verdict)")
    return p


def _replicate(kept: list) -> None:
    """Every replicated claim's experiment; `kept` receives the checkpoints folder, for an interrupt's message."""
    from . import results
    from .claims import CLAIMS
    from .experiments.replication import replicate, replication_seeds

    kept.append(results.results_dir() / "checkpoints")
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


def _run(args, kept: list) -> None:
    """Run (or read) one experiment; `kept` receives its checkpoint folder, for the message of an interrupt."""
    from . import experiments, results
    from .env import current_scale
    from .experiments.configs import as_dict

    scale, overrides = run_settings(args)
    exp = experiments.get(args.name)
    config = experiments.config_for(args.name, scale, **overrides)
    kept.append(results.results_dir() / "checkpoints" / results.key(exp.name, scale or current_scale(),
                                                                     as_dict(config)))
    print(f"running {exp.name} at scale {scale or 'from SKIPLESSONS_SCALE'}: {json.dumps(as_dict(config))}",
          flush=True)
    wait = {} if args.wait is None else {"wait": args.wait}
    result = experiments.load_or_run(args.name, scale, force=args.force, **overrides, **wait)
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


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    kept: list = []
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        commands = {"list": _list, "replicate": lambda: _replicate(kept), "run": lambda: _run(args, kept)}
        commands[args.command]()
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
