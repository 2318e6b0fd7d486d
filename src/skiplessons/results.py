"""Experiment results on disk, keyed by experiment, scale and config hash (chapter 0; every chapter that trains).

A result is `NAME-SCALE-HASH.json` (config, summary, provenance, checksums) plus the arrays in
`NAME-SCALE-HASH.SHA.npz`, named by their own checksum. The JSON is the unit of commit: the arrays are written
first under a new name, then the JSON is replaced atomically, all under a file lock, so a crash at any point
leaves the previous good result readable and two writers never leave a mixed pair (on network file systems the
lock is a soft lock: `skiplessons.locks`). A run with other settings
has another HASH and is stored beside, never over, an existing result.

Two folders are searched, in this order:
- the writable folder `results_dir()`: the `folder` argument, else `SKIPLESSONS_RESULTS`, else `results/` of
  the enclosing skiplessons checkout, else `~/.cache/skiplessons/results`;
- the results shipped with the package (`skiplessons/paper_results`, read with `importlib.resources`), so an
  installed package (Colab) has the committed paper-scale results. Runs never write there.
A file that is unreadable, whose arrays or JSON do not match their checksums, or whose config does not match
its hash, is reported with a warning and never used.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.resources
import io
import json
import os
import platform
import re
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import atomic_write, remove_leftovers, wait_for
from .locks import file_lock

#: the package folder holding the committed paper-scale results (package data)
SHIPPED = "paper_results"
_TYPES = {"name": str, "scale": str, "config": dict, "config_hash": str, "summary": dict, "provenance": dict,
          "arrays_file": str, "arrays_sha256": str, "checksum": str}
#: the provenance fields every result has (`provenance`), with their types
_PROVENANCE = {"commit": str, "device": str, "wall_time_s": (int, float), "date": str, "seeds": list}


@dataclass
class Result:
    """A stored experiment: what was run (config), what came out (summary, arrays) and where/when (provenance)."""

    name: str
    scale: str
    config: dict
    summary: dict
    arrays: dict
    provenance: dict
    source: str = ""      #: the JSON file it was read from or written to ("" when not stored)

    @property
    def key(self) -> str:
        return key(self.name, self.scale, self.config)


def results_dir() -> Path:
    """The writable results folder: `SKIPLESSONS_RESULTS`, else `results/` in the enclosing skiplessons
    checkout, else a user cache."""
    if os.environ.get("SKIPLESSONS_RESULTS"):
        return Path(os.environ["SKIPLESSONS_RESULTS"])
    checkout = _checkout()
    return checkout / "results" if checkout else Path.home() / ".cache" / "skiplessons" / "results"


def _checkout() -> Path | None:
    """The enclosing skiplessons checkout of the working folder, or None (an installed package)."""
    for folder in [Path.cwd(), *Path.cwd().parents]:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "skiplessons"' in pyproject.read_text():
            return folder
    return None


def shown_dir(folder=None) -> str:
    """A results folder (default `results_dir()`) as a page names it: `results/` of the checkout, or `~/...`
    under the home folder, so that no page shows where the machine that built it keeps its files."""
    folder = Path(folder or results_dir()).resolve()
    for base, name in ((_checkout(), ""), (Path.home(), "~/")):
        if base is not None and folder.is_relative_to(base.resolve()):
            return f"{name}{folder.relative_to(base.resolve()).as_posix()}/"
    return str(folder)


def shipped_dir() -> Path:
    """The folder of results shipped with the package (read-only for the library)."""
    return Path(str(importlib.resources.files("skiplessons") / SHIPPED))


def folders(folder=None) -> list[Path]:
    """Where results are looked up: the writable folder (`folder` or `results_dir()`), then the shipped one."""
    out = [Path(folder) if folder else results_dir()]
    return out + [f for f in [shipped_dir()] if f.resolve() != out[0].resolve()]


#: config fields that say where an input is, not what is computed: stored with the config, left out of its hash
LOCATIONS = ("data_dir",)


def config_hash(config: dict) -> str:
    """A stable hash of a JSON-able config (a dict: a dataclass config goes through `configs.as_dict` first),
    less its `LOCATIONS`: the same computation read from another folder is the same result."""
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}; pass configs.as_dict(config)")
    what = {k: v for k, v in config.items() if k not in LOCATIONS}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def key(name: str, scale: str, config: dict) -> str:
    """The file stem that identifies a result: `NAME-SCALE-HASH`."""
    return f"{name}-{scale}-{config_hash(config)}"


def checksum(meta: dict) -> str:
    """The checksum of everything in the JSON but itself (summary, config, provenance, arrays' checksum)."""
    body = {k: v for k, v in meta.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=_jsonable).encode()).hexdigest()


def _git_commit() -> str:
    """The commit of the code that runs: `SKIPLESSONS_COMMIT` where set (e.g. a GPU machine that received only
    the working tree); else, for a package pip installed from git (the notebooks' first cell on Colab), the
    commit pip recorded in its `direct_url.json`; else HEAD of the checkout (with "-dirty" for uncommitted
    changes); else "unknown" (e.g. a wheel)."""
    import importlib.metadata

    if os.environ.get("SKIPLESSONS_COMMIT"):
        return os.environ["SKIPLESSONS_COMMIT"].strip()
    root = Path(__file__).resolve().parent
    try:
        dist = importlib.metadata.distribution("skiplessons")
        origin = json.loads(dist.read_text("direct_url.json") or "{}")
        ours = Path(dist.locate_file("skiplessons")).resolve() == root      # the installation that runs
        if ours and origin.get("vcs_info", {}).get("commit_id"):
            return origin["vcs_info"]["commit_id"]
    except (importlib.metadata.PackageNotFoundError, ValueError):
        pass
    try:
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


def check_writable(folder=None) -> Path:
    """Create the results folder if needed and prove it takes a file; raise a ValueError naming the folder
    otherwise. Called before an experiment's compute, so a bad folder fails in a second, not after hours."""
    folder = Path(folder) if folder else results_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as e:
        raise ValueError(f"results folder {folder} is not writable ({e.strerror or e}); "
                         f"set SKIPLESSONS_RESULTS to a writable folder") from None
    return folder


def lock(folder: Path, stem: str):
    """The inter-process lock of one result, beside it: an OS lock, or a soft lock on network file systems
    (`skiplessons.locks`)."""
    return file_lock(folder, stem)


def check_name(name, what: str = "name") -> str:
    """`name` if it can be part of a file name in the results folder, else a ValueError naming `what`: letters,
    digits, "_" and "-", not starting with "-" (no path separators, no "..")."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", name):
        raise ValueError(f"{what}={name!r} must be letters, digits, '_' and '-' (no path separators or '..')")
    return name


def validate(meta) -> dict:
    """`meta` if it has the fields and types of a result's JSON, else a ValueError saying which are missing or
    of the wrong type (the one schema check of a result, on save and on read)."""
    if not isinstance(meta, dict):
        raise ValueError(f"not a result file (a JSON {type(meta).__name__}, not an object)")
    missing = [k for k in _TYPES if k not in meta]
    prov = meta.get("provenance")
    missing += [f"provenance.{k}" for k in _PROVENANCE if isinstance(prov, dict) and k not in prov]
    if missing:
        raise ValueError(f"not a result file (missing fields {', '.join(missing)})")
    wrong = [k for k, kind in _TYPES.items() if not isinstance(meta[k], kind)]
    wrong += [f"provenance.{k}" for k, kind in _PROVENANCE.items() if not isinstance(prov[k], kind)]
    if wrong:
        raise ValueError(f"not a result file (fields of the wrong type: {', '.join(wrong)})")
    if not meta["summary"]:
        raise ValueError("not a result file (its summary is empty)")
    check_name(meta["name"]), check_name(meta["scale"], "scale")
    return meta


def save(name: str, scale: str, config: dict, summary: dict, arrays: dict, prov: dict, folder=None) -> Result:
    """Store a result under `NAME-SCALE-HASH` in the writable folder (module docstring: the write order)."""
    check_name(name), check_name(scale, "scale")
    folder = check_writable(folder)
    stem = key(name, scale, config)
    buf = io.BytesIO()
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    np.savez_compressed(buf, **arrays)
    blob = buf.getvalue()
    sha = hashlib.sha256(blob).hexdigest()
    npath, jpath = folder / f"{stem}.{sha[:16]}.npz", folder / f"{stem}.json"
    meta = {"name": name, "scale": scale, "config": config, "config_hash": config_hash(config),
            "summary": summary, "provenance": prov, "arrays_file": npath.name, "arrays_sha256": sha,
            "arrays": sorted(arrays)}
    meta = json.loads(json.dumps(meta, default=_jsonable))        # what will be read back
    meta["checksum"] = checksum(meta)
    validate(meta)
    text = json.dumps(meta, indent=1, sort_keys=True).encode()
    with wait_for(lock(folder, stem), f"the result {stem}"):
        remove_leftovers(folder / stem)          # of writes of this result that were killed
        had = npath.is_file()
        try:
            atomic_write(npath, blob)
            atomic_write(jpath, text)
        except BaseException:
            if not had:
                with contextlib.suppress(OSError):
                    npath.unlink()
            raise
        for stale in folder.glob(f"{stem}.*.npz"):        # arrays of the result this one replaced
            if stale.name != npath.name:
                with contextlib.suppress(OSError):
                    stale.unlink()
    return Result(name, scale, meta["config"], meta["summary"], arrays, meta["provenance"], str(jpath))


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def read(jpath: Path) -> Result | None:
    """The result stored in `jpath`, or None with a warning when it is unreadable or fails a check."""
    jpath = Path(jpath)
    try:
        meta = validate(json.loads(jpath.read_text()))
        if meta["checksum"] != checksum(meta):
            raise ValueError("its content does not match the checksum recorded in it")
        if config_hash(meta["config"]) != meta["config_hash"] or not jpath.stem.endswith(meta["config_hash"]):
            raise ValueError("its config does not match its config hash")
        blob = (jpath.parent / Path(meta["arrays_file"]).name).read_bytes()
        if hashlib.sha256(blob).hexdigest() != meta["arrays_sha256"]:
            raise ValueError("arrays do not match the checksum recorded in the JSON")
        with np.load(io.BytesIO(blob)) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, TypeError, KeyError, json.JSONDecodeError) as e:
        warnings.warn(f"stored result {jpath} is unreadable or corrupt ({e}); recompute it", stacklevel=3)
        return None
    return Result(meta["name"], meta["scale"], meta["config"], meta["summary"], arrays, meta["provenance"],
                  str(jpath))


def load(name: str, scale: str, config: dict | None = None, folder=None) -> Result | None:
    """The stored result of `name` at `scale` with exactly `config` (first in the writable folder, then the
    shipped one), or None. Without `config`: the most recent readable one of that name and scale."""
    if config is not None:
        stem = key(name, scale, config)
        for f in folders(folder):
            if (f / f"{stem}.json").is_file():
                found = read(f / f"{stem}.json")
                if found is not None:
                    return found
        return None
    found = [r for r in stored(folder) if r.name == name and r.scale == scale]
    return max(found, key=lambda r: r.provenance.get("date", ""), default=None)


def stored(folder=None) -> list[Result]:
    """Every readable result in the writable and the shipped folders (for `list` and the reproduction page)."""
    out = []
    for f in folders(folder):
        if f.is_dir():
            out += [r for r in map(read, sorted(f.glob("*.json"))) if r is not None]
    return out
