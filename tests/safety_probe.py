"""The probe of issue #31, re-runnable: every case it tried, and how each one ended, counted per group.

    OMP_NUM_THREADS=1 python tests/safety_probe.py            # about 3-6 minutes on 2 busy cores

Groups: `cli` (the command line and the results store, as a user meets them), `library` (every public data
function with NaN, inf, empty, wrong-shape and wrong-dtype input, from `test_library_fuzz.py`, plus the
issue's named values), `faults` (a failure at each write step of each file the package writes, kills of a
run and its resume) and `security` (planted pickles, forged results, names that escape the folder).
How a case can end:
- "refused": one ValueError/TypeError naming the argument, or one `skiplessons: error:` line (status 2);
- "recovered": a damaged file reported by name and set aside, and the right result computed anyway;
- "correct": the right result, nothing to report;
- "silent wrong": a number, a file or a result that is wrong, with no word said;
- "raw error": any other exception, or a traceback from the command line.
Nothing is written outside a temporary folder. Exit status 1 if any case ended "silent wrong" or "raw error".
"""
from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from skiplessons.curvature import SpectrumSettings
from skiplessons import data, degeneracy as dg, experiments, files, results, train  # noqa: E402
from skiplessons.__main__ import main  # noqa: E402
from skiplessons.experiments.configs import as_dict  # noqa: E402
from skiplessons.models import DeepMLPs, Member, NetSpec  # noqa: E402

COUNTS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
BAD: list[str] = []
RUN = ["run", "training", "--scale", "smoke", "--seeds", "0"]


def tally(group: str, case: str, outcome: str, detail: str = "") -> None:
    COUNTS[group][outcome] += 1
    if outcome in ("silent wrong", "raw error"):
        BAD.append(f"{group}/{case}: {outcome} {detail[:300]}")


def cli(argv, folder: Path) -> tuple[int, str, list[str]]:
    """`python -m skiplessons ARGV` in this process with results in `folder`: (status, stderr, warnings)."""
    os.environ["SKIPLESSONS_RESULTS"] = str(folder)
    err = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("always")
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
        except BaseException:               # noqa: BLE001 -- what the probe counts as a raw traceback
            code, err = -1, io.StringIO(traceback.format_exc())
    return code, err.getvalue(), [str(w.message) for w in caught]


def cli_case(case: str, argv, folder: Path, expect: str, match: str = "") -> None:
    """A command line case: "refused" needs status 2 and one line with `match`; "recovered" status 0 and a
    warning with `match`; "correct" status 0."""
    code, err, said = cli(argv, folder)
    lines = [l for l in err.strip().splitlines() if l.startswith("skiplessons: error:") or "Traceback" in l
             or "Error" in l]
    if code == -1 or "Traceback" in err:
        return tally("cli", case, "raw error", err.strip().splitlines()[-1] if err.strip() else "")
    if expect == "refused":
        ok = code == 2 and len(lines) == 1 and match in lines[0]
        return tally("cli", case, "refused" if ok else "raw error", err)
    if code != 0:
        return tally("cli", case, "raw error", err)
    if expect == "recovered":
        return tally("cli", case, "recovered" if any(match in w for w in said) else "silent wrong", str(said))
    tally("cli", case, "correct")


def summary_of(folder: Path) -> dict:
    config = as_dict(experiments.config_for("training", "smoke", seeds=[0]))
    found = results.load("training", "smoke", config, folder=folder)
    return None if found is None else {"summary": found.summary, **{k: v.tolist() for k, v in found.arrays.items()}}


def probe_cli(tmp: Path, reference: dict) -> None:
    bad_args = [
        (["run", "nope"], "unknown experiment 'nope'"),
        (["run", "training", "--scale", "huge"], "--scale='huge' is not a valid scale"),
        (["run", "training", "--scale", ""], "--scale='' is not a valid scale"),
        (RUN[:4] + ["--data", "imagenet"], "data='imagenet'"),
        (RUN[:4] + ["--data", "teacher"], "data='teacher' is not a classification set"),
        (RUN[:4] + ["--seeds", "0", "0"], "seeds=[0, 0] must be distinct"),
        (RUN[:4] + ["--seeds", "-3"], "argument --seeds: -3 is out of range"),
        (RUN[:4] + ["--seeds", "99999999999999999999"], "argument --seeds: 99999999999999999999 is out of range"),
        (RUN[:4] + ["--seeds", "x"], "argument --seeds: 'x' is not an integer"),
        (RUN[:4] + ["--seeds"], "argument --seeds: expected at least one argument"),
        (RUN + ["--wait", "-1"], "argument --wait"),
        (RUN + ["--bogus"], "unrecognized arguments: --bogus"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "required: command"),
        (["run", "../training", "--scale", "smoke"], "unknown experiment '../training'"),
        (RUN + ["--data", "cifar100", "--data-dir", str(tmp / "nowhere")], "cifar100"),
    ]
    for i, (argv, match) in enumerate(bad_args):
        cli_case(f"args-{i}", argv, tmp / f"args{i}", "refused", match)
    unwritable = tmp / "file"
    unwritable.write_text("")
    cli_case("unwritable-folder", RUN, unwritable / "res", "refused", "is not writable")

    config = as_dict(experiments.config_for("training", "smoke", seeds=[0]))
    key = results.key("training", "smoke", config)
    for kind in ("garbage", "truncated", "empty", "zeros"):      # a damaged checkpoint: reported, run goes on
        folder = tmp / f"ckpt-{kind}"
        ckpt = folder / "checkpoints" / key / "train.pt"
        ckpt.parent.mkdir(parents=True)
        files.save_tensors({"fingerprint": "x", "step": 1}, ckpt)
        real = ckpt.read_bytes()
        ckpt.write_bytes({"garbage": os.urandom(400), "truncated": real[:len(real) // 2], "empty": b"",
                          "zeros": bytes(len(real))}[kind])
        cli_case(f"checkpoint-{kind}", RUN, folder, "recovered", "set aside")
        if summary_of(folder) != reference:
            tally("cli", f"checkpoint-{kind}-numbers", "silent wrong")

    for kind, change in [("empty", lambda p: p.write_bytes(b"")), ("garbage", lambda p: p.write_bytes(os.urandom(99))),
                         ("shifted-labels", _shift_labels), ("3-features", _three_features)]:
        folder = tmp / f"cache-{kind}"
        cli(RUN, folder)                        # makes the cache and a result; the result is removed next
        for f in folder.glob("training-smoke-*"):
            f.unlink()
        (cache,) = (folder / "data").glob("mnist1d-*.npz")
        change(cache)
        cli_case(f"data-cache-{kind}", RUN, folder, "recovered", "data cache")
        if summary_of(folder) != reference:
            tally("cli", f"data-cache-{kind}-numbers", "silent wrong")

    for what, change in [("no-wall-time", lambda m: m["provenance"].pop("wall_time_s")),
                         ("empty-summary", lambda m: m.update(summary={})),
                         ("summary-a-list", lambda m: m.update(summary=[])),
                         ("no-provenance", lambda m: m.pop("provenance"))]:
        folder = tmp / f"forged-{what}"
        cli(RUN, folder)
        (jpath,) = folder.glob("training-smoke-*.json")
        meta = json.loads(jpath.read_text())
        change(meta)
        meta["checksum"] = results.checksum(meta)
        jpath.write_text(json.dumps(meta))
        cli_case(f"forged-{what}-list", ["list"], folder, "recovered", "unreadable or corrupt")
        cli_case(f"forged-{what}-run", RUN, folder, "recovered", "unreadable or corrupt")

    folder = tmp / "held-lock"
    folder.mkdir()
    from filelock import FileLock
    held = FileLock(str(folder / f".{key}.run.lock"))
    with _locked_elsewhere(held):
        cli_case("held-run-lock", RUN + ["--wait", "0.5"], folder, "refused", "gave up after 0.5 s waiting")
    cli_case("data-dir-ignored-for-mnist1d", RUN + ["--data-dir", str(tmp / "elsewhere")], tmp / "args0", "correct")
    if summary_of(tmp / "args0") != reference:
        tally("cli", "data-dir-key", "silent wrong", "--data-dir changed the key of an mnist1d run")

    # two processes of one new config, and the signals: real processes
    folder = tmp / "concurrent"
    procs = [_spawn(RUN, folder) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    for i, (p, (_, err)) in enumerate(zip(procs, outs)):
        tally("cli", f"concurrent-{i}", "correct" if p.returncode == 0 and "Traceback" not in err else "raw error", err)
    if summary_of(folder) != reference:
        tally("cli", "concurrent-numbers", "silent wrong")
    for sig, code, word in ((signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")):
        folder = tmp / f"signal-{word}"
        p = _spawn(RUN[:4] + ["--seeds", "0", "1", "2"], folder)
        while p.poll() is None and not (folder / "checkpoints").exists():
            time.sleep(0.05)
        time.sleep(0.3)
        p.send_signal(sig)
        _, err = p.communicate(timeout=300)
        lines = err.strip().splitlines()
        kept = list((folder / "checkpoints").rglob("*.pt"))
        truthful = ("checkpoints are kept" in err) == bool(kept)
        ok = p.returncode == code and len(lines) == 1 and word in lines[0] and truthful \
            and not list(folder.rglob("*.tmp"))
        tally("cli", f"signal-{word}", "refused" if ok else ("correct" if p.returncode == 0 else "raw error"), err)


def _shift_labels(cache: Path) -> None:
    with np.load(cache) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["y"] = (arrays["y"] + 1) % 10
    with open(cache, "wb") as fh:
        np.savez(fh, **arrays)


def _three_features(cache: Path) -> None:
    with np.load(cache) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["x"], arrays["x_test"] = arrays["x"][:, :3], arrays["x_test"][:, :3]
    with open(cache, "wb") as fh:
        np.savez(fh, **arrays)


@contextlib.contextmanager
def _locked_elsewhere(held):
    """Hold `held` in a child process (a lock held by this process would be re-entrant)."""
    p = subprocess.Popen([sys.executable, "-c", "import sys, time; from filelock import FileLock; "
                          "l = FileLock(sys.argv[1]); l.acquire(); print('held', flush=True); time.sleep(600)",
                          held.lock_file], stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    try:
        yield
    finally:
        p.kill()
        p.wait()


def _spawn(argv, folder: Path) -> subprocess.Popen:
    env = dict(os.environ, SKIPLESSONS_RESULTS=str(folder), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "skiplessons", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def probe_library() -> None:
    import test_library_fuzz as fz

    def run(case, call, arg):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call()
        except (ValueError, TypeError) as e:
            named = arg is None or re.search(rf"(?<![A-Za-z_]){re.escape(arg)}(?![A-Za-z_])", str(e))
            return tally("library", case, "refused" if named else "raw error", str(e))
        except Exception as e:              # noqa: BLE001 -- a raw error is what the probe counts
            return tally("library", case, "raw error", f"{type(e).__name__}: {e}")
        tally("library", case, "silent wrong", "accepted")

    for name, call, valid, arg, skip in fz.CASES:
        for kind in fz.VARIANTS:
            if kind not in skip:
                run(f"{name}-{kind}", lambda: call(fz.variant(valid, kind)), arg)
    marks = fz.test_other_bad_values_are_named.pytestmark
    (param,) = [m for m in marks if m.name == "parametrize"]
    for call, match in param.args[1]:
        run(f"named-{match[:30]}", call, None)


def probe_faults(tmp: Path) -> None:
    """A failure (full disk at the write, at the fsync, at the rename; Ctrl-C at the rename) while each kind
    of file is written: the previous file must still read, nothing half-written may be left, and the next
    write must succeed."""
    writers = {
        "result": lambda folder, v: results.save("demo", "smoke", {"a": 1}, {"v": v}, {"c": np.arange(3.0) + v},
                                                 results.provenance("cpu", 1, [0]), folder=folder),
        "checkpoint": lambda folder, v: files.save_tensors({"v": torch.tensor(v)}, folder / "train.pt"),
        "measured": lambda folder, v: files.save_tensors({"fingerprint": "f", "measured": {}}, folder / "m.pt"),
        "data-cache": lambda folder, v: data.mnist1d(200, seed=int(v) + 1, cache=folder),
    }
    readers = {
        "result": lambda folder: results.load("demo", "smoke", {"a": 1}, folder=folder) is not None,
        "checkpoint": lambda folder: bool(files.load_tensors(folder / "train.pt")),
        "measured": lambda folder: bool(files.load_tensors(folder / "m.pt")),
        "data-cache": lambda folder: all(len(list(folder.glob(f"mnist1d-200-{s}-*.npz"))) == 1 for s in (1,)),
    }
    faults = {"full-disk-at-write": ("write", OSError(28, "No space left on device")),
              "full-disk-at-fsync": ("fsync", OSError(28, "No space left on device")),
              "failure-at-rename": ("replace", OSError(5, "Input/output error")),
              "ctrl-c-at-rename": ("replace", KeyboardInterrupt())}
    for what, write in writers.items():
        for fault, (step, exc) in faults.items():
            folder = tmp / f"fault-{what}-{fault}"
            folder.mkdir()
            write(folder, 0.0)
            try:
                with _failing(step, exc):
                    write(folder, 1.0)
                outcome = "silent wrong"            # the write should have failed
            except (OSError, KeyboardInterrupt):
                outcome = "recovered"
            except Exception as e:                  # noqa: BLE001
                outcome = "raw error"
                tally("faults", f"{what}-{fault}", outcome, repr(e))
                continue
            left = [p.name for p in folder.rglob("*.tmp")]
            if left or not readers[what](folder):
                outcome = "silent wrong"
            write(folder, 2.0)
            tally("faults", f"{what}-{fault}", outcome, f"left {left}")

    # SIGKILL of a training run at three moments, then the same command: the numbers of an uninterrupted run
    whole = tmp / "fault-whole"
    _spawn(RUN[:4] + ["--seeds", "0", "1"], whole).communicate(timeout=900)
    reference = _arrays(whole)
    for delay in (0.5, 2.0, 4.0):
        folder = tmp / f"fault-kill-{delay}"
        p = _spawn(RUN[:4] + ["--seeds", "0", "1"], folder)
        while p.poll() is None and not (folder / "checkpoints").exists():
            time.sleep(0.05)
        time.sleep(delay)
        p.kill()
        p.communicate()
        _, err = _spawn(RUN[:4] + ["--seeds", "0", "1"], folder).communicate(timeout=900)
        got = _arrays(folder)
        ok = got is not None and got.keys() == reference.keys() and all(
            np.array_equal(got[k], reference[k], equal_nan=got[k].dtype.kind == "f") for k in got)
        tally("faults", f"sigkill-after-{delay}s", "recovered" if ok else "silent wrong", err)


def _arrays(folder: Path) -> dict | None:
    found = [results.read(j) for j in folder.glob("training-smoke-*.json")]
    return found[0].arrays if found and found[0] is not None else None


@contextlib.contextmanager
def _failing(step: str, exc: BaseException):
    """Make the first `step` (os.write through a file object, os.fsync or os.replace) raise `exc`."""
    real = {"fsync": os.fsync, "replace": os.replace}
    if step == "write":
        real_fdopen = os.fdopen

        class Full:
            """A file on a full disk: every write fails."""

            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *err):
                self.f.close()

            def write(self, b):
                raise exc

            def __getattr__(self, name):
                return getattr(self.f, name)

        def fdopen(fd, mode="r", *a, **kw):
            f = real_fdopen(fd, mode, *a, **kw)
            return Full(f) if "w" in mode else f

        os.fdopen = fdopen
        try:
            yield
        finally:
            os.fdopen = real_fdopen
        return

    def fail(*a, **kw):
        raise exc

    setattr(os, step, fail)
    try:
        yield
    finally:
        setattr(os, step, real[step])


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def probe_security(tmp: Path) -> None:
    marker = tmp / "payload-ran"

    def pickle_bytes(obj) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    def check(case):
        tally("security", case, "silent wrong" if marker.exists() else "refused")
        marker.unlink(missing_ok=True)

    config = as_dict(experiments.config_for("training", "smoke", seeds=[0]))
    key = results.key("training", "smoke", config)
    for name in ("train.pt", "train-measured.pt"):
        folder = tmp / f"planted-{name}"
        path = folder / "checkpoints" / key / name
        path.parent.mkdir(parents=True)
        path.write_bytes(pickle_bytes(_Payload(marker)))
        cli(RUN, folder)
        check(f"cli-{name}")
    d = data.mnist1d(200, seed=3)
    nets = DeepMLPs(NetSpec(40, 10, depth=2, width=4), [Member("plain", 0)])
    folder = tmp / "planted-tracked"
    folder.mkdir()
    (folder / "t-measured.pt").write_bytes(pickle_bytes(_Payload(marker)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dg.train_tracked(nets, d, 4, [0, 4], d.x_train[:30], d.y_train[:30],
                         SpectrumSettings(method="dense", dense_max=5000), checkpoint=folder / "t.pt",
                         batch_size=16, record_every=2)
    check("train_tracked-measured")
    folder = tmp / "planted-train"
    folder.mkdir()
    (folder / "x.pt").write_bytes(pickle_bytes({"fingerprint": "f", "net": _Payload(marker)}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train.train(nets, d, 2, batch_size=16, checkpoint=folder / "x.pt")
    check("train-checkpoint")

    folder = tmp / "planted-cache"
    data.mnist1d(200, seed=3, cache=folder)
    (cache,) = folder.glob("*.npz")
    with open(cache, "wb") as fh:
        np.savez(fh, x=np.array([_Payload(marker)], dtype=object), meta=np.array("{}"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data.mnist1d(200, seed=3, cache=folder)
    check("data-cache")

    folder = tmp / "planted-result"
    stored = results.save("demo", "smoke", {"a": 1}, {"x": 1.0}, {"c": np.arange(3.0)},
                          results.provenance("cpu", 1, [0]), folder=folder)
    meta = json.loads(Path(stored.source).read_text())
    buf = io.BytesIO()
    np.savez(buf, c=np.array([_Payload(marker)], dtype=object))
    (folder / meta["arrays_file"]).write_bytes(buf.getvalue())
    import hashlib
    meta["arrays_sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    meta["checksum"] = results.checksum(meta)
    Path(stored.source).write_text(json.dumps(meta))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results.load("demo", "smoke", {"a": 1}, folder=folder)
    check("result-arrays")

    meta["arrays_file"] = "../../outside.npz"          # a result pointing outside its folder
    meta["checksum"] = results.checksum(meta)
    Path(stored.source).write_text(json.dumps(meta))
    (tmp / "outside.npz").write_bytes(buf.getvalue())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = results.load("demo", "smoke", {"a": 1}, folder=folder)
    tally("security", "arrays-file-outside", "refused" if found is None and not marker.exists() else "silent wrong")

    for name in ("../escape", "a/b", ".."):
        try:
            results.save(name, "smoke", {"a": 1}, {"x": 1.0}, {}, results.provenance("cpu", 1, [0]),
                         folder=tmp / "names")
            tally("security", f"save-name-{name}", "silent wrong", "written")
        except ValueError:
            tally("security", f"save-name-{name}", "refused")


def main_probe() -> int:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        reference_folder = tmp / "reference"
        cli(RUN, reference_folder)
        reference = summary_of(reference_folder)
        for group, fn in (("library", probe_library), ("security", lambda: probe_security(tmp)),
                          ("faults", lambda: probe_faults(tmp)), ("cli", lambda: probe_cli(tmp, reference))):
            t0 = time.monotonic()
            fn()
            print(f"{group:9s} {sum(COUNTS[group].values()):4d} cases: " +
                  ", ".join(f"{n} {k}" for k, n in sorted(COUNTS[group].items())) +
                  f"  ({time.monotonic() - t0:.0f} s)", flush=True)
    for line in BAD:
        print("  " + line)
    return 1 if BAD else 0


if __name__ == "__main__":
    sys.exit(main_probe())
