"""The paper's grids as job arrays on submitit: one job per (experiment, grid point, shard of seeds), merged at
the end (`python -m skiplessons sweep`; README, "Running the grid on a cluster").

`submitit` (the optional extra `skiplessons[cluster]`) runs the jobs here (`executor="local"`, at most
`parallel` at a time) or as one SLURM job array. Each job computes its shard in a folder of its own on local
disk (`scratch`), then stores the result in the shared results folder through the store (atomic, locked,
checksummed). A preempted or timed-out SLURM job copies its training checkpoints to the shared folder and is
requeued; the requeued job copies them back and resumes (`train`'s checkpoints) to the same numbers. A job
whose shard is already in the shared folder returns at once, so running the same sweep again finishes what a
failed one left.
"""
from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import results
from .env import check_scale, current_scale
from .experiments import config_for, shards
from .experiments.configs import as_dict

EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class JobSettings:
    """What each job gets: a time limit in minutes (a job past it is checkpointed and requeued), and on SLURM a
    partition (None: the cluster's default), GPUs and CPUs; `parallel` jobs run at once (the array's
    parallelism on SLURM, processes here with the local executor)."""

    minutes: int = 60
    parallel: int = 2
    partition: str | None = None
    gpus: int = 0
    cpus: int = 1

    def __post_init__(self):
        for name in ("minutes", "parallel", "gpus", "cpus"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "gpus" else 1):
                raise ValueError(f"{name}={value!r} must be an integer >= {0 if name == 'gpus' else 1}")


@dataclass(frozen=True)
class ShardJob:
    """One job: shard `index`/`count` of experiment `name` at `scale` with the settings `overrides`."""

    name: str
    scale: str
    index: int
    count: int
    overrides: dict = field(default_factory=dict)

    def __str__(self) -> str:
        settings = " ".join(f"{k}={v}" for k, v in sorted(self.overrides.items()))
        return f"{self.name} {settings + ' ' if settings else ''}shard {self.index}/{self.count}"


class ShardTask:
    """The callable submitit pickles and runs for one `ShardJob`. It computes in `scratch` (None: the temporary
    folder of the machine it runs on) and stores the shard in `shared`; `checkpoint` is submitit's hook on
    preemption or timeout: save the checkpoints where the requeued job finds them, then requeue."""

    def __init__(self, job: ShardJob, shared: Path, scratch: Path | None = None):
        self.job, self.shared, self.scratch = job, Path(shared), scratch

    def key(self) -> str:
        """The store key of this job's shard (the chunk's config)."""
        j = self.job
        full = shards.full_config(j.name, j.scale, **j.overrides)
        config = as_dict(full) | {"seeds": list(shards.chunk(full.seeds, j.index, j.count))}
        return results.key(j.name, j.scale, config)

    def local(self, key: str) -> Path:
        """This job's folder on the disk of the machine it runs on."""
        return Path(self.scratch or tempfile.gettempdir()) / "skiplessons-sweep" / key

    def __call__(self) -> dict:
        j, key, t0 = self.job, self.key(), time.perf_counter()
        if (self.shared / f"{key}.json").is_file():       # stored by an earlier sweep: read (and tagged) there
            shards.run_shard(j.name, j.scale, j.index, j.count, folder=self.shared, progress=False, **j.overrides)
            return {"key": key, "wall_time_s": 0.0, "reused": True}
        here = self.local(key)
        copy_checkpoints(self.shared / "checkpoints" / key, here / "checkpoints" / key)
        r = shards.run_shard(j.name, j.scale, j.index, j.count, folder=here, progress=False, **j.overrides).stored
        results.save(r.name, r.scale, r.config, r.summary, r.arrays, r.provenance, folder=self.shared)
        shutil.rmtree(self.shared / "checkpoints" / key, ignore_errors=True)
        shutil.rmtree(here, ignore_errors=True)
        return {"key": key, "wall_time_s": round(time.perf_counter() - t0, 3), "reused": False}

    def checkpoint(self):
        """Copy this job's checkpoints to the shared folder and requeue the same task (submitit's hook)."""
        import submitit

        key = self.key()
        copy_checkpoints(self.local(key) / "checkpoints" / key, self.shared / "checkpoints" / key)
        return submitit.helpers.DelayedSubmission(self)


def copy_checkpoints(source: Path, target: Path) -> None:
    """Copy the checkpoint files of a run from `source` to `target` (each through a temporary name; the hidden
    temporary files of a checkpoint being written are left out, its last complete version is copied)."""
    if not source.is_dir():
        return
    target.mkdir(parents=True, exist_ok=True)
    for f in [f for f in source.iterdir() if f.is_file() and not f.name.startswith(".")]:
        tmp = target / f".{f.name}.copy"
        shutil.copy2(f, tmp)
        tmp.replace(target / f.name)


def parse_setting(name: str, scale: str, text: str) -> tuple[str, list]:
    """("lr", [0.001, 0.003]) from "lr=0.001,0.003", each value of the type of experiment `name`'s setting."""
    key, sep, values = str(text).partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise ValueError(f"--set {text!r} must be SETTING=VALUE[,VALUE...], e.g. lr=0.001,0.003")
    registered = getattr(config_for(name, scale), key, None)
    if registered is None or isinstance(registered, tuple):
        raise ValueError(f"--set {text!r}: experiment {name!r} has no single-valued setting {key!r}")
    kind = type(registered)
    try:
        parsed = [v.strip().lower() in ("1", "true", "yes") if kind is bool else kind(v.strip())
                  for v in values.split(",")]
    except ValueError:
        raise ValueError(f"--set {text!r}: {key} takes {kind.__name__} values like {registered!r}") from None
    return key, parsed


def plan(names, scale: str, count: int, settings=(), **overrides) -> list[ShardJob]:
    """Every (experiment, grid point, shard) as a job; the grid is the product of the `settings` ("k=v1,v2"),
    and every point's config is checked before anything is submitted."""
    scale = check_scale(scale)
    jobs = []
    for name in names:
        axes = dict(parse_setting(name, scale, s) for s in settings)
        for values in itertools.product(*axes.values()):
            point = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items() if v is not None}
            point.update(zip(axes, values))
            full = shards.full_config(name, scale, **point)
            shards.chunk(full.seeds, 1, count)
            jobs += [ShardJob(name, scale, i, count, point) for i in range(1, count + 1)]
    return jobs


def make_executor(kind: str, logs: Path, settings: JobSettings):
    """A submitit executor: `LocalExecutor` here, or SLURM through `AutoExecutor`."""
    if kind not in EXECUTORS:
        raise ValueError(f"--executor={kind!r} is not valid; choose one of {', '.join(EXECUTORS)}")
    try:
        import submitit
    except ImportError:
        raise ImportError("the sweep needs submitit: pip install 'skiplessons[cluster]'") from None
    if kind == "local":
        ex = submitit.LocalExecutor(folder=logs)
        ex.update_parameters(timeout_min=settings.minutes)
        return ex
    ex = submitit.AutoExecutor(folder=logs, cluster="slurm")
    ex.update_parameters(timeout_min=settings.minutes, gpus_per_node=settings.gpus, cpus_per_task=settings.cpus,
                         slurm_array_parallelism=settings.parallel,
                         **({"slurm_partition": settings.partition} if settings.partition else {}))
    return ex


def sweep(names, scale: str | None, count: int, settings=(), executor: str = "local", folder=None, scratch=None,
          logs=None, job: JobSettings = JobSettings(), say=print, **overrides) -> list:
    """Run every (experiment, grid point) of the grid as `count` shards on `executor`, one line per job as it
    ends, then merge each point in the shared results folder `folder`; returns the merged results (views)."""
    scale = check_scale(scale or current_scale())
    jobs = plan(names, scale, count, settings, **overrides)
    shared = results.check_writable(folder)
    logs = Path(logs) if logs else shared / "sweep-logs"
    ex = make_executor(executor, logs, job)
    tasks = [ShardTask(j, shared, Path(scratch) if scratch else None) for j in jobs]
    failed = run_jobs(ex, tasks, executor, job.parallel, say)
    if failed:
        raise ValueError(f"{failed} of {len(tasks)} jobs failed (logs in {logs}); run the same sweep again to redo "
                         f"them (finished shards are kept)")
    points = list(dict.fromkeys((j.name, tuple(sorted(j.overrides.items()))) for j in jobs))
    merged = []
    for name, point in points:
        merged.append(shards.merge(name, scale, folder=shared, **dict(point)))
        say(f"merged {merged[-1].stored.key} from {count} shards in {shared}")
    return merged


def run_jobs(ex, tasks: list[ShardTask], executor: str, parallel: int, say) -> int:
    """Submit the tasks (SLURM: one job array; local: `parallel` processes at a time), print a line per job as
    it ends; the number of failed jobs."""
    total, waiting, running, failed, ended = len(tasks), list(tasks), [], 0, 0
    if executor == "slurm":
        with ex.batch():
            handles = [ex.submit(t) for t in waiting]
        running, waiting = list(zip(tasks, handles)), []
        say(f"submitted {total} jobs as a SLURM job array ({handles[0].job_id.split('_')[0] if handles else '-'})")
    while waiting or running:
        while waiting and len(running) < parallel and executor == "local":
            task = waiting.pop(0)
            running.append((task, ex.submit(task)))
        for task, handle in [(t, h) for t, h in running if h.done()]:
            running.remove((task, handle))
            ended += 1
            try:
                out = handle.result()
                what = "already stored" if out["reused"] else f"done in {out['wall_time_s']:.1f} s"
            except Exception as e:          # noqa: BLE001 -- any job error is reported, the others go on
                failed += 1
                what = f"FAILED ({reason(e)}); log {handle.paths.stderr}"
            say(f"[{ended}/{total}] {task.job} (job {handle.job_id}): {what}")
            sys.stdout.flush()
        time.sleep(0.5 if running else 0)
    return failed


def reason(error: Exception) -> str:
    """The last line of a failed job's traceback (submitit puts the traceback between two dashed lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    dashes = [i for i, line in enumerate(lines) if set(line) == {"-"}]
    end = dashes[1] if len(dashes) >= 2 else len(lines)
    return lines[end - 1] if end else type(error).__name__
