"""Experiment results on disk: JSON (summary, config, provenance) plus NPZ (arrays), written atomically.

Results live in `results/` of the repository (found from the working directory, overridable with
`SKIPLESSONS_RESULTS`), else in `~/.cache/skiplessons/results`. Only `paper`-scale results are committed;
`smoke` and `default` files are caches (git-ignored). A file whose config differs from the one asked for, or
that is unreadable, or whose arrays do not match the checksum in its JSON, is reported and never used.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import platform
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Result:
    """A stored experiment: what was run (config), what came out (summary, arrays) and where/when (provenance)."""

    name: str
    scale: str
    config: dict
    summary: dict
    arrays: dict
    provenance: dict


def results_dir() -> Path:
    """`SKIPLESSONS_RESULTS`, else `results/` in the enclosing skiplessons checkout, else a user cache."""
    if os.environ.get("SKIPLESSONS_RESULTS"):
        return Path(os.environ["SKIPLESSONS_RESULTS"])
    for folder in [Path.cwd(), *Path.cwd().parents]:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "skiplessons"' in pyproject.read_text():
            return folder / "results"
    return Path.home() / ".cache" / "skiplessons" / "results"


def config_hash(config: dict) -> str:
    """A stable hash of a JSON-able config."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _git_commit() -> str:
    """HEAD of the checkout (with "-dirty" for uncommitted changes), or `SKIPLESSONS_COMMIT` where the code
    runs from a copy without its git history (e.g. a GPU machine that received only the working tree)."""
    if os.environ.get("SKIPLESSONS_COMMIT"):
        return os.environ["SKIPLESSONS_COMMIT"].strip()
    try:
        root = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def peak_memory() -> dict:
    """The run's peak memory: CUDA memory allocated by torch when CUDA is in use (reset by
    `experiments.load_or_run` before each run), else the process's peak resident set size."""
    import resource

    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return {"peak_memory_bytes": int(torch.cuda.max_memory_allocated()), "peak_memory_of": "cuda allocated"}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if platform.system() == "Darwin" else 1024)
    return {"peak_memory_bytes": int(rss), "peak_memory_of": "process peak RSS"}


def provenance(device: str, wall_time: float, seeds) -> dict:
    """Where and when a result was computed, with what software, and its peak memory."""
    import torch

    from . import __version__

    return {
        "commit": _git_commit(),
        "skiplessons": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "device": device,
        "wall_time_s": round(float(wall_time), 3),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seeds": list(seeds),
        "host": platform.machine(),
        **peak_memory(),
    }


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def paths(name: str, scale: str, folder: Path | None = None) -> tuple[Path, Path]:
    folder = Path(folder) if folder else results_dir()
    return folder / f"{name}-{scale}.json", folder / f"{name}-{scale}.npz"


def save(name: str, scale: str, config: dict, summary: dict, arrays: dict, prov: dict, folder=None) -> Result:
    """Write the arrays, then the JSON that points at them by checksum; each by write-to-temp and rename."""
    jpath, npath = paths(name, scale, folder)
    jpath.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    blob = buf.getvalue()
    _atomic_write(npath, blob)
    meta = {"name": name, "scale": scale, "config": config, "config_hash": config_hash(config),
            "summary": summary, "provenance": prov, "arrays_sha256": hashlib.sha256(blob).hexdigest(),
            "arrays": sorted(arrays)}
    _atomic_write(jpath, json.dumps(meta, indent=1, sort_keys=True, default=_jsonable).encode())
    return Result(name, scale, config, summary, {k: np.asarray(v) for k, v in arrays.items()}, prov)


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def load(name: str, scale: str, config: dict | None = None, folder=None) -> Result | None:
    """The stored result, or None if there is none, it is corrupt (with a warning), or its config differs
    from `config` (silently: the caller recomputes)."""
    jpath, npath = paths(name, scale, folder)
    if not jpath.is_file():
        return None
    try:
        meta = json.loads(jpath.read_text())
        blob = npath.read_bytes()
        if hashlib.sha256(blob).hexdigest() != meta["arrays_sha256"]:
            raise ValueError("arrays do not match the checksum recorded in the JSON")
        with np.load(io.BytesIO(blob)) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        warnings.warn(f"stored result {jpath.name} is unreadable or corrupt ({e}); recomputing", stacklevel=2)
        return None
    if config is not None and meta.get("config_hash") != config_hash(config):
        return None  # made with other settings: the caller recomputes
    return Result(name, scale, meta["config"], meta["summary"], arrays, meta["provenance"])


def stored(folder=None) -> list[Result]:
    """Every readable result in the results folder (for the reproduction page)."""
    folder = Path(folder) if folder else results_dir()
    out = []
    for jpath in sorted(folder.glob("*.json")):
        name, _, scale = jpath.stem.rpartition("-")
        r = load(name, scale, folder=folder)
        if r is not None:
            out.append(r)
    return out
