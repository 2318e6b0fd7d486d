"""Benchmark: one experiment run whole against the same run as shards on submitit's local executor.

Runs `python -m skiplessons run NAME --scale S` and `python -m skiplessons sweep NAME --scale S --shards N
--executor local --parallel P` in one fresh results folder (the data set generated first, outside both
timings), checks that the merged result equals the whole one bit for bit, and writes the timing record the
reproduce page shows (`skiplessons/timings/`), with its provenance. Run from the repository root:
`.venv/bin/python bench/shards.py [--name degeneracy] [--scale default] [--shards 5] [--parallel 2]`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from skiplessons import __version__, experiments, results
from skiplessons.experiments.configs import as_dict
from skiplessons.experiments.parts import load_data

RECORD = Path(__file__).resolve().parents[1] / "src" / "skiplessons" / "timings"


def timed(args, env) -> float:
    """Wall seconds of `python -m skiplessons ARGS` (its output passed through)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "skiplessons", *args], env=env, check=True)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default="degeneracy")
    p.add_argument("--scale", default="default")
    p.add_argument("--shards", type=int, default=5)
    p.add_argument("--parallel", type=int, default=2)
    a = p.parse_args()
    whole_dir, shard_dir = (Path(tempfile.mkdtemp(prefix=f"shards-{k}-")) for k in ("whole", "sharded"))
    load_before = os.getloadavg()[0]
    times = {}
    for folder in (whole_dir, shard_dir):
        os.environ["SKIPLESSONS_RESULTS"] = str(folder)
        load_data(experiments.config_for(a.name, a.scale))      # the data cache, outside the timings
    env = dict(os.environ, OMP_NUM_THREADS="1", SKIPLESSONS_RESULTS=str(whole_dir))
    times["whole"] = timed(["run", a.name, "--scale", a.scale], env)
    env["SKIPLESSONS_RESULTS"] = str(shard_dir)
    times["sweep"] = timed(["sweep", a.name, "--scale", a.scale, "--shards", str(a.shards), "--executor", "local",
                            "--parallel", str(a.parallel)], env)
    config = as_dict(experiments.config_for(a.name, a.scale))
    whole = results.load(a.name, a.scale, config, folder=whole_dir)
    merged = results.load(a.name, a.scale, config, folder=shard_dir)
    same = whole.summary == merged.summary and all(
        np.array_equal(whole.arrays[k], merged.arrays[k], equal_nan=whole.arrays[k].dtype.kind == "f")
        for k in whole.arrays) and whole.arrays.keys() == merged.arrays.keys()
    record = {
        "experiment": a.name, "scale": a.scale, "shards": a.shards, "parallel": a.parallel,
        "seeds": config["seeds"], "nets": len(whole.arrays["seed"]),
        "whole_wall_s": round(times["whole"], 1), "sweep_wall_s": round(times["sweep"], 1),
        "whole_compute_s": whole.provenance["wall_time_s"],
        "shard_compute_s": [s["wall_time_s"] for s in merged.provenance["shards"]],
        "bit_identical": bool(same),
        "provenance": {"commit": results.provenance("cpu", 0, []).get("commit"), "skiplessons": __version__,
                       "torch": torch.__version__, "python": platform.python_version(),
                       "cpus": os.cpu_count(), "load_average_before": round(load_before, 2),
                       "load_average_after": round(os.getloadavg()[0], 2),
                       "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                       "command": "bench/shards.py " + " ".join(sys.argv[1:])},
    }
    RECORD.mkdir(exist_ok=True)
    out = RECORD / f"shards-{a.name}-{a.scale}.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
