"""Nothing the package reads from disk runs code or poisons a result (issue #31): planted pickles are refused
without running, damaged files of every kind are set aside with one warning naming them and the run goes on,
a tampered data cache is regenerated, two runs of one config both succeed, and stored results with missing
fields are "not a result"."""
import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from skiplessons.curvature import SpectrumSettings
from skiplessons import data, degeneracy as dg, files, results, train
from skiplessons.models import DeepMLPs, Member, NetSpec


class Payload:
    """Unpickling this creates the file `marker`: the proof that a load ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickled(marker, wrap=lambda p: p) -> bytes:
    """The bytes of a torch checkpoint that holds the payload (what `torch.save` of an object would write)."""
    buf = io.BytesIO()
    torch.save(wrap(Payload(marker)), buf)
    return buf.getvalue()


D = data.mnist1d(n_samples=200, seed=3)
X, Y = D.x_train[:40], D.y_train[:40]
SETTINGS = SpectrumSettings(method="dense", dense_max=2000)


def nets():
    return DeepMLPs(NetSpec(D.d_in, D.n_classes, depth=2, width=4), [Member("plain", 0), Member("residual", 1)])


def run_train(checkpoint=None):
    return train.train(nets(), D, 12, batch_size=32, record_every=4, checkpoint_every=5,
                       checkpoint=checkpoint).arrays()


def run_tracked(checkpoint=None):
    hist, tracked = dg.train_tracked(nets(), D, 12, [0, 6, 12], X, Y, SETTINGS, checkpoint=checkpoint,
                                     batch_size=32, record_every=4, checkpoint_every=5)
    return {**hist.arrays(), **tracked.arrays("m_")}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def good_checkpoint(path):
    """A real checkpoint of `run_train` at step 5, written by an interrupted run."""
    class Stop(Exception):
        pass

    def stop(step, net):
        if step == 6:
            raise Stop

    with pytest.raises(Stop):
        train.train(nets(), D, 12, batch_size=32, record_every=4, checkpoint_every=5, checkpoint=path,
                    callback=stop)
    return path.read_bytes()


def damaged(kind: str, real: bytes) -> bytes:
    return {"garbage": os.urandom(300), "truncated": real[:len(real) // 2], "empty": b""}[kind]


@pytest.mark.parametrize("wrap", [lambda p: p, lambda p: {"fingerprint": "x", "step": 1, "net": p}],
                         ids=["bare", "inside-a-checkpoint"])
def test_a_planted_training_checkpoint_runs_no_code(tmp_path, wrap):
    marker, ckpt = tmp_path / "pwned", tmp_path / "train.pt"
    ckpt.write_bytes(pickled(marker, wrap))
    with pytest.warns(RuntimeWarning, match=f"{ckpt} is not a file this package wrote.*set aside"):
        got = run_train(ckpt)
    assert not marker.exists(), "the payload ran"
    assert same(got, run_train()), "the run started afresh"
    assert len(list(tmp_path.glob("train.pt.bad-*"))) == 1, "set aside, not deleted"


def test_a_planted_measurement_file_runs_no_code(tmp_path):
    marker, ckpt = tmp_path / "pwned", tmp_path / "train.pt"
    (tmp_path / "train-measured.pt").write_bytes(pickled(marker))
    with pytest.warns(RuntimeWarning, match="train-measured.pt is not a file this package wrote"):
        got = run_tracked(ckpt)
    assert not marker.exists(), "the payload ran"
    assert same(got, run_tracked())


def test_a_planted_data_cache_or_result_runs_no_code(tmp_path):
    """npz files are read with allow_pickle=False: an object array in a cache or in a result's arrays is refused."""
    marker = tmp_path / "pwned"
    fresh = data.mnist1d(n_samples=200, seed=3, cache=tmp_path)
    (cache,) = tmp_path.glob("mnist1d-*.npz")
    buf = io.BytesIO()
    np.savez(buf, x=np.array([Payload(marker)], dtype=object), y=np.zeros(3), meta=np.array("{}"),
             x_test=np.zeros(3), y_test=np.zeros(3))
    cache.write_bytes(buf.getvalue())
    with pytest.warns(RuntimeWarning, match=f"data cache {cache} is damaged"):
        again = data.mnist1d(n_samples=200, seed=3, cache=tmp_path)
    assert torch.equal(again.x_train, fresh.x_train) and not marker.exists()

    stored = results.save("demo", "smoke", {"a": 1}, {"x": 1.0}, {"c": np.arange(3.0)},
                          results.provenance("cpu", 1.0, [0]), folder=tmp_path)
    meta = json.loads(open(stored.source).read())
    (tmp_path / meta["arrays_file"]).write_bytes(buf.getvalue())      # a forger who also fixes both checksums
    meta["arrays_sha256"] = __import__("hashlib").sha256(buf.getvalue()).hexdigest()
    meta["checksum"] = results.checksum(meta)
    open(stored.source, "w").write(json.dumps(meta))
    with pytest.warns(UserWarning, match="unreadable or corrupt"):
        assert results.load("demo", "smoke", {"a": 1}, folder=tmp_path) is None
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty"])
def test_a_damaged_training_checkpoint_is_set_aside_and_the_run_goes_on(tmp_path, kind):
    ckpt = tmp_path / "train.pt"
    ckpt.write_bytes(damaged(kind, good_checkpoint(ckpt)))
    with pytest.warns(RuntimeWarning, match=f"{ckpt}.*set aside as train.pt.bad-") as caught:
        got = run_train(ckpt)
    assert len([w for w in caught if "set aside" in str(w.message)]) == 1
    assert same(got, run_train())


def test_a_checkpoint_of_other_nets_is_refused_with_the_nets_untouched(tmp_path):
    """Well-formed, same fingerprint, but parameters of another shape: refused before any parameter changes."""
    ckpt = tmp_path / "train.pt"
    good_checkpoint(ckpt)
    state = torch.load(ckpt, weights_only=True)
    state["net"] = {k: torch.zeros(3) for k in state["net"]}
    files.save_tensors(state, ckpt)
    with pytest.warns(RuntimeWarning, match="its parameters do not fit these nets"):
        got = run_train(ckpt)
    assert same(got, run_train())


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty"])
def test_a_damaged_measurement_file_is_set_aside_and_measured_again(tmp_path, kind):
    """The training checkpoint is past the lost measurements, so training starts over: same numbers."""
    ckpt, measured = tmp_path / "train.pt", tmp_path / "train-measured.pt"
    whole = run_tracked(ckpt)                       # leaves its checkpoint at the last step and its measurements
    measured.write_bytes(damaged(kind, measured.read_bytes()))
    with pytest.warns(RuntimeWarning, match="train-measured.pt"):
        got = run_tracked(ckpt)
    assert same(got, whole)


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty"])
def test_a_damaged_data_cache_is_regenerated(tmp_path, kind):
    fresh = data.mnist1d(n_samples=200, seed=3, cache=tmp_path)
    (cache,) = tmp_path.glob("mnist1d-*.npz")
    cache.write_bytes(damaged(kind, cache.read_bytes()))
    with pytest.warns(RuntimeWarning, match=f"data cache {cache} is damaged.*set aside"):
        again = data.mnist1d(n_samples=200, seed=3, cache=tmp_path)
    assert torch.equal(again.y_train, fresh.y_train) and torch.equal(again.x_test, fresh.x_test)
    assert data.mnist1d(n_samples=200, seed=3, cache=tmp_path).d_in == 40, "the new cache reads back"


def rewrite_cache(path, change, fix_checksum=False):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    if fix_checksum:
        meta = json.loads(str(arrays["meta"]))
        meta["sha256"] = data._arrays_sha256(arrays)
        arrays["meta"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize("change, fix, why", [
    (lambda a: a.update(y=(a["y"] + 1) % 10), False, "checksum"),
    (lambda a: a.update(y=a["y"] + 1), True, "labels outside"),
    (lambda a: a.update(x=a["x"][:, :3]), True, r"not float \(160, 40\)"),
    (lambda a: a.update(x=a["x"].astype(int)), True, "not float"),
    (lambda a: a.update(x=np.where(a["x"] > 2, np.nan, a["x"])), True, "NaN or inf"),
    (lambda a: a.update(meta=np.array(json.dumps({"settings": {"n_samples": 1}}))), False, "other settings"),
    (lambda a: a.pop("meta"), False, "not the arrays and settings"),
], ids=["shifted-labels", "labels-out-of-range", "3-features", "int-features", "nan", "other-settings", "no-meta"])
def test_a_tampered_data_cache_is_detected(tmp_path, change, fix, why):
    fresh = data.mnist1d(n_samples=200, seed=3, cache=tmp_path)
    (cache,) = tmp_path.glob("mnist1d-*.npz")
    rewrite_cache(cache, change, fix)
    with pytest.warns(RuntimeWarning, match=why):
        again = data.mnist1d(n_samples=200, seed=3, cache=tmp_path)
    assert torch.equal(again.y_train, fresh.y_train) and torch.equal(again.x_train, fresh.x_train)


def test_leftovers_of_killed_writes_are_removed_by_the_next_write(tmp_path):
    stem = results.key("demo", "smoke", {"a": 1})
    left = [tmp_path / f".{stem}.json.abc123.tmp", tmp_path / f".{stem}.0123456789abcdef.npz.def456.tmp"]
    for f in left:
        f.write_bytes(b"half a file")
    other = tmp_path / ".other-smoke-0123456789abcdef.json.x.tmp"       # another result's: not ours to remove
    other.write_bytes(b"")
    results.save("demo", "smoke", {"a": 1}, {"x": 1.0}, {"c": np.arange(3.0)}, results.provenance("cpu", 1, [0]),
                 folder=tmp_path)
    assert not any(f.exists() for f in left) and other.exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "", ".hidden", "-x", 3])
def test_save_refuses_names_that_are_not_plain(tmp_path, name):
    with pytest.raises(ValueError, match=r"name=.* must be letters, digits, '_' and '-'"):
        results.save(name, "smoke", {"a": 1}, {"x": 1.0}, {}, results.provenance("cpu", 1, [0]),
                     folder=tmp_path / "res")
    assert not list(tmp_path.rglob("*.json")), "nothing written, inside or outside the folder"


def forged(tmp_path, change):
    """A stored result edited by `change(meta)`, with its checksum recomputed (so only the schema can catch it)."""
    stored = results.save("demo", "smoke", {"a": 1}, {"x": 1.0}, {"c": np.arange(3.0)},
                          results.provenance("cpu", 1.0, [0]), folder=tmp_path)
    meta = json.loads(open(stored.source).read())
    change(meta)
    meta["checksum"] = results.checksum(meta)
    open(stored.source, "w").write(json.dumps(meta))
    return stored.source


@pytest.mark.parametrize("change, why", [
    (lambda m: m["provenance"].pop("wall_time_s"), "missing fields provenance.wall_time_s"),
    (lambda m: m.update(summary={}), "its summary is empty"),
    (lambda m: m.update(summary=[1]), "wrong type: summary"),
    (lambda m: m["provenance"].update(device=None), "wrong type: provenance.device"),
    (lambda m: m.update(name="../x"), "name='../x'"),
], ids=["no-wall-time", "empty-summary", "list-summary", "null-device", "bad-name"])
def test_a_result_with_missing_or_mistyped_fields_is_not_a_result(tmp_path, change, why):
    source = forged(tmp_path, change)
    with pytest.warns(UserWarning, match=f"{source} is unreadable or corrupt .*{why}"):
        assert results.load("demo", "smoke", {"a": 1}, folder=tmp_path) is None
    env = dict(os.environ, SKIPLESSONS_RESULTS=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "skiplessons", "list"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "Traceback" not in out.stderr and "KeyError" not in out.stderr, out.stderr


def test_save_refuses_an_empty_summary(tmp_path):
    with pytest.raises(ValueError, match="summary is empty"):
        results.save("demo", "smoke", {"a": 1}, {}, {}, results.provenance("cpu", 1, [0]), folder=tmp_path)


def test_a_held_lock_is_waited_for_with_a_line_and_a_timeout(tmp_path, capsys):
    from filelock import FileLock

    from skiplessons import experiments

    held = FileLock(str(tmp_path / ".x.lock"))
    held.acquire()
    with pytest.raises(TimeoutError, match=r"gave up after 0.2 s waiting for the thing: another process holds"):
        with files.wait_for(FileLock(str(tmp_path / ".x.lock")), "the thing", timeout=0.2):
            pass
    assert "waiting for the thing: another process holds" in capsys.readouterr().err
    config = experiments.configs.as_dict(experiments.config_for("training", "smoke"))
    stem = results.key("training", "smoke", config)
    run_lock = FileLock(str(tmp_path / f".{stem}.run.lock"))
    run_lock.acquire()
    with pytest.raises(TimeoutError, match=f"another run of {stem} to finish"):
        experiments.load_or_run("training", "smoke", folder=tmp_path, wait=0.2)
    run_lock.release()


def test_two_concurrent_runs_of_one_new_config_both_succeed(tmp_path):
    env = dict(os.environ, SKIPLESSONS_RESULTS=str(tmp_path), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "skiplessons", "run", "training", "--scale", "smoke", "--seeds", "4"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    summaries = [json.loads(out[out.index("\n{") + 1:]) for out, _ in outs]
    assert summaries[0] == summaries[1]
    assert len(list(tmp_path.glob("training-smoke-*.json"))) == 1
    assert not (tmp_path / "checkpoints").exists() or not any((tmp_path / "checkpoints").iterdir())


def test_every_file_is_written_with_fsync_before_its_rename(tmp_path, monkeypatch):
    order = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (order.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (order.append(f"replace {os.path.basename(b)}"),
                                                      real_replace(a, b))[1])
    data.mnist1d(n_samples=200, seed=3, cache=tmp_path)
    run_train(tmp_path / "train.pt")
    results.save("demo", "smoke", {"a": 1}, {"x": 1.0}, {"c": np.arange(3.0)}, results.provenance("cpu", 1, [0]),
                 folder=tmp_path)
    renames = [i for i, o in enumerate(order) if o.startswith("replace")]
    assert {order[i].split()[1].split(".")[0] for i in renames} >= {"mnist1d-200-3-0", "train", "demo-smoke-"
                                                                    + results.config_hash({"a": 1})}
    assert all(i > 0 and order[i - 1] == "fsync" for i in renames), order


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_files_load_tensors_names_the_file(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"\x80\x04junk")
    with pytest.raises(files.DamagedFile, match=str(path)):
        files.load_tensors(path)
    assert zipfile.is_zipfile(io.BytesIO(pickled(tmp_path / "m"))), "torch.save writes a zip: the test's pickle is real"


def _exact_rows(folder):
    """`exact_zeros`' per-net rows of two small nets at initialization, checkpointed in `folder`."""
    from skiplessons.experiments import Checkpoints, RunContext, config_for
    from skiplessons.experiments.part3 import _measure_all

    ctx = RunContext(torch.device("cpu"), checkpoints=Checkpoints(folder))
    return _measure_all(nets(), X.double(), Y, config_for("exact_zeros", "smoke"), ctx, "init")


def test_exact_zeros_rows_resume_without_pickle(tmp_path):
    """A stored per-net row is read back to the same numbers; a planted pickle in its place runs no code and is
    set aside; a row of other nets (another fingerprint) is measured again."""
    first = _exact_rows(tmp_path)
    assert same(_exact_rows(tmp_path), first)
    marker, row = tmp_path / "pwned", tmp_path / "init_net0.pt"
    row.write_bytes(pickled(marker))
    with pytest.warns(RuntimeWarning, match="init_net0.pt is not a file this package wrote"):
        again = _exact_rows(tmp_path)
    assert not marker.exists() and same(again, first)
    assert len(list(tmp_path.glob("init_net0.pt.bad-*"))) == 1
    state = torch.load(row, weights_only=True)
    files.save_tensors(dict(state, fingerprint="another net"), row)
    assert same(_exact_rows(tmp_path), first)
